//! The browser side's audit events: logins, logouts and the account page's changes, each
//! with who, what, when and the client address. A failure to record is logged and never
//! undoes what already happened (the user is signed in, or out, either way).

use portcullis_core::audit::{Actor, Change};

use crate::AuthorizeState;
use crate::session::ClientIp;

/// Appends an audit event.
pub(crate) async fn record(
    state: &AuthorizeState,
    actor: &Actor,
    action: &str,
    target: Option<String>,
    ip: ClientIp,
    detail: serde_json::Value,
) {
    let change = Change {
        actor,
        action,
        target: target.as_deref(),
        ip: ip.record(),
        detail,
    };
    if let Err(e) =
        portcullis_core::audit::record(state.store.as_ref(), change, state.clock.now()).await
    {
        tracing::error!(error = ?e, actor = %actor.0, action, "recording an audit event failed");
    }
}
