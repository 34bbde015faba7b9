//! The audit trail: who changed what, when and from where. Every admin change (CLI or
//! admin API) and every dynamic registration or RFC 7592 change is recorded through
//! [`record`]; details never hold secrets.

use crate::Timestamp;
use crate::ids::AuditEventId;
use crate::model::AuditEvent;
use crate::store::{AuditStore, StoreError};

/// Who acted: the operator at the CLI, a user or client holding an admin token, or a
/// registrant (anonymous, or holding a registration access token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// The operator at the command line.
    pub fn cli() -> Self {
        Actor("cli".into())
    }

    /// A user, by id.
    pub fn user(user_id: impl std::fmt::Display) -> Self {
        Actor(format!("user:{user_id}"))
    }

    /// A client acting for itself (client_credentials or a registration access token).
    pub fn client(client_id: impl std::fmt::Display) -> Self {
        Actor(format!("client:{client_id}"))
    }

    /// Someone registering a client without an initial access token.
    pub fn anonymous() -> Self {
        Actor("anonymous".into())
    }

    /// A registrant holding an initial access token.
    pub fn initial_access_token() -> Self {
        Actor("initial_access_token".into())
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// Who.
    pub actor: &'a Actor,
    /// What, as `resource.verb` (e.g. `client.create`).
    pub action: &'a str,
    /// On what (a client id, username, `kid` …).
    pub target: Option<&'a str>,
    /// From where: the peer IP, when known.
    pub ip: Option<String>,
    /// Structured detail; never secrets.
    pub detail: serde_json::Value,
}

/// Appends the change to the audit trail.
pub async fn record(
    store: &dyn AuditStore,
    change: Change<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    store
        .record_audit_event(&AuditEvent {
            audit_event_id: AuditEventId::random(),
            at: now,
            actor: change.actor.0.clone(),
            action: change.action.to_owned(),
            target: change.target.map(str::to_owned),
            ip: change.ip,
            detail: change.detail,
        })
        .await
}
