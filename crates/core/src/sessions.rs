//! Ending browser sessions and what must follow in the store, shared by every way a session
//! ends (logout, the account page, the admin API, disabling a user), so all revoke the same
//! grants. Telling the apps is the job of a [`SessionEndNotifier`], injected by the server:
//! the crate that sends logout tokens is an endpoint crate the others must not depend on.
//!
//! After the sessions end, the grants made in them that were not for offline access are
//! revoked with their refresh tokens (Back-Channel Logout 1.0 §2.7).

use async_trait::async_trait;

use crate::Timestamp;
use crate::ids::{SessionId, UserId};
use crate::model::Grant;
use crate::store::{Store, StoreError};

/// The scope that makes a grant outlive the session it was made in (OIDC Core §11).
const OFFLINE_ACCESS: &str = "offline_access";

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// This one.
    One(SessionId),
    /// Every live one but `keep` (all of them when `None`).
    All {
        /// A session to leave alone (the one the user is acting from).
        keep: Option<SessionId>,
    },
}

/// Sessions that were live and are now ended, with the grants that were made in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSessions {
    /// Whose sessions they were.
    pub user_id: UserId,
    /// The sessions ended.
    pub sessions: Vec<SessionId>,
    /// Every grant that was active and bound to one of them, the offline ones (still
    /// active) included: their clients hold ID tokens naming the session too.
    pub grants: Vec<Grant>,
}

impl EndedSessions {
    /// Nothing ended.
    pub fn none(user_id: UserId) -> Self {
        EndedSessions {
            user_id,
            sessions: Vec::new(),
            grants: Vec::new(),
        }
    }

    /// Whether no session ended.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// Ends the sessions and revokes their session-bound grants that are not for offline
/// access; returns what ended, for a [`SessionEndNotifier`].
pub async fn end_sessions(
    store: &dyn Store,
    user_id: UserId,
    which: Ending,
    now: Timestamp,
) -> Result<EndedSessions, StoreError> {
    // One store transaction: a failure part-way must not leave sessions ended whose
    // grants still refresh.
    let ended = store
        .end_sessions_revoking_grants(user_id, which, OFFLINE_ACCESS, now)
        .await?;
    if !ended.is_empty() {
        tracing::info!(user_id = %user_id, sessions = ended.sessions.len(), "ended {} session(s) of user {user_id}", ended.sessions.len());
    }
    Ok(ended)
}

/// Tells the apps that sessions ended (OpenID Back-Channel Logout 1.0), implemented by the
/// authorize crate and handed to whichever crate ends sessions.
#[async_trait]
pub trait SessionEndNotifier: Send + Sync {
    /// Starts notifying every client that got an ID token in one of the `ended` sessions
    /// and returns without waiting for them. Never fails: the sessions have already
    /// ended, and an app that cannot be told must not undo or fail that. `actor` names who
    /// ended them, for the audit trail.
    async fn sessions_ended(&self, ended: &EndedSessions, actor: &str);
}
