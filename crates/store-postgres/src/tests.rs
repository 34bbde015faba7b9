//! Smoke tests of the Postgres store, each against its own throwaway database. The full
//! behaviour is pinned by the shared conformance suite in `tests/`.

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::ids::{ClientId, GrantId, SessionId, UserId};
use portcullis_core::model::{
    AuthorizationCode, Client, ClientMetadata, ClientType, CodeRedemption, Grant, GrantType,
    RefreshRotation, RefreshToken, Session, SigningAlg, SigningKeyRecord, TokenEndpointAuthMethod,
    User, UserProfile,
};
use portcullis_core::password::PasswordHash;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{
    ClientStore, CodeStore, GrantStore, PurgeStore, RefreshTokenStore, SessionStore,
    SigningKeyStore, Store, StoreError, UserStore, constraints,
};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::PgStore;

const NOW: Timestamp = Timestamp(1_800_000_000);

/// The server the tests create their databases on (trust auth, as in CI).
fn admin_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A throwaway database, dropped (with its connections) when the guard goes out of
/// scope, even when the test panicked.
struct TestDb {
    name: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("drop database if exists \"{}\" with (force)", self.name);
        // Drop cannot be async, and the test's runtime may be the current-thread one,
        // so the cleanup gets a runtime of its own on a fresh thread.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
                    admin.execute(AssertSqlSafe(sql)).await.unwrap();
                });
        });
        cleanup.join().unwrap();
    }
}

async fn store() -> (PgStore, TestDb) {
    let name = format!("pc_store_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("create database \"{name}\"")))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let db = TestDb { name };
    let admin = admin_url();
    let (server, _) = admin.rsplit_once('/').unwrap();
    let store = PgStore::connect(&format!("{server}/{}", db.name), 4)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, db)
}

