//! `GET`/`POST /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): parse, prove the client
//! and redirect URI, validate the rest, then log in, ask consent or issue a code.

use anyhow::Context as _;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::AuthorizeState;
use crate::error::FlowError;
use crate::flow::decide;
use crate::form::FormBody;
use crate::request::load_request;
use crate::session::current_session;

async fn authorize(
    state: AuthorizeState,
    headers: HeaderMap,
    raw: &str,
) -> Result<Response, FlowError> {
    let req = load_request(&state, raw).await?;
    let session = current_session(&state, &headers)
        .await
        .context("look up the browser session")
        .map_err(|e| req.proven.return_to.unavailable(e))?;
    decide(&state, &headers, &req, session).await
}

/// `GET /authorize`.
pub(crate) async fn get_authorize(
    State(state): State<AuthorizeState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, FlowError> {
    authorize(state, headers, query.as_deref().unwrap_or("")).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded body).
pub(crate) async fn post_authorize(
    State(state): State<AuthorizeState>,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, FlowError> {
    authorize(state, headers, &body).await
}
