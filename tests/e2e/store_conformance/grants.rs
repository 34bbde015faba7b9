//! Conformance cases for `GrantStore`: grants as the unit of revocation, reaching their
//! refresh tokens.

use std::sync::Arc;

use portcullis_core::ids::GrantId;
use portcullis_core::model::{Grant, RefreshRotation};
use portcullis_core::store::Store;

use super::fixtures::{at, grant, public_client, refresh_token, successor, user, world};

pub(super) async fn created_grant_is_found_by_id(store: Arc<dyn Store>) {
    // Arrange: `world` stores a grant tied to a session; add one without.
    let w = world(&*store).await;
    let sessionless = Grant {
        scope: super::fixtures::scope("openid"),
        ..grant(&w.user, &w.client, None)
    };

    // Act
    store.create_grant(&sessionless).await.unwrap();

    // Assert
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(w.grant)
    );
    assert_eq!(
        store.find_grant(sessionless.grant_id).await.unwrap(),
        Some(sessionless)
    );
    assert_eq!(store.find_grant(GrantId::random()).await.unwrap(), None);
}

pub(super) async fn touching_a_grant_records_its_last_use(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;

    // Act
    store.touch_grant(w.grant.grant_id, at(300)).await.unwrap();

    // Assert
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(Grant {
            last_used_at: at(300),
            ..w.grant
        })
    );
}

pub(super) async fn revoking_a_grant_reports_whether_it_was_active_and_revokes_its_refresh_tokens(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world(&*store).await;
    let token = refresh_token(&w.grant, "pcr_of_revoked_grant");
    store.insert_refresh_token(&token).await.unwrap();

    // Act
    let first = store.revoke_grant(w.grant.grant_id, at(100)).await.unwrap();
    let second = store.revoke_grant(w.grant.grant_id, at(200)).await.unwrap();

    // Assert
    assert!(first, "the grant was active");
    assert!(!second, "revoking again reports it was not active");
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(Grant {
            revoked_at: Some(at(100)),
            ..w.grant.clone()
        }),
        "revoking again keeps the first revocation time"
    );
    let stored = store.find_refresh_token(&token.token_hash).await.unwrap();
    assert_eq!(stored.map(|t| t.revoked_at), Some(Some(at(100))));
    let next = successor(&token, "pcr_never_issued", at(300));
    assert_eq!(
        store
            .rotate_refresh_token(&token.token_hash, &next, at(300))
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.list_active_grants(w.user.user_id).await.unwrap(),
        Vec::<Grant>::new()
    );
}

pub(super) async fn revoking_client_grants_revokes_only_that_users_active_grants_for_that_client(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world(&*store).await;
    let bob = user("bob");
    store.create_user(&bob).await.unwrap();
    let other_client = public_client("client-b");
    store.create_client(&other_client).await.unwrap();
    let second = grant(&w.user, &w.client, None);
    let already_revoked = grant(&w.user, &w.client, None);
    let for_other_client = grant(&w.user, &other_client, None);
    let for_bob = grant(&bob, &w.client, None);
    for g in [&second, &already_revoked, &for_other_client, &for_bob] {
        store.create_grant(g).await.unwrap();
    }
    store
        .revoke_grant(already_revoked.grant_id, at(10))
        .await
        .unwrap();
    let token = refresh_token(&second, "pcr_of_second");
    let other_token = refresh_token(&for_other_client, "pcr_of_other_client");
    store.insert_refresh_token(&token).await.unwrap();
    store.insert_refresh_token(&other_token).await.unwrap();

    // Act
    let mut revoked = store
        .revoke_client_grants(w.user.user_id, &w.client.client_id, at(100))
        .await
        .unwrap();

    // Assert
    revoked.sort();
    let mut expected = vec![w.grant.grant_id, second.grant_id];
    expected.sort();
    assert_eq!(revoked, expected);
    for id in [w.grant.grant_id, second.grant_id] {
        assert_eq!(
            store
                .find_grant(id)
                .await
                .unwrap()
                .and_then(|g| g.revoked_at),
            Some(at(100))
        );
    }
    assert_eq!(
        store
            .find_grant(already_revoked.grant_id)
            .await
            .unwrap()
            .and_then(|g| g.revoked_at),
        Some(at(10)),
        "an already revoked grant keeps its revocation time"
    );
    assert_eq!(
        store
            .find_refresh_token(&token.token_hash)
            .await
            .unwrap()
            .and_then(|t| t.revoked_at),
        Some(at(100)),
        "the refresh tokens of revoked grants are revoked too"
    );
    assert_eq!(
        store
            .find_refresh_token(&other_token.token_hash)
            .await
            .unwrap(),
        Some(other_token)
    );
    assert_eq!(
        store.list_active_grants(w.user.user_id).await.unwrap(),
        vec![for_other_client]
    );
    assert_eq!(
        store.list_active_grants(bob.user_id).await.unwrap(),
        vec![for_bob]
    );
}

pub(super) async fn active_grants_are_listed_newest_first_without_revoked_ones(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world(&*store).await;
    let bob = user("bob");
    store.create_user(&bob).await.unwrap();
    let created = |secs: i64| Grant {
        created_at: at(secs),
        last_used_at: at(secs),
        ..grant(&w.user, &w.client, None)
    };
    let newest = created(30);
    let revoked = created(20);
    let middle = created(10);
    let bobs = Grant {
        created_at: at(15),
        ..grant(&bob, &w.client, None)
    };
    for g in [&middle, &bobs, &newest, &revoked] {
        store.create_grant(g).await.unwrap();
    }
    store.revoke_grant(revoked.grant_id, at(40)).await.unwrap();

    // Act
    let listed = store.list_active_grants(w.user.user_id).await.unwrap();

    // Assert: `world`'s grant was created at T0, the oldest.
    assert_eq!(listed, vec![newest, middle, w.grant]);
}
