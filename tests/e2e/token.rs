//! `POST /token` over HTTP (RFC 6749 §2.3.1, §3.2, §4.1.3, §5, §6; RFC 7636 §4.6; RFC
//! 9700 §2.1.1, §4.14.2; OIDC Core §3.1.3, §11, §12). Codes are arranged directly in the
//! store, as the authorization endpoint would leave them, and exchanged with the real
//! server on both backends.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use openidconnect::reqwest::StatusCode;
use openidconnect::reqwest::header::HeaderMap;
use portcullis_core::clients::{NewClient, create_client};
use portcullis_core::ids::{ClientId, GrantId, SessionId, UserId};
use portcullis_core::model::{AuthorizationCode, Grant, User, UserProfile};
use portcullis_core::password::PasswordHash;
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::{PlainSecret, SecretHash, SecretKind};
use portcullis_core::tokens::{
    AccessTokenClaims, access_token_audience, at_hash, verify_access_token,
};
use portcullis_core::{Clock, SystemClock, Timestamp};
use portcullis_e2e::app::TestApp;
use serde_json::Value;

mod stolen_codes;

pub(crate) use stolen_codes::{
    a_refused_presenter_leaves_the_code_to_its_owner,
    only_a_replay_that_passes_the_checks_revokes_the_grant,
};

const REDIRECT_URI: &str = "https://app.example/cb";

/// A client as the tests drive it: its id and, when confidential, its secret.
struct TestClient {
    id: String,
    secret: Option<String>,
}

async fn confidential_client_with(app: &TestApp, grant_types: &[&str]) -> TestClient {
    let new = NewClient {
        name: "Confidential App".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        grant_types: grant_types.iter().map(|g| (*g).to_owned()).collect(),
        ..NewClient::default()
    };
    let (client, secret) = create_client(app.store.as_ref(), new, SystemClock.now())
        .await
        .unwrap();
    TestClient {
        id: client.client_id.0,
        secret: Some(secret.unwrap().expose().to_owned()),
    }
}

async fn confidential_client(app: &TestApp) -> TestClient {
    confidential_client_with(app, &[]).await
}

async fn public_client(app: &TestApp) -> TestClient {
    let new = NewClient {
        name: "Native App".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        public: true,
        ..NewClient::default()
    };
    let (client, secret) = create_client(app.store.as_ref(), new, SystemClock.now())
        .await
        .unwrap();
    assert!(secret.is_none());
    TestClient {
        id: client.client_id.0,
        secret: None,
    }
}

async fn user(app: &TestApp) -> User {
    let now = SystemClock.now();
    let user_id = UserId::random();
    let user = User {
        user_id,
        username: format!("user-{}", user_id.0.simple()),
        // Never checked: the tests start after login.
        password_hash: PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$dummy".into()),
        profile: UserProfile::default(),
        roles: Vec::new(),
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    app.store.create_user(&user).await.unwrap();
    user
}

/// A fresh PKCE pair: the verifier is 47 unreserved characters (RFC 7636 §4.1), the
/// challenge its S256 (`SecretHash` is the SHA-256 of the string).
fn pkce_pair() -> (String, String) {
    let verifier = PlainSecret::generate(SecretKind::Csrf)
        .unwrap()
        .expose()
        .to_owned();
    (verifier.clone(), s256(&verifier))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(SecretHash::of(verifier).as_bytes())
}

/// How the authorization endpoint left the code.
struct CodeSpec<'a> {
    scope: &'a str,
    challenge: Option<String>,
    nonce: Option<&'a str>,
    /// Seconds until expiry; negative for an already expired code.
    expires_in: i64,
}

impl<'a> CodeSpec<'a> {
    fn with_pkce(scope: &'a str, challenge: &str) -> Self {
        CodeSpec {
            scope,
            challenge: Some(challenge.to_owned()),
            nonce: Some("n-0S6_WzA2Mj"),
            expires_in: 60,
        }
    }
}

/// A code waiting at the client, with what it should turn into.
struct Issued {
    code: String,
    user: User,
    grant_id: GrantId,
    session_id: SessionId,
    auth_time: Timestamp,
}

