//! RP-initiated logout (OpenID RP-Initiated Logout 1.0) end to end: the end-session
//! endpoint with and without `id_token_hint`, the confirmation page and its CSRF checks,
//! `post_logout_redirect_uri` followed only when registered and proven, `state` returned,
//! and the session really gone afterwards (`prompt=none` is `login_required`).

use std::collections::HashMap;

use base64::Engine as _;
use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::model::SigningAlg;
use portcullis_core::secret::SecretHash;
use portcullis_core::tokens::{IdTokenClaims, mint_id_token};
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::{Browser, Page};
use portcullis_e2e::fixtures::{self, REDIRECT_URI, TestClient};
use portcullis_e2e::flows::{
    POST_LOGOUT_URI, Tokens, authorize_path, register_logout, sign_in_and_exchange,
};

/// A user signed in to a client that registered [`POST_LOGOUT_URI`].
struct SignedIn {
    client: TestClient,
    browser: Browser,
    tokens: Tokens,
    cookie: String,
}

async fn signed_in(app: &TestApp, username: &str, scope: &str) -> SignedIn {
    fixtures::user(app.store.as_ref(), username).await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    register_logout(app.store.as_ref(), &client.id, None)
        .await
        .unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let tokens = sign_in_and_exchange(app, &browser, &client, username, scope)
        .await
        .unwrap();
    let cookie = browser.cookie("portcullis_session").unwrap();
    SignedIn {
        client,
        browser,
        tokens,
        cookie,
    }
}

async fn session_is_live(app: &TestApp, cookie: &str) -> bool {
    app.store
        .find_live_session(&SecretHash::of(cookie), SystemClock.now())
        .await
        .unwrap()
        .is_some()
}

fn logout_path(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::from("/logout?"))
        .extend_pairs(pairs)
        .finish()
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

fn assert_signed_out_page(page: &Page) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.location.is_none());
    assert!(page.body.contains("You are signed out"), "{}", page.body);
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

/// The session cookie is deleted by the response.
fn assert_cookie_cleared(page: &Page) {
    let cleared = page
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("portcullis_session=;") && c.contains("Max-Age=0"));
    assert!(cleared, "no deleting Set-Cookie: {:?}", page.headers);
}

async fn prompt_none(app: &TestApp, s: &SignedIn) -> HashMap<String, String> {
    let page = s
        .browser
        .get(&format!(
            "{}&prompt=none",
            authorize_path(&s.client.id, "openid")
        ))
        .await
        .unwrap();
    assert_eq!(page.status, 303);
    assert!(page.location.as_deref().unwrap().starts_with(REDIRECT_URI));
    let _ = app;
    page.redirect_params().unwrap()
}

pub(crate) async fn a_hint_from_this_session_signs_out_at_once_and_returns_state(app: &TestApp) {
    // Arrange
    let s = signed_in(app, "alice", "openid profile").await;
    let id_token = s.tokens.id_token.clone().unwrap();
    assert_eq!(prompt_none(app, &s).await.get("error"), None);

    // Act
    let page = s
        .browser
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
            ("state", "bye 1"),
            ("ui_locales", "fr en"),
        ]))
        .await
        .unwrap();

    // Assert: back to the app with state, the cookie deleted, the session gone.
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some("https://app.example/signed-out?state=bye+1")
    );
    assert_cookie_cleared(&page);
    assert!(!session_is_live(app, &s.cookie).await);
    assert_eq!(s.browser.cookie("portcullis_session"), None);
    let after = prompt_none(app, &s).await;
    assert_eq!(after["error"], "login_required", "{after:?}");
    assert_eq!(after["state"], "st4te");
    // Back-Channel Logout §2.7: what was not granted for offline access ends with the
    // session, so the access token of this session no longer works.
    let userinfo = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&s.tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
}

