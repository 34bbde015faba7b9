//! Back-channel logout (OpenID Back-Channel Logout 1.0) as a client sees it: a real
//! listener registered as the client's `backchannel_logout_uri` receives the logout token,
//! which verifies against the published JWKS with the right claims (and no `nonce`); a
//! client that never answers does not delay the user; a failing one is retried and the
//! outcome lands in the audit trail (read once the deliveries have settled, never polled);
//! "sign out everywhere" reaches every session.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::model::AuditEvent;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures::{self, TestClient};
use portcullis_e2e::flows::{POST_LOGOUT_URI, Tokens, register_logout, sign_in_and_exchange};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a test waits for a background delivery before failing (deliveries take
/// milliseconds; the bound only keeps a broken build from hanging).
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// How the listener answers.
#[derive(Clone)]
pub(crate) enum Script {
    /// These statuses in turn, the last one repeating.
    Statuses(Vec<u16>),
    /// Reads the request and never answers (the connection stays open).
    Never,
    /// Reads the request and answers 200 only once the notify is released.
    HoldUntil(Arc<tokio::sync::Notify>),
}

/// One request the listener got.
#[derive(Debug)]
pub(crate) struct Received {
    request_line: String,
    content_type: String,
    pub(crate) logout_token: String,
}

/// A client's back-channel logout endpoint on 127.0.0.1.
pub(crate) struct LogoutListener {
    uri: String,
    received: mpsc::UnboundedReceiver<Received>,
    task: JoinHandle<()>,
}

impl LogoutListener {
    pub(crate) async fn start(script: Script) -> LogoutListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!(
            "http://127.0.0.1:{}/backchannel-logout",
            listener.local_addr().unwrap().port()
        );
        let (tx, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut answered = 0_usize;
            let mut held = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let Some(request) = read_request(&mut stream).await else {
                    continue;
                };
                let _ = tx.send(request);
                match &script {
                    Script::Never => held.push(stream),
                    Script::HoldUntil(release) => {
                        let release = release.clone();
                        tokio::spawn(async move {
                            release.notified().await;
                            let response =
                                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                            let _ = stream.write_all(response.as_bytes()).await;
                            let _ = stream.shutdown().await;
                        });
                    }
                    Script::Statuses(statuses) => {
                        let status = statuses
                            .get(answered)
                            .or(statuses.last())
                            .copied()
                            .unwrap_or(200);
                        answered += 1;
                        let response = format!(
                            "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                }
            }
        });
        LogoutListener {
            uri,
            received,
            task,
        }
    }

    pub(crate) async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("the back-channel logout request never arrived")
            .unwrap()
    }
}

impl Drop for LogoutListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body) and its form body.
async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = &data[head_end..head_end + length];
    let logout_token = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    Some(Received {
        request_line: head.lines().next().unwrap_or_default().to_owned(),
        content_type: header("content-type"),
        logout_token,
    })
}

/// A user signed in to a client whose back-channel URI is `listener`.
pub(crate) async fn signed_in(
    app: &TestApp,
    username: &str,
    listener: &LogoutListener,
) -> (TestClient, Browser, Tokens) {
    fixtures::user(app.store.as_ref(), username).await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    register_logout(app.store.as_ref(), &client.id, Some(&listener.uri))
        .await
        .unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let tokens = sign_in_and_exchange(app, &browser, &client, username, "openid profile")
        .await
        .unwrap();
    (client, browser, tokens)
}

fn logout_with_hint(id_token: &str) -> String {
    url::form_urlencoded::Serializer::new(String::from("/logout?"))
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT_URI)
        .finish()
}

/// The ID token's claims, verified the way the client would (it has the JWKS).
pub(crate) async fn verify_with_jwks(
    app: &TestApp,
    token: &str,
    client_id: &str,
) -> (jsonwebtoken::Header, serde_json::Value) {
    let jwks: JwkSet = app.get("/jwks.json").await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[app.base_url.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap();
    (header, data.claims)
}

pub(crate) fn unverified_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The first audit event with `action` about `client_id`, once every background delivery
/// has recorded its outcome.
pub(crate) async fn audit_event(app: &TestApp, action: &str, client_id: &str) -> AuditEvent {
    tokio::time::timeout(WAIT, app.backchannel.settled())
        .await
        .expect("back-channel deliveries did not settle");
    let event = app
        .store
        .list_audit_events(100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == action && e.target.as_deref() == Some(client_id));
    assert!(event.is_some(), "no {action} audit event");
    event.unwrap()
}

pub(crate) async fn the_logout_token_verifies_and_names_the_ended_session(app: &TestApp) {
    // Arrange
    let mut listener = LogoutListener::start(Script::Statuses(vec![200])).await;
    let (client, browser, tokens) = signed_in(app, "alice", &listener).await;
    let id_token = tokens.id_token.unwrap();
    let id_claims = unverified_claims(&id_token);

    // Act
    let page = browser.get(&logout_with_hint(&id_token)).await.unwrap();
    let received = listener.next().await;

    // Assert: the request.
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(received.request_line, "POST /backchannel-logout HTTP/1.1");
    assert_eq!(received.content_type, "application/x-www-form-urlencoded");
    // Assert: the token, checked as the client checks it (§2.6).
    let (header, claims) = verify_with_jwks(app, &received.logout_token, &client.id).await;
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(claims["iss"], app.base_url);
    assert_eq!(claims["aud"], client.id);
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }));
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let now = SystemClock.now().unix();
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now - 60..=now).contains(&iat), "iat {iat}, now {now}");
    assert!(exp > iat && exp - iat <= 300, "a short-lived token");
    assert!(
        claims.get("nonce").is_none(),
        "§2.4: a logout token has no nonce"
    );
    let recorded = audit_event(app, "backchannel_logout.delivered", &client.id).await;
    assert_eq!(recorded.detail["attempts"], 1);
    assert_eq!(recorded.detail["status"], 200);
    let audit_text = serde_json::to_string(&recorded.detail).unwrap();
    assert!(!audit_text.contains(&received.logout_token));
}

