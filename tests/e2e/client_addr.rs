//! Which address a request counts as coming from (`trusted_proxies`,
//! `forwarded_header`): a forwarding header is believed only from a trusted peer, read right
//! to left up to the first untrusted hop. Observed through what uses the address: the
//! registration rate limit and the audit trail's `ip`.

use portcullis_e2e::app::TestApp;
use portcullis_e2e::db::Backend;
use portcullis_e2e::fixtures::REDIRECT_URI;
use serde_json::json;

backend_tests!(
    a_forwarding_header_from_an_untrusted_peer_is_ignored,
    a_trusted_proxys_header_names_the_first_untrusted_hop_from_the_right,
    the_forwarded_header_is_read_when_configured,
);

/// Registers a client with `header` set; returns the status.
async fn register_with(app: &TestApp, header: Option<(&str, &str)>) -> u16 {
    let body = json!({ "redirect_uris": [REDIRECT_URI], "client_name": "Proxied App" });
    let mut request = app.http.post(app.url("/register")).json(&body);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// The `ip` of the newest `registration.create` audit event.
async fn last_registration_ip(app: &TestApp) -> Option<String> {
    app.store
        .list_audit_events(50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "registration.create")
        .and_then(|e| e.ip)
}

/// A server allowing one registration per client address and no refill.
async fn spawn(backend: Backend, name: &str, trusted: &[&str], header: &str) -> Option<TestApp> {
    let trusted: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
    let header = serde_json::from_value(json!(header)).unwrap();
    TestApp::spawn_with(backend, name, |c| {
        c.registration.rate_limit_burst = 1;
        c.registration.rate_limit_per_minute = 0;
        c.trusted_proxies = trusted;
        c.forwarded_header = header;
    })
    .await
    .unwrap()
}

pub(crate) async fn a_forwarding_header_from_an_untrusted_peer_is_ignored(backend: Backend) {
    // Arrange: no proxy is trusted (the default).
    let Some(app) = spawn(backend, "client_addr::untrusted", &[], "x-forwarded-for").await else {
        return;
    };

    // Act: the second request claims to come from somewhere else.
    let first = register_with(&app, Some(("x-forwarded-for", "203.0.113.9"))).await;
    let recorded = last_registration_ip(&app).await;
    let spoofed = register_with(&app, Some(("x-forwarded-for", "203.0.113.10"))).await;

    // Assert
    assert_eq!(first, 201);
    assert_eq!(
        recorded.as_deref(),
        Some("127.0.0.1"),
        "the TCP peer is recorded"
    );
    assert_eq!(spoofed, 429, "a forged header buys no fresh budget");
    app.stop().await.unwrap();
}

pub(crate) async fn a_trusted_proxys_header_names_the_first_untrusted_hop_from_the_right(
    backend: Backend,
) {
    // Arrange: the loopback peer (our "edge proxy") and 10.0.0.0/8 are trusted.
    let Some(app) = spawn(
        backend,
        "client_addr::trusted",
        &["127.0.0.1", "10.0.0.0/8"],
        "x-forwarded-for",
    )
    .await
    else {
        return;
    };
    // The client wrote "198.51.100.1" itself; the edge saw 203.0.113.9; 10.1.2.3 is an
    // inner proxy.
    let chain = "198.51.100.1, 203.0.113.9, 10.1.2.3";

    // Act
    let first = register_with(&app, Some(("x-forwarded-for", chain))).await;
    let recorded = last_registration_ip(&app).await;
    let again = register_with(&app, Some(("x-forwarded-for", "1.1.1.1, 203.0.113.9"))).await;
    let other_client = register_with(&app, Some(("x-forwarded-for", "203.0.113.10"))).await;
    // Another header is not read: this is the proxy's own budget.
    let proxy_itself = register_with(&app, Some(("forwarded", "for=203.0.113.11"))).await;

    // Assert
    assert_eq!(first, 201);
    assert_eq!(recorded.as_deref(), Some("203.0.113.9"));
    assert_eq!(
        again, 429,
        "the same client, whatever it writes on the left"
    );
    assert_eq!(other_client, 201, "another client has its own budget");
    assert_eq!(
        proxy_itself, 201,
        "without the header the proxy is the client"
    );
    assert_eq!(
        register_with(&app, None).await,
        429,
        "the proxy's own budget is spent"
    );
    app.stop().await.unwrap();
}

pub(crate) async fn the_forwarded_header_is_read_when_configured(backend: Backend) {
    // Arrange
    let Some(app) = spawn(
        backend,
        "client_addr::forwarded",
        &["127.0.0.1"],
        "forwarded",
    )
    .await
    else {
        return;
    };

    // Act
    let first = register_with(
        &app,
        Some((
            "forwarded",
            r#"for=192.0.2.1, for="[2001:db8:cafe::17]:4711";proto=https"#,
        )),
    )
    .await;
    let recorded = last_registration_ip(&app).await;
    // The same /64 is the same client.
    let same_net = register_with(&app, Some(("forwarded", r#"for="[2001:db8:cafe::99]""#))).await;
    let xff_ignored = register_with(&app, Some(("x-forwarded-for", "203.0.113.20"))).await;

    // Assert
    assert_eq!(first, 201);
    assert_eq!(recorded.as_deref(), Some("2001:db8:cafe::17"));
    assert_eq!(same_net, 429, "an IPv6 client counts by its /64");
    assert_eq!(
        xff_ignored, 201,
        "X-Forwarded-For is not read: the proxy is the client"
    );
    app.stop().await.unwrap();
}
