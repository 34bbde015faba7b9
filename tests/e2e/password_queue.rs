//! The bounded password hashing queue (`password.queue_max`, `password.queue_timeout`):
//! when every hashing slot is taken, a login waits for one only while the queue has room
//! and only so long, then is answered 503 with `Retry-After` and the form again. The
//! slots are held by the test through the server's own hasher, as a flood of slow
//! verifications would hold them, so the outcome does not depend on timing. An attempt
//! refused this way was never checked, so the login throttle does not count it.

use std::time::Duration;

use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::db::Backend;
use portcullis_e2e::fixtures::{self, PASSWORD};
use portcullis_e2e::flows::authorize_path;

backend_tests!(
    a_full_hashing_queue_answers_503_with_retry_after_at_once,
    a_login_that_waited_too_long_for_a_slot_answers_503,
);

/// Far longer than any test waits: a login that queued for it would time the test out.
const LONG: Duration = Duration::from_secs(30);

/// The most a test waits for an answer that must come at once.
const AT_ONCE: Duration = Duration::from_secs(10);

async fn spawn(
    backend: Backend,
    name: &str,
    queue_max: usize,
    timeout: Duration,
) -> Option<TestApp> {
    TestApp::spawn_with(backend, name, |c| {
        c.password.max_concurrent = 1;
        c.password.queue_max = queue_max;
        c.password.queue_timeout = timeout;
        // One failure would hold the next attempt: the 503s must not count as failures.
        c.login_throttle.free_failures = 1;
    })
    .await
    .unwrap()
}

fn retry_after(page: &portcullis_e2e::browser::Page) -> u64 {
    page.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

pub(crate) async fn a_full_hashing_queue_answers_503_with_retry_after_at_once(backend: Backend) {
    // Arrange: one slot, no room to wait, and a queue timeout no test would sit out.
    let Some(app) = spawn(backend, "password_queue::full", 0, LONG).await else {
        return;
    };
    fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let login = browser
        .get(&authorize_path(&client.id, "openid"))
        .await
        .unwrap();
    let account = browser.get("/account").await.unwrap();
    let held = app.hasher.acquire_slot().await.unwrap();

    // Act
    let refused = tokio::time::timeout(AT_ONCE, browser.submit_login(&login, "alice", PASSWORD))
        .await
        .expect("answered without queueing")
        .unwrap();
    let csrf = account.field("csrf_token").unwrap();
    let account_refused = tokio::time::timeout(
        AT_ONCE,
        browser.post_form(
            "/account/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        ),
    )
    .await
    .expect("answered without queueing")
    .unwrap();
    drop(held);
    let after = browser
        .submit_login(&login, "alice", PASSWORD)
        .await
        .unwrap();

    // Assert
    for page in [&refused, &account_refused] {
        assert_eq!(page.status, 503);
        assert_eq!(retry_after(page), LONG.as_secs());
        assert!(
            page.body.contains("Sign-in is busy right now"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("name=\"password\""),
            "the form is shown again"
        );
    }
    assert_eq!(
        after.status, 303,
        "with a free slot the same login succeeds"
    );
    app.stop().await.unwrap();
}

pub(crate) async fn a_login_that_waited_too_long_for_a_slot_answers_503(backend: Backend) {
    // Arrange: room to wait, but only briefly.
    let Some(app) = spawn(
        backend,
        "password_queue::timeout",
        4,
        Duration::from_millis(200),
    )
    .await
    else {
        return;
    };
    fixtures::user(app.store.as_ref(), "alice").await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let login = browser
        .get(&authorize_path(&client.id, "openid"))
        .await
        .unwrap();
    assert_eq!(login.status, 200, "{}", login.body);
    let held = app.hasher.acquire_slot().await.unwrap();

    // Act
    let refused = tokio::time::timeout(AT_ONCE, browser.submit_login(&login, "alice", PASSWORD))
        .await
        .expect("the wait is bounded")
        .unwrap();
    drop(held);
    let after = browser
        .submit_login(&login, "alice", PASSWORD)
        .await
        .unwrap();

    // Assert
    assert_eq!(refused.status, 503);
    assert_eq!(retry_after(&refused), 1, "at least one second");
    assert_eq!(after.status, 303);
    app.stop().await.unwrap();
}
