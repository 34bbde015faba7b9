//! The admin API as its callers see it: bearer access tokens with the `admin` scope, issued
//! only to users holding the `admin` role (or to an operator's client through
//! client_credentials); 401 without a good token, 403 without the scope or role, for every
//! resource; and the `roles` claim released only with the `roles` scope.

mod resources;

pub(crate) use resources::{
    an_admin_creates_reads_replaces_rekeys_and_deletes_clients,
    an_admin_creates_updates_disables_and_rekeys_users_and_assigns_roles,
    an_admin_lists_and_revokes_a_users_app_grants,
    an_admin_lists_and_rotates_signing_keys_and_reads_the_audit_trail,
};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::reqwest::header::HeaderMap;
use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::clients::{NewClient, create_client};
use portcullis_core::users;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures::{self, REDIRECT_URI, TestClient};
use portcullis_e2e::flows;
use serde_json::{Value, json};

/// A browser-facing "admin console" client the operator allowed the `admin` scope.
pub(crate) async fn admin_console(app: &TestApp) -> TestClient {
    let (client, secret) = create_client(
        app.store.as_ref(),
        NewClient {
            name: "Admin console".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            scope: Some("openid profile email roles admin".into()),
            ..NewClient::default()
        },
        SystemClock.now(),
    )
    .await
    .unwrap();
    TestClient {
        id: client.client_id.0,
        secret: secret.map(|s| s.expose().to_owned()),
    }
}

/// A user holding the `admin` role.
pub(crate) async fn admin_user(app: &TestApp, username: &str) {
    fixtures::user(app.store.as_ref(), username).await.unwrap();
    users::set_roles(
        app.store.as_ref(),
        username,
        vec!["admin".into()],
        SystemClock.now(),
    )
    .await
    .unwrap();
}

/// `username` signs in to `client` asking for `scope`; the access token.
pub(crate) async fn access_token(
    app: &TestApp,
    client: &TestClient,
    username: &str,
    scope: &str,
) -> String {
    let browser = Browser::new(&app.base_url).unwrap();
    flows::sign_in_and_exchange(app, &browser, client, username, scope)
        .await
        .unwrap()
        .access_token
}

/// An admin's token: a fresh admin user signed in to a fresh admin console.
pub(crate) async fn admin_token(app: &TestApp) -> String {
    admin_user(app, "root").await;
    let console = admin_console(app).await;
    access_token(app, &console, "root", "openid admin").await
}

/// The claims of a JWT, unverified (the server already verified it).
pub(crate) fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Sends `method path` with an optional bearer token and a JSON body.
pub(crate) async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let method = openidconnect::reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// A client_credentials token of a confidential client allowed `allowed` scope.
pub(crate) async fn client_token(
    app: &TestApp,
    allowed: &str,
    asked: &str,
) -> (String, u16, Value) {
    let (client, secret) = create_client(
        app.store.as_ref(),
        NewClient {
            name: "Operator automation".into(),
            grant_types: vec!["client_credentials".into()],
            scope: Some(allowed.into()),
            ..NewClient::default()
        },
        SystemClock.now(),
    )
    .await
    .unwrap();
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(
            client.client_id.as_str(),
            secret.map(|s| s.expose().to_owned()),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", asked)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (client.client_id.0, status, response.json().await.unwrap())
}

/// Every admin route, with a body where it takes one.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/admin/clients", None),
        (
            "POST",
            "/admin/clients",
            Some(json!({"redirect_uris": [REDIRECT_URI]})),
        ),
        ("GET", "/admin/clients/some-client", None),
        (
            "PUT",
            "/admin/clients/some-client",
            Some(json!({"redirect_uris": [REDIRECT_URI]})),
        ),
        ("DELETE", "/admin/clients/some-client", None),
        ("POST", "/admin/clients/some-client/secret", None),
        ("GET", "/admin/users", None),
        (
            "POST",
            "/admin/users",
            Some(json!({"username": "mallory", "password": "long enough password"})),
        ),
        ("GET", "/admin/users/alice", None),
        ("PUT", "/admin/users/alice", Some(json!({"name": "A"}))),
        ("POST", "/admin/users/alice/disable", None),
        ("POST", "/admin/users/alice/enable", None),
        (
            "PUT",
            "/admin/users/alice/password",
            Some(json!({"password": "long enough password"})),
        ),
        (
            "PUT",
            "/admin/users/alice/roles",
            Some(json!({"roles": ["admin"]})),
        ),
        ("POST", "/admin/users/alice/sessions/end", None),
        ("POST", "/admin/users/alice/unlock", None),
        ("GET", "/admin/users/alice/grants", None),
        (
            "DELETE",
            "/admin/users/alice/grants/00000000-0000-0000-0000-000000000000",
            None,
        ),
        ("GET", "/admin/keys", None),
        ("POST", "/admin/keys/rotate", None),
        ("GET", "/admin/audit", None),
    ]
}