/// Stores a grant and a code for it, as `/authorize` does after consent.
async fn issue_code(app: &TestApp, client: &TestClient, spec: CodeSpec<'_>) -> Issued {
    let user = user(app).await;
    let now = SystemClock.now();
    let auth_time = Timestamp(now.0 - 30);
    let session_id = SessionId::random();
    let scope = ScopeSet::parse(spec.scope).unwrap();
    let grant = Grant {
        grant_id: GrantId::random(),
        user_id: user.user_id,
        client_id: ClientId(client.id.clone()),
        scope: scope.clone(),
        session_id: Some(session_id),
        auth_time,
        created_at: now,
        last_used_at: now,
        revoked_at: None,
    };
    app.store.create_grant(&grant).await.unwrap();
    let code = PlainSecret::generate(SecretKind::AuthorizationCode).unwrap();
    app.store
        .insert_code(&AuthorizationCode {
            code_hash: code.hash(),
            grant_id: grant.grant_id,
            client_id: grant.client_id.clone(),
            user_id: user.user_id,
            redirect_uri: REDIRECT_URI.into(),
            scope,
            nonce: spec.nonce.map(str::to_owned),
            code_challenge: spec.challenge,
            session_id,
            auth_time,
            created_at: now,
            expires_at: Timestamp(now.0 + spec.expires_in),
            redeemed_at: None,
        })
        .await
        .unwrap();
    Issued {
        code: code.expose().to_owned(),
        user,
        grant_id: grant.grant_id,
        session_id,
        auth_time,
    }
}

/// How a request authenticates the client.
enum Auth<'a> {
    /// `client_secret_basic`, id and secret form-urlencoded as RFC 6749 §2.3.1 requires.
    Basic(&'a TestClient),
    /// `client_secret_post`.
    Post(&'a TestClient),
    /// A public client: `client_id` only.
    Public(&'a TestClient),
    /// This exact `Authorization` header value.
    Header(String),
    /// Nothing.
    Nothing,
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn basic_header(id: &str, secret: &str) -> String {
    let pair = format!("{}:{}", form_encode(id), form_encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A token response as the test sees it.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// Asserts an RFC 6749 §5.2 error with this code and status.
    #[track_caller]
    fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["error"], error, "body: {}", self.body);
        assert!(
            self.body["error_description"].is_string(),
            "body: {}",
            self.body
        );
        assert_eq!(self.headers["cache-control"], "no-store");
        assert_eq!(self.headers["pragma"], "no-cache");
    }

    #[track_caller]
    fn assert_ok(&self) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
    }

    #[track_caller]
    fn str(&self, member: &str) -> &str {
        assert!(
            self.body[member].is_string(),
            "no {member} in {}",
            self.body
        );
        self.body[member].as_str().unwrap()
    }
}

async fn send_raw(
    app: &TestApp,
    authorization: Option<String>,
    content_type: &str,
    body: String,
) -> Answer {
    let mut request = app
        .http
        .post(app.url("/token"))
        .header("content-type", content_type)
        .body(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

async fn token(app: &TestApp, auth: Auth<'_>, params: &[(&str, &str)]) -> Answer {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    let mut authorization = None;
    match auth {
        Auth::Basic(c) => {
            authorization = Some(basic_header(&c.id, c.secret.as_deref().unwrap()));
        }
        Auth::Post(c) => {
            form.append_pair("client_id", &c.id);
            form.append_pair("client_secret", c.secret.as_deref().unwrap());
        }
        Auth::Public(c) => {
            form.append_pair("client_id", &c.id);
        }
        Auth::Header(value) => authorization = Some(value),
        Auth::Nothing => {}
    }
    for (name, value) in params {
        form.append_pair(name, value);
    }
    send_raw(
        app,
        authorization,
        "application/x-www-form-urlencoded",
        form.finish(),
    )
    .await
}

async fn exchange(app: &TestApp, auth: Auth<'_>, code: &str, verifier: Option<&str>) -> Answer {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    if let Some(v) = verifier {
        params.push(("code_verifier", v));
    }
    token(app, auth, &params).await
}

async fn refresh(
    app: &TestApp,
    auth: Auth<'_>,
    refresh_token: &str,
    scope: Option<&str>,
) -> Answer {
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(s) = scope {
        params.push(("scope", s));
    }
    token(app, auth, &params).await
}

fn access_claims(app: &TestApp, token: &str) -> AccessTokenClaims {
    verify_access_token(
        &app.keyring.current(),
        &app.base_url,
        &access_token_audience(&app.base_url),
        token,
        SystemClock.now(),
    )
    .unwrap()
}

/// Verifies an ID token's signature with the server's published key and its `iss`,
/// `aud` and `exp`; returns its header algorithm and claims.
fn id_token_claims(
    app: &TestApp,
    token: &str,
    client_id: &str,
) -> (jsonwebtoken::Algorithm, Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let keys = app.keyring.current();
    let key = keys
        .verification_key(header.kid.as_deref().unwrap())
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[&app.base_url]);
    let data = jsonwebtoken::decode::<Value>(token, &key.decoding, &validation).unwrap();
    (header.alg, data.claims)
}

async fn grant_revoked(app: &TestApp, grant_id: GrantId) -> bool {
    app.store
        .find_grant(grant_id)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some()
}

pub(crate) async fn code_exchange_issues_verified_tokens_with_the_oidc_claims(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid profile offline_access", &challenge),
    )
    .await;

    // Act
    let answer = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;

    // Assert: the §5.1 response …
    answer.assert_ok();
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.headers["pragma"], "no-cache");
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(
        answer.body["expires_in"],
        app.config.tokens.access_token_ttl.as_secs()
    );
    assert_eq!(answer.body["scope"], "offline_access openid profile");
    // … an RFC 9068 access token we verify ourselves …
    let access_token = answer.str("access_token");
    let claims = access_claims(app, access_token);
    let sub = issued.user.user_id.to_string();
    assert_eq!(claims.sub, sub);
    assert_eq!(claims.client_id, client.id);
    assert_eq!(claims.scope, "offline_access openid profile");
    assert_eq!(claims.gid, Some(issued.grant_id.to_string()));
    assert_eq!(claims.sid, Some(issued.session_id.to_string()));
    assert_eq!(claims.auth_time, Some(issued.auth_time.unix()));
    assert_eq!(
        claims.exp - claims.iat,
        i64::try_from(app.config.tokens.access_token_ttl.as_secs()).unwrap()
    );
    // … an ID token (OIDC Core §3.1.3.6) signed RS256 by default …
    let (alg, id) = id_token_claims(app, answer.str("id_token"), &client.id);
    assert_eq!(alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(id["sub"], sub);
    assert_eq!(id["azp"], client.id);
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["at_hash"], at_hash(access_token));
    assert_eq!(id["auth_time"], issued.auth_time.unix());
    assert_eq!(id["sid"], issued.session_id.to_string());
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    // … and a refresh token (offline_access was granted), stored only as its hash.
    let refresh_token = answer.str("refresh_token");
    assert!(refresh_token.starts_with("pcr_"));
    let stored = app
        .store
        .find_refresh_token(&SecretHash::of(refresh_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.grant_id, issued.grant_id);
    assert_eq!(stored.client_id.0, client.id);
}

