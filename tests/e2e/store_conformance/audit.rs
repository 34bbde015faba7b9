//! Conformance cases for `AuditStore`: the append-only audit trail.

use std::sync::Arc;

use portcullis_core::model::AuditEvent;
use portcullis_core::store::Store;

use super::fixtures::{T0, at, audit_event};

pub(super) async fn audit_events_are_listed_newest_first_up_to_the_limit(store: Arc<dyn Store>) {
    // Arrange: recorded out of order; the oldest has no optional fields.
    let oldest = AuditEvent {
        actor: "user:alice".to_owned(),
        target: None,
        ip: None,
        detail: serde_json::json!({}),
        ..audit_event("user.login", T0)
    };
    let middle = audit_event("client.create", at(1));
    let newest = AuditEvent {
        actor: "client:client-a".to_owned(),
        ..audit_event("client.update", at(2))
    };
    for event in [&middle, &newest, &oldest] {
        store.record_audit_event(event).await.unwrap();
    }

    // Act
    let limited = store.list_audit_events(2).await.unwrap();
    let all = store.list_audit_events(10).await.unwrap();
    let none = store.list_audit_events(0).await.unwrap();

    // Assert
    assert_eq!(limited, vec![newest.clone(), middle.clone()]);
    assert_eq!(all, vec![newest, middle, oldest]);
    assert_eq!(none, Vec::<AuditEvent>::new());
}
