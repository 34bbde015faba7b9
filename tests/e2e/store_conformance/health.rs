//! Conformance cases for `Store` itself: readiness.

use std::sync::Arc;

use portcullis_core::store::Store;

pub(super) async fn store_answers_a_ping(store: Arc<dyn Store>) {
    // Act
    let outcome = store.ping().await;

    // Assert
    assert!(outcome.is_ok(), "ping failed: {outcome:?}");
}
