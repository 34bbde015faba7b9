//! Conformance cases for `UserStore`: accounts, credentials, profile claims and roles.

use std::sync::Arc;

use portcullis_core::ids::UserId;
use portcullis_core::model::{User, UserProfile};
use portcullis_core::store::{Store, constraints};

use super::fixtures::{assert_conflict, assert_not_found, at, password_hash, user};

pub(super) async fn created_user_is_found_by_id_and_by_username_with_every_field(
    store: Arc<dyn Store>,
) {
    // Arrange
    let alice = User {
        disabled: true,
        updated_at: at(60),
        ..user("alice")
    };

    // Act
    store.create_user(&alice).await.unwrap();
    let by_id = store.find_user(alice.user_id).await.unwrap();
    let by_username = store.find_user_by_username("alice").await.unwrap();

    // Assert
    assert_eq!(by_id, Some(alice.clone()));
    assert_eq!(by_username, Some(alice));
    assert_eq!(store.find_user(UserId::random()).await.unwrap(), None);
    assert_eq!(store.find_user_by_username("bob").await.unwrap(), None);
}

pub(super) async fn username_lookup_is_exact(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();

    // Act
    let prefix = store.find_user_by_username("ali").await.unwrap();
    let pattern = store.find_user_by_username("ali%").await.unwrap();
    let padded = store.find_user_by_username("alice ").await.unwrap();
    let exact = store.find_user_by_username("alice").await.unwrap();

    // Assert
    assert_eq!(prefix, None);
    assert_eq!(pattern, None, "the username is not a LIKE pattern");
    assert_eq!(padded, None);
    assert_eq!(exact.map(|u| u.user_id), Some(alice.user_id));
}

pub(super) async fn duplicate_username_is_a_conflict_on_the_username_constraint(
    store: Arc<dyn Store>,
) {
    // Arrange
    let first = user("alice");
    store.create_user(&first).await.unwrap();
    let second = user("alice");

    // Act
    let result = store.create_user(&second).await;

    // Assert
    assert_conflict(result, constraints::USER_USERNAME);
    assert_eq!(store.find_user(second.user_id).await.unwrap(), None);
    assert_eq!(
        store.find_user_by_username("alice").await.unwrap(),
        Some(first)
    );
}

pub(super) async fn profile_update_replaces_the_claims_and_the_update_time(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let profile = UserProfile {
        email: Some("alice@new.example".to_owned()),
        email_verified: false,
        name: None,
        given_name: Some("Alicia".to_owned()),
        family_name: None,
        picture: None,
    };

    // Act
    store
        .update_user_profile(alice.user_id, &profile, at(100))
        .await
        .unwrap();

    // Assert
    let found = store.find_user(alice.user_id).await.unwrap();
    assert_eq!(
        found,
        Some(User {
            profile,
            updated_at: at(100),
            ..alice
        })
    );
}

pub(super) async fn password_change_replaces_the_hash_and_the_update_time(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let new_hash = password_hash("rotated");

    // Act
    store
        .set_user_password(alice.user_id, &new_hash, at(100))
        .await
        .unwrap();

    // Assert
    let found = store.find_user_by_username("alice").await.unwrap();
    assert_eq!(
        found,
        Some(User {
            password_hash: new_hash,
            updated_at: at(100),
            ..alice
        })
    );
}

pub(super) async fn disabling_and_enabling_a_user_persists(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();

    // Act
    store
        .set_user_disabled(alice.user_id, true, at(100))
        .await
        .unwrap();
    let disabled = store.find_user(alice.user_id).await.unwrap();
    store
        .set_user_disabled(alice.user_id, false, at(200))
        .await
        .unwrap();
    let enabled = store.find_user(alice.user_id).await.unwrap();

    // Assert
    assert_eq!(
        disabled,
        Some(User {
            disabled: true,
            updated_at: at(100),
            ..alice.clone()
        })
    );
    assert_eq!(
        enabled,
        Some(User {
            disabled: false,
            updated_at: at(200),
            ..alice
        })
    );
}

pub(super) async fn roles_are_replaced_as_a_whole(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let roles = vec!["auditor".to_owned()];

    // Act
    store
        .set_user_roles(alice.user_id, &roles, at(100))
        .await
        .unwrap();
    let replaced = store.find_user(alice.user_id).await.unwrap();
    store
        .set_user_roles(alice.user_id, &[], at(200))
        .await
        .unwrap();
    let cleared = store.find_user(alice.user_id).await.unwrap();

    // Assert
    assert_eq!(
        replaced,
        Some(User {
            roles,
            updated_at: at(100),
            ..alice.clone()
        })
    );
    assert_eq!(
        cleared,
        Some(User {
            roles: Vec::new(),
            updated_at: at(200),
            ..alice
        })
    );
}

pub(super) async fn user_changes_on_an_unknown_id_are_not_found(store: Arc<dyn Store>) {
    // Arrange
    let existing = user("alice");
    store.create_user(&existing).await.unwrap();
    let unknown = UserId::random();

    // Act
    let profile = store
        .update_user_profile(unknown, &UserProfile::default(), at(100))
        .await;
    let password = store
        .set_user_password(unknown, &password_hash("x"), at(100))
        .await;
    let disabled = store.set_user_disabled(unknown, true, at(100)).await;
    let roles = store
        .set_user_roles(unknown, &["admin".to_owned()], at(100))
        .await;

    // Assert
    assert_not_found(profile);
    assert_not_found(password);
    assert_not_found(disabled);
    assert_not_found(roles);
    assert_eq!(store.list_users().await.unwrap(), vec![existing]);
}

pub(super) async fn users_are_listed_ordered_by_username(store: Arc<dyn Store>) {
    // Arrange
    let carol = user("carol");
    let alice = user("alice");
    let bob = user("bob");
    for u in [&carol, &alice, &bob] {
        store.create_user(u).await.unwrap();
    }

    // Act
    let listed = store.list_users().await.unwrap();

    // Assert
    assert_eq!(listed, vec![alice, bob, carol]);
}

pub(super) async fn users_are_listed_in_byte_order_of_username_whatever_the_case(
    store: Arc<dyn Store>,
) {
    // Arrange: mixed case and non-ASCII, where linguistic collations disagree with
    // byte order (and so SQLite's default with many Postgres servers' defaults).
    let names = ["carol", "Bob", "alice", "Zoë", "zed", "_service", "Émile"];
    let mut users: Vec<User> = names.iter().map(|n| user(n)).collect();
    for u in &users {
        store.create_user(u).await.unwrap();
    }

    // Act
    let listed = store.list_users().await.unwrap();

    // Assert: the same order on every backend, that of Rust's `str` (byte order).
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let expected: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    let actual: Vec<&str> = listed.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(actual, expected);
}
