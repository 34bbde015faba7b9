//! The login throttle, end to end: the real server on a `ManualClock` (delays are stepped
//! over, never slept through), clients told apart by the loopback address they connect
//! from (127.0.0.2, 127.0.0.3, …) or, behind a trusted proxy, by `X-Forwarded-For`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::reqwest::header::{HeaderMap, HeaderValue};
use portcullis_core::clock::ManualClock;
use portcullis_core::{Clock as _, SystemClock};
use portcullis_e2e::app::TestApp;
use portcullis_e2e::bin::{run_portcullis, stderr};
use portcullis_e2e::browser::{Browser, Page};
use portcullis_e2e::db::Backend;
use portcullis_e2e::fixtures::{self, PASSWORD, TestClient};
use portcullis_e2e::flows::authorize_path;
use portcullis_server::Config;

backend_tests!(
    after_the_free_failures_each_attempt_waits_and_the_right_password_is_not_checked,
    an_unknown_username_is_throttled_exactly_like_a_known_one,
    an_attacker_hammering_alice_locks_out_neither_alice_elsewhere_nor_bob,
    failures_from_many_networks_throttle_the_account_until_an_operator_unlocks_it,
    a_sprayer_is_throttled_across_accounts_by_its_network,
    the_account_login_and_the_password_change_form_are_throttled_too,
    the_admin_api_unlocks_a_throttled_account,
);

const WRONG: &str = "not the password";

/// A server on a manual clock standing at the real time, with a client to sign in to.
struct Throttled {
    app: TestApp,
    clock: Arc<ManualClock>,
    client: TestClient,
}

async fn spawn(
    backend: Backend,
    name: &str,
    configure: impl FnOnce(&mut Config),
) -> Option<Throttled> {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = TestApp::spawn_with_clock(backend, name, clock.clone(), configure)
        .await
        .unwrap()?;
    for user in ["alice", "bob"] {
        fixtures::user(app.store.as_ref(), user).await.unwrap();
    }
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    Some(Throttled { app, clock, client })
}

/// A browser connecting from the loopback address `from`.
fn browser(app: &TestApp, from: &str) -> Browser {
    let local: IpAddr = from.parse().unwrap();
    Browser::with(&app.base_url, Some(local), HeaderMap::new()).unwrap()
}

/// A browser behind our trusted proxy: it connects from 127.0.0.1, and the proxy says
/// it is `client`.
fn proxied(app: &TestApp, client: &str) -> Browser {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(client).unwrap());
    Browser::with(&app.base_url, None, headers).unwrap()
}

impl Throttled {
    /// One login through the authorization flow's form.
    async fn login(&self, browser: &Browser, username: &str, password: &str) -> Page {
        let page = browser
            .get(&authorize_path(&self.client.id, "openid"))
            .await
            .unwrap();
        browser
            .submit_login(&page, username, password)
            .await
            .unwrap()
    }

    /// Steps the clock over the wait a 429 asked for.
    fn wait_out(&self, page: &Page) {
        self.clock.advance(Duration::from_secs(retry_after(page)));
    }

