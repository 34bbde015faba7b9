//! `/userinfo` as a relying party (and an attacker) sees it, on both backends: claims by
//! scope (OIDC Core §5.3-5.4), RFC 6750 bearer-token transport and errors, revocation that
//! takes effect before `exp`, and CORS for browser-based clients.
//!
//! Tokens are minted directly with the server's keyring and the data arranged through its
//! store, so each case isolates one rule of the endpoint.

use openidconnect::reqwest;
use portcullis_core::clients::{NewClient, create_client};
use portcullis_core::ids::GrantId;
use portcullis_core::keyring::{KeyEncryptionKey, KeySet, generate_signing_key};
use portcullis_core::model::{Client, Grant, SigningAlg, User, UserProfile};
use portcullis_core::password::{Argon2Params, PasswordHasher};
use portcullis_core::scope::ScopeSet;
use portcullis_core::tokens::{
    ACCESS_TOKEN_ALG, AccessTokenClaims, IdTokenClaims, access_token_audience, mint_access_token,
    mint_id_token, new_jti,
};
use portcullis_core::users::{NewUser, create_user};
use portcullis_core::{Clock, SystemClock, Timestamp};
use portcullis_e2e::app::TestApp;
use secrecy::SecretString;
use serde_json::json;

const INVALID_TOKEN_CHALLENGE: &str = "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"The access token is invalid, expired or revoked.\"";

/// A user with a client and an active grant between them.
struct Fixture {
    user: User,
    client: Client,
    grant: Grant,
}

async fn arrange(app: &TestApp) -> Fixture {
    let now = SystemClock.now();
    let hasher = PasswordHasher::new(Argon2Params::default(), 2).unwrap();
    let user = create_user(
        app.store.as_ref(),
        &hasher,
        NewUser {
            username: "alice".into(),
            password: SecretString::from("correct horse battery staple"),
            profile: UserProfile {
                email: Some("alice@example.com".into()),
                email_verified: true,
                name: Some("Alice Liddell".into()),
                given_name: Some("Alice".into()),
                family_name: Some("Liddell".into()),
                picture: None,
            },
            roles: vec!["admin".into()],
        },
        now,
    )
    .await
    .unwrap();
    let (client, _secret) = create_client(
        app.store.as_ref(),
        NewClient {
            name: "Relying Party".into(),
            redirect_uris: vec!["https://rp.example/callback".into()],
            ..NewClient::default()
        },
        now,
    )
    .await
    .unwrap();
    let grant = Grant {
        grant_id: GrantId::random(),
        user_id: user.user_id,
        client_id: client.client_id.clone(),
        scope: ScopeSet::parse("openid profile email").unwrap(),
        session_id: None,
        auth_time: now,
        created_at: now,
        last_used_at: now,
        revoked_at: None,
    };
    app.store.create_grant(&grant).await.unwrap();
    Fixture {
        user,
        client,
        grant,
    }
}

/// The claims `/token` would put in an access token for `scope`, valid for five minutes.
fn claims(app: &TestApp, f: &Fixture, scope: &str) -> AccessTokenClaims {
    let now = SystemClock.now().unix();
    AccessTokenClaims {
        iss: app.base_url.clone(),
        sub: f.user.user_id.to_string(),
        aud: access_token_audience(&app.base_url),
        client_id: f.client.client_id.to_string(),
        scope: scope.into(),
        iat: now,
        exp: now + 300,
        jti: new_jti().unwrap(),
        gid: Some(f.grant.grant_id.to_string()),
        sid: None,
        auth_time: Some(now),
    }
}

fn mint(app: &TestApp, claims: &AccessTokenClaims) -> String {
    mint_access_token(
        &app.keyring.current(),
        ACCESS_TOKEN_ALG,
        claims,
        SystemClock.now(),
    )
    .unwrap()
}

