//! `private_key_jwt` client authentication (RFC 7523) end to end: clients registered with
//! `jwks` (RS256, ES256 and EdDSA keys) or a `jwks_uri` sign assertions with jsonwebtoken
//! and authenticate at `/token`, `/revoke` and `/introspect`; wrong keys, expired or
//! replayed assertions and wrong audiences are refused with `invalid_client`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::keyring::{KeyEncryptionKey, KeySet, generate_signing_key};
use portcullis_core::model::SigningAlg;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures::{self, REDIRECT_URI};
use portcullis_e2e::flows;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A signing key of the client's: what it signs with and the public JWK it registers.
struct ClientKey {
    alg: Algorithm,
    kid: String,
    signer: Signer,
    jwk: Value,
}

/// What signs a client's assertions: a key made by the server's keyring code (it signs
/// with its parsed key), or a jsonwebtoken key for algorithms the keyring does not make.
enum Signer {
    Keyring(Box<portcullis_core::keyring::SigningKey>),
    Jsonwebtoken(EncodingKey),
}

/// An RS256 or ES256 key, generated with aws-lc-rs through the server's own keyring code.
async fn keyring_key(alg: SigningAlg) -> ClientKey {
    let kek = KeyEncryptionKey::generate().unwrap().0;
    let now = SystemClock.now();
    let record = generate_signing_key(alg, &kek, now, now).await.unwrap();
    let set = KeySet::from_records(&[record], &kek, now).unwrap();
    let key = set.keys()[0].clone();
    ClientKey {
        alg: match alg {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Es256 => Algorithm::ES256,
        },
        kid: key.kid.clone(),
        signer: Signer::Keyring(Box::new(key.clone())),
        jwk: serde_json::to_value(&key.jwk).unwrap(),
    }
}

/// An Ed25519 key generated with aws-lc-rs.
fn ed25519_key(kid: &str) -> ClientKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    ClientKey {
        alg: Algorithm::EdDSA,
        kid: kid.to_owned(),
        signer: Signer::Jsonwebtoken(EncodingKey::from_ed_der(pkcs8.as_ref())),
        jwk: json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        }),
    }
}

/// Claims of an assertion of `client_id` for `aud`, expiring `exp_in` seconds from now.
fn claims(client_id: &str, aud: &str, exp_in: i64, jti: &str) -> Value {
    let now = SystemClock.now().unix();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + exp_in, "jti": jti})
}

fn sign(key: &ClientKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = kid.map(str::to_owned);
    match &key.signer {
        Signer::Keyring(ours) => ours.sign_jwt(&header, claims).unwrap(),
        Signer::Jsonwebtoken(encoding) => jsonwebtoken::encode(&header, claims, encoding).unwrap(),
    }
}

