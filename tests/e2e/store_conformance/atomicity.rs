//! Conformance cases for the store steps that change several rows: each is one
//! transaction, so a step that fails part-way (a constraint, an injected fault standing in
//! for a full disk) leaves nothing half done, concurrent callers cannot both win, and a
//! transaction the database itself rolled back does not poison the connection it ran on.

use std::sync::Arc;

use portcullis_core::model::{CodeRedemption, Consent, Grant, RefreshRotation, User};
use portcullis_core::sessions::Ending;
use portcullis_core::store::{CodeUse, Store, StoreError, constraints};
use portcullis_e2e::db::{Faults, Write};
use tokio::sync::Barrier;

use super::fixtures::{
    SPEND, assert_conflict, at, code, grant, refresh_token, scope, session, successor, user, world,
};

pub(super) async fn a_grant_and_its_code_are_stored_together_or_not_at_all(store: Arc<dyn Store>) {
    // Arrange: a code whose hash is taken, so the second insert of the step fails.
    let w = world(&*store).await;
    store
        .insert_code(&code(&w.grant, &w.session, "pcc_taken"))
        .await
        .unwrap();
    let doomed = grant(&w.user, &w.client, Some(w.session.session_id));
    let clashing = code(&doomed, &w.session, "pcc_taken");
    let fine = grant(&w.user, &w.client, Some(w.session.session_id));
    let fine_code = code(&fine, &w.session, "pcc_fine");

    // Act
    let failed = store.create_grant_with_code(&doomed, &clashing).await;
    let stored = store.create_grant_with_code(&fine, &fine_code).await;

    // Assert
    assert!(failed.is_err(), "the code insert fails: {failed:?}");
    assert_eq!(
        store.find_grant(doomed.grant_id).await.unwrap(),
        None,
        "the grant of a code that could not be stored is not stored either"
    );
    stored.unwrap();
    assert_eq!(store.find_grant(fine.grant_id).await.unwrap(), Some(fine));
    assert_eq!(
        store.find_code(&fine_code.code_hash).await.unwrap(),
        Some(fine_code)
    );
}

pub(super) async fn a_redemption_stores_its_refresh_token_and_records_the_grants_use(
    store: Arc<dyn Store>,
) {
    // Arrange
    let w = world(&*store).await;
    let issued = code(&w.grant, &w.session, "pcc_with_refresh");
    store.insert_code(&issued).await.unwrap();
    let first = refresh_token(&w.grant, "pcr_first");

    // Act
    let redeemed = store
        .redeem_code(
            &issued.code_hash,
            at(5),
            CodeUse::Issued {
                refresh_token: Some(&first),
            },
        )
        .await
        .unwrap();

    // Assert
    assert!(matches!(redeemed, CodeRedemption::Redeemed(_)));
    assert_eq!(
        store.find_refresh_token(&first.token_hash).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store
            .find_grant(w.grant.grant_id)
            .await
            .unwrap()
            .map(|g| g.last_used_at),
        Some(at(5))
    );
}

pub(super) async fn a_redemption_whose_refresh_token_cannot_be_stored_leaves_the_code_unredeemed(
    store: Arc<dyn Store>,
) {
    // Arrange: the refresh token to store with the redemption reuses a stored token's hash.
    let w = world(&*store).await;
    let issued = code(&w.grant, &w.session, "pcc_retried");
    store.insert_code(&issued).await.unwrap();
    let occupant = refresh_token(&w.grant, "pcr_occupant");
    store.insert_refresh_token(&occupant).await.unwrap();
    let clashing = refresh_token(&w.grant, "pcr_occupant");
    let fresh = refresh_token(&w.grant, "pcr_fresh");

    // Act
    let failed = store
        .redeem_code(
            &issued.code_hash,
            at(5),
            CodeUse::Issued {
                refresh_token: Some(&clashing),
            },
        )
        .await;
    let after_failure = store.find_code(&issued.code_hash).await.unwrap();
    let retried = store
        .redeem_code(
            &issued.code_hash,
            at(6),
            CodeUse::Issued {
                refresh_token: Some(&fresh),
            },
        )
        .await
        .unwrap();

    // Assert
    assert!(
        failed.is_err(),
        "the refresh token insert fails: {failed:?}"
    );
    assert_eq!(
        after_failure.and_then(|c| c.redeemed_at),
        None,
        "the code is still unredeemed, so the client's retry is not a replay"
    );
    assert!(
        matches!(&retried, CodeRedemption::Redeemed(c) if c.redeemed_at == Some(at(6))),
        "the retry redeems the code: {retried:?}"
    );
    assert_eq!(
        store.find_refresh_token(&fresh.token_hash).await.unwrap(),
        Some(fresh)
    );
}

