//! Conformance cases for `RefreshTokenStore`: the joined read of a token with its grant
//! and user, rotation (recording the grant's use only when it rotates), reuse detection,
//! expiry and revocation, including a race of concurrent rotations.

use std::sync::Arc;

use portcullis_core::model::{Grant, RefreshRetry, RefreshRotation, RefreshToken, User};
use portcullis_core::secret::SecretHash;
use portcullis_core::store::Store;
use tokio::sync::Barrier;

use super::fixtures::{DAY, at, grant, refresh_token, successor, world, world_with_distinct_times};

pub(super) async fn inserted_refresh_token_is_found_by_hash(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    let token = refresh_token(&w.grant, "pcr_plain");
    let child = RefreshToken {
        scope: super::fixtures::scope("openid"),
        ..successor(&token, "pcr_child", at(10))
    };

    // Act
    store.insert_refresh_token(&token).await.unwrap();
    store.insert_refresh_token(&child).await.unwrap();

    // Assert
    assert_eq!(
        store.find_refresh_token(&token.token_hash).await.unwrap(),
        Some(token)
    );
    assert_eq!(
        store.find_refresh_token(&child.token_hash).await.unwrap(),
        Some(child)
    );
    assert_eq!(
        store
            .find_refresh_token(&SecretHash::of("pcr_unknown"))
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn rotated_refresh_token_has_a_findable_successor(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    let old = refresh_token(&w.grant, "pcr_old");
    store.insert_refresh_token(&old).await.unwrap();
    let next = successor(&old, "pcr_next", at(10));

    // Act
    let outcome = store
        .rotate_refresh_token(&old.token_hash, &next, at(10))
        .await
        .unwrap();

    // Assert
    let rotated = RefreshToken {
        rotated_at: Some(at(10)),
        ..old.clone()
    };
    assert_eq!(outcome, RefreshRotation::Rotated(rotated.clone()));
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        Some(next.clone())
    );
    assert_eq!(
        store.find_refresh_token(&old.token_hash).await.unwrap(),
        Some(rotated)
    );

    // Act: the successor rotates in turn.
    let third = successor(&next, "pcr_third", at(20));
    let outcome = store
        .rotate_refresh_token(&next.token_hash, &third, at(20))
        .await
        .unwrap();

    // Assert
    assert_eq!(
        outcome,
        RefreshRotation::Rotated(RefreshToken {
            rotated_at: Some(at(20)),
            ..next
        })
    );
    assert_eq!(
        store.find_refresh_token(&third.token_hash).await.unwrap(),
        Some(third)
    );
}

pub(super) async fn rotating_a_refresh_token_twice_is_reported_as_reuse(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    let old = refresh_token(&w.grant, "pcr_old");
    store.insert_refresh_token(&old).await.unwrap();
    let first_next = successor(&old, "pcr_first_next", at(10));
    store
        .rotate_refresh_token(&old.token_hash, &first_next, at(10))
        .await
        .unwrap();
    let second_next = successor(&old, "pcr_second_next", at(20));

    // Act
    let outcome = store
        .rotate_refresh_token(&old.token_hash, &second_next, at(20))
        .await
        .unwrap();

    // Assert
    assert_eq!(
        outcome,
        RefreshRotation::AlreadyRotated(RefreshToken {
            rotated_at: Some(at(10)),
            ..old
        })
    );
    assert_eq!(
        store
            .find_refresh_token(&second_next.token_hash)
            .await
            .unwrap(),
        None,
        "a reused token gets no successor"
    );
    assert_eq!(
        store
            .find_refresh_token(&first_next.token_hash)
            .await
            .unwrap(),
        Some(first_next)
    );
}

pub(super) async fn expired_refresh_token_cannot_be_rotated_and_no_successor_is_stored(
    store: Arc<dyn Store>,
) {
    // Arrange: absolute expiry before the idle one, so only the absolute one applies.
    let w = world(&*store).await;
    let old = RefreshToken {
        expires_at: at(100),
        idle_expires_at: at(DAY),
        ..refresh_token(&w.grant, "pcr_expired")
    };
    store.insert_refresh_token(&old).await.unwrap();
    let next = successor(&old, "pcr_after_expiry", at(101));

    // Act
    let outcome = store
        .rotate_refresh_token(&old.token_hash, &next, at(101))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, RefreshRotation::Invalid);
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_refresh_token(&old.token_hash).await.unwrap(),
        Some(old),
        "the expired token is not marked rotated"
    );
}