/// Registers a private_key_jwt client for both grants, with `keys` inline or `jwks_uri`.
async fn register(app: &TestApp, keys: Option<&[&ClientKey]>, jwks_uri: Option<&str>) -> String {
    let mut body = json!({
        "client_name": "Signed App",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
    });
    if let Some(keys) = keys {
        body["jwks"] = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    }
    if let Some(uri) = jwks_uri {
        body["jwks_uri"] = json!(uri);
    }
    let response = app
        .http
        .post(app.url("/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let info: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{info}");
    assert!(
        info.get("client_secret").is_none(),
        "no secret for private_key_jwt"
    );
    info["client_id"].as_str().unwrap().to_owned()
}

/// `POST path` with `form` plus the assertion; status and JSON body.
async fn post(app: &TestApp, path: &str, form: &[(&str, &str)], assertion: &str) -> (u16, Value) {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    fields.push(("client_assertion_type", JWT_BEARER));
    fields.push(("client_assertion", assertion));
    let response = app
        .http
        .post(app.url(path))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn client_credentials(app: &TestApp, assertion: &str) -> (u16, Value) {
    post(
        app,
        "/token",
        &[("grant_type", "client_credentials")],
        assertion,
    )
    .await
}

fn jti() -> String {
    let mut b = [0u8; 16];
    portcullis_core::secret::fill_random(&mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

pub(crate) async fn private_key_jwt_authenticates_with_rs256_es256_and_eddsa_keys_everywhere(
    app: &TestApp,
) {
    // Arrange
    let rsa = keyring_key(SigningAlg::Rs256).await;
    let ec = keyring_key(SigningAlg::Es256).await;
    let ed = ed25519_key("ed-1");
    let client_id = register(app, Some(&[&rsa, &ec, &ed]), None).await;
    let token_endpoint = app.url("/token");
    fixtures::user(app.store.as_ref(), "alice").await.unwrap();

    // Act: client_credentials with each key, audience the issuer or the token endpoint.
    let mut issued = Vec::new();
    for (key, aud) in [
        (&rsa, &app.base_url),
        (&ec, &token_endpoint),
        (&ed, &app.base_url),
    ] {
        let assertion = sign(key, Some(&key.kid), &claims(&client_id, aud, 60, &jti()));
        issued.push((key.alg, client_credentials(app, &assertion).await));
    }
    // Act: a code exchange authenticated by an assertion.
    let redirect = Browser::new(&app.base_url)
        .unwrap()
        .sign_in(
            &flows::authorize_path(&client_id, "openid"),
            "alice",
            fixtures::PASSWORD,
        )
        .await
        .unwrap();
    let code = redirect.redirect_params().unwrap()["code"].clone();
    let assertion = sign(
        &ec,
        Some(&ec.kid),
        &claims(&client_id, &token_endpoint, 60, &jti()),
    );
    let (exchanged, tokens) = post(
        app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", flows::VERIFIER),
        ],
        &assertion,
    )
    .await;
    // Act: introspection and revocation authenticated the same way.
    let access_token = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let assertion = sign(
        &ed,
        Some(&ed.kid),
        &claims(&client_id, &app.base_url, 60, &jti()),
    );
    let (introspected, introspection) =
        post(app, "/introspect", &[("token", &access_token)], &assertion).await;
    let assertion = sign(&rsa, None, &claims(&client_id, &app.base_url, 60, &jti()));
    let (revoked, _) = post(app, "/revoke", &[("token", &access_token)], &assertion).await;

    // Assert
    for (alg, (status, body)) in &issued {
        assert_eq!(*status, 200, "{alg:?}: {body}");
        assert_eq!(body["token_type"], "Bearer");
    }
    assert_eq!(exchanged, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());
    assert_eq!(introspected, 200);
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], client_id.as_str());
    assert_eq!(
        revoked, 200,
        "a key without kid in the header is found by algorithm"
    );
}

pub(crate) async fn assertions_with_a_wrong_key_expiry_audience_issuer_or_jti_are_refused(
    app: &TestApp,
) {
    // Arrange
    let ec = keyring_key(SigningAlg::Es256).await;
    let stranger = keyring_key(SigningAlg::Es256).await;
    let rsa = keyring_key(SigningAlg::Rs256).await;
    let client_id = register(app, Some(&[&ec]), None).await;
    let secret_client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let aud = app.base_url.clone();
    let good = |jti: &str| sign(&ec, Some(&ec.kid), &claims(&client_id, &aud, 60, jti));
    let mut other_issuer = claims(&client_id, &aud, 60, &jti());
    other_issuer["iss"] = json!("someone-else");
    let mut no_jti = claims(&client_id, &aud, 60, "x");
    no_jti.as_object_mut().unwrap().remove("jti");
    // draft-ietf-oauth-rfc7523bis §4: our issuer must be the only audience.
    let mut shared_audience = claims(&client_id, &aud, 60, &jti());
    shared_audience["aud"] = json!([aud, "https://other.example"]);
    let mut endpoint_in_array = claims(&client_id, &aud, 60, &jti());
    endpoint_in_array["aud"] = json!([format!("{aud}/token")]);
    let mut end_of_time = claims(&client_id, &aud, 60, &jti());
    end_of_time["exp"] = json!(i64::MAX);
    let mut never_valid = claims(&client_id, &aud, 60, &jti());
    never_valid["nbf"] = json!(i64::MAX);

    let refused: Vec<(&str, String)> = vec![
        (
            "a key the client never registered, under its kid",
            sign(
                &stranger,
                Some(&ec.kid),
                &claims(&client_id, &aud, 60, &jti()),
            ),
        ),
        (
            "a key the client never registered, without kid",
            sign(&stranger, None, &claims(&client_id, &aud, 60, &jti())),
        ),
        (
            "another algorithm than the key's",
            sign(&rsa, Some(&ec.kid), &claims(&client_id, &aud, 60, &jti())),
        ),
        (
            "expired",
            sign(&ec, Some(&ec.kid), &claims(&client_id, &aud, -120, &jti())),
        ),
        (
            "expiring too far ahead",
            sign(&ec, Some(&ec.kid), &claims(&client_id, &aud, 3600, &jti())),
        ),
        (
            "for another audience",
            sign(
                &ec,
                Some(&ec.kid),
                &claims(&client_id, "https://other.example", 60, &jti()),
            ),
        ),
        (
            "from another issuer",
            sign(&ec, Some(&ec.kid), &other_issuer),
        ),
        ("without jti", sign(&ec, Some(&ec.kid), &no_jti)),
        (
            "for us and another audience",
            sign(&ec, Some(&ec.kid), &shared_audience),
        ),
        (
            "for our token endpoint, in an array",
            sign(&ec, Some(&ec.kid), &endpoint_in_array),
        ),
        (
            "expiring at the end of time",
            sign(&ec, Some(&ec.kid), &end_of_time),
        ),
        (
            "valid only from the end of time",
            sign(&ec, Some(&ec.kid), &never_valid),
        ),
        (
            "of a client that registered a secret",
            sign(
                &ec,
                Some(&ec.kid),
                &claims(&secret_client.id, &aud, 60, &jti()),
            ),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];

    // Act + Assert: each refusal.
    for (what, assertion) in refused {
        let (status, body) = client_credentials(app, &assertion).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
    }

    // Act: a replay of a good assertion.
    let once = good("only-once");
    let (first, _) = client_credentials(app, &once).await;
    let (replayed, replay_body) = client_credentials(app, &once).await;
    // Act: an assertion together with a secret, and an unknown assertion type.
    let both = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", "pcs_x"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &good(&jti())),
        ])
        .send()
        .await
        .unwrap();
    let wrong_type = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &good(&jti())),
        ])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(first, 200);
    assert_eq!(replayed, 401, "a jti is single use");
    assert_eq!(replay_body["error"], "invalid_client");
    assert_eq!(both.status(), 400, "one authentication method per request");
    assert_eq!(wrong_type.status(), 400);
    let wrong_type: Value = wrong_type.json().await.unwrap();
    assert_eq!(wrong_type["error"], "invalid_request");
}