pub(super) async fn a_refused_redemption_spends_the_code_and_issues_nothing(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    let issued = code(&w.grant, &w.session, "pcc_refused");
    store.insert_code(&issued).await.unwrap();

    // Act
    let spent = store
        .redeem_code(&issued.code_hash, at(5), CodeUse::SpendOnly)
        .await
        .unwrap();
    let again = store
        .redeem_code(&issued.code_hash, at(6), SPEND)
        .await
        .unwrap();

    // Assert
    assert!(matches!(spent, CodeRedemption::Redeemed(_)));
    assert!(
        matches!(again, CodeRedemption::AlreadyRedeemed(_)),
        "a spent code is spent: {again:?}"
    );
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(w.grant),
        "a refused exchange is not a use of the grant"
    );
}

/// A user with two sessions; in the first, the world's grant (which asked for offline
/// access), an online grant, an offline one, and a refresh token of the latter two; in the
/// second, one more online grant.
struct SessionsWithGrants {
    user: User,
    world_grant: portcullis_core::ids::GrantId,
    online: Grant,
    offline: Grant,
    elsewhere: Grant,
}

async fn sessions_with_grants(store: &dyn Store) -> SessionsWithGrants {
    let w = world(store).await;
    let online_in = |session_id| Grant {
        scope: scope("openid profile"),
        ..grant(&w.user, &w.client, Some(session_id))
    };
    let online = online_in(w.session.session_id);
    store.create_grant(&online).await.unwrap();
    let offline = Grant {
        scope: scope("openid offline_access"),
        ..grant(&w.user, &w.client, Some(w.session.session_id))
    };
    store.create_grant(&offline).await.unwrap();
    let second = session(w.user.user_id);
    store.create_session(&second).await.unwrap();
    let elsewhere = online_in(second.session_id);
    store.create_grant(&elsewhere).await.unwrap();
    store
        .insert_refresh_token(&refresh_token(&online, "pcr_online"))
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh_token(&offline, "pcr_offline"))
        .await
        .unwrap();
    SessionsWithGrants {
        world_grant: w.grant.grant_id,
        user: w.user,
        online,
        offline,
        elsewhere,
    }
}

