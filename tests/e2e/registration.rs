//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592) over
//! HTTP: registration with the `openidconnect` crate's registration client and with raw
//! JSON, a full sign-in with the new client, every rejection rule with its RFC 7591 error
//! code, read/update/delete with the registration access token, the initial access token
//! policy, and the limits of the public endpoint.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientRegistrationRequest, CoreGrantType,
    CoreProviderMetadata,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AuthorizationCode, ClientName, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis_core::Clock as _;
use portcullis_core::ids::ClientId;
use portcullis_core::registration::{RegistrationMode, create_initial_access_token};
use portcullis_core::secret::SecretHash;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures::{self, PASSWORD, REDIRECT_URI, TestClient};
use portcullis_e2e::flows;
use serde_json::{Value, json};

/// POSTs `body` as JSON to `/register` of `app`, with an optional bearer token.
async fn register(app: &TestApp, body: &Value, bearer: Option<&str>) -> (u16, Value) {
    let mut request = app.http.post(app.url("/register")).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn minimal() -> Value {
    json!({ "redirect_uris": [REDIRECT_URI], "client_name": "Registered App" })
}

pub(crate) async fn relying_party_library_registers_a_client_that_then_signs_a_user_in(
    app: &TestApp,
) {
    // Arrange
    let alice = fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.base_url.clone()).unwrap(),
        &app.http,
    )
    .await
    .unwrap();
    let endpoint = metadata
        .registration_endpoint()
        .expect("discovery advertises the registration endpoint")
        .clone();

    // Act: register with the library's RFC 7591 client.
    let registered = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(REDIRECT_URI.into()).unwrap()],
        EmptyAdditionalClientMetadata::default(),
    )
    .set_client_name(Some(ClientName::new("Library App".into()).into()))
    .set_grant_types(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
    ]))
    .register_async(&endpoint, &app.http)
    .await
    .unwrap();

    // Act: sign in with the client the library just registered.
    let client = CoreClient::from_provider_metadata(
        metadata,
        registered.client_id().clone(),
        registered.client_secret().cloned(),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        // It registered the refresh_token grant without naming a scope: the scope it was
        // given must let it ask for what that grant needs (OIDC Core §11).
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(&app.base_url).unwrap();
    let redirect = browser
        .sign_in(url.as_str(), "alice", PASSWORD)
        .await
        .unwrap();
    let code = redirect.redirect_params().unwrap()["code"].clone();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap();
    let claims = token
        .id_token()
        .expect("an ID token")
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap()
        .clone();
    let refreshed = client
        .exchange_refresh_token(
            token
                .refresh_token()
                .expect("the refresh token the client registered for"),
        )
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();

    // Assert
    assert!(
        registered.client_secret().is_some(),
        "confidential by default"
    );
    assert!(
        registered
            .registration_access_token()
            .unwrap()
            .secret()
            .starts_with("prt_")
    );
    assert_eq!(
        registered.registration_client_uri().unwrap().as_str(),
        app.url(&format!("/register/{}", registered.client_id().as_str()))
    );
    assert_eq!(claims.subject().as_str(), alice.user_id.to_string());
    assert_eq!(
        claims.audiences()[0].as_str(),
        registered.client_id().as_str()
    );
    assert!(
        refreshed.refresh_token().is_some(),
        "the refresh token rotates"
    );
}