pub(crate) async fn refresh_tokens_are_issued_only_as_oidc_core_section_11_allows(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let code_only = confidential_client_with(app, &["authorization_code"]).await;
    let cases = [
        // OpenID without offline_access: ID token, no refresh token.
        (&client, "openid profile", false, true),
        // Plain OAuth: refresh token, no ID token.
        (&client, "api.read", true, false),
        // A client not registered for refresh tokens gets none.
        (&code_only, "openid offline_access", false, true),
    ];
    for (client, scope, wants_refresh, wants_id_token) in cases {
        let (verifier, challenge) = pkce_pair();
        let issued = issue_code(app, client, CodeSpec::with_pkce(scope, &challenge)).await;

        // Act
        let answer = exchange(app, Auth::Basic(client), &issued.code, Some(&verifier)).await;

        // Assert
        answer.assert_ok();
        assert_eq!(
            answer.body.get("refresh_token").is_some(),
            wants_refresh,
            "{scope}: {}",
            answer.body
        );
        assert_eq!(
            answer.body.get("id_token").is_some(),
            wants_id_token,
            "{scope}: {}",
            answer.body
        );
    }
}

pub(crate) async fn client_secret_basic_form_urlencodes_id_and_secret(app: &TestApp) {
    // Arrange: a secret with every character form-urlencoding changes, and ':'.
    let mut client = confidential_client(app).await;
    let secret = "a+b/c=d%e:f";
    let mut stored = app
        .store
        .find_client(&ClientId(client.id.clone()))
        .await
        .unwrap()
        .unwrap();
    stored.secret_hash = Some(SecretHash::of(secret));
    app.store.update_client(&stored).await.unwrap();
    client.secret = Some(secret.to_owned());
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;

    // Act: first as a non-conforming client would (no encoding), then as RFC 6749 §2.3.1
    // says.
    let raw = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", client.id))
    );
    let unencoded = exchange(app, Auth::Header(raw), &issued.code, Some(&verifier)).await;
    let encoded = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;

    // Assert: the raw form does not decode to the secret ('+' is a space, "%e:" is no
    // escape), and nothing was redeemed by it; the encoded form works.
    unencoded.assert_error(401, "invalid_client");
    encoded.assert_ok();
}

