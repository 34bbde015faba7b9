//! The account page in a real browser: headless Chromium driven by `playwright-core`
//! through `tests/browser/account.mjs`, against the real server. The user signs in to an
//! app (login, consent, landing on a loopback redirect target), opens the account page,
//! signs in on two more "devices", revokes the app, declines an unverifiable logout
//! request on the confirmation page and signs out everywhere; the store
//! then shows the consent gone, the grant revoked and no session left.
//!
//! Same prerequisites and SKIPPED rule as `browser_ui`; screenshots land in
//! `target/browser-screenshots/` (account-desktop.png, account-mobile.png,
//! account-dark.png, account-revoked-desktop.png, logout-confirm.png, signed-out.png).

use std::path::Path;
use std::process::Stdio;

use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::ids::ClientId;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::db::Backend;
use portcullis_e2e::fixtures::{self, PASSWORD};
use portcullis_e2e::flows::CHALLENGE;
use url::Url;

use crate::browser_ui::{
    BROWSER_TIMEOUT, RedirectTarget, SKIPPED, browser_dir, chromium, missing_prerequisites,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_browser_revokes_an_app_and_signs_out_everywhere() {
    let missing = missing_prerequisites();
    if !missing.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the real-browser test cannot run under CI=true: {}",
            missing.join("; ")
        );
        eprintln!("{SKIPPED} ({})", missing.join("; "));
        return;
    }

    // Arrange
    let app = TestApp::spawn(
        Backend::Sqlite,
        "sqlite::real_browser_revokes_an_app_and_signs_out_everywhere",
    )
    .await
    .unwrap()
    .unwrap();
    let alice = fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let target = RedirectTarget::start().await;
    let mut authorize_url = Url::parse(&app.url("/authorize")).unwrap();
    authorize_url
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &target.redirect_uri)
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("state", "account-st4te")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let screenshots = workspace.join("target/browser-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    // Act
    let mut node = tokio::process::Command::new("node");
    node.arg(browser_dir().join("account.mjs"))
        .current_dir(browser_dir())
        .env("ACCOUNT_AUTHORIZE_URL", authorize_url.as_str())
        .env("ACCOUNT_USERNAME", "alice")
        .env("ACCOUNT_PASSWORD", PASSWORD)
        .env("ACCOUNT_SCREENSHOT_DIR", &screenshots)
        .env("ACCOUNT_REDIRECT_PREFIX", &target.redirect_uri)
        .env("PORTCULLIS_CHROMIUM", chromium())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(BROWSER_TIMEOUT, node.output())
        .await
        .unwrap_or_else(|_| panic!("account.mjs did not finish within {BROWSER_TIMEOUT:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "account.mjs failed ({}):\n{stderr}\nstdout:\n{stdout}",
        output.status
    );
    eprintln!("screenshots in {}", screenshots.display());
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let result: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("account.mjs printed no JSON ({e}): {stdout}"));

    // Assert: what the browser saw …
    assert_eq!(result["sessions_before"], 3, "{result}");
    assert_eq!(result["app_listed"], true, "{result}");
    assert_eq!(result["revoked"], true, "{result}");
    assert_eq!(result["others_signed_out"], true, "{result}");
    // … is what the store holds.
    let consent = app
        .store
        .find_consent(alice.user_id, &ClientId(client.id.clone()))
        .await
        .unwrap();
    assert!(consent.is_none(), "the consent is forgotten");
    let grants = app.store.list_active_grants(alice.user_id).await.unwrap();
    assert!(grants.is_empty(), "the app's grant is revoked: {grants:?}");
    let sessions = app
        .store
        .list_live_sessions(alice.user_id, SystemClock.now())
        .await
        .unwrap();
    assert!(sessions.is_empty(), "signed out everywhere: {sessions:?}");
    app.stop().await.unwrap();
}
