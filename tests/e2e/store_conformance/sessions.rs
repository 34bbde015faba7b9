//! Conformance cases for `SessionStore`: liveness (ended, absolute and idle expiry),
//! activity, logout of all sessions and listing.

use std::sync::Arc;

use portcullis_core::ids::SessionId;
use portcullis_core::model::Session;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::Store;

use super::fixtures::{DAY, at, session, user};

pub(super) async fn live_session_is_found_by_its_secret_hash(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let live = session(alice.user_id);
    store.create_session(&live).await.unwrap();

    // Act
    let by_hash = store
        .find_live_session(&live.secret_hash, at(10))
        .await
        .unwrap();
    let by_id = store.find_session(live.session_id).await.unwrap();

    // Assert
    assert_eq!(by_hash, Some(live.clone()));
    assert_eq!(by_id, Some(live));
    assert_eq!(
        store
            .find_live_session(&SecretHash::of("pse_unknown"), at(10))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_session(SessionId::random()).await.unwrap(), None);
}

pub(super) async fn ended_session_is_not_live_but_is_still_found_by_id(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let s = session(alice.user_id);
    store.create_session(&s).await.unwrap();

    // Act
    let first_end = store.end_session(s.session_id, at(50)).await.unwrap();
    let second_end = store.end_session(s.session_id, at(60)).await.unwrap();

    // Assert
    assert!(first_end, "ending a live session reports it was live");
    assert!(!second_end, "ending it again reports it was not live");
    assert_eq!(
        store
            .find_live_session(&s.secret_hash, at(70))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.find_session(s.session_id).await.unwrap(),
        Some(Session {
            ended_at: Some(at(50)),
            ..s
        })
    );
}

pub(super) async fn session_past_its_absolute_expiry_is_not_live(store: Arc<dyn Store>) {
    // Arrange: an idle expiry beyond the absolute one, so only the absolute one applies.
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let s = Session {
        expires_at: at(100),
        idle_expires_at: at(DAY),
        ..session(alice.user_id)
    };
    store.create_session(&s).await.unwrap();

    // Act
    let before = store
        .find_live_session(&s.secret_hash, at(99))
        .await
        .unwrap();
    let after = store
        .find_live_session(&s.secret_hash, at(101))
        .await
        .unwrap();

    // Assert
    assert_eq!(before, Some(s.clone()));
    assert_eq!(after, None);
    assert_eq!(
        store.find_session(s.session_id).await.unwrap(),
        Some(s),
        "an expired session is still found by id"
    );
}

pub(super) async fn session_past_its_idle_expiry_is_not_live(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let s = Session {
        idle_expires_at: at(600),
        ..session(alice.user_id)
    };
    store.create_session(&s).await.unwrap();

    // Act
    let before = store
        .find_live_session(&s.secret_hash, at(599))
        .await
        .unwrap();
    let after = store
        .find_live_session(&s.secret_hash, at(601))
        .await
        .unwrap();

    // Assert
    assert_eq!(before, Some(s));
    assert_eq!(after, None);
}

pub(super) async fn ending_an_expired_session_reports_it_was_not_live(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let s = Session {
        idle_expires_at: at(600),
        ..session(alice.user_id)
    };
    store.create_session(&s).await.unwrap();

    // Act
    let was_live = store.end_session(s.session_id, at(700)).await.unwrap();

    // Assert
    assert!(!was_live, "the session had already idled out");
    assert_eq!(
        store
            .find_live_session(&s.secret_hash, at(500))
            .await
            .unwrap(),
        None,
        "once ended it is not live even at an instant before its expiry"
    );
}

pub(super) async fn touching_a_session_extends_its_idle_expiry(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let s = Session {
        idle_expires_at: at(600),
        ..session(alice.user_id)
    };
    store.create_session(&s).await.unwrap();

    // Act
    store
        .touch_session(s.session_id, at(500), at(1_100))
        .await
        .unwrap();

    // Assert
    let touched = Session {
        last_seen_at: at(500),
        idle_expires_at: at(1_100),
        ..s
    };
    assert_eq!(
        store
            .find_live_session(&touched.secret_hash, at(900))
            .await
            .unwrap(),
        Some(touched.clone()),
        "live past the old idle expiry"
    );
    assert_eq!(
        store
            .find_live_session(&touched.secret_hash, at(1_101))
            .await
            .unwrap(),
        None,
        "not live past the new one"
    );
}

