//! Response headers of our pages beyond the basics `signin` checks: forms post only to us
//! (CSP `form-action 'self'`), except that a form whose success redirects to the app allows
//! exactly that app's origin (Chrome enforces `form-action` on every redirect hop, so the
//! redirect would otherwise be blocked); and HSTS (RFC 6797) for https issuers only.

use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::{Browser, Page};
use portcullis_e2e::db::Backend;
use portcullis_e2e::fixtures::{self, PASSWORD};
use portcullis_e2e::flows::authorize_path;
use url::Url;

/// The sources of the page's `form-action` directive.
fn form_action(page: &Page) -> Vec<String> {
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    let directive = policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action "));
    assert!(directive.is_some(), "no form-action in {policy}");
    directive
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

/// The origin of a redirect's target, as a CSP source writes it.
fn origin_of(location: &str) -> String {
    Url::parse(location).unwrap().origin().ascii_serialization()
}

pub(crate) async fn forms_post_to_us_and_only_to_the_app_they_end_at(app: &TestApp) {
    // Arrange
    fixtures::user(app.store.as_ref(), "kim").await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();

    // Act: an error page, the account page's login, then login and consent for the app.
    let error = browser.get("/authorize?client_id=nobody").await.unwrap();
    let account = browser.get("/account").await.unwrap();
    let login = browser
        .get(&authorize_path(&client.id, "openid"))
        .await
        .unwrap();
    let after_login = browser.submit_login(&login, "kim", PASSWORD).await.unwrap();
    let consent = browser
        .get(after_login.location.as_deref().unwrap())
        .await
        .unwrap();
    let done = browser.submit_consent(&consent, "allow").await.unwrap();

    // Assert: forms of pages that stay with us post to us only.
    assert_eq!(form_action(&error), ["'self'"]);
    assert_eq!(form_action(&account), ["'self'"]);
    // Login and consent end at the app, whose origin, and only it, is allowed too.
    assert_eq!(form_action(&login), ["'self'", "https://app.example"]);
    assert_eq!(form_action(&consent), ["'self'", "https://app.example"]);
    assert_eq!(done.status, 303);
    let landed = origin_of(done.location.as_deref().unwrap());
    assert!(form_action(&consent).contains(&landed), "{landed}");
    let policy = consent.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("frame-ancestors 'none'") && policy.contains("default-src 'none'"),
        "{policy}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_for_an_https_issuer_and_not_for_plain_http() {
    // Arrange: one server whose issuer is https (TLS ending at a proxy in front of it),
    // one on the plain-http loopback development issuer.
    let https = TestApp::spawn_with(Backend::Sqlite, "page_policy::hsts", |config| {
        config.issuer = "https://id.example".into();
    })
    .await
    .unwrap()
    .unwrap();
    let http = TestApp::spawn(Backend::Sqlite, "page_policy::no_hsts")
        .await
        .unwrap()
        .unwrap();

    // Act
    let over_https = https
        .get("/.well-known/openid-configuration")
        .await
        .unwrap();
    let page_over_https = https.get("/authorize").await.unwrap();
    let over_http = http.get("/.well-known/openid-configuration").await.unwrap();

    // Assert
    assert_eq!(
        over_https.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(
        page_over_https.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert!(
        over_http
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    https.stop().await.unwrap();
    http.stop().await.unwrap();
}