fn user(username: &str) -> User {
    User {
        user_id: UserId::random(),
        username: username.to_owned(),
        password_hash: PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        profile: UserProfile {
            email: Some(format!("{username}@example.test")),
            email_verified: true,
            name: Some("Alice Liddell".to_owned()),
            ..UserProfile::default()
        },
        roles: vec!["admin".to_owned()],
        disabled: false,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn client() -> Client {
    Client {
        client_id: ClientId::random(),
        secret_hash: Some(SecretHash::of("pcs_secret")),
        client_type: ClientType::Confidential,
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        name: "Demo".to_owned(),
        redirect_uris: vec![RedirectUri::parse("https://app.example/cb").unwrap()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        allowed_scope: ScopeSet::parse("openid profile offline_access").unwrap(),
        metadata: ClientMetadata {
            contacts: vec!["ops@app.example".to_owned()],
            ..ClientMetadata::default()
        },
        registration_token_hash: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn grant(user: &User, client: &Client) -> Grant {
    Grant {
        grant_id: GrantId::random(),
        user_id: user.user_id,
        client_id: client.client_id.clone(),
        scope: ScopeSet::parse("openid offline_access").unwrap(),
        session_id: Some(SessionId::random()),
        auth_time: NOW,
        created_at: NOW,
        last_used_at: NOW,
        revoked_at: None,
    }
}

fn code(grant: &Grant, plain: &str) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: SecretHash::of(plain),
        grant_id: grant.grant_id,
        client_id: grant.client_id.clone(),
        user_id: grant.user_id,
        redirect_uri: "https://app.example/cb".to_owned(),
        scope: grant.scope.clone(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        session_id: SessionId::random(),
        auth_time: NOW,
        created_at: NOW,
        expires_at: Timestamp(NOW.0 + 60),
        redeemed_at: None,
    }
}

fn refresh(grant: &Grant, plain: &str, parent: Option<&str>) -> RefreshToken {
    RefreshToken {
        token_hash: SecretHash::of(plain),
        grant_id: grant.grant_id,
        client_id: grant.client_id.clone(),
        scope: grant.scope.clone(),
        parent_hash: parent.map(SecretHash::of),
        created_at: NOW,
        expires_at: Timestamp(NOW.0 + 86_400),
        idle_expires_at: Timestamp(NOW.0 + 3_600),
        rotated_at: None,
        revoked_at: None,
    }
}

fn session(user: &User, cookie: &str, created_at: i64) -> Session {
    Session {
        session_id: SessionId::random(),
        secret_hash: SecretHash::of(cookie),
        user_id: user.user_id,
        auth_time: Timestamp(created_at),
        amr: vec!["pwd".to_owned()],
        user_agent: Some("test".to_owned()),
        ip: None,
        created_at: Timestamp(created_at),
        last_seen_at: Timestamp(created_at),
        expires_at: Timestamp(NOW.0 + 3_600),
        idle_expires_at: Timestamp(NOW.0 + 600),
        ended_at: None,
    }
}

/// A user, a client and a grant between them, as a code or token needs.
async fn granted(store: &PgStore) -> (User, Client, Grant) {
    let u = user("alice");
    let c = client();
    let g = grant(&u, &c);
    store.create_user(&u).await.unwrap();
    store.create_client(&c).await.unwrap();
    store.create_grant(&g).await.unwrap();
    (u, c, g)
}

#[tokio::test]
async fn migrate_is_idempotent_and_ping_answers() {
    let (store, _db) = store().await;

    store.migrate().await.unwrap();

    store.ping().await.unwrap();
    assert_eq!(store.backend(), "postgres");
}

#[tokio::test]
async fn created_user_reads_back_by_id_and_username() {
    let (store, _db) = store().await;
    let alice = user("alice");

    store.create_user(&alice).await.unwrap();

    assert_eq!(
        store.find_user(alice.user_id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.find_user_by_username("alice").await.unwrap(),
        Some(alice)
    );
    assert_eq!(store.find_user_by_username("bob").await.unwrap(), None);
}

#[tokio::test]
async fn duplicate_username_is_a_named_conflict() {
    let (store, _db) = store().await;
    store.create_user(&user("alice")).await.unwrap();

    let err = store.create_user(&user("alice")).await.unwrap_err();

    assert!(
        matches!(err, StoreError::Conflict { constraint } if constraint == constraints::USER_USERNAME),
        "{err:?}"
    );
}

#[tokio::test]
async fn updating_a_missing_user_is_not_found() {
    let (store, _db) = store().await;

    let err = store
        .set_user_disabled(UserId::random(), true, NOW)
        .await
        .unwrap_err();

    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

#[tokio::test]
async fn ending_other_sessions_keeps_the_current_one_live() {
    let (store, _db) = store().await;
    let alice = user("alice");
    let current = session(&alice, "pse_current", NOW.0);
    let other = session(&alice, "pse_other", NOW.0 - 10);
    store.create_session(&current).await.unwrap();
    store.create_session(&other).await.unwrap();

    let ended = store
        .end_user_sessions(alice.user_id, Some(current.session_id), NOW)
        .await
        .unwrap();

    assert_eq!(ended, [other.session_id]);
    let live = store.list_live_sessions(alice.user_id, NOW).await.unwrap();
    assert_eq!(live.as_slice(), std::slice::from_ref(&current));
    assert_eq!(
        store
            .find_live_session(&SecretHash::of("pse_other"), NOW)
            .await
            .unwrap(),
        None
    );
    assert!(store.end_session(current.session_id, NOW).await.unwrap());
    assert!(!store.end_session(current.session_id, NOW).await.unwrap());
}

#[tokio::test]
async fn client_round_trips_and_duplicate_id_conflicts() {
    let (store, _db) = store().await;
    let c = client();

    store.create_client(&c).await.unwrap();
    let err = store.create_client(&c).await.unwrap_err();

    assert_eq!(store.find_client(&c.client_id).await.unwrap(), Some(c));
    assert!(
        matches!(err, StoreError::Conflict { constraint } if constraint == constraints::CLIENT_PKEY),
        "{err:?}"
    );
}

#[tokio::test]
async fn code_redeems_once_then_reports_replay() {
    let (store, _db) = store().await;
    let (_, _, g) = granted(&store).await;
    store.insert_code(&code(&g, "pcc_one")).await.unwrap();
    let hash = SecretHash::of("pcc_one");

    let first = store.redeem_code(&hash, NOW).await.unwrap();
    let second = store.redeem_code(&hash, NOW).await.unwrap();

    assert!(matches!(first, CodeRedemption::Redeemed(c) if c.redeemed_at == Some(NOW)));
    assert!(matches!(second, CodeRedemption::AlreadyRedeemed(_)));
    assert_eq!(
        store
            .redeem_code(&SecretHash::of("pcc_unknown"), NOW)
            .await
            .unwrap(),
        CodeRedemption::Invalid
    );
}

#[tokio::test]
async fn expired_code_is_invalid() {
    let (store, _db) = store().await;
    let (_, _, g) = granted(&store).await;
    store.insert_code(&code(&g, "pcc_old")).await.unwrap();

    let outcome = store
        .redeem_code(&SecretHash::of("pcc_old"), Timestamp(NOW.0 + 60))
        .await
        .unwrap();

    assert_eq!(outcome, CodeRedemption::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_have_exactly_one_winner() {
    let (store, _db) = store().await;
    let (_, _, g) = granted(&store).await;
    store.insert_code(&code(&g, "pcc_race")).await.unwrap();
    let store = Arc::new(store);

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.redeem_code(&SecretHash::of("pcc_race"), NOW).await })
        })
        .collect();
    let mut redeemed = 0;
    let mut replayed = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            CodeRedemption::Redeemed(_) => redeemed += 1,
            CodeRedemption::AlreadyRedeemed(_) => replayed += 1,
            CodeRedemption::Invalid => panic!("a known, unexpired code was reported invalid"),
        }
    }

    assert_eq!((redeemed, replayed), (1, 49));
}

#[tokio::test]
async fn refresh_token_rotates_once_and_reuse_is_detected() {
    let (store, _db) = store().await;
    let (_, _, g) = granted(&store).await;
    store
        .insert_refresh_token(&refresh(&g, "pcr_a", None))
        .await
        .unwrap();
    let old = SecretHash::of("pcr_a");

    let first = store
        .rotate_refresh_token(&old, &refresh(&g, "pcr_b", Some("pcr_a")), NOW)
        .await
        .unwrap();
    let reuse = store
        .rotate_refresh_token(&old, &refresh(&g, "pcr_c", Some("pcr_a")), NOW)
        .await
        .unwrap();

    assert!(matches!(first, RefreshRotation::Rotated(t) if t.rotated_at == Some(NOW)));
    assert!(matches!(reuse, RefreshRotation::AlreadyRotated(_)));
    assert!(
        store
            .find_refresh_token(&SecretHash::of("pcr_b"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .find_refresh_token(&SecretHash::of("pcr_c"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_store_exactly_one_successor() {
    let (store, _db) = store().await;
    let (_, _, g) = granted(&store).await;
    store
        .insert_refresh_token(&refresh(&g, "pcr_a", None))
        .await
        .unwrap();
    let store = Arc::new(store);

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            let successor = refresh(&g, &format!("pcr_next_{i}"), Some("pcr_a"));
            tokio::spawn(async move {
                store
                    .rotate_refresh_token(&SecretHash::of("pcr_a"), &successor, NOW)
                    .await
            })
        })
        .collect();
    let mut rotated = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            RefreshRotation::Rotated(_) => rotated += 1,
            RefreshRotation::AlreadyRotated(_) => {}
            RefreshRotation::Invalid => panic!("a live token was reported invalid"),
        }
    }

    assert_eq!(rotated, 1);
    let mut successors = 0;
    for i in 0..20 {
        let hash = SecretHash::of(&format!("pcr_next_{i}"));
        successors += usize::from(store.find_refresh_token(&hash).await.unwrap().is_some());
    }
    assert_eq!(successors, 1);
}

#[tokio::test]
async fn revoked_grant_takes_its_refresh_tokens_with_it() {
    let (store, _db) = store().await;
    let (_, _, g) = granted(&store).await;
    store
        .insert_refresh_token(&refresh(&g, "pcr_a", None))
        .await
        .unwrap();

    assert!(store.revoke_grant(g.grant_id, NOW).await.unwrap());
    assert!(!store.revoke_grant(g.grant_id, NOW).await.unwrap());
    let rotation = store
        .rotate_refresh_token(&SecretHash::of("pcr_a"), &refresh(&g, "pcr_b", None), NOW)
        .await
        .unwrap();

    assert_eq!(rotation, RefreshRotation::Invalid);
    let token = store
        .find_refresh_token(&SecretHash::of("pcr_a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.revoked_at, Some(NOW));
}

#[tokio::test]
async fn deleting_a_client_cascades_to_its_grants_and_tokens() {
    let (store, _db) = store().await;
    let (_, c, g) = granted(&store).await;
    store
        .insert_refresh_token(&refresh(&g, "pcr_a", None))
        .await
        .unwrap();

    store.delete_client(&c.client_id).await.unwrap();

    assert_eq!(store.find_grant(g.grant_id).await.unwrap(), None);
    assert_eq!(
        store
            .find_refresh_token(&SecretHash::of("pcr_a"))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.delete_client(&c.client_id).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn keyring_bootstraps_only_once() {
    let (store, _db) = store().await;
    let key = |kid: &str| SigningKeyRecord {
        kid: kid.to_owned(),
        alg: SigningAlg::Es256,
        sealed_private_key: vec![1, 2, 3],
        created_at: NOW,
        activates_at: NOW,
        retires_at: None,
    };

    store.bootstrap_signing_keys(&[key("k1")]).await.unwrap();
    let err = store
        .bootstrap_signing_keys(&[key("k2")])
        .await
        .unwrap_err();
    store
        .rotate_signing_key(&key("k3"), Timestamp(NOW.0 + 10))
        .await
        .unwrap();

    assert!(
        matches!(err, StoreError::Conflict { constraint } if constraint == constraints::KEYRING_BOOTSTRAP),
        "{err:?}"
    );
    let keys = store.list_signing_keys().await.unwrap();
    let kids: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.retires_at))
        .collect();
    assert_eq!(kids, [("k1", Some(Timestamp(NOW.0 + 10))), ("k3", None)]);
}

#[tokio::test]
async fn purge_removes_only_expired_rows_up_to_the_batch() {
    let (store, _db) = store().await;
    let (_, _, g) = granted(&store).await;
    for i in 0..3 {
        store
            .insert_code(&code(&g, &format!("pcc_{i}")))
            .await
            .unwrap();
    }
    let later = Timestamp(NOW.0 + 61);

    let first = store.purge_expired(later, 2).await.unwrap();
    let second = store.purge_expired(later, 2).await.unwrap();
    let before_expiry = store.purge_expired(NOW, 2).await.unwrap();

    assert_eq!((first.codes, second.codes, before_expiry.codes), (2, 1, 0));
}
