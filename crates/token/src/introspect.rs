//! `POST /introspect` (RFC 7662): a client asks whether a token is active and what it
//! stands for. Only a client that authenticates with its secret may ask (§2.1, §4); a
//! public client gets 401 `invalid_client`.
//!
//! Anything not active answers `{"active": false}` and nothing else (§2.2): expired,
//! revoked (its `jti` on the revoked list, its grant revoked, a refresh token rotated or
//! revoked), its user gone or disabled, malformed, unknown — or issued to another client,
//! since a client may only learn about its own tokens (§4 on privacy). For an active
//! token the §2.2 members: `scope`, `client_id`, `username` (none for a client's own
//! `client_credentials` token), `token_type`, `exp`, `iat`, `sub`, `iss`, and for access
//! tokens `aud` and `jti`.
//!
//! Either kind of token costs one store round trip, and nothing is written: an access
//! token's revoked-`jti` entry, grant and user are read by one query, and so is a refresh
//! token with its grant and user.

use anyhow::Context as _;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use portcullis_core::Timestamp;
use portcullis_core::ids::ClientId;
use portcullis_core::model::{Client, Grant, User};
use portcullis_core::secret::SecretHash;
use portcullis_core::tokens::liveness::{NotLive, TokenHolder, live_access_token};
use portcullis_core::tokens::{AccessTokenError, access_token_audience};
use serde::Serialize;

use crate::TokenState;
use crate::error::{ClientAuthFailure, TokenError, set_no_store};
use crate::handler::{authenticate_client, read_form, respond};
use crate::request::{TokenKind, parse_existing_token_request};

/// `token_type` of an access token (RFC 6749 §7.1).
const BEARER: &str = "Bearer";

/// `token_type` of a refresh token: the name RFC 7009 §2.1 and RFC 7662 §2.1 give it.
const REFRESH_TOKEN: &str = "refresh_token";

/// `POST /introspect`.
pub(crate) async fn post_introspect(
    State(state): State<TokenState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut client_id = None;
    let result = introspect(&state, &headers, body, &mut client_id).await;
    respond(result, client_id)
}

/// The §2.2 answer. An inactive token is all `None` but `active`.
#[derive(Debug, Default, Serialize)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

impl Introspection {
    fn inactive() -> Self {
        Introspection::default()
    }
}

impl IntoResponse for Introspection {
    fn into_response(self) -> Response {
        // Whether a token is live, and for whom, must not be cached anywhere (§2.2 holds
        // personal data; RFC 6749 §5.1 for token material).
        let mut response = Json(self).into_response();
        set_no_store(response.headers_mut());
        response
    }
}

async fn introspect(
    state: &TokenState,
    headers: &HeaderMap,
    body: Body,
    client_id: &mut Option<String>,
) -> Result<Introspection, TokenError> {
    let body = read_form(headers, body).await?;
    let request = parse_existing_token_request(&body)?;
    let client = authenticate_client(state, headers, request.body_credentials, client_id).await?;
    if !client.used_secret {
        return Err(TokenError::invalid_client(
            false,
            ClientAuthFailure::PublicClient,
        ));
    }
    let now = state.clock.now();
    for kind in TokenKind::lookup_order(request.hint) {
        let found = match kind {
            TokenKind::AccessToken => {
                introspect_access_token(state, &client.client, &request.token, now).await?
            }
            TokenKind::RefreshToken => {
                introspect_refresh_token(state, &client.client, &request.token, now).await?
            }
        };
        if let Some(answer) = found {
            return Ok(answer);
        }
    }
    Ok(Introspection::inactive())
}

/// The answer for `token` if it is one of our access tokens; `None` if it is not one.
async fn introspect_access_token(
    state: &TokenState,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Option<Introspection>, TokenError> {
    let live = match live_access_token(
        state.store.as_ref(),
        &state.keyring.current(),
        &state.issuer,
        &access_token_audience(&state.issuer),
        token,
        now,
    )
    .await
    {
        Ok(live) => live,
        // Not one of ours (it may be a refresh token): the caller looks further.
        Err(NotLive::Invalid(error)) if error != AccessTokenError::Expired => return Ok(None),
        Err(NotLive::Store(error)) => {
            return Err(anyhow::Error::new(error)
                .context("check the revocation, grant and user of an introspected access token")
                .into());
        }
        Err(_) => return Ok(Some(Introspection::inactive())),
    };
    let claims = live.claims;
    // RFC 7662 §2.2: a client learns nothing about another client's tokens.
    if claims.client_id != client.client_id.as_str() {
        return Ok(Some(Introspection::inactive()));
    }
    let username = match live.holder {
        TokenHolder::User { user, .. } => Some(user.username),
        TokenHolder::Client => None,
    };
    Ok(Some(Introspection {
        active: true,
        scope: Some(claims.scope),
        client_id: Some(claims.client_id),
        username,
        token_type: Some(BEARER),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
    }))
}

/// The answer for `token` if it is one of our refresh tokens; `None` if no refresh token
/// hashes to it.
async fn introspect_refresh_token(
    state: &TokenState,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Option<Introspection>, TokenError> {
    let Some((record, grant, user)) = state
        .store
        .find_refresh_token_with_grant(&SecretHash::of(token))
        .await
        .context("look up an introspected refresh token with its grant and user")?
    else {
        return Ok(None);
    };
    // The same liveness rule as rotation: not rotated, not revoked, neither expiry passed.
    let live = record.rotated_at.is_none()
        && record.revoked_at.is_none()
        && now < record.expires_at
        && now < record.idle_expires_at;
    if record.client_id != client.client_id || !live || !is_live(&grant, &user, &client.client_id) {
        return Ok(Some(Introspection::inactive()));
    }
    Ok(Some(Introspection {
        active: true,
        scope: Some(record.scope.to_string()),
        client_id: Some(record.client_id.0),
        username: Some(user.username),
        token_type: Some(REFRESH_TOKEN),
        // Unused, it dies at its idle expiry (never later than the chain's end); used,
        // it is rotated away.
        exp: Some(record.idle_expires_at.min(record.expires_at).unix()),
        iat: Some(record.created_at.unix()),
        sub: Some(grant.user_id.to_string()),
        aud: None,
        iss: Some(state.issuer.to_string()),
        jti: None,
    }))
}

/// Whether a token of `grant` may be reported active to `client_id`: the grant is that
/// client's (§4: a client learns only about its own tokens) and not revoked, and its user
/// is enabled.
fn is_live(grant: &Grant, user: &User, client_id: &ClientId) -> bool {
    grant.revoked_at.is_none() && grant.client_id == *client_id && !user.disabled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_answer_says_active_false_and_nothing_else() {
        let body = serde_json::to_value(Introspection::inactive()).unwrap();
        assert_eq!(body, serde_json::json!({"active": false}));
    }
}
