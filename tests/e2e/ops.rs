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