pub(super) async fn idle_expired_refresh_token_cannot_be_rotated_and_no_successor_is_stored(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world(&*store).await;
    let old = RefreshToken {
        idle_expires_at: at(50),
        ..refresh_token(&w.grant, "pcr_idle")
    };
    store.insert_refresh_token(&old).await.unwrap();
    let next = successor(&old, "pcr_after_idle", at(51));

    // Act
    let outcome = store
        .rotate_refresh_token(&old.token_hash, &next, at(51))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, RefreshRotation::Invalid);
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_refresh_token(&old.token_hash).await.unwrap(),
        Some(old)
    );
}

pub(super) async fn revoked_refresh_token_cannot_be_rotated_and_no_successor_is_stored(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world(&*store).await;
    let old = refresh_token(&w.grant, "pcr_revoked");
    store.insert_refresh_token(&old).await.unwrap();
    store
        .revoke_refresh_token(&old.token_hash, at(5))
        .await
        .unwrap();
    let next = successor(&old, "pcr_after_revocation", at(10));

    // Act
    let outcome = store
        .rotate_refresh_token(&old.token_hash, &next, at(10))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, RefreshRotation::Invalid);
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_refresh_token(&old.token_hash).await.unwrap(),
        Some(RefreshToken {
            revoked_at: Some(at(5)),
            ..old
        })
    );
}

pub(super) async fn rotation_whose_successor_cannot_be_stored_leaves_the_old_token_current(
    store: Arc<dyn Store>,
) {
    // Arrange: the successor reuses the hash of a stored token, so its insert fails.
    let w = world(&*store).await;
    let old = refresh_token(&w.grant, "pcr_old");
    let occupant = refresh_token(&w.grant, "pcr_occupant");
    store.insert_refresh_token(&old).await.unwrap();
    store.insert_refresh_token(&occupant).await.unwrap();
    let clashing = successor(&old, "pcr_occupant", at(10));

    // Act
    let failed = store
        .rotate_refresh_token(&old.token_hash, &clashing, at(10))
        .await;

    // Assert
    assert!(
        failed.is_err(),
        "the successor could not be stored: {failed:?}"
    );
    assert_eq!(
        store.find_refresh_token(&old.token_hash).await.unwrap(),
        Some(old.clone()),
        "the mark and the insert are one transaction: the old token is still current"
    );
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(w.grant.clone()),
        "nor was the grant's use recorded"
    );
    let next = successor(&old, "pcr_next", at(20));
    assert_eq!(
        store
            .rotate_refresh_token(&old.token_hash, &next, at(20))
            .await
            .unwrap(),
        RefreshRotation::Rotated(RefreshToken {
            rotated_at: Some(at(20)),
            ..old
        })
    );
}

pub(super) async fn rotation_racing_a_grant_revocation_leaves_no_rotatable_token(
    store: Arc<dyn Store>,
) {
    // Arrange: many independent grants, each with one current token.
    const ROUNDS: usize = 20;
    let w = world(&*store).await;
    let mut rounds = Vec::new();
    for i in 0..ROUNDS {
        let g = grant(&w.user, &w.client, None);
        store.create_grant(&g).await.unwrap();
        let token = refresh_token(&g, &format!("pcr_race_{i}"));
        store.insert_refresh_token(&token).await.unwrap();
        let next = successor(&token, &format!("pcr_race_next_{i}"), at(10));
        rounds.push((g, token, next));
    }

    // Act: in each round a rotation and the grant's revocation start together.
    for (g, token, next) in &rounds {
        let start = Arc::new(Barrier::new(2));
        let rotation = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let (old_hash, next) = (token.token_hash.clone(), next.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.rotate_refresh_token(&old_hash, &next, at(10)).await
            })
        };
        let revocation = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let grant_id = g.grant_id;
            tokio::spawn(async move {
                start.wait().await;
                store.revoke_grant(grant_id, at(10)).await
            })
        };
        rotation.await.unwrap().unwrap();
        assert!(
            revocation.await.unwrap().unwrap(),
            "the grant was active until revoked"
        );
    }

    // Assert: whichever won, no token of a revoked grant can be rotated any more.
    for (i, (_, token, next)) in rounds.iter().enumerate() {
        for (label, hash) in [
            ("original", &token.token_hash),
            ("successor", &next.token_hash),
        ] {
            let attempt = successor(next, &format!("pcr_race_late_{label}_{i}"), at(20));
            let outcome = store
                .rotate_refresh_token(hash, &attempt, at(20))
                .await
                .unwrap();
            assert!(
                !matches!(outcome, RefreshRotation::Rotated(_)),
                "round {i}: the {label} token rotated after its grant was revoked"
            );
            assert_eq!(
                store.find_refresh_token(&attempt.token_hash).await.unwrap(),
                None
            );
        }
    }
}