pub(crate) async fn client_secret_post_authenticates(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;

    // Act
    let answer = exchange(app, Auth::Post(&client), &issued.code, Some(&verifier)).await;

    // Assert
    answer.assert_ok();
    assert_eq!(
        access_claims(app, answer.str("access_token")).client_id,
        client.id
    );
}

pub(crate) async fn public_client_redeems_with_pkce_and_no_secret(app: &TestApp) {
    // Arrange
    let client = public_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;

    // Act
    let answer = exchange(app, Auth::Public(&client), &issued.code, Some(&verifier)).await;

    // Assert
    answer.assert_ok();
    let (_, id) = id_token_claims(app, answer.str("id_token"), &client.id);
    assert_eq!(id["aud"], client.id);
    let refreshed = refresh(
        app,
        Auth::Public(&client),
        answer.str("refresh_token"),
        None,
    )
    .await;
    refreshed.assert_ok();
}

pub(crate) async fn public_client_without_pkce_is_refused(app: &TestApp) {
    // Arrange: a code that slipped through without a challenge.
    let client = public_client(app).await;
    let issued = issue_code(
        app,
        &client,
        CodeSpec {
            challenge: None,
            ..CodeSpec::with_pkce("openid", "")
        },
    )
    .await;

    // Act
    let answer = exchange(app, Auth::Public(&client), &issued.code, None).await;

    // Assert
    answer.assert_error(400, "invalid_grant");
}

pub(crate) async fn failed_client_authentication_is_401_with_a_challenge_after_basic(
    app: &TestApp,
) {
    // Arrange
    let client = confidential_client(app).await;
    let wrong = TestClient {
        id: client.id.clone(),
        secret: Some("pcs_not-the-secret".into()),
    };
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;

    // Act
    let basic = exchange(app, Auth::Basic(&wrong), &issued.code, Some(&verifier)).await;
    let post = exchange(app, Auth::Post(&wrong), &issued.code, Some(&verifier)).await;
    let malformed = exchange(
        app,
        Auth::Header("Basic !!not-base64!!".into()),
        &issued.code,
        Some(&verifier),
    )
    .await;
    let id_only = exchange(app, Auth::Public(&client), &issued.code, Some(&verifier)).await;
    let nothing = exchange(app, Auth::Nothing, &issued.code, Some(&verifier)).await;

    // Assert: 401; the challenge only where the Authorization header was tried (§5.2).
    for answer in [&basic, &malformed] {
        answer.assert_error(401, "invalid_client");
        assert_eq!(
            answer.headers["www-authenticate"],
            r#"Basic realm="portcullis""#
        );
    }
    for answer in [&post, &id_only, &nothing] {
        answer.assert_error(401, "invalid_client");
        assert!(answer.headers.get("www-authenticate").is_none());
    }
    // The code was never touched: authentication comes first.
    exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier))
        .await
        .assert_ok();
}

pub(crate) async fn unknown_client_is_401(app: &TestApp) {
    // Arrange
    let ghost = TestClient {
        id: "no-such-client".into(),
        secret: Some("pcs_whatever".into()),
    };

    // Act
    let basic = exchange(app, Auth::Basic(&ghost), "pcc_x", Some("v")).await;
    let post = exchange(app, Auth::Post(&ghost), "pcc_x", Some("v")).await;
    let public = exchange(app, Auth::Public(&ghost), "pcc_x", Some("v")).await;

    // Assert
    basic.assert_error(401, "invalid_client");
    assert_eq!(
        basic.headers["www-authenticate"],
        r#"Basic realm="portcullis""#
    );
    post.assert_error(401, "invalid_client");
    public.assert_error(401, "invalid_client");
}

