//! Conformance cases for `LoginThrottleStore`: the login throttle's counts, admitted and
//! held in one serialised step, ended by success or a missed check, forgotten in time or
//! by the operator, and purged.

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::client_addr::ClientAddr;
use portcullis_core::login_throttle::{
    Admission, AttemptEnd, FailureCount, Held, ThrottleCounts, ThrottleKeys, ThrottleLevel,
    ThrottlePolicy,
};
use portcullis_core::store::{PurgeReport, Store};

use super::fixtures::{T0, at};

/// Small thresholds and a 10 s first delay, so each level is reached in a few steps.
fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        free_failures: 3,
        account_free_failures: 5,
        address_free_failures: 8,
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(600),
        forget_after: Duration::from_secs(3_600),
    }
}

fn keys(username: &str, network: &str) -> ThrottleKeys {
    ThrottleKeys::new(username, Some(ClientAddr::new(network.parse().unwrap())))
}

async fn admit(store: &Arc<dyn Store>, keys: &ThrottleKeys, secs: i64) -> Admission {
    store
        .admit_login_attempt(keys, &policy(), at(secs))
        .await
        .unwrap()
}

/// The counts an admission reported, failing if it was held.
fn counts(admission: Admission) -> ThrottleCounts {
    match admission {
        Admission::Admitted { counts, .. } => counts,
        Admission::Held(held) => panic!("held: {held:?}"),
    }
}

fn failures(admission: Admission) -> [u32; 3] {
    let c = counts(admission);
    [c.pair.failures, c.account.failures, c.address.failures]
}

pub(super) async fn failures_are_counted_until_the_pair_is_held_and_a_held_attempt_counts_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange
    let alice = keys("alice", "192.0.2.1");

    // Act
    let admitted = [
        admit(&store, &alice, 0).await,
        admit(&store, &alice, 0).await,
        admit(&store, &alice, 1).await,
    ];
    let held = admit(&store, &alice, 5).await;
    let held_again = admit(&store, &alice, 10).await;
    let after_the_delay = admit(&store, &alice, 11).await;
    let doubled = admit(&store, &alice, 12).await;

    // Assert
    assert_eq!(
        counts(admitted[2]).pair,
        FailureCount {
            failures: 3,
            last_failure_at: at(1)
        }
    );
    assert_eq!(failures(admitted[0]), [1, 1, 1]);
    let first_hold = Held {
        until: at(11),
        level: ThrottleLevel::Pair,
    };
    assert_eq!(held, Admission::Held(first_hold));
    assert_eq!(
        held_again,
        Admission::Held(first_hold),
        "held attempts add nothing"
    );
    assert_eq!(
        failures(after_the_delay),
        [4, 3, 4],
        "past its free failures a pair adds no more to the account"
    );
    assert_eq!(
        doubled,
        Admission::Held(Held {
            until: at(31),
            level: ThrottleLevel::Pair
        }),
        "the fourth failure doubles the delay"
    );
}

pub(super) async fn a_success_forgets_the_pair_and_the_account_but_not_the_network(
    store: Arc<dyn Store>,
) {
    // Arrange: two failures, then an admitted attempt that succeeds.
    let alice = keys("alice", "192.0.2.1");
    admit(&store, &alice, 0).await;
    admit(&store, &alice, 0).await;
    admit(&store, &alice, 0).await;

    // Act
    store
        .end_login_attempt(&alice, AttemptEnd::Succeeded)
        .await
        .unwrap();
    let next = admit(&store, &alice, 1).await;

    // Assert: the pair and account start again; the network keeps the two failures.
    assert_eq!(failures(next), [1, 1, 3]);
}

pub(super) async fn an_unchecked_attempt_is_taken_back_from_every_count_it_was_added_to(
    store: Arc<dyn Store>,
) {
    // Arrange
    let alice = keys("alice", "192.0.2.1");
    admit(&store, &alice, 0).await;
    let Admission::Admitted {
        counted_for_account,
        ..
    } = admit(&store, &alice, 0).await
    else {
        panic!("held");
    };

    // Act
    store
        .end_login_attempt(
            &alice,
            AttemptEnd::NotChecked {
                counted_for_account,
            },
        )
        .await
        .unwrap();
    let next = admit(&store, &alice, 0).await;

    // Assert
    assert!(counted_for_account);
    assert_eq!(failures(next), [2, 2, 2]);
}

pub(super) async fn one_network_never_pushes_an_account_over_its_threshold(store: Arc<dyn Store>) {
    // Arrange: one network fails alice far beyond every pair threshold, waiting out each
    // delay.
    let attacker = keys("alice", "198.51.100.7");
    let mut now = 0;
    let mut made = 0;
    while made < 10 {
        match admit(&store, &attacker, now).await {
            Admission::Admitted { .. } => made += 1,
            Admission::Held(held) => now = held.until.unix() - T0.unix(),
        }
    }

    // Act: alice from elsewhere.
    let owner = admit(&store, &keys("alice", "192.0.2.1"), now).await;
    let second = admit(&store, &keys("alice", "192.0.2.2"), now).await;
    let third = admit(&store, &keys("alice", "192.0.2.3"), now).await;

    // Assert: the attacker's network added only its first three to alice's count.
    assert_eq!(failures(owner), [1, 4, 1]);
    assert_eq!(failures(second), [1, 5, 1]);
    assert_eq!(
        third,
        Admission::Held(Held {
            until: at(now).plus(Duration::from_secs(10)),
            level: ThrottleLevel::Account
        }),
        "failures from five networks throttle the account everywhere"
    );
}

