//! Browser sessions: a server-side record in the store, found by the SHA-256 of a random
//! 256-bit cookie value; idle and absolute expiry; a new id at every login (session
//! fixation, OWASP ASVS V3.2.1).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use portcullis_core::client_addr::ClientAddr;
use portcullis_core::ids::{SessionId, UserId};
use portcullis_core::model::Session;
use portcullis_core::secret::{PlainSecret, SecretHash, SecretKind};
use portcullis_core::store::StoreError;

use crate::AuthorizeState;
use crate::cookies::CookieKind;

/// The client address the server resolved for this request (`portcullis_core::client_addr`:
/// the TCP peer, or what trusted proxies say); absent only in router tests without the
/// server's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientIp(pub(crate) Option<ClientAddr>);

impl ClientIp {
    /// The address as sessions and audit events record it.
    pub(crate) fn record(self) -> Option<String> {
        self.0.map(|addr| addr.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(parts.extensions.get::<ClientAddr>().copied()))
    }
}

/// The live session of this browser, if any; records the activity (idle expiry moves).
pub(crate) async fn current_session(
    state: &AuthorizeState,
    headers: &HeaderMap,
) -> Result<Option<Session>, StoreError> {
    let Some(value) = state.cookies.read(headers, CookieKind::Session) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let Some(session) = state
        .store
        .find_live_session(&SecretHash::of(&value), now)
        .await?
    else {
        return Ok(None);
    };
    let idle = now.plus(state.sessions.idle_ttl).min(session.expires_at);
    state
        .store
        .touch_session(session.session_id, now, idle)
        .await?;
    Ok(Some(session))
}

/// Ends the browser's current session (if any) and starts a new one for `user_id`;
/// returns it with the cookie value to set.
pub(crate) async fn start_session(
    state: &AuthorizeState,
    headers: &HeaderMap,
    ip: &ClientIp,
    user_id: UserId,
) -> Result<(Session, PlainSecret), StoreError> {
    let now = state.clock.now();
    if let Some(old) = state.cookies.read(headers, CookieKind::Session)
        && let Some(old) = state
            .store
            .find_live_session(&SecretHash::of(&old), now)
            .await?
    {
        state.store.end_session(old.session_id, now).await?;
    }
    let secret = PlainSecret::generate(SecretKind::Session)
        .map_err(|e| StoreError::Database(Box::new(e)))?;
    let expires_at = now.plus(state.sessions.ttl);
    let session = Session {
        session_id: SessionId::random(),
        secret_hash: secret.hash(),
        user_id,
        auth_time: now,
        amr: vec!["pwd".into()],
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
        ip: ip.record(),
        created_at: now,
        last_seen_at: now,
        expires_at,
        idle_expires_at: now.plus(state.sessions.idle_ttl).min(expires_at),
        ended_at: None,
    };
    state.store.create_session(&session).await?;
    Ok((session, secret))
}
