//! `id_token_hint` at the authorization endpoint (OIDC Core §3.1.2.1): with `prompt=none`,
//! a hint naming another user than the browser's is `login_required`; a hint we did not
//! sign is `invalid_request`; an expired hint we signed is still a hint.

use std::collections::HashMap;

use base64::Engine as _;
use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::model::SigningAlg;
use portcullis_core::tokens::{IdTokenClaims, mint_id_token};
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures::{self, TestClient};
use portcullis_e2e::flows::{Tokens, authorize_path, sign_in_and_exchange};

async fn signed_in(app: &TestApp, client: &TestClient, username: &str) -> (Browser, Tokens) {
    fixtures::user(app.store.as_ref(), username).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let tokens = sign_in_and_exchange(app, &browser, client, username, "openid")
        .await
        .unwrap();
    (browser, tokens)
}

/// The redirect parameters of an authorization request with this hint.
async fn authorize_with(
    browser: &Browser,
    client: &TestClient,
    hint: &str,
    prompt_none: bool,
) -> HashMap<String, String> {
    let mut path = authorize_path(&client.id, "openid");
    path.push_str("&id_token_hint=");
    path.push_str(&url::form_urlencoded::byte_serialize(hint.as_bytes()).collect::<String>());
    if prompt_none {
        path.push_str("&prompt=none");
    }
    let page = browser.get(&path).await.unwrap();
    assert_eq!(page.status, 303, "{}", page.body);
    page.redirect_params().unwrap()
}

fn claims_of(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub(crate) async fn prompt_none_with_a_hint_for_another_user_is_login_required(app: &TestApp) {
    // Arrange: two users of one app, each signed in in their own browser.
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let (hana, hana_tokens) = signed_in(app, &client, "hana").await;
    let (_, ivan_tokens) = signed_in(app, &client, "ivan").await;
    let hana_hint = hana_tokens.id_token.unwrap();
    let ivan_hint = ivan_tokens.id_token.unwrap();

    // Act
    let own = authorize_with(&hana, &client, &hana_hint, true).await;
    let other = authorize_with(&hana, &client, &ivan_hint, true).await;
    let other_with_ui = authorize_with(&hana, &client, &ivan_hint, false).await;

    // Assert: her own hint gets a code; another user's is login_required; with UI allowed
    // the hint is only a hint, and the user signed in here is answered.
    assert!(own.contains_key("code"), "{own:?}");
    assert_eq!(other["error"], "login_required", "{other:?}");
    assert!(!other.contains_key("code"));
    assert!(other_with_ui.contains_key("code"), "{other_with_ui:?}");
}

pub(crate) async fn a_hint_we_did_not_sign_is_invalid_request_and_an_expired_one_is_a_hint(
    app: &TestApp,
) {
    // Arrange: a tampered signature, an access token (signed by us, but not an ID token),
    // garbage, and the user's own ID token re-minted as expired an hour ago.
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let (browser, tokens) = signed_in(app, &client, "jun").await;
    let id_token = tokens.id_token.unwrap();
    let mut tampered = id_token.clone();
    tampered.truncate(tampered.len() - 4);
    tampered.push_str("AAAA");
    let real = claims_of(&id_token);
    let now = SystemClock.now().unix();
    let expired = mint_id_token(
        &app.keyring.current(),
        SigningAlg::Rs256,
        &IdTokenClaims {
            iss: real["iss"].as_str().unwrap().to_owned(),
            sub: real["sub"].as_str().unwrap().to_owned(),
            aud: client.id.clone(),
            azp: client.id.clone(),
            exp: now - 3600,
            iat: now - 7200,
            auth_time: now - 7200,
            nonce: None,
            at_hash: None,
            sid: real["sid"].as_str().map(str::to_owned),
            amr: vec![],
        },
        SystemClock.now(),
    )
    .unwrap();

    // Act and Assert
    for bad in [tampered.as_str(), &tokens.access_token, "not-a-jwt"] {
        for prompt_none in [true, false] {
            let answer = authorize_with(&browser, &client, bad, prompt_none).await;
            assert_eq!(answer["error"], "invalid_request", "{answer:?}");
            assert_eq!(answer["state"], "st4te");
            assert!(!answer.contains_key("code"));
        }
    }
    let answer = authorize_with(&browser, &client, &expired, true).await;
    assert!(answer.contains_key("code"), "{answer:?}");
}