pub(crate) async fn a_client_that_never_answers_does_not_delay_logout(app: &TestApp) {
    // Arrange
    let mut listener = LogoutListener::start(Script::Never).await;
    let (_, browser, tokens) = signed_in(app, "bob", &listener).await;

    // Act: the logout answers although the client has not answered (and never will).
    let page = browser
        .get(&logout_with_hint(tokens.id_token.as_deref().unwrap()))
        .await
        .unwrap();

    // Assert
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some(POST_LOGOUT_URI));
    // The delivery was really attempted, in the background, and is still unanswered.
    let received = listener.next().await;
    assert!(!received.logout_token.is_empty());
}

pub(crate) async fn a_delivery_is_under_way_until_its_outcome_is_recorded(app: &TestApp) {
    // Arrange: a client whose endpoint holds the logout token's request until released.
    let release = Arc::new(tokio::sync::Notify::new());
    let mut listener = LogoutListener::start(Script::HoldUntil(release.clone())).await;
    let (client, browser, tokens) = signed_in(app, "sam", &listener).await;
    let page = browser
        .get(&logout_with_hint(&tokens.id_token.unwrap()))
        .await
        .unwrap();
    assert_eq!(page.status, 303, "{}", page.body);
    listener.next().await;

    // Act + Assert: while the client has not answered, the delivery is under way (what
    // shutdown waits for) and nothing is recorded yet …
    assert!(
        app.backchannel.settled().now_or_never().is_none(),
        "a held delivery must count as under way"
    );
    let before = app.store.list_audit_events(100).await.unwrap();
    assert!(
        !before
            .iter()
            .any(|e| e.action.starts_with("backchannel_logout.")),
        "{before:?}"
    );
    // … and once it answers, settling means the outcome is on record.
    release.notify_one();
    let delivered = audit_event(app, "backchannel_logout.delivered", &client.id).await;
    assert_eq!(delivered.detail["status"], 200);
}

pub(crate) async fn a_failing_client_is_retried_and_the_outcome_recorded(app: &TestApp) {
    // Arrange: the client fails once with 503, then accepts.
    let mut listener = LogoutListener::start(Script::Statuses(vec![503, 200])).await;
    let (client, browser, tokens) = signed_in(app, "carol", &listener).await;

    // Act
    let page = browser
        .get(&logout_with_hint(tokens.id_token.as_deref().unwrap()))
        .await
        .unwrap();
    let first = listener.next().await;
    let retry = listener.next().await;

    // Assert
    assert_eq!(page.status, 303);
    assert!(!first.logout_token.is_empty());
    assert_eq!(
        first.logout_token, retry.logout_token,
        "a retry resends the same token"
    );
    let recorded = audit_event(app, "backchannel_logout.delivered", &client.id).await;
    assert_eq!(recorded.detail["attempts"], 2);
    assert_eq!(
        recorded.actor,
        format!(
            "user:{}",
            unverified_claims(&first.logout_token)["sub"]
                .as_str()
                .unwrap()
        )
    );
}

pub(crate) async fn sign_out_everywhere_notifies_every_session(app: &TestApp) {
    // Arrange: two browsers signed in to the same client.
    let mut listener = LogoutListener::start(Script::Statuses(vec![204])).await;
    let (client, first, first_tokens) = signed_in(app, "dave", &listener).await;
    let second = Browser::new(&app.base_url).unwrap();
    let second_tokens = sign_in_and_exchange(app, &second, &client, "dave", "openid")
        .await
        .unwrap();
    let account = first.get("/account").await.unwrap();
    let csrf = account.field("csrf_token").unwrap();

    // Act
    let page = first
        .post_form("/account/sessions/end-all", &[("csrf_token", &csrf)])
        .await
        .unwrap();
    let mut sids = vec![
        unverified_claims(&listener.next().await.logout_token)["sid"].clone(),
        unverified_claims(&listener.next().await.logout_token)["sid"].clone(),
    ];

    // Assert
    assert_eq!(page.status, 200, "{}", page.body);
    let mut expected = vec![
        unverified_claims(first_tokens.id_token.as_deref().unwrap())["sid"].clone(),
        unverified_claims(second_tokens.id_token.as_deref().unwrap())["sid"].clone(),
    ];
    let key = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    sids.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(sids, expected);
}
