//! Builders for the records the conformance cases store, with every field filled in
//! (so round trips check them all), fixed timestamps and opaque hash strings.

use portcullis_core::Timestamp;
use portcullis_core::ids::{AuditEventId, ClientId, GrantId, SessionId, UserId};
use portcullis_core::model::{
    AuditEvent, AuthorizationCode, Client, ClientMetadata, ClientType, Grant, GrantType,
    RefreshToken, Session, SigningAlg, SigningKeyRecord, TokenEndpointAuthMethod, User,
    UserProfile,
};
use portcullis_core::password::PasswordHash;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{CodeUse, Store, StoreError};

/// The fixed "now" every case starts from.
pub(super) const T0: Timestamp = Timestamp(1_800_000_000);

/// A redemption that uses the code up and does nothing else (no refresh token stored, no
/// use of the grant recorded), for the cases about single use itself.
pub(super) const SPEND: CodeUse<'static> = CodeUse::SpendOnly;

/// One day in seconds.
pub(super) const DAY: i64 = 86_400;

/// `T0` plus `secs` seconds.
pub(super) fn at(secs: i64) -> Timestamp {
    Timestamp(T0.0 + secs)
}

pub(super) fn scope(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

pub(super) fn uri(s: &str) -> RedirectUri {
    RedirectUri::parse(s).unwrap()
}

/// An opaque PHC-looking string; the store never parses it.
pub(super) fn password_hash(tag: &str) -> PasswordHash {
    PasswordHash(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${tag}"))
}

/// An enabled user with a full profile and two roles (deliberately not sorted).
pub(super) fn user(username: &str) -> User {
    User {
        user_id: UserId::random(),
        username: username.to_owned(),
        password_hash: password_hash(username),
        profile: UserProfile {
            email: Some(format!("{username}@example.com")),
            email_verified: true,
            name: Some(format!("{username} Liddell-Ünsal")),
            given_name: Some(username.to_owned()),
            family_name: Some("Liddell-Ünsal".to_owned()),
            picture: Some(format!("https://example.com/{username}.png")),
        },
        roles: vec!["support".to_owned(), "admin".to_owned()],
        disabled: false,
        created_at: T0,
        updated_at: T0,
    }
}

/// A dynamically registered confidential client with every optional field set.
pub(super) fn client(id: &str) -> Client {
    Client {
        client_id: ClientId(id.to_owned()),
        secret_hash: Some(SecretHash::of(&format!("pcs_secret_of_{id}"))),
        client_type: ClientType::Confidential,
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        name: format!("Client {id} — ünïcode"),
        // Not in sorted order: registration order must survive.
        redirect_uris: vec![
            uri(&format!("https://b.example/{id}/cb")),
            uri(&format!("https://a.example/{id}/cb?x=1")),
        ],
        post_logout_redirect_uris: vec![uri(&format!("https://a.example/{id}/bye"))],
        grant_types: vec![GrantType::RefreshToken, GrantType::AuthorizationCode],
        allowed_scope: scope("openid profile email offline_access"),
        metadata: ClientMetadata {
            client_uri: Some("https://a.example/".to_owned()),
            logo_uri: Some("https://a.example/logo.png".to_owned()),
            policy_uri: Some("https://a.example/policy".to_owned()),
            tos_uri: Some("https://a.example/tos".to_owned()),
            contacts: vec!["ops@a.example".to_owned(), "dev@a.example".to_owned()],
            jwks: Some(serde_json::json!({
                "keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]
            })),
            jwks_uri: Some("https://a.example/jwks.json".to_owned()),
            id_token_signed_response_alg: Some("ES256".to_owned()),
            application_type: Some("web".to_owned()),
            backchannel_logout_uri: Some("https://a.example/backchannel".to_owned()),
            backchannel_logout_session_required: true,
        },
        registration_token_hash: Some(SecretHash::of(&format!("prt_token_of_{id}"))),
        first_party: false,
        created_at: T0,
        updated_at: at(1),
    }
}

/// A public native client with every optional field empty.
pub(super) fn public_client(id: &str) -> Client {
    Client {
        client_id: ClientId(id.to_owned()),
        secret_hash: None,
        client_type: ClientType::Public,
        auth_method: TokenEndpointAuthMethod::None,
        name: format!("Native app {id}"),
        redirect_uris: vec![
            uri("com.example.app:/oauth2redirect"),
            uri("http://127.0.0.1/cb"),
        ],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode],
        allowed_scope: scope("openid"),
        metadata: ClientMetadata::default(),
        registration_token_hash: None,
        // Stored and read back like every other field (the column is its own).
        first_party: true,
        created_at: at(2),
        updated_at: at(3),
    }
}

/// A live session of `user_id` created at `T0`, idle-expiring after a day and expiring
/// after a week; its cookie secret is derived from its id, so every session differs.
pub(super) fn session(user_id: UserId) -> Session {
    let session_id = SessionId::random();
    Session {
        session_id,
        secret_hash: SecretHash::of(&format!("pse_{session_id}")),
        user_id,
        auth_time: T0,
        amr: vec!["pwd".to_owned(), "mfa".to_owned()],
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".to_owned()),
        ip: Some("2001:db8::7".to_owned()),
        created_at: T0,
        last_seen_at: T0,
        expires_at: at(7 * DAY),
        idle_expires_at: at(DAY),
        ended_at: None,
    }
}

/// An active grant of `user` to `client`, created at `T0`.
pub(super) fn grant(user: &User, client: &Client, session_id: Option<SessionId>) -> Grant {
    Grant {
        grant_id: GrantId::random(),
        user_id: user.user_id,
        client_id: client.client_id.clone(),
        scope: scope("openid profile offline_access"),
        session_id,
        auth_time: at(-30),
        created_at: T0,
        last_used_at: T0,
        revoked_at: None,
    }
}

/// An unredeemed code of `grant` issued at `T0`, valid for 60 s, hashing `secret`.
pub(super) fn code(grant: &Grant, session: &Session, secret: &str) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: SecretHash::of(secret),
        grant_id: grant.grant_id,
        client_id: grant.client_id.clone(),
        user_id: grant.user_id,
        redirect_uri: "https://a.example/cb?state=kept".to_owned(),
        scope: grant.scope.clone(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        session_id: session.session_id,
        auth_time: grant.auth_time,
        created_at: T0,
        expires_at: at(60),
        redeemed_at: None,
    }
}

