//! Malformed requests get our own answer, never the framework's plain-text rejection or a
//! 500: JSON with an RFC error code (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2) on API
//! endpoints, our HTML error page on browser endpoints. Invalid UTF-8, a wrong media type,
//! an oversized body, bad JSON and a path that does not decode, endpoint by endpoint.

use openidconnect::reqwest;
use portcullis_e2e::app::TestApp;

use crate::admin::admin_token;

const FORM: &str = "application/x-www-form-urlencoded";

/// 100 KiB: past the server's 64 KiB body limit and every endpoint's own.
fn oversized() -> Vec<u8> {
    let mut body = b"grant_type=client_credentials&pad=".to_vec();
    body.resize(100 * 1024, b'a');
    body
}

/// Form bytes that are not UTF-8 (a lone continuation byte and an invalid lead byte).
const NOT_UTF8: &[u8] = b"username=\xff\xfe&password=\x80&csrf_token=x&request=y";

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    Answer {
        status,
        content_type,
        body,
    }
}

async fn post(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
    send(
        app.http
            .post(app.url(path))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

/// Our JSON error: an RFC code in `error`, a written `error_description`.
#[track_caller]
fn assert_json_error(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{what}: {} {}",
        answer.content_type,
        answer.body
    );
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert!(body["error"].is_string(), "{what}: {body}");
    assert!(body["error_description"].is_string(), "{what}: {body}");
}

/// Our HTML error page (with our stylesheet), never plain text.
#[track_caller]
fn assert_our_page(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert!(
        answer.content_type.starts_with("text/html"),
        "{what}: {} {}",
        answer.content_type,
        answer.body
    );
    assert!(
        answer.body.contains("/assets/portcullis.css"),
        "{what}: {}",
        answer.body
    );
}

pub(crate) async fn malformed_browser_posts_get_our_error_page(app: &TestApp) {
    for path in [
        "/login",
        "/consent",
        "/authorize",
        "/logout",
        "/logout/confirm",
        "/account/login",
        "/account/password",
    ] {
        // Act
        let not_utf8 = post(app, path, FORM, NOT_UTF8.to_vec()).await;
        let json = post(app, path, "application/json", b"{\"a\":1}".to_vec()).await;
        let too_large = post(app, path, FORM, oversized()).await;

        // Assert
        assert_our_page(&not_utf8, 400, &format!("{path} invalid UTF-8"));
        assert_our_page(&json, 415, &format!("{path} JSON"));
        assert_our_page(&too_large, 413, &format!("{path} 100 KiB"));
    }
}

pub(crate) async fn malformed_token_requests_get_rfc_6749_json(app: &TestApp) {
    for path in ["/token", "/revoke", "/introspect"] {
        // Act
        let not_utf8 = post(app, path, FORM, NOT_UTF8.to_vec()).await;
        let json = post(
            app,
            path,
            "application/json",
            b"{\"grant_type\":1}".to_vec(),
        )
        .await;
        let too_large = post(app, path, FORM, oversized()).await;
        let no_type = send(app.http.post(app.url(path)).body("grant_type=x")).await;

        // Assert: 400 or 401 (no client authenticated), always our JSON.
        for (answer, what) in [
            (&not_utf8, "invalid UTF-8"),
            (&json, "JSON"),
            (&too_large, "100 KiB"),
            (&no_type, "no content type"),
        ] {
            let status = if answer.status == 401 { 401 } else { 400 };
            assert_json_error(answer, status, &format!("{path} {what}"));
        }
        assert_eq!(too_large.status, 400, "{path}");
    }
}

pub(crate) async fn malformed_userinfo_and_registration_requests_get_json(app: &TestApp) {
    // Act
    let userinfo_not_utf8 = post(app, "/userinfo", FORM, b"access_token=\xff".to_vec()).await;
    let userinfo_too_large = post(app, "/userinfo", FORM, oversized()).await;
    let register_bad_json = post(
        app,
        "/register",
        "application/json",
        b"{\"redirect_uris\": [".to_vec(),
    )
    .await;
    let register_not_utf8 = post(
        app,
        "/register",
        "application/json",
        b"{\"client_name\": \"\xff\"}".to_vec(),
    )
    .await;
    let register_form = post(
        app,
        "/register",
        FORM,
        b"redirect_uris=https://a.example/cb".to_vec(),
    )
    .await;
    let register_too_large = post(app, "/register", "application/json", oversized()).await;

    // Assert
    assert_json_error(&userinfo_not_utf8, 401, "userinfo invalid UTF-8");
    assert_json_error(&userinfo_too_large, 400, "userinfo 100 KiB");
    assert_json_error(&register_bad_json, 400, "register bad JSON");
    assert_json_error(&register_not_utf8, 400, "register invalid UTF-8");
    assert_json_error(&register_form, 400, "register form body");
    assert_json_error(&register_too_large, 413, "register 100 KiB");
}

pub(crate) async fn malformed_admin_requests_get_json(app: &TestApp) {
    // Arrange
    let token = admin_token(app).await;
    let admin = |method: reqwest::Method, path: &str| {
        app.http.request(method, app.url(path)).bearer_auth(&token)
    };

    // Act
    let bad_json = send(
        admin(reqwest::Method::POST, "/admin/clients")
            .header("content-type", "application/json")
            .body("{\"client_name\": "),
    )
    .await;
    let not_utf8 = send(
        admin(reqwest::Method::POST, "/admin/users")
            .header("content-type", "application/json")
            .body(b"{\"username\": \"\xff\"}".to_vec()),
    )
    .await;
    let too_large = send(
        admin(reqwest::Method::POST, "/admin/clients")
            .header("content-type", "application/json")
            .body(oversized()),
    )
    .await;
    let bad_path = send(admin(reqwest::Method::GET, "/admin/users/%FF%FE")).await;
    let bad_path_pair = send(admin(
        reqwest::Method::DELETE,
        "/admin/users/%FF/grants/%FE",
    ))
    .await;
    let bad_query = send(admin(reqwest::Method::GET, "/admin/audit?limit=many")).await;

    // Assert
    assert_json_error(&bad_json, 400, "admin bad JSON");
    assert_json_error(&not_utf8, 400, "admin invalid UTF-8");
    assert_json_error(&too_large, 413, "admin 100 KiB");
    assert_json_error(&bad_path, 400, "admin path not UTF-8");
    assert_json_error(&bad_path_pair, 400, "admin path pair not UTF-8");
    assert_json_error(&bad_query, 400, "admin bad query");
}

pub(crate) async fn malformed_query_strings_get_our_page(app: &TestApp) {
    // Act: percent-escapes that decode to no UTF-8 text, on a browser endpoint.
    let authorize = send(
        app.http
            .get(app.url("/authorize?client_id=%FF&redirect_uri=%FE")),
    )
    .await;
    let logout = send(app.http.get(app.url("/logout?client_id=%FF&state=%FE"))).await;

    // Assert: our page, whatever it says.
    assert_our_page(&authorize, 400, "authorize query");
    assert!(
        logout.content_type.starts_with("text/html"),
        "{}",
        logout.body
    );
    assert!(logout.status < 500, "{}", logout.status);
}