async fn get_with_token(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn challenge(response: &reqwest::Response) -> &str {
    response.headers()["www-authenticate"].to_str().unwrap()
}

async fn assert_invalid_token(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), INVALID_TOKEN_CHALLENGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

pub(crate) async fn profile_and_email_scopes_release_exactly_their_claims(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid profile email"));

    // Act
    let response = get_with_token(app, &token).await;

    // Assert: `sub` is the user id (the ID token's `sub`); no `roles` without its scope.
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "sub": f.user.user_id.to_string(),
            "preferred_username": "alice",
            "name": "Alice Liddell",
            "given_name": "Alice",
            "family_name": "Liddell",
            "updated_at": f.user.updated_at.unix(),
            "email": "alice@example.com",
            "email_verified": true,
        })
    );
}

pub(crate) async fn openid_scope_alone_releases_only_sub(app: &TestApp) {
    // Arrange: the scheme name is case-insensitive (RFC 6750 §2.1, RFC 9110 §11.1).
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid"));

    // Act
    let response = app
        .http
        .get(app.url("/userinfo"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "sub": f.user.user_id.to_string() }));
}

pub(crate) async fn post_with_the_token_in_a_form_body_works(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid email"));

    // Act
    let response = app
        .http
        .post(app.url("/userinfo"))
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "sub": f.user.user_id.to_string(),
            "email": "alice@example.com",
            "email_verified": true,
        })
    );
}

pub(crate) async fn post_with_the_token_in_the_header_works(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid"));

    // Act
    let response = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["sub"], f.user.user_id.to_string());
}

pub(crate) async fn success_is_never_cached(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid profile"));

    // Act
    let response = get_with_token(app, &token).await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

pub(crate) async fn no_token_gets_a_bare_bearer_challenge(app: &TestApp) {
    // Act
    let get = app.get("/userinfo").await.unwrap();
    let post = app
        .http
        .post(app.url("/userinfo"))
        .form(&[("unrelated", "1")])
        .send()
        .await
        .unwrap();

    // Assert: RFC 6750 §3.1: no error code when no authentication was attempted.
    for response in [get, post] {
        assert_eq!(response.status(), 401);
        assert_eq!(challenge(&response), "Bearer realm=\"portcullis\"");
    }
}

pub(crate) async fn a_token_in_the_query_string_is_not_accepted(app: &TestApp) {
    // Arrange: RFC 6750 §2.3 is not supported: such tokens leak into logs and Referer.
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid"));

    // Act
    let response = app
        .http
        .get(app.url("/userinfo"))
        .query(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), "Bearer realm=\"portcullis\"");
}

pub(crate) async fn garbage_token_is_invalid(app: &TestApp) {
    // Act / Assert
    assert_invalid_token(get_with_token(app, "not-a-jwt").await).await;
    assert_invalid_token(get_with_token(app, "a.b.c").await).await;
}

pub(crate) async fn expired_token_is_invalid(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let mut c = claims(app, &f, "openid");
    c.iat -= 600;
    c.exp = SystemClock.now().unix() - 60;
    let token = mint(app, &c);

    // Act / Assert
    assert_invalid_token(get_with_token(app, &token).await).await;
}

pub(crate) async fn token_signed_by_a_foreign_key_is_invalid(app: &TestApp) {
    // Arrange: a well-formed access token signed by a key we never published.
    let f = arrange(app).await;
    let now = SystemClock.now();
    let (kek, _) = KeyEncryptionKey::generate().unwrap();
    let record = generate_signing_key(ACCESS_TOKEN_ALG, &kek, now, now)
        .await
        .unwrap();
    let foreign = KeySet::from_records(&[record], &kek, now).unwrap();
    let token =
        mint_access_token(&foreign, ACCESS_TOKEN_ALG, &claims(app, &f, "openid"), now).unwrap();

    // Act / Assert
    assert_invalid_token(get_with_token(app, &token).await).await;
}