    async fn audited(&self, action: &str) -> Vec<portcullis_core::model::AuditEvent> {
        self.app
            .store
            .list_audit_events(1_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }
}

fn retry_after(page: &Page) -> u64 {
    page.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The page's error paragraph.
fn message(page: &Page) -> &str {
    let start = page.body.find("role=\"alert\">").expect("an error message") + 13;
    let end = page.body[start..].find("</p>").unwrap() + start;
    &page.body[start..end]
}

fn assert_throttled(page: &Page, secs: u64) {
    assert_eq!(page.status, 429, "{}", page.body);
    assert_eq!(retry_after(page), secs);
    assert!(
        message(page).starts_with("Too many failed sign-in attempts. Please wait"),
        "{}",
        message(page)
    );
    assert!(page.location.is_none(), "no sign-in");
}

pub(crate) async fn after_the_free_failures_each_attempt_waits_and_the_right_password_is_not_checked(
    backend: Backend,
) {
    // Arrange: the defaults (5 free failures, then 1 s doubling); and no free hashing slot
    // nor room to queue for one, for the attempts that must not be checked.
    let Some(t) = spawn(backend, "login_throttle::basic", |c| {
        c.password.max_concurrent = 1;
        c.password.queue_max = 0;
    })
    .await
    else {
        return;
    };
    let attacker = browser(&t.app, "127.0.0.2");
    let replica = t.app.replica().await.unwrap();
    let on_replica = browser(&replica, "127.0.0.2");

    // Act
    let mut free = Vec::new();
    for _ in 0..5 {
        free.push(t.login(&attacker, "alice", WRONG).await);
    }
    let sixth = t.login(&attacker, "alice", WRONG).await;
    let slot = t.app.hasher.acquire_slot().await.unwrap();
    let right_while_held = t.login(&attacker, "alice", PASSWORD).await;
    let replica_while_held = t.login(&on_replica, "alice", PASSWORD).await;
    let mut forged = HeaderMap::new();
    forged.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
    let spoofer =
        Browser::with(&t.app.base_url, Some("127.0.0.2".parse().unwrap()), forged).unwrap();
    let spoofed = t.login(&spoofer, "alice", PASSWORD).await;
    drop(slot);
    t.wait_out(&sixth);
    // A browser of its own (the same address), so the guessing one stays signed out.
    let after_the_wait = t
        .login(&browser(&t.app, "127.0.0.2"), "alice", PASSWORD)
        .await;
    let mut after_success = Vec::new();
    for _ in 0..6 {
        after_success.push(t.login(&attacker, "alice", WRONG).await);
    }

    // Assert: five ordinary failures, then held.
    for page in &free {
        assert_eq!(page.status, 401);
        assert_eq!(message(page), "Incorrect username or password.");
    }
    assert_throttled(&sixth, 1);
    // Held attempts are answered without a hashing slot: a check would have been a 503.
    assert_throttled(&right_while_held, 1);
    assert_throttled(&replica_while_held, 1);
    assert_throttled(&spoofed, 1);
    assert_eq!(after_the_wait.status, 303, "{}", after_the_wait.body);
    // The success forgot the count: five free failures again before the next hold.
    assert!(after_success[..5].iter().all(|p| p.status == 401));
    assert_throttled(&after_success[5], 1);
    assert_eq!(t.audited("login.failure").await.len(), 10);
    let imposed = t.audited("login.throttle").await;
    assert_eq!(imposed.len(), 2, "each hold is recorded once, when imposed");
    assert_eq!(imposed[0].target.as_deref(), Some("alice"));
    assert_eq!(imposed[0].ip.as_deref(), Some("127.0.0.2"));
    assert_eq!(imposed[0].detail["level"], "pair");
    let logins = t.audited("session.login").await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].target.as_deref(), Some("alice"));
    replica.stop().await.unwrap();
    t.app.stop().await.unwrap();
}

pub(crate) async fn an_unknown_username_is_throttled_exactly_like_a_known_one(backend: Backend) {
    // Arrange
    let Some(t) = spawn(backend, "login_throttle::unknown", |_| {}).await else {
        return;
    };
    let here = browser(&t.app, "127.0.0.2");

    // Act: six wrong attempts each, one username that exists and one that does not.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        known.push(t.login(&here, "alice", WRONG).await);
        unknown.push(t.login(&here, "nobody", WRONG).await);
    }

    // Assert: the same status, headers and message at every step.
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.status, u.status);
        assert_eq!(message(k), message(u));
        assert_eq!(k.headers.get("retry-after"), u.headers.get("retry-after"));
    }
    assert_throttled(&unknown[5], 1);
    let failures = t.audited("login.failure").await;
    assert!(
        failures
            .iter()
            .all(|e| e.target.as_deref() != Some("nobody")),
        "an unknown username (perhaps a password typed in the wrong field) is not recorded"
    );
    t.app.stop().await.unwrap();
}

