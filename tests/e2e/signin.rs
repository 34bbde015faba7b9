//! "Sign in with Portcullis" end to end, with the `openidconnect` crate as the relying
//! party (discovery → authorize with PKCE and nonce → our login and consent forms →
//! code exchange → ID token verified by the library → userinfo), and every browser-side
//! rule of the authorization endpoint.

use std::collections::HashMap;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis_core::secret::SecretHash;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::{Browser, Page};
use portcullis_e2e::fixtures::{self, PASSWORD, REDIRECT_URI};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorize_path(client_id: &str, extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid%20profile&state=st4te&nonce=n0nce&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
    )
}

fn assert_page_headers(page: &Page) {
    let h = &page.headers;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
}

fn assert_error_redirect(page: &Page, error: &str, app: &TestApp) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap().starts_with(REDIRECT_URI));
    let p = page.redirect_params().unwrap();
    assert_eq!(p["error"], error, "{p:?}");
    assert_eq!(p["state"], "st4te");
    assert_eq!(p["iss"], app.base_url);
    assert!(!p.contains_key("code"));
}

/// Logs `username` in and approves, returning the browser (with its session) and params.
async fn signed_in(
    app: &TestApp,
    client_id: &str,
    username: &str,
) -> (Browser, HashMap<String, String>) {
    let browser = Browser::new(&app.base_url).unwrap();
    let redirect = browser
        .sign_in(&authorize_path(client_id, ""), username, PASSWORD)
        .await
        .unwrap();
    let params = redirect.redirect_params().unwrap();
    (browser, params)
}