/// A current refresh token of `grant` issued at `T0`: absolute expiry in 30 days, idle
/// expiry in 14.
pub(super) fn refresh_token(grant: &Grant, secret: &str) -> RefreshToken {
    RefreshToken {
        token_hash: SecretHash::of(secret),
        grant_id: grant.grant_id,
        client_id: grant.client_id.clone(),
        scope: grant.scope.clone(),
        parent_hash: None,
        created_at: T0,
        expires_at: at(30 * DAY),
        idle_expires_at: at(14 * DAY),
        rotated_at: None,
        revoked_at: None,
    }
}

/// The token that replaces `old` when rotated at `now`.
pub(super) fn successor(old: &RefreshToken, secret: &str, now: Timestamp) -> RefreshToken {
    RefreshToken {
        token_hash: SecretHash::of(secret),
        parent_hash: Some(old.token_hash.clone()),
        created_at: now,
        idle_expires_at: Timestamp(now.0 + 14 * DAY),
        rotated_at: None,
        revoked_at: None,
        ..old.clone()
    }
}

/// A stored signing key; the sealed bytes include 0x00 and 0xff to test binary storage.
pub(super) fn signing_key(kid: &str, alg: SigningAlg, created_at: Timestamp) -> SigningKeyRecord {
    let mut sealed = vec![0x00, 0xff, 0x7f, 0x80, 0x0a, 0x0d];
    sealed.extend_from_slice(kid.as_bytes());
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg,
        sealed_private_key: sealed,
        created_at,
        activates_at: Timestamp(created_at.0 + 3_600),
        retires_at: None,
    }
}

/// An audit event at `when` with every optional field set.
pub(super) fn audit_event(action: &str, when: Timestamp) -> AuditEvent {
    AuditEvent {
        audit_event_id: AuditEventId::random(),
        at: when,
        actor: "cli".to_owned(),
        action: action.to_owned(),
        target: Some("client-a".to_owned()),
        ip: Some("192.0.2.1".to_owned()),
        detail: serde_json::json!({"changed": ["name", "redirect_uris"], "count": 2, "note": "ünïcode"}),
    }
}

/// A user with a live session, a client, and an active grant tying them together.
pub(super) struct World {
    pub(super) user: User,
    pub(super) client: Client,
    pub(super) session: Session,
    pub(super) grant: Grant,
}

/// Stores a [`World`]: user `alice`, client `client-a`, a session and a grant.
pub(super) async fn world(store: &dyn Store) -> World {
    let user = user("alice");
    store.create_user(&user).await.unwrap();
    let client = client("client-a");
    store.create_client(&client).await.unwrap();
    let session = session(user.user_id);
    store.create_session(&session).await.unwrap();
    let grant = grant(&user, &client, Some(session.session_id));
    store.create_grant(&grant).await.unwrap();
    World {
        user,
        client,
        session,
        grant,
    }
}

/// Stores a [`World`] like [`world`], but with creation and change times that no two of
/// its user and grant share (nor `T0`, the refresh tokens' issue time), so a joined read
/// that took one table's `created_at` or `user_id` for another's is caught.
pub(super) async fn world_with_distinct_times(store: &dyn Store) -> World {
    let user = User {
        created_at: at(-9_000),
        updated_at: at(-8_000),
        ..user("alice")
    };
    store.create_user(&user).await.unwrap();
    let client = client("client-a");
    store.create_client(&client).await.unwrap();
    let session = session(user.user_id);
    store.create_session(&session).await.unwrap();
    let grant = Grant {
        auth_time: at(-7_000),
        created_at: at(-6_000),
        last_used_at: at(-5_000),
        ..grant(&user, &client, Some(session.session_id))
    };
    store.create_grant(&grant).await.unwrap();
    World {
        user,
        client,
        session,
        grant,
    }
}

/// Asserts `Err(StoreError::Conflict { constraint })` with exactly that constraint.
#[track_caller]
pub(super) fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, constraint: &str) {
    match result {
        Err(StoreError::Conflict { constraint: actual }) => assert_eq!(
            actual, constraint,
            "the conflict names the constraint that refused the write"
        ),
        other => panic!("expected Conflict {{ constraint: {constraint:?} }}, got {other:?}"),
    }
}

/// Asserts `Err(StoreError::NotFound)`.
#[track_caller]
pub(super) fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}