pub(super) async fn refresh_token_of_a_revoked_grant_cannot_be_rotated(store: Arc<dyn Store>) {
    // Arrange: the token is stored after its grant was revoked, so only the grant's
    // revocation can stop the rotation.
    let w = world(&*store).await;
    store.revoke_grant(w.grant.grant_id, at(5)).await.unwrap();
    let old = refresh_token(&w.grant, "pcr_of_revoked_grant");
    store.insert_refresh_token(&old).await.unwrap();
    let next = successor(&old, "pcr_never", at(10));

    // Act
    let outcome = store
        .rotate_refresh_token(&old.token_hash, &next, at(10))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, RefreshRotation::Invalid);
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
}

pub(super) async fn unknown_refresh_token_cannot_be_rotated_and_no_successor_is_stored(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world(&*store).await;
    let known = refresh_token(&w.grant, "pcr_known");
    store.insert_refresh_token(&known).await.unwrap();
    let next = RefreshToken {
        parent_hash: Some(SecretHash::of("pcr_unknown")),
        ..successor(&known, "pcr_orphan", at(10))
    };

    // Act
    let outcome = store
        .rotate_refresh_token(&SecretHash::of("pcr_unknown"), &next, at(10))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, RefreshRotation::Invalid);
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
}

pub(super) async fn revoking_a_refresh_token_reports_whether_it_was_live(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    let token = refresh_token(&w.grant, "pcr_to_revoke");
    let sibling = refresh_token(&w.grant, "pcr_sibling");
    store.insert_refresh_token(&token).await.unwrap();
    store.insert_refresh_token(&sibling).await.unwrap();

    // Act
    let first = store
        .revoke_refresh_token(&token.token_hash, at(10))
        .await
        .unwrap();
    let second = store
        .revoke_refresh_token(&token.token_hash, at(20))
        .await
        .unwrap();
    let unknown = store
        .revoke_refresh_token(&SecretHash::of("pcr_unknown"), at(20))
        .await
        .unwrap();

    // Assert
    assert!(first, "a live token was revoked");
    assert!(!second, "an already revoked token is not live");
    assert!(!unknown, "an unknown token is not live");
    assert_eq!(
        store.find_refresh_token(&token.token_hash).await.unwrap(),
        Some(RefreshToken {
            revoked_at: Some(at(10)),
            ..token
        }),
        "revoking again keeps the first revocation time"
    );
    assert_eq!(
        store.find_refresh_token(&sibling.token_hash).await.unwrap(),
        Some(sibling),
        "only the named token is revoked"
    );
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(w.grant),
        "revoking one token leaves its grant active"
    );
}

