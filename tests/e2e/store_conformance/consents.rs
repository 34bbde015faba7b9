//! Conformance cases for `ConsentStore`: remembered consent per (user, client).

use std::sync::Arc;

use portcullis_core::model::{Consent, User};
use portcullis_core::store::Store;

use super::fixtures::{T0, at, client, public_client, scope, user};

fn consent(user: &User, client_id: &str, scopes: &str) -> Consent {
    Consent {
        user_id: user.user_id,
        client_id: portcullis_core::ids::ClientId(client_id.to_owned()),
        scope: scope(scopes),
        granted_at: T0,
        updated_at: T0,
    }
}

pub(super) async fn saved_consent_is_found_and_a_second_save_replaces_it(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let web = client("web");
    store.create_client(&web).await.unwrap();
    let first = consent(&alice, "web", "openid");
    let widened = Consent {
        scope: scope("openid profile email"),
        updated_at: at(100),
        ..first.clone()
    };

    // Act
    store.save_consent(&first).await.unwrap();
    let after_first = store
        .find_consent(alice.user_id, &web.client_id)
        .await
        .unwrap();
    store.save_consent(&widened).await.unwrap();
    let after_second = store
        .find_consent(alice.user_id, &web.client_id)
        .await
        .unwrap();

    // Assert
    assert_eq!(after_first, Some(first));
    assert_eq!(after_second, Some(widened.clone()));
    assert_eq!(
        store.list_consents(alice.user_id).await.unwrap(),
        vec![widened],
        "replacing does not add a second consent"
    );
}

pub(super) async fn consents_are_listed_ordered_by_client_id(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    let bob = user("bob");
    store.create_user(&alice).await.unwrap();
    store.create_user(&bob).await.unwrap();
    store.create_client(&client("web")).await.unwrap();
    store.create_client(&public_client("alpha")).await.unwrap();
    store.create_client(&public_client("Zeta")).await.unwrap();
    let to_web = consent(&alice, "web", "openid profile");
    let to_alpha = consent(&alice, "alpha", "openid");
    let to_zeta = consent(&alice, "Zeta", "openid email");
    let bobs = consent(&bob, "alpha", "openid");
    for c in [&to_web, &bobs, &to_zeta, &to_alpha] {
        store.save_consent(c).await.unwrap();
    }

    // Act
    let listed = store.list_consents(alice.user_id).await.unwrap();

    // Assert: byte order of the client id (upper case first), the same on every backend.
    let ids: Vec<&str> = listed.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["Zeta", "alpha", "web"]);
    assert_eq!(listed, vec![to_zeta, to_alpha, to_web]);
}

pub(super) async fn deleting_a_consent_reports_whether_one_existed(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    let bob = user("bob");
    store.create_user(&alice).await.unwrap();
    store.create_user(&bob).await.unwrap();
    let web = client("web");
    store.create_client(&web).await.unwrap();
    store
        .save_consent(&consent(&alice, "web", "openid"))
        .await
        .unwrap();
    let bobs = consent(&bob, "web", "openid");
    store.save_consent(&bobs).await.unwrap();

    // Act
    let first = store
        .delete_consent(alice.user_id, &web.client_id)
        .await
        .unwrap();
    let second = store
        .delete_consent(alice.user_id, &web.client_id)
        .await
        .unwrap();

    // Assert
    assert!(first, "an existing consent was deleted");
    assert!(!second, "there was nothing left to delete");
    assert_eq!(
        store
            .find_consent(alice.user_id, &web.client_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_consent(bob.user_id, &web.client_id)
            .await
            .unwrap(),
        Some(bobs),
        "another user's consent to the same client is untouched"
    );
}