pub(crate) async fn relying_party_library_completes_sign_in_and_reads_userinfo(app: &TestApp) {
    // Arrange
    let alice = fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    let registered = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.base_url.clone()).unwrap(),
        &app.http,
    )
    .await
    .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        Some(ClientSecret::new(registered.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(pkce_challenge)
        .url();
    let browser = Browser::new(&app.base_url).unwrap();

    // Act: the user's side, through our real pages.
    let login = browser.get(auth_url.as_str()).await.unwrap();
    assert_eq!(login.status, 200);
    assert!(login.body.contains("Example App"));
    assert_page_headers(&login);
    let logged_in = browser
        .submit_login(&login, "alice", PASSWORD)
        .await
        .unwrap();
    assert_eq!(logged_in.status, 303);
    let set_cookie = logged_in.headers["set-cookie"].to_str().unwrap().to_owned();
    let consent = browser
        .get(logged_in.location.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(consent.status, 200);
    assert_page_headers(&consent);
    assert!(
        consent.body.contains("Example App") && consent.body.contains("See your email address")
    );
    let redirect = browser.submit_consent(&consent, "allow").await.unwrap();
    let params = redirect.redirect_params().unwrap();

    // Act: the relying party's side, with the library.
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(pkce_verifier)
        .request_async(&app.http)
        .await
        .unwrap();
    let id_token = token.id_token().expect("an ID token for an openid request");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).unwrap().clone();
    let userinfo: CoreUserInfoClaims = client
        .user_info(token.access_token().clone(), None)
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();

    // Assert
    assert!(
        set_cookie.starts_with("portcullis_session=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax")
            && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    assert_eq!(&params["state"], state.secret());
    assert_eq!(params["iss"], app.base_url);
    assert!(params["code"].len() >= 43, "code carries at least 128 bits");
    assert_eq!(claims.subject().as_str(), alice.user_id.to_string());
    assert!(claims.auth_time().is_some());
    let expected_at_hash = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_at_hash));
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(
        userinfo.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(scopes.contains(&"email".to_owned()));
}

pub(crate) async fn prompt_none_without_a_session_is_login_required(app: &TestApp) {
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let page = Browser::new(&app.base_url)
        .unwrap()
        .get(&authorize_path(&c.id, "&prompt=none"))
        .await
        .unwrap();
    assert_error_redirect(&page, "login_required", app);
}

pub(crate) async fn prompt_none_without_consent_is_consent_required(app: &TestApp) {
    // Arrange: logged in, but only for another request's consent page.
    fixtures::user(app.store.as_ref(), "bob").await.unwrap();
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let login = browser.get(&authorize_path(&c.id, "")).await.unwrap();
    browser.submit_login(&login, "bob", PASSWORD).await.unwrap();

    // Act
    let page = browser
        .get(&authorize_path(&c.id, "&prompt=none"))
        .await
        .unwrap();

    // Assert
    assert_error_redirect(&page, "consent_required", app);
}

pub(crate) async fn denying_consent_redirects_access_denied(app: &TestApp) {
    fixtures::user(app.store.as_ref(), "carol").await.unwrap();
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let login = browser.get(&authorize_path(&c.id, "")).await.unwrap();
    let after = browser
        .submit_login(&login, "carol", PASSWORD)
        .await
        .unwrap();
    let consent = browser
        .get(after.location.as_deref().unwrap())
        .await
        .unwrap();

    let denied = browser.submit_consent(&consent, "deny").await.unwrap();

    assert_error_redirect(&denied, "access_denied", app);
}

pub(crate) async fn consent_is_remembered_and_new_scopes_ask_again(app: &TestApp) {
    // Arrange
    fixtures::user(app.store.as_ref(), "dave").await.unwrap();
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let (browser, first) = signed_in(app, &c.id, "dave").await;
    assert!(first.contains_key("code"));

    // Act: same request again; then a narrower one; then one with a new scope.
    let again = browser.get(&authorize_path(&c.id, "")).await.unwrap();
    let narrower = browser
        .get(&authorize_path(&c.id, "").replace("scope=openid%20profile", "scope=openid"))
        .await
        .unwrap();
    let wider = browser
        .get(
            &authorize_path(&c.id, "")
                .replace("scope=openid%20profile", "scope=openid%20profile%20email"),
        )
        .await
        .unwrap();
    let forced = browser
        .get(&authorize_path(&c.id, "&prompt=consent"))
        .await
        .unwrap();

    // Assert
    assert_eq!(again.status, 303, "remembered consent skips the page");
    assert!(again.redirect_params().unwrap().contains_key("code"));
    assert!(narrower.redirect_params().unwrap().contains_key("code"));
    assert_eq!(wider.status, 200);
    assert!(
        wider.body.contains("action=\"/consent\"") && wider.body.contains("See your email address")
    );
    assert_eq!(forced.status, 200);
    assert!(forced.body.contains("action=\"/consent\""));
}

pub(crate) async fn max_age_zero_and_prompt_login_force_a_fresh_login_and_rotate_the_session(
    app: &TestApp,
) {
    // Arrange
    fixtures::user(app.store.as_ref(), "erin").await.unwrap();
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let (browser, _) = signed_in(app, &c.id, "erin").await;
    let first_cookie = session_cookie(&browser, app);

    for extra in ["&max_age=0", "&prompt=login"] {
        // Act
        let page = browser.get(&authorize_path(&c.id, extra)).await.unwrap();
        assert_eq!(page.status, 200, "{extra}");
        assert!(
            page.body.contains("action=\"/login\""),
            "{extra}: shows the login page"
        );
        let after = browser.submit_login(&page, "erin", PASSWORD).await.unwrap();
        let done = browser
            .get(after.location.as_deref().unwrap())
            .await
            .unwrap();

        // Assert: the continuation does not loop back to the login page.
        assert_eq!(done.status, 303, "{extra}: {}", done.body);
        assert!(done.redirect_params().unwrap().contains_key("code"));
    }
    let now = portcullis_core::Clock::now(&portcullis_core::SystemClock);
    let old = app
        .store
        .find_live_session(&SecretHash::of(&first_cookie), now)
        .await
        .unwrap();
    assert!(
        old.is_none(),
        "the session id is rotated at login and the old one ended"
    );
    assert_ne!(session_cookie(&browser, app), first_cookie);
}

fn session_cookie(browser: &Browser, _app: &TestApp) -> String {
    browser
        .cookie("portcullis_session")
        .expect("a session cookie")
}

pub(crate) async fn plain_oauth_without_openid_gets_no_id_token(app: &TestApp) {
    // Arrange
    fixtures::user(app.store.as_ref(), "frank").await.unwrap();
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let path = authorize_path(&c.id, "").replace("scope=openid%20profile", "scope=profile");
    let redirect = browser.sign_in(&path, "frank", PASSWORD).await.unwrap();
    let code = redirect.redirect_params().unwrap()["code"].clone();

    // Act
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body.get("id_token").is_none(), "{body}");
    assert_eq!(body["scope"], "profile");
    assert_eq!(body["token_type"], "Bearer");
}