pub(super) async fn a_network_is_counted_across_accounts(store: Arc<dyn Store>) {
    // Arrange: one network sprays eight accounts once each.
    for n in 0..8 {
        admit(&store, &keys(&format!("user{n}"), "2001:db8:1:2::1"), 0).await;
    }

    // Act
    let same_slash_64 = admit(&store, &keys("bob", "2001:db8:1:2:ffff::9"), 0).await;
    let elsewhere = admit(&store, &keys("bob", "2001:db8:1:3::1"), 0).await;

    // Assert
    assert_eq!(
        same_slash_64,
        Admission::Held(Held {
            until: at(10),
            level: ThrottleLevel::Address
        })
    );
    assert_eq!(failures(elsewhere), [1, 1, 1]);
}

pub(super) async fn counts_are_forgotten_forget_after_their_last_failure(store: Arc<dyn Store>) {
    // Arrange: alice held at the pair level.
    let alice = keys("alice", "192.0.2.1");
    for _ in 0..3 {
        admit(&store, &alice, 0).await;
    }
    assert!(matches!(admit(&store, &alice, 1).await, Admission::Held(_)));

    // Act
    let within_the_hour = admit(&store, &alice, 3_599).await;
    let an_hour_later = admit(&store, &alice, 3_599 + 3_600).await;

    // Assert: still counted a second before the hour; forgotten an hour after the last.
    assert_eq!(failures(within_the_hour), [4, 3, 4]);
    assert_eq!(failures(an_hour_later), [1, 1, 1]);
}

pub(super) async fn clearing_an_account_forgets_its_own_and_its_pairs_counts_only(
    store: Arc<dyn Store>,
) {
    // Arrange
    let alice_here = keys("alice", "192.0.2.1");
    let alice_there = keys("alice", "192.0.2.2");
    let bob_here = keys("bob", "192.0.2.1");
    for k in [&alice_here, &alice_here, &alice_there, &bob_here] {
        admit(&store, k, 0).await;
    }

    // Act
    let cleared = store
        .clear_login_throttle(&ThrottleKeys::account_of("alice"))
        .await
        .unwrap();
    let cleared_again = store
        .clear_login_throttle(&ThrottleKeys::account_of("alice"))
        .await
        .unwrap();
    let alice_next = admit(&store, &alice_here, 1).await;
    let bob_next = admit(&store, &bob_here, 1).await;

    // Assert: alice's account and both pairs; the networks and bob keep theirs.
    assert_eq!(cleared, 3);
    assert_eq!(cleared_again, 0);
    assert_eq!(failures(alice_next), [1, 1, 4]);
    assert_eq!(failures(bob_next), [2, 2, 5]);
}

pub(super) async fn concurrent_attempts_are_let_through_no_more_than_the_policy_allows(
    store: Arc<dyn Store>,
) {
    // Arrange
    let alice = keys("alice", "192.0.2.1");

    // Act: twelve guesses at once.
    let attempts = (0..12).map(|_| {
        let store = store.clone();
        let alice = alice.clone();
        tokio::spawn(async move { store.admit_login_attempt(&alice, &policy(), T0).await })
    });
    let outcomes = futures::future::join_all(attempts).await;

    // Assert: exactly the three free failures got through.
    let admitted = outcomes
        .into_iter()
        .map(|o| o.unwrap().unwrap())
        .filter(|a| matches!(a, Admission::Admitted { .. }))
        .count();
    assert_eq!(admitted, 3);
    assert!(matches!(admit(&store, &alice, 0).await, Admission::Held(_)));
}

pub(super) async fn purge_removes_forgotten_throttle_counts(store: Arc<dyn Store>) {
    // Arrange: one attempt's three counts, and a later one's.
    admit(&store, &keys("alice", "192.0.2.1"), 0).await;
    admit(&store, &keys("bob", "192.0.2.2"), 100).await;

    // Act
    let early = store.purge_expired(at(3_600), 100).await.unwrap();
    let report = store.purge_expired(at(3_601), 100).await.unwrap();

    // Assert
    assert_eq!(early, PurgeReport::default(), "not forgotten yet");
    assert_eq!(
        report,
        PurgeReport {
            login_throttles: 3,
            ..PurgeReport::default()
        }
    );
    let bob = admit(&store, &keys("bob", "192.0.2.2"), 200).await;
    assert_eq!(failures(bob), [2, 2, 2], "later counts survive");
}