pub(super) async fn ending_sessions_revokes_their_grants_except_offline_ones(
    store: Arc<dyn Store>,
) {
    // Arrange
    let s = sessions_with_grants(&*store).await;
    let session_id = s.online.session_id.unwrap();

    // Act
    let ended = store
        .end_sessions_revoking_grants(
            s.user.user_id,
            Ending::One(session_id),
            "offline_access",
            at(100),
        )
        .await
        .unwrap();

    // Assert
    assert_eq!(ended.sessions, vec![session_id]);
    let mut returned: Vec<_> = ended.grants.iter().map(|g| g.grant_id).collect();
    returned.sort();
    let mut expected = vec![s.online.grant_id, s.offline.grant_id, s.world_grant];
    expected.sort();
    assert_eq!(
        returned, expected,
        "every grant of the session, offline ones included"
    );
    let revoked_at = |g: &Grant| {
        let store = store.clone();
        let id = g.grant_id;
        async move { store.find_grant(id).await.unwrap().unwrap().revoked_at }
    };
    assert_eq!(revoked_at(&s.online).await, Some(at(100)));
    assert_eq!(
        revoked_at(&s.offline).await,
        None,
        "offline access outlives the session"
    );
    assert_eq!(
        revoked_at(&s.elsewhere).await,
        None,
        "another session's grant stays"
    );
    assert_eq!(
        store
            .find_refresh_token(&refresh_token(&s.online, "pcr_online").token_hash)
            .await
            .unwrap()
            .and_then(|t| t.revoked_at),
        Some(at(100)),
        "the revoked grant's refresh tokens are revoked with it"
    );
    let again = store
        .end_sessions_revoking_grants(
            s.user.user_id,
            Ending::One(session_id),
            "offline_access",
            at(101),
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "an ended session ends once");
}

pub(super) async fn ending_sessions_whose_grant_revocation_fails_leaves_every_session_live(
    store: Arc<dyn Store>,
    faults: Faults,
) {
    // Arrange
    let s = sessions_with_grants(&*store).await;
    faults.fail("oauth_grant", Write::Update).await.unwrap();

    // Act
    let failed = store
        .end_sessions_revoking_grants(
            s.user.user_id,
            Ending::All { keep: None },
            "offline_access",
            at(100),
        )
        .await;
    faults.heal("oauth_grant", Write::Update).await.unwrap();

    // Assert
    assert!(failed.is_err(), "the grant revocation fails: {failed:?}");
    assert_eq!(
        store
            .list_live_sessions(s.user.user_id, at(100))
            .await
            .unwrap()
            .len(),
        2,
        "no session was ended without its grants being revoked"
    );
    let retried = store
        .end_sessions_revoking_grants(
            s.user.user_id,
            Ending::All { keep: None },
            "offline_access",
            at(110),
        )
        .await
        .unwrap();
    assert_eq!(retried.sessions.len(), 2, "a retry ends them all");
}