pub(crate) async fn raw_json_registration_returns_the_client_information_and_stores_only_hashes(
    app: &TestApp,
) {
    // Arrange
    fixtures::user(app.store.as_ref(), "bob").await.unwrap();
    let body = json!({
        "redirect_uris": [REDIRECT_URI, "http://127.0.0.1/cb"],
        "client_name": "Raw App",
        "client_uri": "https://app.example",
        "logo_uri": "https://app.example/logo.png",
        "policy_uri": "https://app.example/privacy",
        "tos_uri": "https://app.example/terms",
        "contacts": ["ops@app.example"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile offline_access",
        "token_endpoint_auth_method": "client_secret_post",
        "id_token_signed_response_alg": "ES256",
        "post_logout_redirect_uris": ["https://app.example/bye"],
        "application_type": "web",
        "unknown_member": "is ignored (RFC 7591 §2)"
    });

    // Act
    let response = app
        .http
        .post(app.url("/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let status = response.status().as_u16();
    let info: Value = response.json().await.unwrap();
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    let secret = info["client_secret"].as_str().unwrap().to_owned();
    let tokens = flows::sign_in_and_exchange(
        app,
        &Browser::new(&app.base_url).unwrap(),
        &TestClient {
            id: client_id.clone(),
            secret: Some(secret.clone()),
        },
        "bob",
        "openid profile",
    )
    .await
    .unwrap();

    // Assert: RFC 7591 §3.2.1 response, never cached.
    assert_eq!(status, 201, "{info}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(headers["content-type"], "application/json");
    for member in [
        "client_name",
        "client_uri",
        "logo_uri",
        "policy_uri",
        "tos_uri",
        "contacts",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
        "id_token_signed_response_alg",
        "post_logout_redirect_uris",
        "application_type",
    ] {
        assert_eq!(info[member], body[member], "{member} echoed");
    }
    assert_eq!(info["redirect_uris"], body["redirect_uris"]);
    assert_eq!(info["scope"], "offline_access openid profile");
    assert_eq!(info["client_secret_expires_at"], 0);
    assert!(info["client_id_issued_at"].as_i64().unwrap() > 0);
    assert!(info.get("unknown_member").is_none());
    let registration_token = info["registration_access_token"].as_str().unwrap();
    assert_eq!(
        info["registration_client_uri"],
        app.url(&format!("/register/{client_id}"))
    );
    let stored = app
        .store
        .find_client(&ClientId(client_id.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.secret_hash,
        Some(SecretHash::of(&secret)),
        "the secret is stored as its hash"
    );
    assert_eq!(
        stored.registration_token_hash,
        Some(SecretHash::of(registration_token)),
        "the registration access token is stored as its hash"
    );
    let header = jsonwebtoken::decode_header(tokens.id_token.as_deref().unwrap()).unwrap();
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::ES256,
        "the registered ID token algorithm is used"
    );
    let events = app.store.list_audit_events(10).await.unwrap();
    let event = events
        .iter()
        .find(|e| e.action == "registration.create")
        .expect("the registration is audited");
    assert_eq!(event.actor, "anonymous");
    assert_eq!(event.target.as_deref(), Some(client_id.as_str()));
    assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
    assert!(!event.detail.to_string().contains(&secret));
}

pub(crate) async fn every_rejection_rule_answers_its_rfc_7591_code_and_names_the_problem(
    app: &TestApp,
) {
    // Arrange: one request per rule, with the code and a phrase its description must hold.
    let cb = REDIRECT_URI;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
            "not loopback",
        ),
        (
            json!({"redirect_uris": ["https://*.app.example/cb"]}),
            "invalid_redirect_uri",
            "wildcard",
        ),
        (
            json!({"redirect_uris": ["/cb"]}),
            "invalid_redirect_uri",
            "absolute",
        ),
        (
            json!({"client_name": "No URIs"}),
            "invalid_redirect_uri",
            "at least one redirect URI",
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"]}),
            "invalid_redirect_uri",
            "web client",
        ),
        (
            json!({"redirect_uris": ["myapp:/cb"], "application_type": "native"}),
            "invalid_redirect_uri",
            "reverse domain",
        ),
        (
            json!({"redirect_uris": [cb], "application_type": "desktop"}),
            "invalid_client_metadata",
            "application_type",
        ),
        (
            json!({"redirect_uris": [cb], "grant_types": ["client_credentials"], "response_types": ["code"]}),
            "invalid_client_metadata",
            "response_types: the code response type needs the authorization_code grant",
        ),
        (
            json!({"redirect_uris": [cb], "response_types": []}),
            "invalid_client_metadata",
            "grant_types: the authorization_code grant needs the code response type",
        ),
        (
            json!({"redirect_uris": [cb], "response_types": ["code", "token"]}),
            "invalid_client_metadata",
            "only the code response type",
        ),
        (
            json!({"redirect_uris": [cb], "grant_types": ["authorization_code", "implicit"]}),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
            "public client",
        ),
        (
            json!({"redirect_uris": [cb], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
            "private_key_jwt needs",
        ),
        (
            json!({"redirect_uris": [cb], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            json!({"redirect_uris": [cb], "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": []}, "jwks_uri": "https://app.example/jwks"}),
            "invalid_client_metadata",
            "must not both be present",
        ),
        (
            json!({"redirect_uris": [cb], "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "invalid_client_metadata",
            "public keys only",
        ),
        (
            json!({"redirect_uris": [cb], "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "http://keys.example/jwks"}),
            "invalid_client_metadata",
            "jwks_uri",
        ),
        (
            json!({"redirect_uris": [cb], "scope": "openid admin"}),
            "invalid_client_metadata",
            "scope: asks for a scope",
        ),
        (
            json!({"redirect_uris": [cb], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
            "id_token_signed_response_alg",
        ),
        (
            json!({"redirect_uris": [cb], "logo_uri": "javascript:alert(1)"}),
            "invalid_client_metadata",
            "logo_uri",
        ),
        (
            json!({"redirect_uris": [cb], "contacts": ["not an email"]}),
            "invalid_client_metadata",
            "contacts",
        ),
        (
            json!({"redirect_uris": cb}),
            "invalid_client_metadata",
            "redirect_uris: must be an array of strings",
        ),
        (json!([1, 2]), "invalid_client_metadata", "body:"),
        (
            json!({"redirect_uris": [cb], "software_statement": "eyJhbGciOiJSUzI1NiJ9.e30.x"}),
            "invalid_software_statement",
            "software statements",
        ),
    ];

    for (body, code, phrase) in cases {
        // Act
        let response = app
            .http
            .post(app.url("/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let cache = response.headers()["cache-control"].clone();
        let error: Value = response.json().await.unwrap();

        // Assert
        assert_eq!(status, 400, "{body} → {error}");
        assert_eq!(cache, "no-store");
        assert_eq!(error["error"], code, "{body} → {error}");
        let description = error["error_description"].as_str().unwrap();
        assert!(
            description.contains(phrase),
            "{body}: {description:?} does not mention {phrase:?}"
        );
    }
    assert!(
        app.store.list_clients().await.unwrap().is_empty(),
        "no refused registration left a client behind"
    );
}

pub(crate) async fn rfc_7592_reads_updates_and_deletes_with_the_registration_access_token(
    app: &TestApp,
) {
    // Arrange
    let (_, info) = register(app, &minimal(), None).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    let secret = info["client_secret"].as_str().unwrap().to_owned();
    let token = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();

    // Act: read.
    let read = app.http.get(&uri).bearer_auth(&token).send().await.unwrap();
    let read_status = read.status().as_u16();
    let read: Value = read.json().await.unwrap();

    // Act: update (full replacement) naming the client and its secret.
    let update = json!({
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": ["https://app.example/new-cb"],
        "client_name": "Renamed App",
        "grant_types": ["authorization_code", "refresh_token"],
    });
    let updated = app
        .http
        .put(&uri)
        .bearer_auth(&token)
        .json(&update)
        .send()
        .await
        .unwrap();
    let updated_status = updated.status().as_u16();
    let updated: Value = updated.json().await.unwrap();
    let without_id = app
        .http
        .put(&uri)
        .bearer_auth(&token)
        .json(&json!({"redirect_uris": [REDIRECT_URI]}))
        .send()
        .await
        .unwrap();
    let without_id_status = without_id.status().as_u16();
    let without_id: Value = without_id.json().await.unwrap();
    let wrong_secret = app
        .http
        .put(&uri)
        .bearer_auth(&token)
        .json(&json!({"client_id": client_id, "client_secret": "pcs_wrong", "redirect_uris": [REDIRECT_URI]}))
        .send()
        .await
        .unwrap();
    let wrong_secret_status = wrong_secret.status().as_u16();
    let wrong_secret: Value = wrong_secret.json().await.unwrap();

    // Act: delete.
    let deleted = app
        .http
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let after = app.http.get(&uri).bearer_auth(&token).send().await.unwrap();

    // Assert
    assert_eq!(read_status, 200);
    assert_eq!(read["client_id"], client_id.as_str());
    assert_eq!(read["client_name"], "Registered App");
    assert_eq!(read["registration_access_token"], token.as_str());
    assert!(read.get("client_secret").is_none(), "only its hash is kept");
    assert_eq!(updated_status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Renamed App");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://app.example/new-cb"])
    );
    assert_eq!(
        updated["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert!(
        updated.get("client_secret").is_none(),
        "the secret is kept, not reissued"
    );
    let stored = app
        .store
        .find_client(&ClientId(client_id.clone()))
        .await
        .unwrap();
    assert_eq!(without_id_status, 400);
    assert_eq!(without_id["error"], "invalid_client_metadata");
    assert!(
        without_id["error_description"]
            .as_str()
            .unwrap()
            .starts_with("client_id:")
    );
    assert_eq!(wrong_secret_status, 400);
    assert!(
        wrong_secret["error_description"]
            .as_str()
            .unwrap()
            .starts_with("client_secret:")
    );
    assert_eq!(deleted.status(), 204);
    assert_eq!(after.status(), 401, "a deleted client's token is worthless");
    assert!(stored.is_none(), "the client is gone");
    let actions: Vec<String> = app
        .store
        .list_audit_events(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == format!("client:{client_id}"))
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["registration.delete", "registration.update"]);
}

pub(crate) async fn a_wrong_registration_access_token_is_401_and_reveals_nothing(app: &TestApp) {
    // Arrange: two dynamically registered clients and one created by the operator.
    let (_, a) = register(app, &minimal(), None).await;
    let (_, b) = register(app, &minimal(), None).await;
    let operator = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let a_uri = a["registration_client_uri"].as_str().unwrap();
    let b_token = b["registration_access_token"].as_str().unwrap();

    let attempts = [
        (a_uri.to_owned(), Some("prt_not-the-token")),
        (a_uri.to_owned(), Some(b_token)),
        (app.url("/register/no-such-client"), Some(b_token)),
        (
            app.url(&format!("/register/{}", operator.id)),
            Some(b_token),
        ),
        (a_uri.to_owned(), None),
    ];
    for (uri, token) in attempts {
        // Act
        let mut get = app.http.get(&uri);
        let mut delete = app.http.delete(&uri);
        if let Some(t) = token {
            get = get.bearer_auth(t);
            delete = delete.bearer_auth(t);
        }
        let read = get.send().await.unwrap();
        let removed = delete.send().await.unwrap();

        // Assert
        assert_eq!(read.status(), 401, "{uri} {token:?}");
        assert_eq!(removed.status(), 401, "{uri} {token:?}");
        let challenge = read.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        if token.is_some() {
            assert_eq!(challenge, "Bearer error=\"invalid_token\"");
        } else {
            assert_eq!(challenge, "Bearer");
        }
        let body: Value = read.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    for id in [&a["client_id"], &b["client_id"]] {
        let still_there = app
            .store
            .find_client(&ClientId(id.as_str().unwrap().to_owned()))
            .await
            .unwrap();
        assert!(still_there.is_some(), "nothing was deleted");
    }
}

pub(crate) async fn initial_access_tokens_gate_registration_in_token_mode(app: &TestApp) {
    // Arrange: a server whose registration needs an initial access token.
    let configured = "pia_configured-token-with-enough-random-text";
    let gated = TestApp::spawn_with(
        app.backend(),
        "registration::initial_access_token_policy",
        |c| {
            c.registration.mode = RegistrationMode::Token;
            c.registration.initial_access_tokens = vec![configured.to_owned().into()];
        },
    )
    .await
    .unwrap()
    .unwrap();
    let now = portcullis_core::SystemClock.now();
    let (_, from_cli) =
        create_initial_access_token(gated.store.as_ref(), Some("partner".into()), None, now)
            .await
            .unwrap();
    let (_, expired) = create_initial_access_token(
        gated.store.as_ref(),
        None,
        Some(now.minus(std::time::Duration::from_secs(1))),
        now.minus(std::time::Duration::from_secs(3600)),
    )
    .await
    .unwrap();

    // Act
    let missing = gated
        .http
        .post(gated.url("/register"))
        .json(&minimal())
        .send()
        .await
        .unwrap();
    let (wrong, wrong_body) = register(&gated, &minimal(), Some("pia_guess")).await;
    let (stale, _) = register(&gated, &minimal(), Some(expired.expose())).await;
    let (with_config, _) = register(&gated, &minimal(), Some(configured)).await;
    let (with_cli, _) = register(&gated, &minimal(), Some(from_cli.expose())).await;

    // Assert
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_eq!(wrong, 401);
    assert_eq!(wrong_body["error"], "invalid_token");
    assert_eq!(stale, 401, "an expired initial access token is refused");
    assert_eq!(with_config, 201, "a configured token registers");
    assert_eq!(with_cli, 201, "a token created with the CLI registers");
    let events = gated.store.list_audit_events(10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "registration.create" && e.actor == "initial_access_token")
            .count(),
        2
    );
    gated.stop().await.unwrap();
}

pub(crate) async fn registration_off_is_neither_served_nor_advertised(app: &TestApp) {
    // Arrange
    let off = TestApp::spawn_with(app.backend(), "registration::off", |c| {
        c.registration.mode = RegistrationMode::Off;
    })
    .await
    .unwrap()
    .unwrap();

    // Act
    let (status, _) = register(&off, &minimal(), None).await;
    let doc: Value = off
        .get("/.well-known/openid-configuration")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let on: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(status, 404);
    assert!(doc.get("registration_endpoint").is_none());
    assert_eq!(on["registration_endpoint"], app.url("/register"));
    off.stop().await.unwrap();
}

pub(crate) async fn registration_is_rate_limited_per_address_and_size_limited(app: &TestApp) {
    // Arrange: two requests at once, then one a minute.
    let limited = TestApp::spawn_with(app.backend(), "registration::limits", |c| {
        c.registration.rate_limit_burst = 2;
        c.registration.rate_limit_per_minute = 1;
        c.registration.max_body_bytes = 2048;
    })
    .await
    .unwrap()
    .unwrap();
    let oversized = json!({"redirect_uris": [REDIRECT_URI], "client_name": "x".repeat(4096)});

    // Act
    let (too_large, too_large_body) = register(&limited, &oversized, None).await;
    let (first, _) = register(&limited, &minimal(), None).await;
    let third = limited
        .http
        .post(limited.url("/register"))
        .json(&minimal())
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(too_large, 413);
    assert_eq!(too_large_body["error"], "invalid_request");
    assert_eq!(first, 201);
    assert_eq!(third.status(), 429, "the burst of two is spent");
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.store.list_clients().await.unwrap().len(), 1);
    limited.stop().await.unwrap();
}