pub(crate) async fn id_token_is_not_an_access_token(app: &TestApp) {
    // Arrange: signed by our own key, but typed as an ID token (RFC 9068 §4).
    let f = arrange(app).await;
    let now = SystemClock.now();
    let id_token = mint_id_token(
        &app.keyring.current(),
        SigningAlg::Rs256,
        &IdTokenClaims {
            iss: app.base_url.clone(),
            sub: f.user.user_id.to_string(),
            aud: f.client.client_id.to_string(),
            azp: f.client.client_id.to_string(),
            exp: now.unix() + 300,
            iat: now.unix(),
            auth_time: now.unix(),
            nonce: None,
            at_hash: None,
            sid: None,
            amr: vec!["pwd".into()],
        },
        now,
    )
    .unwrap();

    // Act / Assert
    assert_invalid_token(get_with_token(app, &id_token).await).await;
}

pub(crate) async fn token_of_another_issuer_is_invalid(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let mut c = claims(app, &f, "openid");
    c.iss = "https://other-issuer.example".into();
    let token = mint(app, &c);

    // Act / Assert
    assert_invalid_token(get_with_token(app, &token).await).await;
}

pub(crate) async fn revoked_token_id_is_invalid_before_expiry(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let c = claims(app, &f, "openid");
    let token = mint(app, &c);
    assert_eq!(get_with_token(app, &token).await.status(), 200);
    app.store
        .revoke_token_id(&c.jti, Timestamp(c.exp), SystemClock.now())
        .await
        .unwrap();

    // Act / Assert
    assert_invalid_token(get_with_token(app, &token).await).await;
}

pub(crate) async fn revoked_grant_invalidates_its_access_tokens(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid"));
    assert_eq!(get_with_token(app, &token).await.status(), 200);
    app.store
        .revoke_grant(f.grant.grant_id, SystemClock.now())
        .await
        .unwrap();

    // Act / Assert
    assert_invalid_token(get_with_token(app, &token).await).await;
}

pub(crate) async fn disabled_user_invalidates_their_access_tokens(app: &TestApp) {
    // Arrange
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid"));
    assert_eq!(get_with_token(app, &token).await.status(), 200);
    app.store
        .set_user_disabled(f.user.user_id, true, SystemClock.now())
        .await
        .unwrap();

    // Act / Assert
    assert_invalid_token(get_with_token(app, &token).await).await;
}

pub(crate) async fn token_without_openid_scope_is_forbidden(app: &TestApp) {
    // Arrange: an OAuth-only token (OIDC Core §5.3 needs `openid`).
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "profile email"));

    // Act
    let response = get_with_token(app, &token).await;

    // Assert
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenge(&response),
        "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"openid\""
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

pub(crate) async fn token_in_both_header_and_body_is_a_bad_request(app: &TestApp) {
    // Arrange: RFC 6750 §2: a client MUST NOT use more than one method.
    let f = arrange(app).await;
    let token = mint(app, &claims(app, &f, "openid"));

    // Act
    let response = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(&token)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 400);
    assert!(challenge(&response).contains("error=\"invalid_request\""));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

pub(crate) async fn cors_preflight_allows_the_authorization_header(app: &TestApp) {
    // Act: what a browser sends before a cross-origin fetch with a bearer token.
    let response = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/userinfo"))
        .header("origin", "https://rp.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();

    // Assert: `Authorization` must be listed by name; browsers never let `*` cover it.
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.split(',').any(|h| h.trim() == "authorization"),
        "{allowed}"
    );
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "{methods}"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());
}

pub(crate) async fn cors_responses_expose_the_bearer_challenge(app: &TestApp) {
    // Act: a cross-origin request whose token is refused.
    let response = app
        .http
        .get(app.url("/userinfo"))
        .header("origin", "https://rp.example")
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();

    // Assert: the browser client may read why it was refused.
    assert_eq!(response.status(), 401);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let exposed = headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.split(',').any(|h| h.trim() == "www-authenticate"),
        "{exposed}"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());
}
