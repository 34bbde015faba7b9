//! Conformance cases for `PurgeStore`: housekeeping removes what can no longer matter,
//! keeps what still can, and deletes in bounded batches.

use std::sync::Arc;

use portcullis_core::model::{AuthorizationCode, CodeRedemption, Grant, RefreshToken, Session};
use portcullis_core::store::{PurgeReport, Store};

use super::fixtures::{SPEND, at, code, grant, refresh_token, session, successor, world};

pub(super) async fn purge_removes_expired_rows_and_keeps_live_ones(store: Arc<dyn Store>) {
    // Arrange: the purge runs at T0 + 10 000 s.
    let now = at(10_000);
    let w = world(&*store).await;

    // Codes: one expired; one live; one redeemed but unexpired (kept to detect replays).
    let expired_code = code(&w.grant, &w.session, "pcc_expired");
    let live_code = AuthorizationCode {
        expires_at: at(20_000),
        ..code(&w.grant, &w.session, "pcc_live")
    };
    let redeemed_code = AuthorizationCode {
        expires_at: at(20_000),
        ..code(&w.grant, &w.session, "pcc_redeemed")
    };
    for c in [&expired_code, &live_code, &redeemed_code] {
        store.insert_code(c).await.unwrap();
    }
    store
        .redeem_code(&redeemed_code.code_hash, at(100), SPEND)
        .await
        .unwrap();

    // Refresh tokens: absolutely expired, idle-expired, live, and rotated but unexpired
    // (kept to detect reuse) with its successor.
    let expired_token = RefreshToken {
        expires_at: at(5_000),
        idle_expires_at: at(5_000),
        ..refresh_token(&w.grant, "pcr_expired")
    };
    let idle_token = RefreshToken {
        idle_expires_at: at(5_000),
        ..refresh_token(&w.grant, "pcr_idle")
    };
    let live_token = refresh_token(&w.grant, "pcr_live");
    let rotated_token = refresh_token(&w.grant, "pcr_rotated");
    // A rotated parent that idles out while its successor lives on.
    let expired_parent = RefreshToken {
        idle_expires_at: at(5_000),
        ..refresh_token(&w.grant, "pcr_expired_parent")
    };
    for t in [
        &expired_token,
        &idle_token,
        &live_token,
        &rotated_token,
        &expired_parent,
    ] {
        store.insert_refresh_token(t).await.unwrap();
    }
    let rotated_next = successor(&rotated_token, "pcr_rotated_next", at(100));
    store
        .rotate_refresh_token(&rotated_token.token_hash, &rotated_next, at(100))
        .await
        .unwrap();
    let orphan_child = successor(&expired_parent, "pcr_orphan_child", at(100));
    store
        .rotate_refresh_token(&expired_parent.token_hash, &orphan_child, at(100))
        .await
        .unwrap();

    // Sessions: ended (and still referenced by a grant), absolutely expired,
    // idle-expired, live (plus the world's own live session).
    let ended_session = session(w.user.user_id);
    let expired_session = Session {
        expires_at: at(5_000),
        idle_expires_at: at(5_000),
        ..session(w.user.user_id)
    };
    let idle_session = Session {
        idle_expires_at: at(5_000),
        ..session(w.user.user_id)
    };
    let live_session = session(w.user.user_id);
    for s in [
        &ended_session,
        &expired_session,
        &idle_session,
        &live_session,
    ] {
        store.create_session(s).await.unwrap();
    }
    let grant_of_ended_session = grant(&w.user, &w.client, Some(ended_session.session_id));
    store.create_grant(&grant_of_ended_session).await.unwrap();
    store
        .end_session(ended_session.session_id, at(100))
        .await
        .unwrap();

    // Revoked access-token ids: one past its token's expiry, one not.
    store
        .revoke_token_id("jti-expired", at(5_000), at(10))
        .await
        .unwrap();
    store
        .revoke_token_id("jti-live", at(20_000), at(10))
        .await
        .unwrap();

    // Act
    let report = store.purge_expired(now, 100).await.unwrap();
    let again = store.purge_expired(now, 100).await.unwrap();

    // Assert: the counts…
    assert_eq!(
        report,
        PurgeReport {
            codes: 1,
            refresh_tokens: 3,
            sessions: 3,
            revoked_token_ids: 1,
            login_throttles: 0,
        }
    );
    assert_eq!(again, PurgeReport::default(), "a second pass finds nothing");

    // …codes…
    assert!(matches!(
        store
            .redeem_code(&live_code.code_hash, at(10_001), SPEND)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));
    assert!(matches!(
        store
            .redeem_code(&redeemed_code.code_hash, at(10_001), SPEND)
            .await
            .unwrap(),
        CodeRedemption::AlreadyRedeemed(_)
    ));

    // …refresh tokens…
    for gone in [&expired_token, &idle_token, &expired_parent] {
        assert_eq!(
            store.find_refresh_token(&gone.token_hash).await.unwrap(),
            None
        );
    }
    assert_eq!(
        store
            .find_refresh_token(&live_token.token_hash)
            .await
            .unwrap(),
        Some(live_token)
    );
    assert_eq!(
        store
            .find_refresh_token(&rotated_token.token_hash)
            .await
            .unwrap(),
        Some(RefreshToken {
            rotated_at: Some(at(100)),
            ..rotated_token
        })
    );
    assert_eq!(
        store
            .find_refresh_token(&rotated_next.token_hash)
            .await
            .unwrap(),
        Some(rotated_next)
    );
    assert_eq!(
        store
            .find_refresh_token(&orphan_child.token_hash)
            .await
            .unwrap(),
        Some(orphan_child),
        "a live successor outlives its purged parent"
    );

    // …sessions, without taking grants along…
    for gone in [&ended_session, &expired_session, &idle_session] {
        assert_eq!(store.find_session(gone.session_id).await.unwrap(), None);
    }
    assert_eq!(
        store.find_session(live_session.session_id).await.unwrap(),
        Some(live_session)
    );
    assert_eq!(
        store.find_session(w.session.session_id).await.unwrap(),
        Some(w.session)
    );
    let kept_grant = store
        .find_grant(grant_of_ended_session.grant_id)
        .await
        .unwrap();
    assert_eq!(
        kept_grant.map(|g| (g.grant_id, g.revoked_at)),
        Some((grant_of_ended_session.grant_id, None)),
        "a grant outlives the session it was granted in"
    );
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some(Grant {
            // The arrangement's rotations at 100 recorded the grant's use.
            last_used_at: at(100),
            ..w.grant
        })
    );

    // …and revoked token ids.
    assert!(!store.is_token_id_revoked("jti-expired").await.unwrap());
    assert!(store.is_token_id_revoked("jti-live").await.unwrap());
}

