//! Ending browser sessions, and what must follow: every way a session ends at the user's
//! or an app's request (logout, "sign out" and "sign out everywhere" on the account page, a
//! password change) comes through here, and the admin API reaches the same notifications
//! through [`BackchannelNotifier`].
//!
//! The store side (ending the sessions, revoking the grants made in them that were not for
//! offline access, Back-Channel Logout 1.0 §2.7) lives in `portcullis_core::sessions`; this
//! module sends every client that got an ID token in one of them and registered a
//! `backchannel_logout_uri` a logout token (§2.4, §2.5) in the background.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use portcullis_core::Clock;
use portcullis_core::audit::Actor;
use portcullis_core::ids::{ClientId, SessionId, UserId};
use portcullis_core::keyring::Keyring;
use portcullis_core::logout::{LogoutTokenClaims, client_signing_alg, mint_logout_token};
use portcullis_core::sessions::{EndedSessions, SessionEndNotifier};
use portcullis_core::store::{Store, StoreError};
use portcullis_core::tokens::new_jti;

pub(crate) use portcullis_core::sessions::Ending;

use crate::AuthorizeState;
use crate::backchannel::{Backchannel, Delivery, delivery_uri};
use crate::session::ClientIp;

/// Only OpenID requests get ID tokens, so only their clients hold a `sid` to log out.
const OPENID: &str = "openid";

/// Who ended sessions, from where and why, for the audit trail.
pub(crate) struct SignOut<'a> {
    /// Who asked (`user:<id>`).
    pub(crate) actor: &'a str,
    /// From where.
    pub(crate) ip: ClientIp,
    /// Which form (`logout`, `sign_out`, `sign_out_everywhere`, `password_change`).
    pub(crate) via: &'static str,
}

/// Ends the sessions, revokes their session-bound grants, starts the back-channel
/// notifications and records the logout (`session.logout`); returns the sessions that were
/// live and are now ended.
pub(crate) async fn end_sessions(
    state: &AuthorizeState,
    user_id: UserId,
    which: Ending,
    by: SignOut<'_>,
) -> Result<Vec<SessionId>, StoreError> {
    let ended = portcullis_core::sessions::end_sessions(
        state.store.as_ref(),
        user_id,
        which,
        state.clock.now(),
    )
    .await?;
    if !ended.is_empty() {
        state.notifier.sessions_ended(&ended, by.actor).await;
        crate::audit::record(
            state,
            &Actor(by.actor.to_owned()),
            "session.logout",
            None,
            by.ip,
            serde_json::json!({ "sessions": ended.sessions, "via": by.via }),
        )
        .await;
    }
    Ok(ended.sessions)
}

/// The [`SessionEndNotifier`] of this server: mints logout tokens and hands them to the
/// background [`Backchannel`] sender, so ending sessions never waits for an app.
#[derive(Clone)]
pub struct BackchannelNotifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keyring: Arc<Keyring>,
    issuer: Arc<str>,
    backchannel: Backchannel,
}

impl std::fmt::Debug for BackchannelNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackchannelNotifier")
            .field("issuer", &self.issuer)
            .field("backchannel", &self.backchannel)
            .finish_non_exhaustive()
    }
}

impl BackchannelNotifier {
    /// A notifier signing with `keyring`'s current key as `issuer`, and recording delivery
    /// outcomes in `store`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keyring: Arc<Keyring>,
        issuer: Arc<str>,
        backchannel: Backchannel,
    ) -> Self {
        BackchannelNotifier {
            store,
            clock,
            keyring,
            issuer,
            backchannel,
        }
    }
}

#[async_trait]
impl SessionEndNotifier for BackchannelNotifier {
    async fn sessions_ended(&self, ended: &EndedSessions, actor: &str) {
        notify_clients(self, ended, actor).await;
    }
}

/// Mints one logout token per (client, session) that needs one and hands them to the
/// background sender. Failures here are logged and skip that client: the user's logout has
/// already happened and must not fail because an app cannot be told.
async fn notify_clients(state: &BackchannelNotifier, ended: &EndedSessions, actor: &str) {
    let user_id = ended.user_id;
    let pairs: BTreeSet<(ClientId, SessionId)> = ended
        .grants
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
