//! `/authorize` request validation order (RFC 6749 §4.1.2.1, §10.15): until the client and
//! redirect URI are proven, errors are our own page and never a redirect; afterwards they
//! go back to the client with `state` and `iss` (RFC 9207).

use portcullis_core::clients::{NewClient, create_client};
use portcullis_core::{Clock, SystemClock};
use portcullis_e2e::app::TestApp;
use url::Url;

async fn registered_client(app: &TestApp) -> String {
    let new = NewClient {
        name: "Example App".into(),
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/native".into(),
        ],
        ..NewClient::default()
    };
    let (client, _) = create_client(app.store.as_ref(), new, SystemClock.now())
        .await
        .unwrap();
    client.client_id.0
}

fn assert_error_page(status: u16, headers: &openidconnect::http::HeaderMap, expected: u16) {
    assert_eq!(status, expected);
    assert!(headers.get("location").is_none(), "must not redirect");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

pub(crate) async fn unknown_client_or_unregistered_redirect_shows_a_page_and_never_redirects(
    app: &TestApp,
) {
    // Arrange
    let client_id = registered_client(app).await;
    let cases = [
        "/authorize?response_type=code&client_id=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s".to_owned(),
        "/authorize?response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb".to_owned(),
        format!("/authorize?response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&state=s"),
        format!("/authorize?response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F&state=s"),
        format!("/authorize?response_type=code&client_id={client_id}&state=s"),
        format!("/authorize?response_type=code&client_id={client_id}&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"),
    ];
    for path in cases {
        // Act
        let response = app.get(&path).await.unwrap();

        // Assert
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        assert_error_page(status, &headers, 400);
        let body = response.text().await.unwrap();
        assert!(body.contains("<h1>"), "{path}: {body}");
        assert!(
            !body.contains("evil.example"),
            "{path}: echoes the attacker's URI"
        );
    }
}

/// The third case also shows that a loopback redirect URI may use any port (RFC 8252 §7.3).
pub(crate) async fn errors_after_validation_redirect_with_state_and_iss(app: &TestApp) {
    // Arrange
    let client_id = registered_client(app).await;

    for (query, expected_error) in [
        (
            format!(
                "response_type=token&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz%201"
            ),
            "unsupported_response_type",
        ),
        (
            format!(
                "client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz%201"
            ),
            "invalid_request",
        ),
        // A loopback redirect URI may use any port (RFC 8252 §7.3).
        (
            format!(
                "response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A53211%2Fnative&state=xyz%201&scope=openid&prompt=none"
            ),
            "login_required",
        ),
    ] {
        // Act
        let response = app.get(&format!("/authorize?{query}")).await.unwrap();

        // Assert
        assert_eq!(response.status(), 303, "{query}");
        let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(params["error"], expected_error);
        assert!(params.contains_key("error_description"));
        assert_eq!(params["state"], "xyz 1");
        assert_eq!(params["iss"], app.base_url);
    }
}

pub(crate) async fn post_authorize_validates_the_same_way(app: &TestApp) {
    // Arrange
    let client_id = registered_client(app).await;

    // Act
    let unknown = app
        .http
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("response_type=code&client_id=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcb")
        .send()
        .await
        .unwrap();
    let known = app
        .http
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "response_type=token&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
        ))
        .send()
        .await
        .unwrap();

    // Assert
    let (status, headers) = (unknown.status().as_u16(), unknown.headers().clone());
    assert_error_page(status, &headers, 400);
    assert_eq!(known.status(), 303);
    assert!(
        known.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://app.example/cb?error=unsupported_response_type")
    );
}
