//! `GET`/`POST /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): parse, prove the client
//! and redirect URI, validate the rest, then log in, ask consent or issue a code.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::AuthorizeState;
use crate::flow::{decide, reject, unavailable};
use crate::request::load_request;
use crate::session::current_session;

async fn authorize(state: AuthorizeState, headers: HeaderMap, raw: &str) -> Response {
    let req = match load_request(state.store.as_ref(), raw).await {
        Ok(r) => r,
        Err(rejection) => return reject(&state, rejection),
    };
    let session = match current_session(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return unavailable(&state, &req.proven, &e),
    };
    decide(&state, &headers, &req, session).await
}

/// `GET /authorize`.
pub(crate) async fn get_authorize(
    State(state): State<AuthorizeState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    authorize(state, headers, query.as_deref().unwrap_or("")).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded body).
pub(crate) async fn post_authorize(
    State(state): State<AuthorizeState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    authorize(state, headers, &body).await
}
