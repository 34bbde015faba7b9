//! Concurrency over HTTP, on both backends: many requests racing to rotate one refresh
//! token. Without a reuse window exactly one wins; the others present a token that is
//! already rotated, which is reuse (RFC 9700 §4.14.2), so they get `invalid_grant` and the
//! grant is revoked — the store stays consistent: no second successor, nothing of the grant
//! still usable. Inside the default window the same burst reads as one client's retries:
//! each gets a token, and of all the successors exactly one is left live.

use std::time::Duration;

use futures::future::join_all;
use portcullis_core::ids::{ClientId, GrantId, SessionId};
use portcullis_core::model::{Grant, RefreshToken};
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::{PlainSecret, SecretHash, SecretKind};
use portcullis_core::{Clock, SystemClock};
use portcullis_e2e::app::TestApp;
use portcullis_e2e::fixtures::{self, TestClient};

/// A grant with one live refresh token, as a code exchange leaves it, and 50 concurrent
/// refreshes of that token: the grant, the token, the client and each answer.
async fn fifty_refreshes(
    app: &TestApp,
) -> (
    Grant,
    PlainSecret,
    TestClient,
    Vec<(u16, serde_json::Value)>,
) {
    let user = fixtures::user(app.store.as_ref(), "racer").await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let now = SystemClock.now();
    let scope = ScopeSet::parse("openid offline_access").unwrap();
    let grant = Grant {
        grant_id: GrantId::random(),
        user_id: user.user_id,
        client_id: ClientId(client.id.clone()),
        scope: scope.clone(),
        session_id: Some(SessionId::random()),
        auth_time: now,
        created_at: now,
        last_used_at: now,
        revoked_at: None,
    };
    app.store.create_grant(&grant).await.unwrap();
    let token = PlainSecret::generate(SecretKind::RefreshToken).unwrap();
    app.store
        .insert_refresh_token(&RefreshToken {
            token_hash: token.hash(),
            grant_id: grant.grant_id,
            client_id: grant.client_id.clone(),
            scope,
            parent_hash: None,
            created_at: now,
            expires_at: now.plus(Duration::from_secs(3600)),
            idle_expires_at: now.plus(Duration::from_secs(3600)),
            rotated_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    let refresh = || {
        app.http
            .post(app.url("/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", token.expose()),
            ])
            .send()
    };
    let mut answers = Vec::new();
    for answer in join_all((0..50).map(|_| refresh())).await {
        let answer = answer.unwrap();
        let status = answer.status().as_u16();
        answers.push((status, answer.json().await.unwrap()));
    }
    (grant, token, client, answers)
}

pub(crate) async fn fifty_concurrent_rotations_of_one_refresh_token_have_one_winner(app: &TestApp) {
    // Arrange: a server without the reuse window, on the same backend.
    let strict = TestApp::spawn_with(app.backend(), "races::no_reuse_grace", |c| {
        c.tokens.refresh_token_reuse_grace = Duration::ZERO;
    })
    .await
    .unwrap()
    .unwrap();
    let app = &strict;

    // Act
    let (grant, token, client, answers) = fifty_refreshes(app).await;

    // Assert
    let mut winners = Vec::new();
    let mut losers = 0;
    for (status, body) in answers {
        if status == 200 {
            winners.push(body);
        } else {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_grant");
            losers += 1;
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    assert_eq!(losers, 49);
    let successor = winners[0]["refresh_token"].as_str().unwrap();
    let stored = app
        .store
        .find_refresh_token(&SecretHash::of(successor))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.parent_hash,
        Some(token.hash()),
        "exactly this successor was stored"
    );
    let revoked = app.store.find_grant(grant.grant_id).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some(), "the reuse revoked the grant");
    let late = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", successor),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        late.status(),
        400,
        "nothing of a revoked grant stays usable"
    );
    let userinfo = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(winners[0]["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        userinfo.status(),
        401,
        "the winner's access token died with the grant"
    );
    strict.stop().await.unwrap();
}

pub(crate) async fn fifty_concurrent_refreshes_inside_the_reuse_window_leave_one_live_token(
    app: &TestApp,
) {
    // Act: the default configuration forgives a retry inside the window.
    let (grant, token, _, answers) = fifty_refreshes(app).await;

    // Assert: every request reads as a retry and gets a successor of the token, but each
    // retry replaced the one before: exactly one of them is live, and the grant stands.
    let mut live = 0;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let successor = app
            .store
            .find_refresh_token(&SecretHash::of(body["refresh_token"].as_str().unwrap()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(successor.parent_hash, Some(token.hash()));
        if successor.revoked_at.is_none() && successor.rotated_at.is_none() {
            live += 1;
        }
    }
    assert_eq!(live, 1, "one chain, one live token");
    let stored = app.store.find_grant(grant.grant_id).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_none());
}
