//! Conformance cases for `RevocationStore`: access-token ids revoked before expiry, and
//! an access token's standing (revoked id, grant, user) read in one call.

use std::sync::Arc;

use portcullis_core::ids::GrantId;
use portcullis_core::model::{AccessTokenStanding, Grant, User};
use portcullis_core::store::Store;

use super::fixtures::{at, world_with_distinct_times};

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

pub(super) async fn access_token_standing_of_a_revoked_token_id_is_revoked(store: Arc<dyn Store>) {
    // Arrange
    let w = world_with_distinct_times(&*store).await;
    store
        .revoke_token_id("jti-revoked", at(900), at(10))
        .await
        .unwrap();

    // Act
    let with_grant = store
        .access_token_standing("jti-revoked", Some(w.grant.grant_id))
        .await
        .unwrap();
    let without_grant = store
        .access_token_standing("jti-revoked", None)
        .await
        .unwrap();

    // Assert
    assert_eq!(with_grant, AccessTokenStanding::Revoked);
    assert_eq!(without_grant, AccessTokenStanding::Revoked);
}

pub(super) async fn access_token_standing_of_a_live_grant_is_the_grant_with_its_user(
    store: Arc<dyn Store>,
) {
    // Arrange: another token id is revoked, which must not count for this one.
    let w = world_with_distinct_times(&*store).await;
    store
        .revoke_token_id("jti-other", at(900), at(10))
        .await
        .unwrap();

    // Act
    let standing = store
        .access_token_standing("jti-live", Some(w.grant.grant_id))
        .await
        .unwrap();

    // Assert
    assert_eq!(
        standing,
        AccessTokenStanding::NotRevoked(Some((w.grant, w.user))),
        "every field of the grant and the user, none taken from the other table"
    );
}

pub(super) async fn access_token_standing_returns_a_revoked_grant_and_a_disabled_user_as_they_stand(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world_with_distinct_times(&*store).await;
    store.revoke_grant(w.grant.grant_id, at(20)).await.unwrap();
    store
        .set_user_disabled(w.user.user_id, true, at(30))
        .await
        .unwrap();

    // Act
    let standing = store
        .access_token_standing("jti-of-revoked-grant", Some(w.grant.grant_id))
        .await
        .unwrap();

    // Assert: the store reports; judging liveness is the caller's.
    assert_eq!(
        standing,
        AccessTokenStanding::NotRevoked(Some((
            Grant {
                revoked_at: Some(at(20)),
                ..w.grant
            },
            User {
                disabled: true,
                updated_at: at(30),
                ..w.user
            }
        )))
    );
}

pub(super) async fn access_token_standing_of_an_unknown_grant_is_unknown_grant(
    store: Arc<dyn Store>,
) {
    // Arrange
    world_with_distinct_times(&*store).await;

    // Act
    let standing = store
        .access_token_standing("jti-of-unknown-grant", Some(GrantId::random()))
        .await
        .unwrap();

    // Assert
    assert_eq!(standing, AccessTokenStanding::UnknownGrant);
}

pub(super) async fn access_token_standing_without_a_grant_is_not_revoked_with_nothing_more(
    store: Arc<dyn Store>,
) {
    // Arrange: a grant exists, but a client's own token names none.
    world_with_distinct_times(&*store).await;
    store
        .revoke_token_id("jti-other", at(900), at(10))
        .await
        .unwrap();

    // Act
    let standing = store
        .access_token_standing("jti-client-token", None)
        .await
        .unwrap();

    // Assert
    assert_eq!(standing, AccessTokenStanding::NotRevoked(None));
}