pub(crate) async fn without_a_hint_the_user_confirms_on_a_csrf_protected_page(app: &TestApp) {
    // Arrange
    let s = signed_in(app, "bob", "openid").await;
    let path = logout_path(&[
        ("client_id", &s.client.id),
        ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ("state", "s2"),
    ]);

    // Act: the request alone does not sign out.
    let confirm = s.browser.get(&path).await.unwrap();

    // Assert
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("action=\"/logout/confirm\""));
    assert!(confirm.body.contains("Sign out of Portcullis?"));
    assert!(session_is_live(app, &s.cookie).await);
    // Confirming ends at the app's post-logout URI: the form policy allows its origin.
    let policy = confirm.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("; form-action 'self' https://app.example;"),
        "{policy}"
    );
    let csrf = confirm.field("csrf_token").unwrap();
    let request = confirm.field("request").unwrap();

    // Act: forged, cross-site and stolen confirmations.
    let forged = s
        .browser
        .post_form(
            "/logout/confirm",
            &[("csrf_token", "AAAA"), ("request", &request)],
        )
        .await
        .unwrap();
    let cross_site = s
        .browser
        .http
        .post(app.url("/logout/confirm"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", csrf.as_str()), ("request", request.as_str())])
        .send()
        .await
        .unwrap();
    let other = signed_in(app, "bob2", "openid").await;
    let stolen = other
        .browser
        .post_form(
            "/logout/confirm",
            &[("csrf_token", &csrf), ("request", &request)],
        )
        .await
        .unwrap();
    let tampered_request = request.replace("s2", "s3");
    let other_request = s
        .browser
        .post_form(
            "/logout/confirm",
            &[("csrf_token", &csrf), ("request", &tampered_request)],
        )
        .await
        .unwrap();

    // Assert: nothing was signed out.
    assert_eq!(forged.status, 403);
    assert_eq!(cross_site.status(), 403);
    assert_eq!(stolen.status, 403);
    assert_eq!(other_request.status, 403);
    assert!(session_is_live(app, &s.cookie).await);
    assert!(session_is_live(app, &other.cookie).await);

    // Act: the user confirms.
    let done = s
        .browser
        .post_form(
            "/logout/confirm",
            &[("csrf_token", &csrf), ("request", &request)],
        )
        .await
        .unwrap();

    // Assert: client_id identified the app, so its registered URI is followed.
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("https://app.example/signed-out?state=s2")
    );
    assert_cookie_cleared(&done);
    assert!(!session_is_live(app, &s.cookie).await);
    assert!(session_is_live(app, &other.cookie).await);
    assert_eq!(prompt_none(app, &s).await["error"], "login_required");
}

pub(crate) async fn unregistered_or_unproven_post_logout_redirect_uris_are_not_followed(
    app: &TestApp,
) {
    // Arrange
    let s = signed_in(app, "carol", "openid").await;
    let id_token = s.tokens.id_token.clone().unwrap();
    let mut forged = id_token.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");

    // Act: a forged hint, and a client_id that is not the hint's audience, each with the
    // registered URI: both need the user's confirmation and redirect nowhere.
    let forged_page = s
        .browser
        .get(&logout_path(&[
            ("id_token_hint", &forged),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ]))
        .await
        .unwrap();
    let mismatch = s
        .browser
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("client_id", "someone-else"),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ]))
        .await
        .unwrap();
    let confirmed = s
        .browser
        .post_form(
            "/logout/confirm",
            &[
                ("csrf_token", &mismatch.field("csrf_token").unwrap()),
                ("request", &mismatch.field("request").unwrap()),
            ],
        )
        .await
        .unwrap();

    // Assert
    for page in [&forged_page, &mismatch] {
        assert_eq!(page.status, 200);
        assert!(page.body.contains("action=\"/logout/confirm\""));
        assert!(page.body.contains("could not be verified"));
    }
    assert_signed_out_page(&confirmed);
    assert_cookie_cleared(&confirmed);

    // Arrange: signed in again; a valid hint with an unregistered URI.
    let again = sign_in_and_exchange(app, &s.browser, &s.client, "carol", "openid")
        .await
        .unwrap();

    // Act
    let unregistered = s
        .browser
        .get(&logout_path(&[
            ("id_token_hint", &again.id_token.unwrap()),
            ("post_logout_redirect_uri", "https://evil.example/"),
            ("state", "x"),
        ]))
        .await
        .unwrap();

    // Assert: signed out (the hint proves the request) but kept on our page.
    assert_signed_out_page(&unregistered);
    assert!(!unregistered.body.contains("evil.example"));
    assert_eq!(prompt_none(app, &s).await["error"], "login_required");
}