pub(super) async fn concurrent_rotations_of_one_refresh_token_have_exactly_one_winner(
    store: Arc<dyn Store>,
) {
    // Arrange
    const CALLERS: usize = 50;
    let w = world(&*store).await;
    let old = refresh_token(&w.grant, "pcr_raced");
    store.insert_refresh_token(&old).await.unwrap();
    let successors: Vec<RefreshToken> = (0..CALLERS)
        .map(|i| successor(&old, &format!("pcr_successor_{i}"), at(10)))
        .collect();
    let start = Arc::new(Barrier::new(CALLERS));

    // Act: every caller waits at the barrier, then rotates with its own successor.
    let tasks: Vec<_> = successors
        .iter()
        .cloned()
        .map(|next| {
            let store = Arc::clone(&store);
            let old_hash = old.token_hash.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.rotate_refresh_token(&old_hash, &next, at(10)).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }

    // Assert
    let rotated = RefreshToken {
        rotated_at: Some(at(10)),
        ..old.clone()
    };
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, RefreshRotation::Rotated(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins: {outcomes:?}");
    let winner = winners[0];
    assert_eq!(outcomes[winner], RefreshRotation::Rotated(rotated.clone()));
    let reuses = outcomes
        .iter()
        .filter(|o| **o == RefreshRotation::AlreadyRotated(rotated.clone()))
        .count();
    assert_eq!(
        reuses,
        CALLERS - 1,
        "every other caller is told the token was already rotated: {outcomes:?}"
    );
    let mut stored = Vec::new();
    for (i, next) in successors.iter().enumerate() {
        if let Some(found) = store.find_refresh_token(&next.token_hash).await.unwrap() {
            stored.push((i, found));
        }
    }
    assert_eq!(
        stored,
        vec![(winner, successors[winner].clone())],
        "only the winner's successor is stored"
    );
    assert_eq!(
        store.find_refresh_token(&old.token_hash).await.unwrap(),
        Some(rotated)
    );
    store.check_ready().await.unwrap();
}

pub(super) async fn concurrent_rotations_of_many_chains_each_get_their_own_outcome(
    store: Arc<dyn Store>,
) {
    // Arrange: one grant per chain, one token each; one chain's successor clashes with
    // a stored token, so its rotation fails whatever it is committed with.
    const CHAINS: usize = 40;
    const CLASHING: usize = 17;
    let w = world(&*store).await;
    let mut olds = Vec::new();
    for i in 0..CHAINS {
        let grant = grant(&w.user, &w.client, None);
        store.create_grant(&grant).await.unwrap();
        let old = refresh_token(&grant, &format!("pcr_chain_{i}"));
        store.insert_refresh_token(&old).await.unwrap();
        olds.push((grant, old));
    }
    let occupant = refresh_token(&olds[0].0, "pcr_occupant");
    store.insert_refresh_token(&occupant).await.unwrap();
    let successors: Vec<RefreshToken> = olds
        .iter()
        .enumerate()
        .map(|(i, (_, old))| match i {
            CLASHING => successor(old, "pcr_occupant", at(10)),
            _ => successor(old, &format!("pcr_chain_{i}_next"), at(10)),
        })
        .collect();
    let start = Arc::new(Barrier::new(CHAINS));

    // Act: every chain rotates at once.
    let tasks: Vec<_> = olds
        .iter()
        .zip(&successors)
        .map(|((_, old), next)| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let (old_hash, next) = (old.token_hash.clone(), next.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.rotate_refresh_token(&old_hash, &next, at(10)).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }

    // Assert: each chain's outcome is its own, as if it had rotated alone.
    for (i, (((grant, old), next), outcome)) in
        olds.iter().zip(&successors).zip(outcomes).enumerate()
    {
        if i == CLASHING {
            assert!(
                outcome.is_err(),
                "chain {i}'s successor clashes: {outcome:?}"
            );
            assert_eq!(
                store
                    .find_refresh_token(&old.token_hash)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(old),
                "the failed chain's token is still current"
            );
            assert_eq!(
                store.find_grant(grant.grant_id).await.unwrap().as_ref(),
                Some(grant)
            );
            continue;
        }
        let rotated = RefreshToken {
            rotated_at: Some(at(10)),
            ..old.clone()
        };
        assert_eq!(
            outcome.unwrap(),
            RefreshRotation::Rotated(rotated),
            "chain {i}"
        );
        assert_eq!(
            store
                .find_refresh_token(&next.token_hash)
                .await
                .unwrap()
                .as_ref(),
            Some(next),
            "chain {i}'s successor is stored"
        );
        assert_eq!(
            store
                .find_grant(grant.grant_id)
                .await
                .unwrap()
                .map(|g| g.last_used_at),
            Some(at(10)),
            "chain {i}'s grant records its use"
        );
    }
    store.check_ready().await.unwrap();
}

pub(super) async fn refresh_token_is_found_with_its_grant_and_user(store: Arc<dyn Store>) {
    // Arrange: the token's scope and times differ from its grant's, and the grant is
    // revoked and the user disabled: the read reports them as they stand.
    let w = world_with_distinct_times(&*store).await;
    let token = RefreshToken {
        scope: super::fixtures::scope("openid"),
        ..refresh_token(&w.grant, "pcr_joined")
    };
    store.insert_refresh_token(&token).await.unwrap();
    let live = store
        .find_refresh_token_with_grant(&token.token_hash)
        .await
        .unwrap();
    store.revoke_grant(w.grant.grant_id, at(20)).await.unwrap();
    store
        .set_user_disabled(w.user.user_id, true, at(30))
        .await
        .unwrap();

    // Act
    let dead = store
        .find_refresh_token_with_grant(&token.token_hash)
        .await
        .unwrap();
    let unknown = store
        .find_refresh_token_with_grant(&SecretHash::of("pcr_unknown"))
        .await
        .unwrap();

    // Assert
    assert_eq!(
        live,
        Some((token.clone(), w.grant.clone(), w.user.clone())),
        "every field of the three, none taken from another table"
    );
    assert_eq!(
        dead,
        Some((
            RefreshToken {
                revoked_at: Some(at(20)),
                ..token
            },
            Grant {
                revoked_at: Some(at(20)),
                ..w.grant
            },
            User {
                disabled: true,
                updated_at: at(30),
                ..w.user
            },
        ))
    );
    assert_eq!(unknown, None);
}

pub(super) async fn rotation_records_the_use_of_the_grant(store: Arc<dyn Store>) {
    // Arrange
    let w = world_with_distinct_times(&*store).await;
    let old = refresh_token(&w.grant, "pcr_old");
    store.insert_refresh_token(&old).await.unwrap();
    let next = successor(&old, "pcr_next", at(10));

    // Act
    let outcome = store
        .rotate_refresh_token(&old.token_hash, &next, at(10))
        .await
        .unwrap();

    // Assert
    assert!(
        matches!(outcome, RefreshRotation::Rotated(_)),
        "{outcome:?}"
    );
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(Grant {
            last_used_at: at(10),
            ..w.grant
        }),
        "only last_used_at changes"
    );
}

pub(super) async fn failed_rotations_do_not_record_a_use_of_the_grant(store: Arc<dyn Store>) {
    // Arrange: one token rotated at 10, one expired, one of a revoked grant.
    let w = world_with_distinct_times(&*store).await;
    let rotated = refresh_token(&w.grant, "pcr_rotated");
    store.insert_refresh_token(&rotated).await.unwrap();
    let first_next = successor(&rotated, "pcr_first_next", at(10));
    store
        .rotate_refresh_token(&rotated.token_hash, &first_next, at(10))
        .await
        .unwrap();
    let expired = RefreshToken {
        expires_at: at(15),
        ..refresh_token(&w.grant, "pcr_expired")
    };
    store.insert_refresh_token(&expired).await.unwrap();
    let other = grant(&w.user, &w.client, None);
    store.create_grant(&other).await.unwrap();
    let of_revoked = refresh_token(&other, "pcr_of_revoked_grant");
    store.insert_refresh_token(&of_revoked).await.unwrap();
    store.revoke_grant(other.grant_id, at(5)).await.unwrap();

    // Act
    let reused = store
        .rotate_refresh_token(
            &rotated.token_hash,
            &successor(&rotated, "pcr_second_next", at(20)),
            at(20),
        )
        .await
        .unwrap();
    let too_late = store
        .rotate_refresh_token(
            &expired.token_hash,
            &successor(&expired, "pcr_after_expiry", at(20)),
            at(20),
        )
        .await
        .unwrap();
    let refused = store
        .rotate_refresh_token(
            &of_revoked.token_hash,
            &successor(&of_revoked, "pcr_after_revocation", at(20)),
            at(20),
        )
        .await
        .unwrap();

    // Assert
    assert!(
        matches!(reused, RefreshRotation::AlreadyRotated(_)),
        "{reused:?}"
    );
    assert_eq!(too_late, RefreshRotation::Invalid);
    assert_eq!(refused, RefreshRotation::Invalid);
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(Grant {
            last_used_at: at(10),
            ..w.grant
        }),
        "the last use is still the one rotation that succeeded"
    );
    assert_eq!(
        store.find_grant(other.grant_id).await.unwrap(),
        Some(Grant {
            revoked_at: Some(at(5)),
            ..other
        }),
        "a revoked grant's token that did not rotate leaves the grant as it was"
    );
}

pub(super) async fn a_retried_rotation_inside_the_window_replaces_the_unused_successor(
    store: Arc<dyn Store>,
) {
    // Arrange: rotated at 10; the first successor's answer is lost.
    let w = world_with_distinct_times(&*store).await;
    let old = refresh_token(&w.grant, "pcr_old");
    store.insert_refresh_token(&old).await.unwrap();
    let first = successor(&old, "pcr_first", at(10));
    store
        .rotate_refresh_token(&old.token_hash, &first, at(10))
        .await
        .unwrap();
    let second = successor(&old, "pcr_second", at(12));
    let third = successor(&old, "pcr_third", at(13));

    // Act: retried at 12, and once more at 13, with a window reaching back to 7.
    let retried = store
        .retry_refresh_rotation(&old.token_hash, &second, at(12), at(7))
        .await
        .unwrap();
    let again = store
        .retry_refresh_rotation(&old.token_hash, &third, at(13), at(7))
        .await
        .unwrap();

    // Assert: each retry revoked the successor it replaced (marked rotated too, so its
    // holder's later use is reuse): one live token in the chain, the newest.
    assert_eq!(retried, RefreshRetry::Rotated);
    assert_eq!(again, RefreshRetry::Rotated);
    let find = |t: &RefreshToken| {
        let store = store.clone();
        let hash = t.token_hash.clone();
        async move { store.find_refresh_token(&hash).await.unwrap().unwrap() }
    };
    assert_eq!(
        find(&first).await,
        RefreshToken {
            rotated_at: Some(at(12)),
            revoked_at: Some(at(12)),
            ..first.clone()
        }
    );
    assert_eq!(
        find(&second).await,
        RefreshToken {
            rotated_at: Some(at(13)),
            revoked_at: Some(at(13)),
            ..second.clone()
        }
    );
    assert_eq!(find(&third).await, third);
    // The first rotation's time is kept, so a retry never stretches the window; the
    // grant records the use.
    assert_eq!(find(&old).await.rotated_at, Some(at(10)));
    assert_eq!(
        store
            .find_grant(w.grant.grant_id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        at(13)
    );
    // The replaced successor cannot be rotated; presenting it reads as a rotated token.
    let from_first = successor(&first, "pcr_from_first", at(14));
    assert!(matches!(
        store
            .rotate_refresh_token(&first.token_hash, &from_first, at(14))
            .await
            .unwrap(),
        RefreshRotation::AlreadyRotated(_)
    ));
}

pub(super) async fn a_retry_after_a_successor_was_used_is_reuse_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange: rotated at 10, and its successor rotated in turn at 11.
    let w = world(&*store).await;
    let old = refresh_token(&w.grant, "pcr_old");
    store.insert_refresh_token(&old).await.unwrap();
    let first = successor(&old, "pcr_first", at(10));
    store
        .rotate_refresh_token(&old.token_hash, &first, at(10))
        .await
        .unwrap();
    let next = successor(&first, "pcr_next", at(11));
    store
        .rotate_refresh_token(&first.token_hash, &next, at(11))
        .await
        .unwrap();
    let retry = successor(&old, "pcr_retry", at(12));

    // Act
    let outcome = store
        .retry_refresh_rotation(&old.token_hash, &retry, at(12), at(7))
        .await
        .unwrap();

    // Assert: the chain went on without this presenter; nothing changed.
    assert_eq!(outcome, RefreshRetry::SuccessorUsed);
    assert_eq!(
        store.find_refresh_token(&retry.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        Some(next)
    );
    assert_eq!(
        store
            .find_grant(w.grant.grant_id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        at(11)
    );
}

pub(super) async fn a_retried_rotation_outside_the_window_or_of_a_dead_token_stores_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange: one token rotated at 10, one never rotated, one rotated and then revoked
    // with its grant.
    let w = world(&*store).await;
    let rotated = refresh_token(&w.grant, "pcr_rotated");
    store.insert_refresh_token(&rotated).await.unwrap();
    store
        .rotate_refresh_token(
            &rotated.token_hash,
            &successor(&rotated, "pcr_a", at(10)),
            at(10),
        )
        .await
        .unwrap();
    let revoked_grant = grant(&w.user, &w.client, None);
    store.create_grant(&revoked_grant).await.unwrap();
    let of_revoked = refresh_token(&revoked_grant, "pcr_of_revoked");
    store.insert_refresh_token(&of_revoked).await.unwrap();
    store
        .rotate_refresh_token(
            &of_revoked.token_hash,
            &successor(&of_revoked, "pcr_b", at(10)),
            at(10),
        )
        .await
        .unwrap();
    store
        .revoke_grant(revoked_grant.grant_id, at(11))
        .await
        .unwrap();

    // Act + Assert: the window starts after the rotation; a revoked grant's token is dead.
    let late = successor(&rotated, "pcr_late", at(20));
    assert_eq!(
        store
            .retry_refresh_rotation(&rotated.token_hash, &late, at(20), at(11))
            .await
            .unwrap(),
        RefreshRetry::NotLive
    );
    let dead = successor(&of_revoked, "pcr_dead", at(12));
    assert_eq!(
        store
            .retry_refresh_rotation(&of_revoked.token_hash, &dead, at(12), at(5))
            .await
            .unwrap(),
        RefreshRetry::NotLive
    );
    // Nor is the window's first successor touched by a refused retry.
    assert_eq!(
        store
            .find_refresh_token(&SecretHash::of("pcr_a"))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    for unstored in [&late, &dead] {
        assert_eq!(
            store
                .find_refresh_token(&unstored.token_hash)
                .await
                .unwrap(),
            None
        );
    }
}
