//! Operations endpoints and server behaviour that is not protocol: health, readiness,
//! shutdown, configuration errors.

use portcullis_e2e::app::TestApp;

pub(crate) async fn health_and_readiness_answer_when_the_store_is_up(app: &TestApp) {
    // Act
    let health = app.get("/healthz").await.unwrap();
    let ready = app.get("/readyz").await.unwrap();

    // Assert
    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

pub(crate) async fn unknown_paths_get_404_with_nosniff(app: &TestApp) {
    let response = app.get("/no-such-endpoint").await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

pub(crate) async fn oversized_request_bodies_are_refused(app: &TestApp) {
    // Arrange: well past the 64 KiB limit.
    let body = "a=".to_owned() + &"b".repeat(200 * 1024);

    // Act
    let response = app
        .http
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 413);
}

/// Graceful shutdown: a request already being received when shutdown starts still gets
/// its full answer, and the server then stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_request_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Arrange: a request whose body is only half sent.
    let app = TestApp::spawn(
        portcullis_e2e::db::Backend::Sqlite,
        "ops::shutdown_in_flight",
    )
    .await
    .unwrap()
    .unwrap();
    let body = "response_type=code&client_id=nope&redirect_uri=https%3A%2F%2Fa.example%2Fcb";
    let (first, rest) = body.split_at(20);
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let head = format!(
        "POST /authorize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    // A round trip on another connection proves the server has read the first request's
    // head before shutdown begins.
    assert_eq!(app.get("/healthz").await.unwrap().status(), 200);

    // Act: start shutdown, then finish the request.
    let stopping = tokio::spawn(app.stop());
    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();

    // Assert
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("Unknown application"));
    stopping.await.unwrap().unwrap();
}