pub(crate) async fn every_admin_resource_is_401_without_a_good_token_and_403_without_admin(
    app: &TestApp,
) {
    // Arrange: alice holds no role; she asks the admin console for the admin scope anyway.
    let alice = fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    let console = admin_console(app).await;
    let user_token = access_token(app, &console, "alice", "openid admin").await;
    let (_, _, cc) = client_token(app, "api.read", "api.read").await;
    let client_token = cc["access_token"].as_str().unwrap().to_owned();
    let foreign = {
        // Right shape, signed by a key the server never published.
        let key = jsonwebtoken::EncodingKey::from_secret(b"not our key");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, &claims_of(&user_token), &key).unwrap()
    };

    for (method, path, body) in routes() {
        // Act
        let (missing, missing_headers, _) = call(app, method, path, None, body.clone()).await;
        let (garbage, garbage_headers, garbage_body) =
            call(app, method, path, Some("not.a.jwt"), body.clone()).await;
        let (forged, _, _) = call(app, method, path, Some(&foreign), body.clone()).await;
        let (no_role, no_role_headers, no_role_body) =
            call(app, method, path, Some(&user_token), body.clone()).await;
        let (no_scope, _, _) = call(app, method, path, Some(&client_token), body.clone()).await;

        // Assert
        assert_eq!(missing, 401, "{method} {path} without a token");
        assert_eq!(missing_headers["www-authenticate"], "Bearer");
        assert_eq!(garbage, 401, "{method} {path} with garbage");
        assert_eq!(
            garbage_headers["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(garbage_body["error"], "invalid_token");
        assert_eq!(forged, 401, "{method} {path} with a forged token");
        assert_eq!(no_role, 403, "{method} {path} as a user without the role");
        assert_eq!(
            no_role_headers["www-authenticate"],
            "Bearer error=\"insufficient_scope\", scope=\"admin\""
        );
        assert_eq!(no_role_body["error"], "insufficient_scope");
        assert_eq!(
            no_scope, 403,
            "{method} {path} as a client without the scope"
        );
    }
    // Nothing was changed by any refused request.
    assert_eq!(app.keyring.current().keys().len(), 2, "no key rotation");
    let alice_now = app.store.find_user(alice.user_id).await.unwrap().unwrap();
    assert!(alice_now.roles.is_empty() && !alice_now.disabled);
    assert!(
        app.store
            .find_user_by_username("mallory")
            .await
            .unwrap()
            .is_none()
    );
}

pub(crate) async fn the_admin_scope_is_granted_only_to_users_holding_the_admin_role(app: &TestApp) {
    // Arrange
    fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    admin_user(app, "root").await;
    let console = admin_console(app).await;

    // Act
    let alice = access_token(app, &console, "alice", "openid admin").await;
    let root = access_token(app, &console, "root", "openid admin").await;
    let (status, _, _) = call(app, "GET", "/admin/users", Some(&root), None).await;

    // Assert
    assert_eq!(
        claims_of(&alice)["scope"],
        "openid",
        "the admin scope was withheld"
    );
    assert_eq!(claims_of(&root)["scope"], "admin openid");
    assert_eq!(status, 200);
}

pub(crate) async fn losing_the_role_or_the_token_takes_effect_at_once(app: &TestApp) {
    // Arrange
    let token = admin_token(app).await;
    let (before, _, _) = call(app, "GET", "/admin/clients", Some(&token), None).await;
    let second = {
        let console = admin_console(app).await;
        access_token(app, &console, "root", "openid admin").await
    };

    // Act: the role is taken away; then a token id is revoked.
    users::set_roles(app.store.as_ref(), "root", vec![], SystemClock.now())
        .await
        .unwrap();
    let (without_role, _, _) = call(app, "GET", "/admin/clients", Some(&token), None).await;
    let claims = claims_of(&second);
    app.store
        .revoke_token_id(
            claims["jti"].as_str().unwrap(),
            portcullis_core::Timestamp(claims["exp"].as_i64().unwrap()),
            SystemClock.now(),
        )
        .await
        .unwrap();
    let (revoked, _, _) = call(app, "GET", "/admin/clients", Some(&second), None).await;

    // Assert
    assert_eq!(before, 200);
    assert_eq!(without_role, 403, "the role is checked on every request");
    assert_eq!(revoked, 401, "a revoked token is not a token");
}

pub(crate) async fn an_operators_client_with_the_admin_scope_administers_by_client_credentials(
    app: &TestApp,
) {
    // Arrange
    let (client_id, status, body) = client_token(app, "admin", "admin").await;
    let token = body["access_token"].as_str().unwrap();

    // Act
    let (listed, _, clients) = call(app, "GET", "/admin/clients", Some(token), None).await;
    let (created, _, _) = call(
        app,
        "POST",
        "/admin/users",
        Some(token),
        Some(json!({"username": "made-by-automation", "password": "long enough password"})),
    )
    .await;
    let (_, asked_status, asked) = client_token(app, "api.read", "admin").await;

    // Assert
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed, 200);
    assert!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == client_id.as_str())
    );
    assert_eq!(created, 201);
    let event = &app.store.list_audit_events(1).await.unwrap()[0];
    assert_eq!(event.action, "user.create");
    assert_eq!(event.actor, format!("client:{client_id}"));
    assert_eq!(
        asked_status, 400,
        "a client the operator did not allow admin cannot ask for it"
    );
    assert_eq!(asked["error"], "invalid_scope");
}

pub(crate) async fn the_roles_claim_is_released_only_with_the_roles_scope(app: &TestApp) {
    // Arrange
    admin_user(app, "root").await;
    let console = admin_console(app).await;
    let browser = Browser::new(&app.base_url).unwrap();

    // Act
    let with = flows::sign_in_and_exchange(app, &browser, &console, "root", "openid roles")
        .await
        .unwrap();
    let without = flows::sign_in_and_exchange(app, &browser, &console, "root", "openid profile")
        .await
        .unwrap();
    let userinfo = |token: String| async move {
        let r = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    };
    let info_with = userinfo(with.access_token.clone()).await;
    let info_without = userinfo(without.access_token.clone()).await;

    // Assert
    assert_eq!(info_with["roles"], json!(["admin"]));
    assert!(info_without.get("roles").is_none());
    assert_eq!(
        claims_of(with.id_token.as_deref().unwrap())["roles"],
        json!(["admin"])
    );
    assert!(
        claims_of(without.id_token.as_deref().unwrap())
            .get("roles")
            .is_none()
    );
}
