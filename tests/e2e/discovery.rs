//! Discovery and JWKS as a relying party sees them: fetched with the `openidconnect`
//! crate's own discovery client (which checks the issuer exactly and parses the JWKS), on
//! both backends.

use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey};
use portcullis_core::model::SigningAlg;
use portcullis_e2e::app::TestApp;

pub(crate) async fn relying_party_library_discovers_the_issuer_and_its_keys(app: &TestApp) {
    // Arrange
    let issuer = IssuerUrl::new(app.base_url.clone()).unwrap();

    // Act
    let metadata = CoreProviderMetadata::discover_async(issuer, &app.http)
        .await
        .unwrap();

    // Assert: the library already compared the issuer byte for byte; check what it parsed.
    assert_eq!(metadata.issuer().as_str(), app.base_url);
    assert_eq!(
        metadata.authorization_endpoint().as_str(),
        app.url("/authorize")
    );
    assert_eq!(metadata.jwks_uri().as_str(), app.url("/jwks.json"));
    let algs: Vec<_> = metadata.id_token_signing_alg_values_supported().to_vec();
    assert_eq!(algs[0], CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    let keys = metadata.jwks().keys();
    assert_eq!(keys.len(), 2, "one RS256 and one ES256 key");
    for key in keys {
        assert!(key.key_id().is_some(), "every key has a kid");
    }
}

pub(crate) async fn published_keys_verify_what_the_server_signs(app: &TestApp) {
    // Arrange: sign a token with the server's own active keys, as token issuance will.
    let keys = app.keyring.current();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.base_url.clone()).unwrap(),
        &app.http,
    )
    .await
    .unwrap();

    for (alg, jws_alg) in [
        (
            SigningAlg::Rs256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ),
        (SigningAlg::Es256, CoreJwsSigningAlgorithm::EcdsaP256Sha256),
    ] {
        let signer = keys
            .signing_key(alg, portcullis_core::Timestamp(i64::MAX / 2))
            .unwrap();
        let header = {
            let mut h = jsonwebtoken::Header::new(match alg {
                SigningAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
                SigningAlg::Es256 => jsonwebtoken::Algorithm::ES256,
            });
            h.kid = Some(signer.kid.clone());
            h
        };
        let token = signer
            .sign_jwt(&header, &serde_json::json!({"sub": "x"}))
            .unwrap();
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();

        // Act: find the key by kid in the JWKS the relying party fetched, verify with it.
        let published: &CoreJsonWebKey = metadata
            .jwks()
            .keys()
            .iter()
            .find(|k| k.key_id().map(|id| id.as_str()) == Some(signer.kid.as_str()))
            .expect("signing key is published");
        let verified = published.verify_signature(&jws_alg, signing_input.as_bytes(), &signature);

        // Assert
        assert!(
            verified.is_ok(),
            "{alg:?} signature does not verify with the published key: {verified:?}"
        );
    }
}

pub(crate) async fn jwks_is_public_only_cacheable_and_cors_open(app: &TestApp) {
    // Act
    let response = app.get("/jwks.json").await.unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let jwks: serde_json::Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "RS256"]);
    for key in keys {
        for member in ["kid", "kty", "alg", "use"] {
            assert!(key.get(member).is_some(), "JWK lacks {member}: {key}");
        }
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(
                key.get(private).is_none(),
                "JWK publishes private member {private}"
            );
        }
        if key["kty"] == "RSA" {
            let n = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                key["n"].as_str().unwrap(),
            )
            .unwrap();
            assert!(n.len() >= 256, "RSA modulus must be at least 2048 bits");
        }
    }
}

pub(crate) async fn both_metadata_documents_are_identical_and_cacheable(app: &TestApp) {
    // Act
    let oidc = app.get("/.well-known/openid-configuration").await.unwrap();
    let oauth = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .unwrap();

    // Assert
    assert_eq!(oidc.headers()["access-control-allow-origin"], "*");
    assert_eq!(oidc.headers()["content-type"], "application/json");
    assert_eq!(oauth.headers()["cache-control"], "public, max-age=300");
    let oidc: serde_json::Value = oidc.json().await.unwrap();
    let oauth: serde_json::Value = oauth.json().await.unwrap();
    assert_eq!(oidc, oauth);
    insta::assert_json_snapshot!("discovery_document", oidc, {
        ".issuer" => "[issuer]",
        ".authorization_endpoint" => "[issuer]/authorize",
        ".jwks_uri" => "[issuer]/jwks.json",
        ".token_endpoint" => "[issuer]/token",
        ".userinfo_endpoint" => "[issuer]/userinfo",
        ".registration_endpoint" => "[issuer]/register",
        ".end_session_endpoint" => "[issuer]/logout",
        ".revocation_endpoint" => "[issuer]/revoke",
        ".introspection_endpoint" => "[issuer]/introspect",
    });
}

pub(crate) async fn advertised_endpoints_exist_and_unbuilt_ones_are_not_advertised(app: &TestApp) {
    // Arrange
    let doc: serde_json::Value = app
        .get("/.well-known/openid-configuration")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert: every advertised endpoint answers something other than 404 …
    for member in [
        "authorization_endpoint",
        "jwks_uri",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "registration_endpoint",
        "end_session_endpoint",
    ] {
        if let Some(url) = doc[member].as_str() {
            let status = app.http.get(url).send().await.unwrap().status();
            assert_ne!(status, 404, "{member} {url} is advertised but not served");
        }
    }
    // … and endpoints this build does not serve are not advertised.
    for path in ["/token", "/userinfo", "/revoke", "/introspect", "/register"] {
        if app.get(path).await.unwrap().status() == 404 {
            let advertised = doc
                .as_object()
                .unwrap()
                .values()
                .any(|v| v.as_str() == Some(&app.url(path)));
            assert!(!advertised, "{path} is advertised but answers 404");
        }
    }
}