pub(super) async fn purge_deletes_at_most_batch_rows_per_table(store: Arc<dyn Store>) {
    // Arrange: 5 expired codes and 3 expired rows in each other table.
    let now = at(10_000);
    let w = world(&*store).await;
    for i in 0..5 {
        let expired = code(&w.grant, &w.session, &format!("pcc_expired_{i}"));
        store.insert_code(&expired).await.unwrap();
    }
    for i in 0..3 {
        let expired = RefreshToken {
            expires_at: at(5_000),
            idle_expires_at: at(5_000),
            ..refresh_token(&w.grant, &format!("pcr_expired_{i}"))
        };
        store.insert_refresh_token(&expired).await.unwrap();
        let expired = Session {
            expires_at: at(5_000),
            idle_expires_at: at(5_000),
            ..session(w.user.user_id)
        };
        store.create_session(&expired).await.unwrap();
        store
            .revoke_token_id(&format!("jti-expired-{i}"), at(5_000), at(10))
            .await
            .unwrap();
    }

    // Act
    let mut reports = Vec::new();
    for _ in 0..4 {
        reports.push(store.purge_expired(now, 2).await.unwrap());
    }

    // Assert
    let report = |codes, others| PurgeReport {
        codes,
        refresh_tokens: others,
        sessions: others,
        revoked_token_ids: others,
        login_throttles: 0,
    };
    assert_eq!(
        reports,
        vec![report(2, 2), report(2, 1), report(1, 0), report(0, 0)]
    );
    assert_eq!(
        store.find_session(w.session.session_id).await.unwrap(),
        Some(w.session),
        "live rows survive every pass"
    );
    assert_eq!(
        store.find_grant(w.grant.grant_id).await.unwrap(),
        Some::<Grant>(w.grant)
    );
}
