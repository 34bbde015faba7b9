//! Login and consent in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `playwright-core` through `tests/browser/signin.mjs`, against the real server, landing on
//! a real loopback redirect target; then the code it got is exchanged at `/token`.
//!
//! Needs `/usr/bin/chromium` (or `PORTCULLIS_CHROMIUM`), `node` and `npm ci` in
//! `tests/browser`. Without them the test prints `SKIPPED:` on stderr and passes, except in
//! CI (`CI=true`), where it fails. Screenshots land in `target/browser-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_e2e::app::TestApp;
use portcullis_e2e::db::Backend;
use portcullis_e2e::fixtures::{self, PASSWORD};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const STATE: &str = "br0wser-st4te";
pub(crate) const SKIPPED: &str =
    "SKIPPED: real-browser test needs chromium, node and npm ci in tests/browser";
/// An upper bound for the whole browser run (it takes seconds), so a hung browser fails
/// the test instead of hanging it.
pub(crate) const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

/// `tests/browser`.
pub(crate) fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

pub(crate) fn chromium() -> PathBuf {
    std::env::var_os("PORTCULLIS_CHROMIUM")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What of chromium, node and `tests/browser/node_modules` is missing.
pub(crate) fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    let chromium = chromium();
    if !chromium.is_file() {
        missing.push(format!(
            "no Chromium at {} (apt-get install chromium, or set PORTCULLIS_CHROMIUM)",
            chromium.display()
        ));
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("no `node` on PATH".to_owned());
    }
    let playwright = browser_dir().join("node_modules/playwright-core/package.json");
    if !playwright.is_file() {
        missing.push(format!(
            "no {} (run `npm ci` in tests/browser)",
            playwright.display()
        ));
    }
    missing
}

/// The client's redirect target: answers every request with a small "signed in" page and
/// closes the connection, recording each request line.
pub(crate) struct RedirectTarget {
    /// `http://127.0.0.1:<port>/cb`.
    pub(crate) redirect_uri: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl RedirectTarget {
    pub(crate) async fn start() -> RedirectTarget {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    // Read the request head before answering, so closing does not reset
                    // the connection under unread bytes.
                    let mut head = Vec::new();
                    let mut buf = [0_u8; 2048];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    seen.lock()
                        .unwrap()
                        .push(head.lines().next().unwrap_or_default().to_owned());
                    let body = "<!doctype html><html lang=\"en\"><title>Signed in</title><p>signed in</p></html>";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        RedirectTarget {
            redirect_uri: format!("http://127.0.0.1:{port}/cb"),
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for RedirectTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_browser_signs_in_and_lands_on_the_client_with_a_code() {
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
        "sqlite::real_browser_signs_in_and_lands_on_the_client_with_a_code",
    )
    .await
    .unwrap()
    .unwrap();
    fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let target = RedirectTarget::start().await;
    let mut authorize_url = Url::parse(&app.url("/authorize")).unwrap();
    authorize_url
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &target.redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", STATE)
        .append_pair("nonce", "br0wser-n0nce")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let screenshots = workspace.join("target/browser-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    // Act: the browser's side.
    let started = Instant::now();
    let mut node = tokio::process::Command::new("node");
    node.arg(browser_dir().join("signin.mjs"))
        .current_dir(browser_dir())
        .env("SIGNIN_AUTHORIZE_URL", authorize_url.as_str())
        .env("SIGNIN_USERNAME", "alice")
        .env("SIGNIN_PASSWORD", PASSWORD)
        .env("SIGNIN_SCREENSHOT_DIR", &screenshots)
        .env("SIGNIN_REDIRECT_PREFIX", &target.redirect_uri)
        .env("PORTCULLIS_CHROMIUM", chromium())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(BROWSER_TIMEOUT, node.output())
        .await
        .unwrap_or_else(|_| panic!("signin.mjs did not finish within {BROWSER_TIMEOUT:?}"))
        .unwrap();
    let browser_took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "signin.mjs failed ({}):\n{stderr}\nstdout:\n{stdout}",
        output.status
    );
    eprintln!(
        "browser run took {browser_took:?}; screenshots in {}",
        screenshots.display()
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let result: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("signin.mjs printed no JSON ({e}): {stdout}"));
    let final_url = result["final_url"].as_str().unwrap().to_owned();

    // Act: the client's side.
    let landed = Url::parse(&final_url).unwrap();
    let params: std::collections::HashMap<String, String> =
        landed.query_pairs().into_owned().collect();
    let code = params.get("code").cloned().unwrap_or_default();
    let token = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", target.redirect_uri.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let token_status = token.status().as_u16();
    let token_body = token.text().await.unwrap();

    // Assert
    assert!(
        final_url.starts_with(&format!("{}?", target.redirect_uri)),
        "{final_url}"
    );
    assert!(code.len() >= 43, "a code of at least 128 bits: {final_url}");
    assert_eq!(
        params.get("state").map(String::as_str),
        Some(STATE),
        "{final_url}"
    );
    assert_eq!(params.get("iss"), Some(&app.base_url), "{final_url}");
    assert!(!params.contains_key("error"), "{final_url}");
    let landings = target.requests();
    assert!(
        landings
            .iter()
            .any(|r| r.starts_with("GET /cb?") && r.contains(&format!("code={code}"))),
        "the browser really landed on the redirect target: {landings:?}"
    );
    assert_eq!(token_status, 200, "POST /token: {token_body}");
    let token: serde_json::Value = serde_json::from_str(&token_body).unwrap();
    assert!(
        token["id_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{token}"
    );
    assert_eq!(token["token_type"], "Bearer");
    app.stop().await.unwrap();
}