pub(crate) async fn an_attacker_hammering_alice_locks_out_neither_alice_elsewhere_nor_bob(
    backend: Backend,
) {
    // Arrange: the account-wide threshold (6) is below what the attacker will fail (12):
    // only the per-network contribution limit keeps alice reachable.
    let Some(t) = spawn(backend, "login_throttle::lockout", |c| {
        c.login_throttle.free_failures = 3;
        c.login_throttle.account_free_failures = 6;
    })
    .await
    else {
        return;
    };
    let attacker = browser(&t.app, "127.0.0.2");

    // Act: twelve failures, stepping over each wait (bounded: each round either fails once
    // or waits once).
    let mut failed = 0;
    for _ in 0..24 {
        if failed == 12 {
            break;
        }
        let page = t.login(&attacker, "alice", WRONG).await;
        if page.status == 401 {
            failed += 1;
        } else {
            assert_eq!(page.status, 429, "{}", page.body);
            t.wait_out(&page);
        }
    }
    let attacker_now = t.login(&attacker, "alice", PASSWORD).await;
    let alice_elsewhere = t
        .login(&browser(&t.app, "127.0.0.3"), "alice", PASSWORD)
        .await;
    let bob_from_the_attackers_address = t
        .login(&browser(&t.app, "127.0.0.2"), "bob", PASSWORD)
        .await;
    let bob_elsewhere = t
        .login(&browser(&t.app, "127.0.0.4"), "bob", PASSWORD)
        .await;
    let attacker_after = t.login(&attacker, "alice", PASSWORD).await;

    // Assert
    assert_eq!(failed, 12);
    assert_eq!(attacker_now.status, 429);
    assert_eq!(alice_elsewhere.status, 303, "{}", alice_elsewhere.body);
    assert_eq!(bob_from_the_attackers_address.status, 303);
    assert_eq!(bob_elsewhere.status, 303);
    assert_eq!(
        attacker_after.status, 429,
        "the owner's success does not lift the attacker's hold"
    );
    t.app.stop().await.unwrap();
}

pub(crate) async fn failures_from_many_networks_throttle_the_account_until_an_operator_unlocks_it(
    backend: Backend,
) {
    // Arrange: behind our proxy (127.0.0.1); two free failures per network, four for the
    // account.
    let Some(t) = spawn(backend, "login_throttle::unlock", |c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.login_throttle.free_failures = 2;
        c.login_throttle.account_free_failures = 4;
    })
    .await
    else {
        return;
    };

    // Act
    for network in ["203.0.113.1", "203.0.113.2"] {
        let guesser = proxied(&t.app, network);
        for _ in 0..2 {
            assert_eq!(t.login(&guesser, "alice", WRONG).await.status, 401);
        }
    }
    let owner = proxied(&t.app, "198.51.100.7, 203.0.113.3");
    let held = t.login(&owner, "alice", PASSWORD).await;
    let bob = t
        .login(&proxied(&t.app, "203.0.113.3"), "bob", PASSWORD)
        .await;
    let unlock = {
        let url = t.app.config.database_url.clone();
        tokio::task::spawn_blocking(move || {
            run_portcullis(
                &[
                    ("PORTCULLIS_DATABASE_URL", &url),
                    ("PORTCULLIS_LOG__LEVEL", "error"),
                ],
                &["user", "unlock", "alice"],
                "",
            )
        })
        .await
        .unwrap()
        .unwrap()
    };
    let after_unlock = t.login(&owner, "alice", PASSWORD).await;

    // Assert
    assert_throttled(&held, 1);
    assert_eq!(bob.status, 303, "only alice is held");
    assert!(unlock.status.success(), "{}", stderr(&unlock));
    assert_eq!(after_unlock.status, 303, "{}", after_unlock.body);
    let failures = t.audited("login.failure").await;
    assert!(
        failures
            .iter()
            .any(|e| e.ip.as_deref() == Some("203.0.113.1"))
    );
    let imposed = t.audited("login.throttle").await;
    assert!(imposed.iter().any(|e| e.detail["level"] == "account"));
    let unlocks = t.audited("user.unlock").await;
    assert_eq!(unlocks.len(), 1);
    assert_eq!(unlocks[0].actor, "cli");
    assert_eq!(unlocks[0].target.as_deref(), Some("alice"));
    t.app.stop().await.unwrap();
}

pub(crate) async fn a_sprayer_is_throttled_across_accounts_by_its_network(backend: Backend) {
    // Arrange: a network may fail four times across accounts.
    let Some(t) = spawn(backend, "login_throttle::spray", |c| {
        c.login_throttle.free_failures = 2;
        c.login_throttle.address_free_failures = 4;
    })
    .await
    else {
        return;
    };
    let sprayer = browser(&t.app, "127.0.0.2");

    // Act: one guess at each of four accounts, known or not.
    for username in ["alice", "carol", "dave", "erin"] {
        assert_eq!(t.login(&sprayer, username, WRONG).await.status, 401);
    }
    let bob_from_there = t.login(&sprayer, "bob", PASSWORD).await;
    let bob_elsewhere = t
        .login(&browser(&t.app, "127.0.0.3"), "bob", PASSWORD)
        .await;

    // Assert
    assert_throttled(&bob_from_there, 1);
    assert_eq!(bob_elsewhere.status, 303);
    let imposed = t.audited("login.throttle").await;
    assert_eq!(imposed[0].detail["level"], "address");
    t.app.stop().await.unwrap();
}

