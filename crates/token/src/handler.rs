//! `POST /token` (RFC 6749 §3.2): form body only, client authentication (§3.2.1), then
//! the requested grant; every outcome is a §5.1 or §5.2 response. The form reading and
//! client authentication here are shared with `/revoke` and `/introspect`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::client_auth::AuthenticatedClient;
use crate::error::{RequestClientId, TokenError};
use crate::request::{BodyCredentials, is_form_encoded, parse_token_request};
use crate::response::TokenResponse;
use crate::{TokenState, client_assertion, client_auth, grant};

/// The largest token request body we read. Real ones are a few hundred bytes; the cap
/// only bounds what a caller can make us buffer.
const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;

/// How much of an oversized body is still read (and dropped) before it is refused.
const READ_OVERSIZED_UP_TO: usize = 128 * 1024;

/// The longest client id we log: ids are caller-supplied, and a request body may hold
/// kilobytes of one.
const MAX_LOGGED_CLIENT_ID_CHARS: usize = 128;

fn for_log(client_id: &str) -> Arc<str> {
    client_id
        .chars()
        .take(MAX_LOGGED_CLIENT_ID_CHARS)
        .collect::<String>()
        .into()
}

/// `POST /token`.
pub(crate) async fn post_token(
    State(state): State<TokenState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut client_id = None;
    let result = token(&state, &headers, body, &mut client_id).await;
    respond(result, client_id)
}

/// The response for `result`; an error carries the client id presented, for the log.
pub(crate) fn respond<T: IntoResponse>(
    result: Result<T, TokenError>,
    client_id: Option<String>,
) -> Response {
    match result {
        Ok(response) => response.into_response(),
        Err(error) => {
            let mut response = error.into_response();
            if let Some(id) = client_id {
                response
                    .extensions_mut()
                    .insert(RequestClientId(for_log(&id)));
            }
            response
        }
    }
}

/// Reads a form-encoded body (RFC 6749 §3.2; RFC 7009 §2.1 and RFC 7662 §2.1 use the
/// same encoding), up to a bound.
pub(crate) async fn read_form(headers: &HeaderMap, body: Body) -> Result<Bytes, TokenError> {
    if !is_form_encoded(headers) {
        return Err(TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let too_large = || TokenError::InvalidRequest("the request body is too large or unreadable");
    // Read past the bound (up to a second, larger one) before refusing: a connection closed
    // with unread data is reset by the kernel, which can destroy the error answer before
    // the client reads it.
    let body = axum::body::to_bytes(body, READ_OVERSIZED_UP_TO)
        .await
        .map_err(|_| too_large())?;
    if body.len() > MAX_TOKEN_REQUEST_BYTES {
        return Err(too_large());
    }
    Ok(body)
}

/// Authenticates the client of a request (RFC 6749 §2.3); `client_id` is set as soon as
/// one is presented, for the error log.
pub(crate) async fn authenticate_client(
    state: &TokenState,
    headers: &HeaderMap,
    body_credentials: BodyCredentials,
    client_id: &mut Option<String>,
) -> Result<AuthenticatedClient, TokenError> {
    client_id.clone_from(&body_credentials.client_id);
    let mut body_credentials = body_credentials;
    if let Some(assertion) = client_assertion::presented(headers, &mut body_credentials)? {
        *client_id = Some(assertion.client_id.clone());
        return client_assertion::authenticate(state, assertion).await;
    }
    let presented = client_auth::identify(headers, body_credentials)?;
    *client_id = Some(presented.client_id().to_owned());
    client_auth::authenticate(
        &state.clients,
        state.store.as_ref(),
        presented,
        state.clock.now(),
    )
    .await
}

/// The request, start to finish; `client_id` is set as soon as one is presented, for
/// the error log.
async fn token(
    state: &TokenState,
    headers: &HeaderMap,
    body: Body,
    client_id: &mut Option<String>,
) -> Result<TokenResponse, TokenError> {
    let body = read_form(headers, body).await?;
    let request = parse_token_request(&body)?;
    let client = authenticate_client(state, headers, request.body_credentials, client_id).await?;
    grant::exchange(state, &client, request.grant, state.clock.now()).await
}
