//! The account page end to end: its own login, the profile, revoking an app (its refresh
//! token then fails with `invalid_grant` and its access token at `/userinfo`), signing out
//! one session or all of them, changing the password (other sessions end), and the CSRF
//! and origin checks every account form carries.

use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::ids::ClientId;
use portcullis_core::model::User;
use portcullis_core::secret::SecretHash;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::{Browser, Page};
use portcullis_e2e::fixtures::{self, PASSWORD};
use portcullis_e2e::flows::{authorize_path, sign_in_and_exchange};

/// Signs `username` in through the account page's own login form.
async fn account_login(app: &TestApp, username: &str, password: &str) -> (Browser, Page) {
    let browser = Browser::new(&app.base_url).unwrap();
    let login = browser.get("/account").await.unwrap();
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("action=\"/account/login\""),
        "{}",
        login.body
    );
    let after = browser
        .post_form(
            "/account/login",
            &[
                ("csrf_token", &login.field("csrf_token").unwrap()),
                ("username", username),
                ("password", password),
            ],
        )
        .await
        .unwrap();
    (browser, after)
}

async fn signed_in(app: &TestApp, username: &str) -> Browser {
    let (browser, after) = account_login(app, username, PASSWORD).await;
    assert_eq!(after.status, 303, "{}", after.body);
    assert_eq!(after.location.as_deref(), Some("/account"));
    browser
}

async fn live_sessions(app: &TestApp, user: &User) -> usize {
    app.store
        .list_live_sessions(user.user_id, SystemClock.now())
        .await
        .unwrap()
        .len()
}

async fn is_live(app: &TestApp, browser: &Browser) -> bool {
    let Some(cookie) = browser.cookie("portcullis_session") else {
        return false;
    };
    app.store
        .find_live_session(&SecretHash::of(&cookie), SystemClock.now())
        .await
        .unwrap()
        .is_some()
}

pub(crate) async fn the_account_page_has_its_own_login_and_shows_the_profile(app: &TestApp) {
    // Arrange
    fixtures::user(app.store.as_ref(), "alice").await.unwrap();

    // Act
    let (_, wrong) = account_login(app, "alice", "not the password").await;
    let browser = signed_in(app, "alice").await;
    let page = browser.get("/account").await.unwrap();

    // Assert
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Incorrect username or password."));
    assert_eq!(page.status, 200, "{}", page.body);
    for text in [
        "Your account",
        "alice",
        "alice Example",
        "alice@example.com",
        "No app has access to your account.",
        "This browser",
        "Sign out everywhere",
        "Change password",
    ] {
        assert!(page.body.contains(text), "the page lacks {text:?}");
    }
    let h = &page.headers;
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(!page.body.contains("<script") && !page.body.contains("style="));
}

