//! Conformance cases for `Store` itself: readiness, which needs reads AND writes.

use std::sync::Arc;

use portcullis_core::store::Store;
use portcullis_e2e::db::{Faults, Write};

pub(super) async fn a_store_that_reads_and_writes_is_ready(store: Arc<dyn Store>) {
    // Act
    let outcome = store.check_ready().await;

    // Assert
    assert!(outcome.is_ok(), "readiness check failed: {outcome:?}");
}

pub(super) async fn a_store_that_cannot_write_is_not_ready_until_writes_succeed_again(
    store: Arc<dyn Store>,
    faults: Faults,
) {
    // Arrange: the database still answers reads, but its writes fail (as on a full disk).
    faults.fail("store_singleton", Write::Update).await.unwrap();

    // Act
    let while_failing = store.check_ready().await;
    faults.heal("store_singleton", Write::Update).await.unwrap();
    let healed = store.check_ready().await;

    // Assert
    assert!(
        while_failing.is_err(),
        "a store whose writes fail is not ready"
    );
    assert!(
        healed.is_ok(),
        "ready again as soon as writes succeed: {healed:?}"
    );
}
