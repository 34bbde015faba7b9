//! Conformance cases for `CodeStore`: single-use authorization codes, including a race of
//! concurrent redemptions.

use std::sync::Arc;

use portcullis_core::model::{AuthorizationCode, CodeRedemption};
use portcullis_core::secret::SecretHash;
use portcullis_core::store::Store;
use tokio::sync::Barrier;

use super::fixtures::{SPEND, at, code, world};

pub(super) async fn redeemed_code_cannot_be_redeemed_twice(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    let issued = code(&w.grant, &w.session, "pcc_single_use");
    store.insert_code(&issued).await.unwrap();

    // Act
    let first = store
        .redeem_code(&issued.code_hash, at(5), SPEND)
        .await
        .unwrap();
    let second = store
        .redeem_code(&issued.code_hash, at(6), SPEND)
        .await
        .unwrap();

    // Assert
    let redeemed = AuthorizationCode {
        redeemed_at: Some(at(5)),
        ..issued
    };
    assert_eq!(first, CodeRedemption::Redeemed(redeemed.clone()));
    assert_eq!(
        second,
        CodeRedemption::AlreadyRedeemed(redeemed),
        "the replay sees the first redemption time"
    );
}

pub(super) async fn redeemed_code_is_the_inserted_record_with_its_redemption_time(
    store: Arc<dyn Store>,
) {
    // Arrange: one code with every optional field set, one with none.
    let w = world(&*store).await;
    let full = code(&w.grant, &w.session, "pcc_full");
    let bare = AuthorizationCode {
        nonce: None,
        code_challenge: None,
        scope: super::fixtures::scope("openid"),
        ..code(&w.grant, &w.session, "pcc_bare")
    };
    store.insert_code(&full).await.unwrap();
    store.insert_code(&bare).await.unwrap();

    // Act
    let full_redeemed = store
        .redeem_code(&full.code_hash, at(7), SPEND)
        .await
        .unwrap();
    let bare_redeemed = store
        .redeem_code(&bare.code_hash, at(8), SPEND)
        .await
        .unwrap();

    // Assert
    assert_eq!(
        full_redeemed,
        CodeRedemption::Redeemed(AuthorizationCode {
            redeemed_at: Some(at(7)),
            ..full
        })
    );
    assert_eq!(
        bare_redeemed,
        CodeRedemption::Redeemed(AuthorizationCode {
            redeemed_at: Some(at(8)),
            ..bare
        })
    );
}

pub(super) async fn expired_code_is_invalid(store: Arc<dyn Store>) {
    // Arrange: the code expires at T0 + 60.
    let w = world(&*store).await;
    let issued = code(&w.grant, &w.session, "pcc_expired");
    store.insert_code(&issued).await.unwrap();

    // Act
    let late = store
        .redeem_code(&issued.code_hash, at(61), SPEND)
        .await
        .unwrap();
    let later = store
        .redeem_code(&issued.code_hash, at(3_600), SPEND)
        .await
        .unwrap();

    // Assert
    assert_eq!(late, CodeRedemption::Invalid);
    assert_eq!(later, CodeRedemption::Invalid);
}

pub(super) async fn unknown_code_is_invalid(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    store
        .insert_code(&code(&w.grant, &w.session, "pcc_known"))
        .await
        .unwrap();

    // Act
    let outcome = store
        .redeem_code(&SecretHash::of("pcc_unknown"), at(5), SPEND)
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, CodeRedemption::Invalid);
}

pub(super) async fn concurrent_redemptions_of_one_code_have_exactly_one_winner(
    store: Arc<dyn Store>,
) {
    // Arrange
    const CALLERS: i64 = 50;
    let w = world(&*store).await;
    let issued = code(&w.grant, &w.session, "pcc_raced");
    store.insert_code(&issued).await.unwrap();
    let start = Arc::new(Barrier::new(CALLERS as usize));

    // Act: every caller waits at the barrier, then redeems at its own instant.
    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            let store = Arc::clone(&store);
            let hash = issued.code_hash.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.redeem_code(&hash, at(1 + i), SPEND).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }

    // Assert
    let winners: Vec<&AuthorizationCode> = outcomes
        .iter()
        .filter_map(|o| match o {
            CodeRedemption::Redeemed(record) => Some(record),
            _ => None,
        })
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one redemption wins: {outcomes:?}"
    );
    let winner = winners[0].clone();
    assert_eq!(winner.code_hash, issued.code_hash);
    let redeemed_at = winner.redeemed_at.expect("the winner's record is redeemed");
    assert!((at(1)..=at(CALLERS)).contains(&redeemed_at));
    assert_eq!(
        winner,
        AuthorizationCode {
            redeemed_at: Some(redeemed_at),
            ..issued.clone()
        }
    );
    let replays = outcomes
        .iter()
        .filter(|o| **o == CodeRedemption::AlreadyRedeemed(winner.clone()))
        .count();
    assert_eq!(
        replays,
        (CALLERS - 1) as usize,
        "every other caller sees the winner's redemption: {outcomes:?}"
    );

    // Assert: the store is still consistent and usable.
    assert_eq!(
        store
            .redeem_code(&issued.code_hash, at(55), SPEND)
            .await
            .unwrap(),
        CodeRedemption::AlreadyRedeemed(winner)
    );
    let fresh = code(&w.grant, &w.session, "pcc_after_the_race");
    store.insert_code(&fresh).await.unwrap();
    assert!(matches!(
        store
            .redeem_code(&fresh.code_hash, at(56), SPEND)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(w.grant)
    );
    store.check_ready().await.unwrap();
}
