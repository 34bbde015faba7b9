//! `POST /token` (RFC 6749 §3.2): form body only, client authentication (§3.2.1), then
//! the requested grant; every outcome is a §5.1 or §5.2 response.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::error::{RequestClientId, TokenError};
use crate::request::{is_form_encoded, parse_token_request};
use crate::response::TokenResponse;
use crate::{TokenState, client_auth, grant};

/// The largest token request body we read. Real ones are a few hundred bytes; the cap
/// only bounds what a caller can make us buffer.
const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;

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
    match token(&state, &headers, body, &mut client_id).await {
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

/// The request, start to finish; `client_id` is set as soon as one is presented, for
/// the error log.
async fn token(
    state: &TokenState,
    headers: &HeaderMap,
    body: Body,
    client_id: &mut Option<String>,
) -> Result<TokenResponse, TokenError> {
    if !is_form_encoded(headers) {
        return Err(TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = axum::body::to_bytes(body, MAX_TOKEN_REQUEST_BYTES)
        .await
        .map_err(|_| TokenError::InvalidRequest("the request body is too large or unreadable"))?;
    let request = parse_token_request(&body)?;
    client_id.clone_from(&request.body_credentials.client_id);
    let presented = client_auth::identify(headers, request.body_credentials)?;
    *client_id = Some(presented.client_id().to_owned());
    let client = client_auth::authenticate(state.store.as_ref(), presented).await?;
    grant::exchange(state, &client, request.grant, state.clock.now()).await
}