pub(super) async fn touching_an_ended_session_changes_nothing(store: Arc<dyn Store>) {
    // Arrange
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let s = Session {
        idle_expires_at: at(600),
        ..session(alice.user_id)
    };
    store.create_session(&s).await.unwrap();
    store.end_session(s.session_id, at(100)).await.unwrap();

    // Act: whether this answers Ok or NotFound is the store's choice; the effect is not.
    let _outcome = store.touch_session(s.session_id, at(200), at(800)).await;

    // Assert
    assert_eq!(
        store.find_session(s.session_id).await.unwrap(),
        Some(Session {
            ended_at: Some(at(100)),
            ..s.clone()
        })
    );
    assert_eq!(
        store
            .find_live_session(&s.secret_hash, at(300))
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn ending_a_users_sessions_keeps_the_given_one_and_returns_the_ended_ids(
    store: Arc<dyn Store>,
) {
    // Arrange
    let alice = user("alice");
    let bob = user("bob");
    store.create_user(&alice).await.unwrap();
    store.create_user(&bob).await.unwrap();
    let first = session(alice.user_id);
    let second = session(alice.user_id);
    let current = session(alice.user_id);
    let already_ended = session(alice.user_id);
    let expired = Session {
        idle_expires_at: at(50),
        ..session(alice.user_id)
    };
    let bobs = session(bob.user_id);
    for s in [&first, &second, &current, &already_ended, &expired, &bobs] {
        store.create_session(s).await.unwrap();
    }
    store
        .end_session(already_ended.session_id, at(10))
        .await
        .unwrap();

    // Act
    let mut ended = store
        .end_user_sessions(alice.user_id, Some(current.session_id), at(100))
        .await
        .unwrap();

    // Assert
    ended.sort();
    let mut expected = vec![first.session_id, second.session_id];
    expected.sort();
    assert_eq!(ended, expected);
    for s in [&first, &second] {
        assert_eq!(
            store
                .find_live_session(&s.secret_hash, at(110))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .find_session(s.session_id)
                .await
                .unwrap()
                .and_then(|s| s.ended_at),
            Some(at(100))
        );
    }
    assert_eq!(
        store
            .find_session(already_ended.session_id)
            .await
            .unwrap()
            .and_then(|s| s.ended_at),
        Some(at(10)),
        "an already ended session keeps its end time"
    );
    assert_eq!(
        store
            .find_session(expired.session_id)
            .await
            .unwrap()
            .and_then(|s| s.ended_at),
        None,
        "an expired session was not live, so it was not ended (no logout to send)"
    );
    assert_eq!(
        store
            .find_live_session(&current.secret_hash, at(110))
            .await
            .unwrap(),
        Some(current.clone())
    );
    assert_eq!(
        store
            .find_live_session(&bobs.secret_hash, at(110))
            .await
            .unwrap(),
        Some(bobs.clone())
    );

    // Act: without `keep` the remaining one goes too.
    let rest = store
        .end_user_sessions(alice.user_id, None, at(200))
        .await
        .unwrap();

    // Assert
    assert_eq!(rest, vec![current.session_id]);
    assert_eq!(
        store
            .list_live_sessions(alice.user_id, at(210))
            .await
            .unwrap(),
        Vec::<Session>::new()
    );
    assert_eq!(
        store
            .list_live_sessions(bob.user_id, at(210))
            .await
            .unwrap(),
        vec![bobs]
    );
}

pub(super) async fn live_sessions_are_listed_newest_first_without_ended_or_expired_ones(
    store: Arc<dyn Store>,
) {
    // Arrange
    let alice = user("alice");
    let bob = user("bob");
    store.create_user(&alice).await.unwrap();
    store.create_user(&bob).await.unwrap();
    let created = |secs: i64| Session {
        created_at: at(secs),
        last_seen_at: at(secs),
        ..session(alice.user_id)
    };
    let oldest = created(0);
    let middle = created(10);
    let newest = created(20);
    let ended = created(30);
    let expired = Session {
        idle_expires_at: at(50),
        ..created(40)
    };
    let bobs = Session {
        created_at: at(25),
        ..session(bob.user_id)
    };
    // Inserted out of order, so the order comes from the query.
    for s in [&middle, &expired, &oldest, &bobs, &newest, &ended] {
        store.create_session(s).await.unwrap();
    }
    store.end_session(ended.session_id, at(35)).await.unwrap();

    // Act
    let listed = store
        .list_live_sessions(alice.user_id, at(100))
        .await
        .unwrap();

    // Assert
    assert_eq!(listed, vec![newest, middle, oldest]);
}
