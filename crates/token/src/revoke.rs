//! `POST /revoke` (RFC 7009): a client ends a token it holds. The client authenticates
//! exactly as at `/token` (§2.1; a public client names itself, §5), and may only revoke
//! tokens issued to itself (§2.1).
//!
//! - A refresh token revokes its whole grant (§2.1: the server SHOULD also invalidate the
//!   access tokens of the same grant): the grant's refresh tokens are marked revoked in
//!   the same store transaction, and its access tokens die at once because `/userinfo`
//!   and `/introspect` check the grant they name.
//! - An access token (one of our RFC 9068 JWTs) goes on the revoked-`jti` list, kept in
//!   the shared store until the token's `exp`, so every replica refuses it at once.
//!
//! The answer is 200 with an empty body whether or not anything was revoked (§2.2): an
//! unknown, malformed, expired or already revoked token, or one issued to another client,
//! has no effect and is not told apart, so the endpoint reveals nothing about tokens
//! the caller does not own. `token_type_hint` only orders the lookups.

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::Timestamp;
use portcullis_core::ids::GrantId;
use portcullis_core::model::Client;
use portcullis_core::secret::SecretHash;
use portcullis_core::tokens::AccessTokenError;

use crate::TokenState;
use crate::error::{TokenError, set_no_store};
use crate::handler::{authenticate_client, read_form, respond};
use crate::request::{TokenKind, parse_existing_token_request};

/// `POST /revoke`.
pub(crate) async fn post_revoke(
    State(state): State<TokenState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut client_id = None;
    let result = revoke(&state, &headers, body, &mut client_id).await;
    respond(result, client_id)
}

/// The §2.2 success answer: 200, nothing in the body, never cached.
struct Revoked;

impl IntoResponse for Revoked {
    fn into_response(self) -> Response {
        let mut response = StatusCode::OK.into_response();
        set_no_store(response.headers_mut());
        response
    }
}

/// What a revocation request came to; for the log only, the client never learns it.
#[derive(Debug)]
enum Outcome {
    /// A refresh token of the client: its grant is revoked.
    GrantRevoked(GrantId),
    /// An access token of the client: its `jti` is on the revoked list.
    AccessTokenRevoked,
    /// A token issued to another client: left alone.
    AnotherClientsToken,
    /// One of our tokens, already expired or revoked.
    AlreadyInactive,
    /// Nothing we issued.
    Unknown,
}

async fn revoke(
    state: &TokenState,
    headers: &HeaderMap,
    body: Body,
    client_id: &mut Option<String>,
) -> Result<Revoked, TokenError> {
    let body = read_form(headers, body).await?;
    let request = parse_existing_token_request(&body)?;
    let client = authenticate_client(state, headers, request.body_credentials, client_id).await?;
    let client = client.client.as_ref();
    let now = state.clock.now();
    let mut outcome = Outcome::Unknown;
    for kind in TokenKind::lookup_order(request.hint) {
        let found = match kind {
            TokenKind::AccessToken => {
                revoke_access_token(state, client, &request.token, now).await?
            }
            TokenKind::RefreshToken => {
                revoke_refresh_token(state, client, &request.token, now).await?
            }
        };
        if let Some(found) = found {
            outcome = found;
            break;
        }
    }
    log_outcome(client, &outcome);
    Ok(Revoked)
}

/// Revokes `token` if it is one of our access tokens, issued to `client` and live;
/// `None` when it is not an access token of ours at all.
async fn revoke_access_token(
    state: &TokenState,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Option<Outcome>, TokenError> {
    let claims = match state.verify_access_token(token, now) {
        Ok(claims) => claims,
        // Ours, and already dead: nothing left to revoke.
        Err(AccessTokenError::Expired) => return Ok(Some(Outcome::AlreadyInactive)),
        Err(_) => return Ok(None),
    };
    if claims.client_id != client.client_id.as_str() {
        return Ok(Some(Outcome::AnotherClientsToken));
    }
    state
        .store
        .revoke_token_id(&claims.jti, Timestamp(claims.exp), now)
        .await
        .context("record a revoked access token id")?;
    Ok(Some(Outcome::AccessTokenRevoked))
}

/// Revokes the grant of `token` if it is one of our refresh tokens, issued to `client`
/// and live; `None` when no refresh token hashes to it.
async fn revoke_refresh_token(
    state: &TokenState,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Option<Outcome>, TokenError> {
    let Some(record) = state
        .store
        .find_refresh_token(&SecretHash::of(token))
        .await
        .context("look up a refresh token to revoke")?
    else {
        return Ok(None);
    };
    if record.client_id != client.client_id {
        return Ok(Some(Outcome::AnotherClientsToken));
    }
    // A rotated token the client still holds counts: the client wants the authorization
    // it stands for ended, and the grant is that authorization.
    if record.revoked_at.is_some() || now >= record.expires_at || now >= record.idle_expires_at {
        return Ok(Some(Outcome::AlreadyInactive));
    }
    state
        .store
        .revoke_grant(record.grant_id, now)
        .await
        .context("revoke the grant of a revoked refresh token")?;
    Ok(Some(Outcome::GrantRevoked(record.grant_id)))
}

/// Logs the request once. Revocations are worth a line each (they end someone's
/// access); a client presenting another client's token is unusual enough to note; the
/// rest is debug. Never the token itself.
fn log_outcome(client: &Client, outcome: &Outcome) {
    let client_id = client.client_id.as_str();
    match outcome {
        Outcome::GrantRevoked(grant_id) => tracing::info!(
            client_id,
            %grant_id,
            "client {client_id:?} revoked a refresh token; grant {grant_id} revoked"
        ),
        Outcome::AccessTokenRevoked => {
            tracing::info!(client_id, "client {client_id:?} revoked an access token")
        }
        Outcome::AnotherClientsToken => tracing::info!(
            client_id,
            "revocation by client {client_id:?} ignored: the token was issued to another client"
        ),
        Outcome::AlreadyInactive | Outcome::Unknown => tracing::debug!(
            client_id,
            outcome = ?outcome,
            "revocation by client {client_id:?} had no effect ({outcome:?})"
        ),
    }
}
