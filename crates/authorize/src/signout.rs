//! Ending browser sessions, and what must follow: every way a session ends at the user's
//! or an app's request (logout, "sign out" and "sign out everywhere" on the account page, a
//! password change) comes through here.
//!
//! After the sessions end, the grants made in them that were not for offline access are
//! revoked with their refresh tokens (Back-Channel Logout 1.0 §2.7), and every client that
//! got an ID token in one of them and registered a `backchannel_logout_uri` is sent a
//! logout token (§2.4, §2.5) in the background.

use std::collections::BTreeSet;

use portcullis_core::ids::{ClientId, SessionId, UserId};
use portcullis_core::logout::{LogoutTokenClaims, client_signing_alg, mint_logout_token};
use portcullis_core::model::Grant;
use portcullis_core::store::StoreError;
use portcullis_core::tokens::new_jti;

use crate::AuthorizeState;
use crate::backchannel::{Delivery, delivery_uri};

/// The scope that makes a grant outlive the session it was made in (OIDC Core §11).
const OFFLINE_ACCESS: &str = "offline_access";

/// Only OpenID requests get ID tokens, so only their clients hold a `sid` to log out.
const OPENID: &str = "openid";

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// This one.
    One(SessionId),
    /// Every live one but `keep` (all of them when `None`).
    All { keep: Option<SessionId> },
}

/// Ends the sessions, revokes their session-bound grants and starts the back-channel
/// notifications; returns the sessions that were live and are now ended. `actor` names who
/// asked, for the audit trail (`user:<id>`).
pub(crate) async fn end_sessions(
    state: &AuthorizeState,
    user_id: UserId,
    which: Ending,
    actor: &str,
) -> Result<Vec<SessionId>, StoreError> {
    let now = state.clock.now();
    let ended = match which {
        Ending::One(session_id) => {
            if state.store.end_session(session_id, now).await? {
                vec![session_id]
            } else {
                Vec::new()
            }
        }
        Ending::All { keep } => state.store.end_user_sessions(user_id, keep, now).await?,
    };
    if ended.is_empty() {
        return Ok(ended);
    }
    tracing::info!(user_id = %user_id, sessions = ended.len(), "ended {} session(s) of user {user_id}", ended.len());
    let grants: Vec<Grant> = state
        .store
        .list_active_grants(user_id)
        .await?
        .into_iter()
        .filter(|g| g.session_id.is_some_and(|s| ended.contains(&s)))
        .collect();
    for grant in grants.iter().filter(|g| !g.scope.contains(OFFLINE_ACCESS)) {
        state.store.revoke_grant(grant.grant_id, now).await?;
    }
    notify_clients(state, user_id, &grants, actor).await;
    Ok(ended)
}

/// Mints one logout token per (client, session) that needs one and hands them to the
/// background sender. Failures here are logged and skip that client: the user's logout has
/// already happened and must not fail because an app cannot be told.
async fn notify_clients(state: &AuthorizeState, user_id: UserId, grants: &[Grant], actor: &str) {
    let pairs: BTreeSet<(ClientId, SessionId)> = grants
        .iter()
        .filter(|g| g.scope.contains(OPENID))
        .filter_map(|g| g.session_id.map(|s| (g.client_id.clone(), s)))
        .collect();
    if pairs.is_empty() {
        return;
    }
    let now = state.clock.now();
    let keys = state.keyring.current();
    let mut deliveries = Vec::new();
    for (client_id, session_id) in pairs {
        let client = match state.store.find_client(&client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = ?e, client_id = %client_id, "back-channel logout: client lookup failed for {client_id}");
                continue;
            }
        };
        let Some(raw) = client.metadata.backchannel_logout_uri.as_deref() else {
            continue;
        };
        let Some(uri) = delivery_uri(raw) else {
            tracing::warn!(client_id = %client_id, "back-channel logout skipped: {client_id} registered a URI that is neither https nor loopback http");
            continue;
        };
        let Ok(jti) = new_jti() else {
            tracing::error!(client_id = %client_id, "back-channel logout: no randomness for a jti");
            continue;
        };
        let claims = LogoutTokenClaims::new(
            &state.issuer,
            client_id.as_str(),
            &user_id.to_string(),
            &session_id.to_string(),
            jti,
            now,
        );
        match mint_logout_token(&keys, client_signing_alg(&client), &claims, now) {
            Ok(token) => deliveries.push(Delivery {
                client_id,
                uri,
                token,
                session_id,
                actor: actor.to_owned(),
            }),
            Err(e) => {
                tracing::error!(error = %e, client_id = %client_id, "back-channel logout: signing the logout token for {client_id} failed");
            }
        }
    }
    state
        .backchannel
        .spawn(state.store.clone(), state.clock.clone(), deliveries);
}
