//! Conformance cases for `InitialAccessTokenStore` (RFC 7591 §3 initial access tokens)
//! and for spending single-use token ids (RFC 7523 client assertion `jti`s).

use std::sync::Arc;

use futures::future::join_all;
use portcullis_core::model::InitialAccessToken;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::Store;

use super::fixtures::at;

pub(super) async fn initial_access_tokens_are_found_by_hash_with_every_field(
    store: Arc<dyn Store>,
) {
    // Arrange
    let forever = InitialAccessToken {
        token_hash: SecretHash::of("pia_forever"),
        description: Some("partner onboarding".into()),
        created_at: at(0),
        expires_at: None,
    };
    let dated = InitialAccessToken {
        token_hash: SecretHash::of("pia_dated"),
        description: None,
        created_at: at(1),
        expires_at: Some(at(3600)),
    };

    // Act
    store.create_initial_access_token(&forever).await.unwrap();
    store.create_initial_access_token(&dated).await.unwrap();

    // Assert
    assert_eq!(
        store
            .find_initial_access_token(&SecretHash::of("pia_forever"))
            .await
            .unwrap(),
        Some(forever)
    );
    assert_eq!(
        store
            .find_initial_access_token(&SecretHash::of("pia_dated"))
            .await
            .unwrap(),
        Some(dated)
    );
    assert_eq!(
        store
            .find_initial_access_token(&SecretHash::of("pia_unknown"))
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn a_token_id_is_spent_exactly_once_even_concurrently(store: Arc<dyn Store>) {
    // Arrange
    let first = store
        .spend_token_id("client-a:j1", at(300), at(0))
        .await
        .unwrap();

    // Act
    let again = store
        .spend_token_id("client-a:j1", at(300), at(5))
        .await
        .unwrap();
    let racers = join_all((0..8).map(|_| store.spend_token_id("client-a:j2", at(300), at(0))))
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(|won| *won)
        .count();

    // Assert
    assert!(first, "the first use spends it");
    assert!(!again, "a second use is a replay");
    assert_eq!(racers, 1, "exactly one concurrent spender wins");
    assert!(
        store.is_token_id_revoked("client-a:j1").await.unwrap(),
        "a spent id is kept like a revoked one until it expires"
    );
}