pub(super) async fn revoking_consent_deletes_it_and_revokes_the_apps_grants(store: Arc<dyn Store>) {
    // Arrange
    let w = world(&*store).await;
    store.save_consent(&consent_of(&w.user, &w)).await.unwrap();

    // Act
    let revoked = store
        .revoke_consent(w.user.user_id, &w.client.client_id, at(50))
        .await
        .unwrap();

    // Assert
    assert_eq!(revoked, vec![w.grant.grant_id]);
    assert_eq!(
        store
            .find_consent(w.user.user_id, &w.client.client_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_grant(w.grant.grant_id)
            .await
            .unwrap()
            .and_then(|g| g.revoked_at),
        Some(at(50))
    );
}

pub(super) async fn revoking_consent_whose_grant_revocation_fails_keeps_the_consent(
    store: Arc<dyn Store>,
    faults: Faults,
) {
    // Arrange
    let w = world(&*store).await;
    let consent = consent_of(&w.user, &w);
    store.save_consent(&consent).await.unwrap();
    faults.fail("oauth_grant", Write::Update).await.unwrap();

    // Act
    let failed = store
        .revoke_consent(w.user.user_id, &w.client.client_id, at(50))
        .await;
    faults.heal("oauth_grant", Write::Update).await.unwrap();

    // Assert
    assert!(failed.is_err(), "the grant revocation fails: {failed:?}");
    assert_eq!(
        store
            .find_consent(w.user.user_id, &w.client.client_id)
            .await
            .unwrap(),
        Some(consent),
        "the consent is not deleted while the app's grants live on"
    );
}

fn consent_of(user: &User, w: &super::fixtures::World) -> Consent {
    Consent {
        user_id: user.user_id,
        client_id: w.client.client_id.clone(),
        scope: scope("openid profile"),
        granted_at: at(1),
        updated_at: at(1),
    }
}

fn admin(username: &str) -> User {
    User {
        roles: vec!["admin".to_owned()],
        ..user(username)
    }
}

pub(super) async fn first_admin_is_refused_once_an_administrator_exists(store: Arc<dyn Store>) {
    // Arrange: a user without the role does not count; an administrator does.
    store
        .create_user(&User {
            roles: vec!["support".to_owned()],
            ..user("plain")
        })
        .await
        .unwrap();
    let first = admin("root");

    // Act
    let created = store.create_first_admin(&first, "admin").await;
    let second = store.create_first_admin(&admin("another"), "admin").await;
    let same_name = store.create_first_admin(&admin("plain"), "operator").await;

    // Assert
    created.unwrap();
    assert_conflict(second, constraints::ADMIN_EXISTS);
    assert_conflict(same_name, constraints::USER_USERNAME);
    assert_eq!(store.find_user(first.user_id).await.unwrap(), Some(first));
    assert_eq!(store.find_user_by_username("another").await.unwrap(), None);
}

pub(super) async fn concurrent_first_admins_have_exactly_one_winner(store: Arc<dyn Store>) {
    // Arrange: a race is won by chance, so run many, each for a role nobody holds yet.
    const RACERS: usize = 8;
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        let role = format!("admin-of-round-{round}");
        let barrier = Arc::new(Barrier::new(RACERS));

        // Act
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let store = store.clone();
                let barrier = barrier.clone();
                let role = role.clone();
                tokio::spawn(async move {
                    let candidate = User {
                        roles: vec![role.clone()],
                        ..user(&format!("admin-{round}-{i}"))
                    };
                    barrier.wait().await;
                    store.create_first_admin(&candidate, &role).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for racer in racers {
            outcomes.push(racer.await.unwrap());
        }

        // Assert
        let winners = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(
            winners, 1,
            "round {round}: exactly one bootstrap wins: {outcomes:?}"
        );
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                Ok(())
                    | Err(StoreError::Conflict {
                        constraint: constraints::ADMIN_EXISTS
                    })
            )),
            "round {round}: the others are told an administrator exists: {outcomes:?}"
        );
        let holders = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.roles.contains(&role))
            .count();
        assert_eq!(holders, 1, "round {round}");
    }
}

pub(super) async fn a_transaction_the_database_rolled_back_does_not_poison_later_writes(
    store: Arc<dyn Store>,
    faults: Faults,
) {
    // Arrange: the rotation's successor insert fails inside the database, which (on
    // SQLite) rolls the whole transaction back itself, as it does on a full disk.
    let w = world(&*store).await;
    let old = refresh_token(&w.grant, "pcr_poison");
    store.insert_refresh_token(&old).await.unwrap();
    faults.fail("refresh_token", Write::Insert).await.unwrap();
    for attempt in 0..3 {
        let failed = store
            .rotate_refresh_token(
                &old.token_hash,
                &successor(&old, &format!("pcr_failed_{attempt}"), at(10)),
                at(10),
            )
            .await;
        assert!(failed.is_err(), "the insert fails: {failed:?}");
    }
    faults.heal("refresh_token", Write::Insert).await.unwrap();

    // Act: the writes after the failure, through the same pool.
    let next = successor(&old, "pcr_next", at(20));
    let rotated = store
        .rotate_refresh_token(&old.token_hash, &next, at(20))
        .await;
    let revoked = store.revoke_grant(w.grant.grant_id, at(30)).await;
    let ready = store.check_ready().await;

    // Assert
    assert!(
        matches!(rotated, Ok(RefreshRotation::Rotated(_))),
        "a rotation right after the failures succeeds: {rotated:?}"
    );
    assert!(
        matches!(revoked, Ok(true)),
        "so does a revocation: {revoked:?}"
    );
    assert!(ready.is_ok(), "and the store is ready: {ready:?}");
}
