//! Conformance cases for `RevocationStore`: access-token ids revoked before expiry.

use std::sync::Arc;

use portcullis_core::store::Store;

use super::fixtures::at;

pub(super) async fn revoked_token_id_is_reported_revoked_and_revoking_again_is_harmless(
    store: Arc<dyn Store>,
) {
    // Arrange
    let before = store.is_token_id_revoked("jti-a").await.unwrap();

    // Act
    store
        .revoke_token_id("jti-a", at(900), at(10))
        .await
        .unwrap();
    store
        .revoke_token_id("jti-a", at(900), at(20))
        .await
        .unwrap();

    // Assert
    assert!(!before, "nothing is revoked at first");
    assert!(store.is_token_id_revoked("jti-a").await.unwrap());
    assert!(!store.is_token_id_revoked("jti-b").await.unwrap());
    assert!(
        !store.is_token_id_revoked("jti-").await.unwrap(),
        "lookup is exact, not by prefix"
    );
}
