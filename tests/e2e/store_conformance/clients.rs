//! Conformance cases for `ClientStore`: registration, update and cascading deletion.

use std::sync::Arc;

use portcullis_core::ids::ClientId;
use portcullis_core::model::{
    Client, ClientMetadata, ClientType, CodeRedemption, Consent, GrantType, TokenEndpointAuthMethod,
};
use portcullis_core::store::{Store, constraints};

use super::fixtures::{
    SPEND, T0, assert_conflict, assert_not_found, at, client, code, grant, public_client,
    refresh_token, scope, uri, world,
};

pub(super) async fn created_clients_are_found_with_every_field(store: Arc<dyn Store>) {
    // Arrange
    let confidential = client("web");
    let public = public_client("app");

    // Act
    store.create_client(&confidential).await.unwrap();
    store.create_client(&public).await.unwrap();

    // Assert
    assert_eq!(
        store.find_client(&confidential.client_id).await.unwrap(),
        Some(confidential)
    );
    assert_eq!(
        store.find_client(&public.client_id).await.unwrap(),
        Some(public)
    );
    assert_eq!(
        store
            .find_client(&ClientId("unknown".to_owned()))
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn clients_are_listed_ordered_by_id(store: Arc<dyn Store>) {
    // Arrange: mixed case, where byte order and linguistic collations disagree.
    let web = client("web");
    let alpha = public_client("alpha");
    let zeta = public_client("Zeta");
    for c in [&web, &alpha, &zeta] {
        store.create_client(c).await.unwrap();
    }

    // Act
    let listed = store.list_clients().await.unwrap();

    // Assert: byte order (that of Rust's `str`), the same on every backend.
    let ids: Vec<&str> = listed.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["Zeta", "alpha", "web"]);
    assert_eq!(listed, vec![zeta, alpha, web]);
}

pub(super) async fn duplicate_client_id_is_a_conflict_on_the_primary_key(store: Arc<dyn Store>) {
    // Arrange
    let original = client("web");
    store.create_client(&original).await.unwrap();
    let duplicate = public_client("web");

    // Act
    let result = store.create_client(&duplicate).await;

    // Assert
    assert_conflict(result, constraints::CLIENT_PKEY);
    assert_eq!(
        store.find_client(&original.client_id).await.unwrap(),
        Some(original)
    );
}

pub(super) async fn client_update_replaces_every_field_but_the_id_and_creation_time(
    store: Arc<dyn Store>,
) {
    // Arrange
    let original = client("web");
    store.create_client(&original).await.unwrap();
    let update = Client {
        client_id: original.client_id.clone(),
        secret_hash: None,
        client_type: ClientType::Public,
        auth_method: TokenEndpointAuthMethod::None,
        name: "Renamed".to_owned(),
        redirect_uris: vec![uri("https://c.example/cb")],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::RefreshToken],
        allowed_scope: scope("openid"),
        metadata: ClientMetadata {
            contacts: vec!["new@c.example".to_owned()],
            ..ClientMetadata::default()
        },
        registration_token_hash: None,
        first_party: true,
        // Must be ignored: the creation time never changes.
        created_at: at(999),
        updated_at: at(100),
    };

    // Act
    store.update_client(&update).await.unwrap();

    // Assert
    let found = store.find_client(&original.client_id).await.unwrap();
    assert_eq!(
        found,
        Some(Client {
            created_at: original.created_at,
            ..update
        })
    );
}

pub(super) async fn client_update_and_delete_of_an_unknown_id_are_not_found(store: Arc<dyn Store>) {
    // Arrange
    let existing = client("web");
    store.create_client(&existing).await.unwrap();
    let ghost = client("ghost");

    // Act
    let updated = store.update_client(&ghost).await;
    let deleted = store.delete_client(&ghost.client_id).await;

    // Assert
    assert_not_found(updated);
    assert_not_found(deleted);
    assert_eq!(store.list_clients().await.unwrap(), vec![existing]);
}

pub(super) async fn deleting_a_client_removes_its_grants_codes_refresh_tokens_and_consents(
    store: Arc<dyn Store>,
) {
    // Arrange: client-a (deleted) and client-b (kept), each with a grant, a code, a
    // refresh token and a consent of the same user.
    let w = world(&*store).await;
    let other = public_client("client-b");
    store.create_client(&other).await.unwrap();
    let other_grant = grant(&w.user, &other, Some(w.session.session_id));
    store.create_grant(&other_grant).await.unwrap();

    let doomed_code = code(&w.grant, &w.session, "pcc_doomed");
    let kept_code = code(&other_grant, &w.session, "pcc_kept");
    store.insert_code(&doomed_code).await.unwrap();
    store.insert_code(&kept_code).await.unwrap();
    let doomed_token = refresh_token(&w.grant, "pcr_doomed");
    let kept_token = refresh_token(&other_grant, "pcr_kept");
    store.insert_refresh_token(&doomed_token).await.unwrap();
    store.insert_refresh_token(&kept_token).await.unwrap();
    for client_id in [&w.client.client_id, &other.client_id] {
        let consent = Consent {
            user_id: w.user.user_id,
            client_id: client_id.clone(),
            scope: scope("openid"),
            granted_at: T0,
            updated_at: T0,
        };
        store.save_consent(&consent).await.unwrap();
    }

    // Act
    store.delete_client(&w.client.client_id).await.unwrap();

    // Assert: everything of client-a is gone…
    assert_eq!(store.find_client(&w.client.client_id).await.unwrap(), None);
    assert_eq!(store.find_grant(w.grant.grant_id).await.unwrap(), None);
    assert_eq!(
        store
            .redeem_code(&doomed_code.code_hash, at(5), SPEND)
            .await
            .unwrap(),
        CodeRedemption::Invalid
    );
    assert_eq!(
        store
            .find_refresh_token(&doomed_token.token_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_consent(w.user.user_id, &w.client.client_id)
            .await
            .unwrap(),
        None
    );
    // …and nothing of client-b, the user or the session is.
    assert_eq!(
        store.find_grant(other_grant.grant_id).await.unwrap(),
        Some(other_grant.clone())
    );
    assert!(matches!(
        store
            .redeem_code(&kept_code.code_hash, at(5), SPEND)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));
    assert_eq!(
        store
            .find_refresh_token(&kept_token.token_hash)
            .await
            .unwrap(),
        Some(kept_token)
    );
    assert!(
        store
            .find_consent(w.user.user_id, &other.client_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.list_active_grants(w.user.user_id).await.unwrap(),
        vec![other_grant]
    );
    assert_eq!(store.find_user(w.user.user_id).await.unwrap(), Some(w.user));
    assert_eq!(
        store
            .find_live_session(&w.session.secret_hash, at(10))
            .await
            .unwrap(),
        Some(w.session)
    );
}