/// A one-route HTTP server for a client's `jwks_uri`, counting fetches.
struct JwksServer {
    url: String,
    body: Arc<std::sync::Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

async fn jwks_server(body: String) -> JwksServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let body = Arc::new(std::sync::Mutex::new(body));
    let hits = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (body.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let body = served.lock().unwrap().clone();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    JwksServer { url, body, hits }
}

pub(crate) async fn jwks_uri_keys_are_fetched_once_cached_and_bounded(app: &TestApp) {
    // Arrange
    let key = keyring_key(SigningAlg::Es256).await;
    let rolled = keyring_key(SigningAlg::Es256).await;
    let server = jwks_server(json!({ "keys": [key.jwk] }).to_string()).await;
    let client_id = register(app, None, Some(&server.url)).await;
    let oversized = jwks_server(format!(
        "{{\"keys\": [], \"pad\": \"{}\"}}",
        "x".repeat(70_000)
    ))
    .await;
    let big_client = register(app, None, Some(&oversized.url)).await;
    let unreachable_client = register(app, None, Some("http://127.0.0.1:9/jwks.json")).await;
    let assert_with =
        |k: &ClientKey, id: &str| sign(k, Some(&k.kid), &claims(id, &app.base_url, 60, &jti()));

    // Act
    let (first, _) = client_credentials(app, &assert_with(&key, &client_id)).await;
    let (second, _) = client_credentials(app, &assert_with(&key, &client_id)).await;
    let hits_after_two = server.hits.load(Ordering::SeqCst);
    // The client rolls its key over right after our fetch: a refetch is rate-limited, so
    // the new key is not trusted until the cache may refresh.
    *server.body.lock().unwrap() = json!({ "keys": [rolled.jwk] }).to_string();
    let (too_soon, _) = client_credentials(app, &assert_with(&rolled, &client_id)).await;
    let (too_big, _) = client_credentials(app, &assert_with(&key, &big_client)).await;
    let (down, _) = client_credentials(app, &assert_with(&key, &unreachable_client)).await;

    // Assert
    assert_eq!(first, 200);
    assert_eq!(second, 200);
    assert_eq!(hits_after_two, 1, "the key set was fetched once and cached");
    assert_eq!(too_soon, 401);
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "no refetch within the minimum interval"
    );
    assert_eq!(too_big, 401, "a key set over the size limit is not used");
    assert_eq!(
        down, 401,
        "an unreachable jwks_uri fails authentication, not the server"
    );
}

pub(crate) async fn discovery_advertises_private_key_jwt_and_its_algorithms(app: &TestApp) {
    // Act
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert
    for member in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(
            doc[member]
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{member}"
        );
    }
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
}