pub(crate) async fn the_account_login_and_the_password_change_form_are_throttled_too(
    backend: Backend,
) {
    // Arrange: two free failures.
    let Some(t) = spawn(backend, "login_throttle::account", |c| {
        c.login_throttle.free_failures = 2;
    })
    .await
    else {
        return;
    };
    let guesser = browser(&t.app, "127.0.0.2");
    let account_login = |browser: &Browser, password: &'static str| {
        let browser = browser.clone();
        async move {
            let page = browser.get("/account").await.unwrap();
            let csrf = page.field("csrf_token").unwrap();
            browser
                .post_form(
                    "/account/login",
                    &[
                        ("csrf_token", &csrf),
                        ("username", "alice"),
                        ("password", password),
                    ],
                )
                .await
                .unwrap()
        }
    };
    let alice = browser(&t.app, "127.0.0.3");
    assert_eq!(account_login(&alice, PASSWORD).await.status, 303);
    let change = |current: &'static str| {
        let alice = alice.clone();
        async move {
            let page = alice.get("/account").await.unwrap();
            let csrf = page.field("csrf_token").unwrap();
            alice
                .post_form(
                    "/account/password",
                    &[
                        ("csrf_token", &csrf),
                        ("current_password", current),
                        ("new_password", "a brand new password"),
                        ("confirm_password", "a brand new password"),
                    ],
                )
                .await
                .unwrap()
        }
    };

    // Act
    let login_failures = [
        account_login(&guesser, WRONG).await,
        account_login(&guesser, WRONG).await,
    ];
    let login_held = account_login(&guesser, PASSWORD).await;
    let change_failures = [change(WRONG).await, change(WRONG).await];
    let change_held = change(PASSWORD).await;
    t.wait_out(&change_held);
    let changed = change(PASSWORD).await;

    // Assert
    assert!(login_failures.iter().all(|p| p.status == 401));
    assert_throttled(&login_held, 1);
    assert!(login_held.body.contains("action=\"/account/login\""));
    assert!(change_failures.iter().all(|p| p.status == 400));
    assert_throttled(&change_held, 1);
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(
        changed.location.as_deref(),
        Some("/account?done=password-changed")
    );
    let via: Vec<String> = t
        .audited("login.failure")
        .await
        .iter()
        .map(|e| e.detail["via"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(via.iter().filter(|v| *v == "account_login").count(), 2);
    assert_eq!(via.iter().filter(|v| *v == "password_change").count(), 2);
    t.app.stop().await.unwrap();
}

pub(crate) async fn the_admin_api_unlocks_a_throttled_account(backend: Backend) {
    // Arrange: alice held from one network.
    let Some(t) = spawn(backend, "login_throttle::admin_unlock", |c| {
        c.login_throttle.free_failures = 1;
    })
    .await
    else {
        return;
    };
    let token = crate::admin::admin_token(&t.app).await;
    let guesser = browser(&t.app, "127.0.0.2");
    assert_eq!(t.login(&guesser, "alice", WRONG).await.status, 401);
    let held = t.login(&guesser, "alice", PASSWORD).await;

    // Act
    let (status, _, body) = crate::admin::call(
        &t.app,
        "POST",
        "/admin/users/alice/unlock",
        Some(&token),
        None,
    )
    .await;
    let (unknown, _, _) = crate::admin::call(
        &t.app,
        "POST",
        "/admin/users/nobody/unlock",
        Some(&token),
        None,
    )
    .await;
    let after = t.login(&guesser, "alice", PASSWORD).await;

    // Assert
    assert_throttled(&held, 1);
    assert_eq!(status, 200);
    assert!(body["cleared"].as_u64().unwrap() >= 2, "{body}");
    assert_eq!(unknown, 404);
    assert_eq!(after.status, 303);
    let unlocks = t.audited("user.unlock").await;
    assert_eq!(unlocks.len(), 1);
    assert!(unlocks[0].actor.starts_with("user:"));
    t.app.stop().await.unwrap();
}