pub(crate) async fn revoking_an_app_kills_its_refresh_and_access_tokens(app: &TestApp) {
    // Arrange: signed in to the app with offline access, tokens that work.
    let bob = fixtures::user(app.store.as_ref(), "bob").await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let tokens = sign_in_and_exchange(app, &browser, &client, "bob", "openid email offline_access")
        .await
        .unwrap();
    let refresh_token = tokens.refresh_token.clone().unwrap();
    let userinfo = |token: String| {
        let http = app.http.clone();
        let url = app.url("/userinfo");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(userinfo(tokens.access_token.clone()).await, 200);
    let page = browser.get("/account").await.unwrap();
    assert!(page.body.contains("Example App"));
    assert!(page.body.contains("See your email address"));
    assert!(
        page.body
            .contains("Stay connected when you are not using it")
    );
    assert!(
        page.body
            .contains(&format!("name=\"client_id\" value=\"{}\"", client.id))
    );

    // Act
    let revoked = browser
        .post_form(
            "/account/apps/revoke",
            &[
                ("csrf_token", &page.field("csrf_token").unwrap()),
                ("client_id", &client.id),
            ],
        )
        .await
        .unwrap();
    let refresh = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(revoked.status, 303);
    assert_eq!(
        revoked.location.as_deref(),
        Some("/account?done=app-revoked")
    );
    assert_eq!(refresh.status(), 400);
    let body: serde_json::Value = refresh.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(userinfo(tokens.access_token.clone()).await, 401);
    let consent = app
        .store
        .find_consent(bob.user_id, &ClientId(client.id.clone()))
        .await
        .unwrap();
    assert!(consent.is_none());
    let after = browser.get("/account?done=app-revoked").await.unwrap();
    assert!(after.body.contains("Access revoked."));
    assert!(after.body.contains("No app has access to your account."));
    assert!(
        is_live(app, &browser).await,
        "revoking an app is not a sign-out"
    );
    let again = browser
        .get(&authorize_path(&client.id, "openid"))
        .await
        .unwrap();
    assert_eq!(again.status, 200);
    assert!(
        again.body.contains("action=\"/consent\""),
        "the app must ask again"
    );
}

pub(crate) async fn sign_out_everywhere_ends_every_session(app: &TestApp) {
    // Arrange
    let carol = fixtures::user(app.store.as_ref(), "carol").await.unwrap();
    let first = signed_in(app, "carol").await;
    let second = signed_in(app, "carol").await;
    let third = signed_in(app, "carol").await;
    assert_eq!(live_sessions(app, &carol).await, 3);
    let page = first.get("/account").await.unwrap();
    assert_eq!(
        page.body
            .matches("action=\"/account/sessions/end\"")
            .count(),
        3
    );

    // Act
    let done = first
        .post_form(
            "/account/sessions/end-all",
            &[("csrf_token", &page.field("csrf_token").unwrap())],
        )
        .await
        .unwrap();

    // Assert
    assert_eq!(done.status, 200);
    assert!(done.body.contains("You are signed out"));
    assert_eq!(live_sessions(app, &carol).await, 0);
    for browser in [&first, &second, &third] {
        let page = browser.get("/account").await.unwrap();
        assert!(page.body.contains("action=\"/account/login\""));
    }
}

pub(crate) async fn signing_out_another_session_keeps_this_one(app: &TestApp) {
    // Arrange
    let dave = fixtures::user(app.store.as_ref(), "dave").await.unwrap();
    fixtures::user(app.store.as_ref(), "mallory").await.unwrap();
    let here = signed_in(app, "dave").await;
    let there = signed_in(app, "dave").await;
    let mallory = signed_in(app, "mallory").await;
    let sessions = app
        .store
        .list_live_sessions(dave.user_id, SystemClock.now())
        .await
        .unwrap();
    let there_hash = SecretHash::of(&there.cookie("portcullis_session").unwrap());
    let there_id = sessions
        .iter()
        .find(|s| s.secret_hash == there_hash)
        .unwrap()
        .session_id
        .to_string();
    let page = here.get("/account").await.unwrap();
    let csrf = page.field("csrf_token").unwrap();
    let mallory_page = mallory.get("/account").await.unwrap();

    // Act: mallory names dave's session with her own valid token; dave ends it himself.
    let foreign = mallory
        .post_form(
            "/account/sessions/end",
            &[
                ("csrf_token", &mallory_page.field("csrf_token").unwrap()),
                ("session_id", &there_id),
            ],
        )
        .await
        .unwrap();
    let still_there = is_live(app, &there).await;
    let ended = here
        .post_form(
            "/account/sessions/end",
            &[("csrf_token", &csrf), ("session_id", &there_id)],
        )
        .await
        .unwrap();

    // Assert
    assert_eq!(foreign.status, 303);
    assert!(still_there, "another account's session cannot be ended");
    assert_eq!(ended.status, 303);
    assert_eq!(
        ended.location.as_deref(),
        Some("/account?done=session-ended")
    );
    assert!(is_live(app, &here).await);
    assert!(!is_live(app, &there).await);
    assert!(is_live(app, &mallory).await);
}

pub(crate) async fn changing_the_password_ends_the_other_sessions(app: &TestApp) {
    // Arrange
    let erin = fixtures::user(app.store.as_ref(), "erin").await.unwrap();
    let here = signed_in(app, "erin").await;
    let there = signed_in(app, "erin").await;
    let page = here.get("/account").await.unwrap();
    let csrf = page.field("csrf_token").unwrap();
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let csrf = csrf.clone();
        let here = &here;
        async move {
            here.post_form(
                "/account/password",
                &[
                    ("csrf_token", &csrf),
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", again),
                ],
            )
            .await
            .unwrap()
        }
    };

    // Act + Assert: refusals change nothing.
    let wrong = change("wrong password", "a new passphrase", "a new passphrase").await;
    let mismatch = change(PASSWORD, "a new passphrase", "another one").await;
    let short = change(PASSWORD, "short", "short").await;
    for (page, message) in [
        (&wrong, "Your current password is not correct."),
        (&mismatch, "The new passwords do not match."),
        (&short, "The new password must be at least 8 characters."),
    ] {
        assert_eq!(page.status, 400);
        assert!(page.body.contains(message), "{message}");
    }
    assert_eq!(live_sessions(app, &erin).await, 2);

    // Act
    let done = change(PASSWORD, "a new passphrase", "a new passphrase").await;

    // Assert
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/account?done=password-changed")
    );
    assert!(is_live(app, &here).await);
    assert!(!is_live(app, &there).await);
    let (_, old) = account_login(app, "erin", PASSWORD).await;
    assert_eq!(old.status, 401);
    let (_, new) = account_login(app, "erin", "a new passphrase").await;
    assert_eq!(new.status, 303);
}

pub(crate) async fn account_forms_refuse_forged_and_cross_site_posts(app: &TestApp) {
    // Arrange
    let frank = fixtures::user(app.store.as_ref(), "frank").await.unwrap();
    let browser = signed_in(app, "frank").await;
    let other = signed_in(app, "frank").await;
    let csrf = browser
        .get("/account")
        .await
        .unwrap()
        .field("csrf_token")
        .unwrap();

    // Act
    let forged = browser
        .post_form("/account/sessions/end-all", &[("csrf_token", "AAAA")])
        .await
        .unwrap();
    let stolen = other
        .post_form("/account/sessions/end-all", &[("csrf_token", &csrf)])
        .await
        .unwrap();
    let cross_site = browser
        .http
        .post(app.url("/account/sessions/end-all"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let anonymous = Browser::new(&app.base_url)
        .unwrap()
        .post_form("/account/sessions/end-all", &[("csrf_token", &csrf)])
        .await
        .unwrap();
    let missing = browser
        .post_form("/account/sessions/end-all", &[])
        .await
        .unwrap();

    // Assert
    assert_eq!(forged.status, 403);
    assert_eq!(stolen.status, 403, "a token is bound to its session");
    assert_eq!(cross_site.status(), 403);
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.location.as_deref(), Some("/account"));
    assert_eq!(missing.status, 400);
    assert_eq!(live_sessions(app, &frank).await, 2);
}