pub(crate) async fn two_authentication_methods_are_invalid_request(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;
    let header = basic_header(&client.id, client.secret.as_deref().unwrap());

    // Act: Basic and client_secret in the body at once.
    let answer = token(
        app,
        Auth::Header(header),
        &[
            ("grant_type", "authorization_code"),
            ("code", &issued.code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
            ("client_id", &client.id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ],
    )
    .await;

    // Assert
    answer.assert_error(400, "invalid_request");
}

pub(crate) async fn pkce_failures_are_invalid_grant(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (_, challenge) = pkce_pair();
    let (other_verifier, _) = pkce_pair();
    let mismatch = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;
    let missing = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;
    let downgrade = issue_code(
        app,
        &client,
        CodeSpec {
            challenge: None,
            ..CodeSpec::with_pkce("openid", "")
        },
    )
    .await;

    // Act
    let wrong_verifier = exchange(
        app,
        Auth::Basic(&client),
        &mismatch.code,
        Some(&other_verifier),
    )
    .await;
    let no_verifier = exchange(app, Auth::Basic(&client), &missing.code, None).await;
    // RFC 9700 §2.1.1: a verifier for a code issued without a challenge.
    let verifier_without_challenge = exchange(
        app,
        Auth::Basic(&client),
        &downgrade.code,
        Some(&other_verifier),
    )
    .await;

    // Assert: invalid_grant (RFC 7636 §4.6), not invalid_request.
    wrong_verifier.assert_error(400, "invalid_grant");
    no_verifier.assert_error(400, "invalid_grant");
    verifier_without_challenge.assert_error(400, "invalid_grant");
}

#[test]
fn the_pkce_helper_computes_the_rfc7636_example_challenge() {
    // RFC 7636 Appendix B: the tests' challenges are real S256 ones.
    assert_eq!(
        s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

pub(crate) async fn redirect_uri_must_match_byte_for_byte(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let missing = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;
    let wrong = issue_code(app, &client, CodeSpec::with_pkce("openid", &challenge)).await;

    // Act
    let without = token(
        app,
        Auth::Basic(&client),
        &[
            ("grant_type", "authorization_code"),
            ("code", &missing.code),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let trailing_slash = token(
        app,
        Auth::Basic(&client),
        &[
            ("grant_type", "authorization_code"),
            ("code", &wrong.code),
            ("redirect_uri", "https://app.example/cb/"),
            ("code_verifier", &verifier),
        ],
    )
    .await;

    // Assert: a missing one is a malformed request (and leaves the code unspent), a
    // different one a bad grant.
    without.assert_error(400, "invalid_request");
    trailing_slash.assert_error(400, "invalid_grant");
    exchange(app, Auth::Basic(&client), &missing.code, Some(&verifier))
        .await
        .assert_ok();
}

pub(crate) async fn replayed_code_is_refused_and_revokes_what_it_issued(app: &TestApp) {
    // Arrange: a first, successful exchange.
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;
    let first = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;
    first.assert_ok();
    let refresh_token = first.str("refresh_token").to_owned();

    // Act
    let replay = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;

    // Assert: refused, and the first exchange's tokens die with the grant (§4.1.2).
    replay.assert_error(400, "invalid_grant");
    assert!(grant_revoked(app, issued.grant_id).await);
    refresh(app, Auth::Basic(&client), &refresh_token, None)
        .await
        .assert_error(400, "invalid_grant");
}

pub(crate) async fn expired_code_is_invalid_grant(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec {
            expires_in: -1,
            ..CodeSpec::with_pkce("openid", &challenge)
        },
    )
    .await;

    // Act
    let answer = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;

    // Assert
    answer.assert_error(400, "invalid_grant");
}

pub(crate) async fn code_of_another_client_is_invalid_grant(app: &TestApp) {
    // Arrange
    let owner = confidential_client(app).await;
    let thief = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(app, &owner, CodeSpec::with_pkce("openid", &challenge)).await;

    // Act
    let answer = exchange(app, Auth::Basic(&thief), &issued.code, Some(&verifier)).await;

    // Assert
    answer.assert_error(400, "invalid_grant");
}

pub(crate) async fn unknown_grant_types_are_unsupported_grant_type(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;

    for grant_type in [
        "password",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:example:custom",
    ] {
        // Act
        let answer = token(
            app,
            Auth::Basic(&client),
            &[("grant_type", grant_type), ("username", "u")],
        )
        .await;

        // Assert
        answer.assert_error(400, "unsupported_grant_type");
    }
}

pub(crate) async fn a_grant_the_client_is_not_registered_for_is_unauthorized_client(app: &TestApp) {
    // Arrange
    let client = confidential_client_with(app, &["authorization_code"]).await;

    // Act
    let answer = refresh(app, Auth::Basic(&client), "pcr_anything", None).await;

    // Assert
    answer.assert_error(400, "unauthorized_client");
}

pub(crate) async fn malformed_requests_are_invalid_request(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let header = basic_header(&client.id, client.secret.as_deref().unwrap());

    // Act
    let no_grant_type = token(
        app,
        Auth::Basic(&client),
        &[("code", "pcc_x"), ("redirect_uri", REDIRECT_URI)],
    )
    .await;
    let repeated = token(
        app,
        Auth::Basic(&client),
        &[
            ("grant_type", "authorization_code"),
            ("code", "pcc_x"),
            ("code", "pcc_y"),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    let json = send_raw(
        app,
        Some(header.clone()),
        "application/json",
        r#"{"grant_type":"refresh_token","refresh_token":"pcr_x"}"#.into(),
    )
    .await;
    let get = app.http.get(app.url("/token")).send().await.unwrap();

    // Assert
    no_grant_type.assert_error(400, "invalid_request");
    repeated.assert_error(400, "invalid_request");
    json.assert_error(400, "invalid_request");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers()["cache-control"], "no-store");
}

pub(crate) async fn refresh_rotates_and_reuse_revokes_the_grant(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;
    let first = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;
    first.assert_ok();
    let r1 = first.str("refresh_token").to_owned();

    // Act: rotate twice, then present the first token again.
    let second = refresh(app, Auth::Basic(&client), &r1, None).await;
    second.assert_ok();
    let r2 = second.str("refresh_token").to_owned();
    let third = refresh(app, Auth::Basic(&client), &r2, None).await;
    third.assert_ok();
    let r3 = third.str("refresh_token").to_owned();
    let reuse = refresh(app, Auth::Basic(&client), &r1, None).await;
    let after_reuse = refresh(app, Auth::Basic(&client), &r3, None).await;

    // Assert: each rotation hands out a new token and a new ID token from the original
    // authentication, without the nonce (OIDC Core §12.2) …
    assert!(r1 != r2 && r2 != r3 && r1 != r3);
    let (_, id) = id_token_claims(app, second.str("id_token"), &client.id);
    assert_eq!(id["auth_time"], issued.auth_time.unix());
    assert_eq!(id["sid"], issued.session_id.to_string());
    assert!(id.get("nonce").is_none(), "{id}");
    assert_eq!(id["at_hash"], at_hash(second.str("access_token")));
    let claims = access_claims(app, third.str("access_token"));
    assert_eq!(claims.gid, Some(issued.grant_id.to_string()));
    // … and reuse of a rotated one revokes the grant, so even the newest token dies.
    reuse.assert_error(400, "invalid_grant");
    assert!(grant_revoked(app, issued.grant_id).await);
    after_reuse.assert_error(400, "invalid_grant");
}

pub(crate) async fn a_retry_inside_the_reuse_grace_window_rotates_again_and_later_reuse_revokes(
    app: &TestApp,
) {
    // Arrange: the default configuration forgives a reuse within 30 s of the rotation.
    assert_eq!(
        app.config.tokens.refresh_token_reuse_grace,
        std::time::Duration::from_secs(30)
    );
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;
    let first = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;
    let r1 = first.str("refresh_token").to_owned();
    let rotated = refresh(app, Auth::Basic(&client), &r1, None).await;
    rotated.assert_ok();
    let lost = rotated.str("refresh_token").to_owned();

    // Act: the client retries with the token it just rotated (its response was lost).
    let retried = refresh(app, Auth::Basic(&client), &r1, None).await;

    // Assert: another successor, which replaced the lost one; the grant intact.
    retried.assert_ok();
    let kept = retried.str("refresh_token").to_owned();
    assert_ne!(kept, lost);
    assert!(!grant_revoked(app, issued.grant_id).await);
    let replaced = app
        .store
        .find_refresh_token(&SecretHash::of(&lost))
        .await
        .unwrap()
        .unwrap();
    assert!(replaced.revoked_at.is_some(), "one chain, one live token");

    // Act: the chain goes on with the retry's token.
    let next = refresh(app, Auth::Basic(&client), &kept, None).await;
    next.assert_ok();
    let newest = next.str("refresh_token").to_owned();

    // Act: whoever holds the lost successor presents it: not the client that retried.
    let reuse = refresh(app, Auth::Basic(&client), &lost, None).await;
    let after_reuse = refresh(app, Auth::Basic(&client), &newest, None).await;

    // Assert: that is reuse (RFC 9700 §4.14.2), and the whole grant goes.
    reuse.assert_error(400, "invalid_grant");
    assert!(grant_revoked(app, issued.grant_id).await);
    after_reuse.assert_error(400, "invalid_grant");
}

pub(crate) async fn a_retry_after_the_successor_was_used_is_reuse(app: &TestApp) {
    // Arrange: rotated, and the successor used in turn, all inside the window.
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;
    let first = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;
    let r1 = first.str("refresh_token").to_owned();
    let second = refresh(app, Auth::Basic(&client), &r1, None).await;
    let third = refresh(app, Auth::Basic(&client), second.str("refresh_token"), None).await;
    third.assert_ok();

    // Act: the first token again, within seconds.
    let reuse = refresh(app, Auth::Basic(&client), &r1, None).await;

    // Assert: the chain went on without this presenter: reuse, and the grant goes.
    reuse.assert_error(400, "invalid_grant");
    assert!(grant_revoked(app, issued.grant_id).await);
}

pub(crate) async fn refresh_may_narrow_the_scope_but_never_widen_it(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid profile email offline_access", &challenge),
    )
    .await;
    let first = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;
    first.assert_ok();

    // Act
    let wider = refresh(
        app,
        Auth::Basic(&client),
        first.str("refresh_token"),
        Some("openid email admin"),
    )
    .await;
    let narrower = refresh(
        app,
        Auth::Basic(&client),
        first.str("refresh_token"),
        Some("email"),
    )
    .await;
    let whole = refresh(
        app,
        Auth::Basic(&client),
        narrower.str("refresh_token"),
        None,
    )
    .await;

    // Assert: widening is refused and spends nothing; narrowing narrows the access token
    // only (no openid, so no ID token), and the successor keeps the whole grant.
    wider.assert_error(400, "invalid_scope");
    narrower.assert_ok();
    assert_eq!(narrower.body["scope"], "email");
    assert_eq!(
        access_claims(app, narrower.str("access_token")).scope,
        "email"
    );
    assert!(narrower.body.get("id_token").is_none());
    whole.assert_ok();
    assert_eq!(whole.body["scope"], "email offline_access openid profile");
    assert!(whole.body.get("id_token").is_some());
}

pub(crate) async fn refresh_by_another_client_is_invalid_grant_and_spends_nothing(app: &TestApp) {
    // Arrange
    let owner = confidential_client(app).await;
    let thief = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &owner,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;
    let first = exchange(app, Auth::Basic(&owner), &issued.code, Some(&verifier)).await;
    first.assert_ok();
    let refresh_token = first.str("refresh_token");

    // Act
    let stolen = refresh(app, Auth::Basic(&thief), refresh_token, None).await;
    let owners = refresh(app, Auth::Basic(&owner), refresh_token, None).await;

    // Assert: refused without rotating, so the owner's token still works.
    stolen.assert_error(400, "invalid_grant");
    owners.assert_ok();
    assert!(!grant_revoked(app, issued.grant_id).await);
}

pub(crate) async fn disabled_user_gets_no_new_tokens(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;
    let first = exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier)).await;
    first.assert_ok();
    app.store
        .set_user_disabled(issued.user.user_id, true, SystemClock.now())
        .await
        .unwrap();

    // Act
    let answer = refresh(app, Auth::Basic(&client), first.str("refresh_token"), None).await;

    // Assert
    answer.assert_error(400, "invalid_grant");
}

pub(crate) async fn concurrent_redemptions_of_one_code_succeed_exactly_once(app: &TestApp) {
    // Arrange
    let client = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let issued = issue_code(
        app,
        &client,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;

    // Act: 50 exchanges of the same code at once.
    let answers = join_all(
        (0..50).map(|_| exchange(app, Auth::Basic(&client), &issued.code, Some(&verifier))),
    )
    .await;

    // Assert
    let winners = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(winners, 1, "exactly one redemption wins");
    for answer in answers.iter().filter(|a| a.status != StatusCode::OK) {
        answer.assert_error(400, "invalid_grant");
    }
}
