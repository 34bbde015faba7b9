//! Conformance cases for `SigningKeyStore`: a keyring bootstrapped exactly once across
//! replicas, and rotation that retires only the same algorithm's keys.

use std::sync::Arc;

use portcullis_core::model::{SigningAlg, SigningKeyRecord};
use portcullis_core::store::{Store, constraints};
use tokio::sync::Barrier;

use super::fixtures::{T0, assert_conflict, at, signing_key};

pub(super) async fn signing_keys_are_bootstrapped_exactly_once(store: Arc<dyn Store>) {
    // Arrange: the newer key first, so "oldest first" must come from the query.
    let rs = signing_key("rs-1", SigningAlg::Rs256, T0);
    let es = signing_key("es-1", SigningAlg::Es256, at(1));
    let before = store.list_signing_keys().await.unwrap();

    // Act
    let first = store
        .bootstrap_signing_keys(&[es.clone(), rs.clone()])
        .await;
    let second = store
        .bootstrap_signing_keys(&[signing_key("rs-late", SigningAlg::Rs256, at(2))])
        .await;

    // Assert
    assert_eq!(before, Vec::<SigningKeyRecord>::new());
    first.unwrap();
    assert_conflict(second, constraints::KEYRING_BOOTSTRAP);
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![rs, es],
        "the refused bootstrap wrote nothing"
    );
}

pub(super) async fn failed_bootstrap_leaves_the_keyring_unclaimed(store: Arc<dyn Store>) {
    // Arrange: two keys with the same kid, so the key inserts fail after the marker.
    let rs = signing_key("rs-1", SigningAlg::Rs256, T0);
    let clash = signing_key("rs-1", SigningAlg::Es256, at(1));
    let failed = store.bootstrap_signing_keys(&[rs.clone(), clash]).await;

    // Act
    let retried = store
        .bootstrap_signing_keys(std::slice::from_ref(&rs))
        .await;

    // Assert
    assert_conflict(failed, constraints::SIGNING_KEY_PKEY);
    retried.expect("the failed bootstrap rolled back its claim on the keyring");
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![rs]);
}

pub(super) async fn concurrent_bootstraps_have_exactly_one_winner(store: Arc<dyn Store>) {
    // Arrange
    const REPLICAS: usize = 8;
    let keyrings: Vec<Vec<SigningKeyRecord>> = (0..REPLICAS)
        .map(|i| {
            vec![
                signing_key(&format!("rs-{i}"), SigningAlg::Rs256, T0),
                signing_key(&format!("es-{i}"), SigningAlg::Es256, at(1)),
            ]
        })
        .collect();
    let start = Arc::new(Barrier::new(REPLICAS));

    // Act
    let tasks: Vec<_> = keyrings
        .iter()
        .cloned()
        .map(|keys| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.bootstrap_signing_keys(&keys).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }

    // Assert
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one bootstrap wins: {outcomes:?}");
    let winner = winners[0];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        if i != winner {
            assert_conflict(outcome, constraints::KEYRING_BOOTSTRAP);
        }
    }
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        keyrings[winner],
        "only the winner's keys are stored"
    );
}

pub(super) async fn rotation_retires_the_older_keys_of_the_same_algorithm_only(
    store: Arc<dyn Store>,
) {
    // Arrange
    let rs1 = signing_key("rs-1", SigningAlg::Rs256, T0);
    let es1 = signing_key("es-1", SigningAlg::Es256, at(1));
    store
        .bootstrap_signing_keys(&[rs1.clone(), es1.clone()])
        .await
        .unwrap();
    let rs2 = signing_key("rs-2", SigningAlg::Rs256, at(100));
    let rs3 = signing_key("rs-3", SigningAlg::Rs256, at(200));

    // Act
    store.rotate_signing_key(&rs2, at(5_000)).await.unwrap();
    let after_first = store.list_signing_keys().await.unwrap();
    store.rotate_signing_key(&rs3, at(9_000)).await.unwrap();
    let after_second = store.list_signing_keys().await.unwrap();

    // Assert
    let rs1_retired = SigningKeyRecord {
        retires_at: Some(at(5_000)),
        ..rs1
    };
    assert_eq!(
        after_first,
        vec![rs1_retired.clone(), es1.clone(), rs2.clone()]
    );
    assert_eq!(
        after_second,
        vec![
            rs1_retired,
            es1,
            SigningKeyRecord {
                retires_at: Some(at(9_000)),
                ..rs2
            },
            rs3,
        ],
        "a key already retiring keeps its retirement time"
    );
}

pub(super) async fn rotating_in_a_key_whose_kid_exists_is_a_conflict_and_retires_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange
    let rs1 = signing_key("rs-1", SigningAlg::Rs256, T0);
    store
        .bootstrap_signing_keys(std::slice::from_ref(&rs1))
        .await
        .unwrap();
    let same_kid = signing_key("rs-1", SigningAlg::Rs256, at(100));

    // Act
    let outcome = store.rotate_signing_key(&same_kid, at(5_000)).await;

    // Assert
    assert_conflict(outcome, constraints::SIGNING_KEY_PKEY);
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![rs1],
        "the failed rotation changed nothing"
    );
}