pub(crate) async fn wrong_or_missing_csrf_tokens_are_refused(app: &TestApp) {
    // Arrange
    fixtures::user(app.store.as_ref(), "grace").await.unwrap();
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let login = browser.get(&authorize_path(&c.id, "")).await.unwrap();
    let request = login.field("request").unwrap();

    // Act
    let missing = browser
        .post_form(
            "/login",
            &[
                ("request", &request),
                ("username", "grace"),
                ("password", PASSWORD),
            ],
        )
        .await
        .unwrap();
    let wrong = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", "AAAA"),
                ("request", &request),
                ("username", "grace"),
                ("password", PASSWORD),
            ],
        )
        .await
        .unwrap();
    let other_browser = Browser::new(&app.base_url).unwrap();
    let stolen = other_browser
        .submit_login(&login, "grace", PASSWORD)
        .await
        .unwrap();
    let after = browser
        .submit_login(&login, "grace", PASSWORD)
        .await
        .unwrap();
    let consent = browser
        .get(after.location.as_deref().unwrap())
        .await
        .unwrap();
    let request = consent.field("request").unwrap();
    let bad_consent = browser
        .post_form(
            "/consent",
            &[
                ("csrf_token", "AAAA"),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await
        .unwrap();
    let cross_site = browser
        .http
        .post(app.url("/consent"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("csrf_token", consent.field("csrf_token").unwrap().as_str()),
            ("request", request.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(
        missing.status, 400,
        "a form without its token is incomplete"
    );
    assert_eq!(wrong.status, 403);
    assert_eq!(
        stolen.status, 403,
        "a token is bound to the browser that got it"
    );
    assert_eq!(after.status, 303);
    assert_eq!(bad_consent.status, 403);
    assert_eq!(cross_site.status(), 403);
    assert!(
        missing.location.is_none() && wrong.location.is_none() && bad_consent.location.is_none()
    );
}

pub(crate) async fn failed_logins_say_the_same_thing_for_every_reason(app: &TestApp) {
    // Arrange
    let henry = fixtures::user(app.store.as_ref(), "henry").await.unwrap();
    fixtures::user(app.store.as_ref(), "ivy").await.unwrap();
    let now = portcullis_core::Clock::now(&portcullis_core::SystemClock);
    app.store
        .set_user_disabled(henry.user_id, true, now)
        .await
        .unwrap();
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let login = browser.get(&authorize_path(&c.id, "")).await.unwrap();

    // Act
    let disabled = browser
        .submit_login(&login, "henry", PASSWORD)
        .await
        .unwrap();
    let unknown = browser
        .submit_login(&login, "nobody", PASSWORD)
        .await
        .unwrap();
    let wrong = browser
        .submit_login(&login, "ivy", "not the password")
        .await
        .unwrap();

    // Assert
    for page in [&disabled, &unknown, &wrong] {
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Incorrect username or password."));
        assert!(page.location.is_none());
        assert!(
            page.body.contains("action=\"/login\""),
            "the form is shown again"
        );
    }
    assert!(!disabled.body.contains("disabled"));
}

pub(crate) async fn request_rules_after_the_redirect_uri_is_proven(app: &TestApp) {
    // Arrange
    let confidential = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let public = fixtures::client(app.store.as_ref(), true).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let base = authorize_path(&confidential.id, "");

    // Act + Assert
    let plain = browser
        .get(&base.replace("code_challenge_method=S256", "code_challenge_method=plain"))
        .await
        .unwrap();
    assert_error_redirect(&plain, "invalid_request", app);
    let no_pkce = browser
        .get(&format!("/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid&state=st4te", public.id))
        .await
        .unwrap();
    assert_error_redirect(&no_pkce, "invalid_request", app);
    let too_much = browser
        .get(&base.replace("scope=openid%20profile", "scope=openid%20admin"))
        .await
        .unwrap();
    assert_error_redirect(&too_much, "invalid_scope", app);
    let no_scope = browser
        .get(&base.replace("scope=openid%20profile", "scope="))
        .await
        .unwrap();
    assert_error_redirect(&no_scope, "invalid_scope", app);
    let bad_prompt = browser
        .get(&format!("{base}&prompt=none%20login"))
        .await
        .unwrap();
    assert_error_redirect(&bad_prompt, "invalid_request", app);
    let bad_max_age = browser.get(&format!("{base}&max_age=-1")).await.unwrap();
    assert_error_redirect(&bad_max_age, "invalid_request", app);
    let request_object = browser.get(&format!("{base}&request=eyJ")).await.unwrap();
    assert_error_redirect(&request_object, "request_not_supported", app);
    // Without PKCE a confidential client may still proceed (PKCE is accepted, not required).
    let login = browser
        .get(&format!("/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid&state=st4te", confidential.id))
        .await
        .unwrap();
    assert_eq!(login.status, 200);
}

pub(crate) async fn login_hint_prefills_the_username(app: &TestApp) {
    let c = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let page = Browser::new(&app.base_url)
        .unwrap()
        .get(&authorize_path(
            &c.id,
            "&login_hint=someone%40example.com&ui_locales=fr",
        ))
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.field("username").as_deref(),
        Some("someone@example.com")
    );
    assert!(
        page.body.contains("autocomplete=\"current-password\"")
            && page.body.contains("<label for=\"password\">")
    );
}