pub(crate) async fn an_expired_id_token_hint_still_proves_the_request(app: &TestApp) {
    // Arrange: the same claims as the real ID token, expired an hour ago, signed by the
    // server's own key as an old ID token would have been.
    let s = signed_in(app, "dave", "openid").await;
    let real = claims_of(s.tokens.id_token.as_deref().unwrap());
    let now = SystemClock.now().unix();
    let expired = IdTokenClaims {
        iss: real["iss"].as_str().unwrap().to_owned(),
        sub: real["sub"].as_str().unwrap().to_owned(),
        aud: s.client.id.clone(),
        azp: s.client.id.clone(),
        exp: now - 3600,
        iat: now - 7200,
        auth_time: now - 7200,
        nonce: None,
        at_hash: None,
        sid: real["sid"].as_str().map(str::to_owned),
        amr: vec![],
    };
    let keys = app.keyring.current();
    let hint = mint_id_token(&keys, SigningAlg::Rs256, &expired, SystemClock.now()).unwrap();

    // Act
    let page = s
        .browser
        .get(&logout_path(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ]))
        .await
        .unwrap();

    // Assert
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some(POST_LOGOUT_URI));
    assert!(!session_is_live(app, &s.cookie).await);
}

pub(crate) async fn a_hint_from_another_session_asks_first(app: &TestApp) {
    // Arrange: the same user in two browsers; the app holds the first one's ID token.
    let s = signed_in(app, "erin", "openid").await;
    let second = Browser::new(&app.base_url).unwrap();
    sign_in_and_exchange(app, &second, &s.client, "erin", "openid")
        .await
        .unwrap();
    let second_cookie = second.cookie("portcullis_session").unwrap();

    // Act
    let page = second
        .get(&logout_path(&[(
            "id_token_hint",
            s.tokens.id_token.as_deref().unwrap(),
        )]))
        .await
        .unwrap();

    // Assert: this browser's session is not the hint's, so the user is asked; the app is
    // named because the hint proves who sent the request.
    assert_eq!(page.status, 200);
    assert!(page.body.contains("action=\"/logout/confirm\""));
    assert!(
        page.body
            .contains("<strong>Example App</strong> asked to sign you out")
    );
    assert!(session_is_live(app, &second_cookie).await);
    assert!(session_is_live(app, &s.cookie).await);
}

pub(crate) async fn a_logout_post_without_the_session_cookie_continues_as_a_get(app: &TestApp) {
    // Arrange: an app's form posts from its own site, so SameSite=Lax keeps our cookie
    // away from the POST; with the cookie (same site) the POST is handled directly.
    let s = signed_in(app, "frank", "openid").await;
    let id_token = s.tokens.id_token.clone().unwrap();
    let cookieless = Browser::new(&app.base_url).unwrap();
    let form = [
        ("id_token_hint", id_token.as_str()),
        ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ("state", "p"),
    ];

    // Act
    let moved = cookieless.post_form("/logout", &form).await.unwrap();
    let direct = s.browser.post_form("/logout", &form).await.unwrap();

    // Assert
    assert_eq!(moved.status, 303);
    let location = moved.location.unwrap();
    assert!(location.starts_with("/logout?"), "{location}");
    assert!(location.contains("state=p") && location.contains("id_token_hint="));
    assert_eq!(direct.status, 303, "{}", direct.body);
    assert_eq!(
        direct.location.as_deref(),
        Some("https://app.example/signed-out?state=p")
    );
    assert!(!session_is_live(app, &s.cookie).await);
}
