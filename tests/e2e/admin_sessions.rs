//! An administrator ending a user's sessions through the admin API, directly or by
//! disabling the user: each app that got an ID token in one of them receives a logout token
//! naming that session (OpenID Back-Channel Logout 1.0), the browser is signed out, the
//! session-bound grants are revoked and the audit trail records who did it.

use std::collections::HashMap;

use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures::{REDIRECT_URI, TestClient};
use portcullis_e2e::flows::authorize_path;

use crate::admin::{admin_token, call};
use crate::backchannel::{
    LogoutListener, Script, audit_event, signed_in, unverified_claims, verify_with_jwks,
};

/// The redirect of a `prompt=none` authorization request in `browser`.
async fn prompt_none(browser: &Browser, client: &TestClient) -> HashMap<String, String> {
    let page = browser
        .get(&format!(
            "{}&prompt=none",
            authorize_path(&client.id, "openid")
        ))
        .await
        .unwrap();
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap().starts_with(REDIRECT_URI));
    page.redirect_params().unwrap()
}

pub(crate) async fn an_admin_ends_a_users_sessions_and_each_app_gets_a_logout_token(app: &TestApp) {
    // Arrange
    let mut listener = LogoutListener::start(Script::Statuses(vec![200])).await;
    let (client, browser, tokens) = signed_in(app, "erin", &listener).await;
    let sid = unverified_claims(tokens.id_token.as_deref().unwrap())["sid"].clone();
    let token = admin_token(app).await;

    // Act: callers without the admin scope are turned away first.
    let (anonymous, _, _) = call(app, "POST", "/admin/users/erin/sessions/end", None, None).await;
    let (not_admin, _, _) = call(
        app,
        "POST",
        "/admin/users/erin/sessions/end",
        Some(&tokens.access_token),
        None,
    )
    .await;
    let still_signed_in = prompt_none(&browser, &client).await;
    let (status, _, body) = call(
        app,
        "POST",
        "/admin/users/erin/sessions/end",
        Some(&token),
        None,
    )
    .await;
    let received = listener.next().await;

    // Assert: refusals changed nothing.
    assert_eq!(anonymous, 401);
    assert_eq!(not_admin, 403);
    assert_eq!(still_signed_in.get("error"), None, "{still_signed_in:?}");
    // Assert: the answer, and the logout token as the client checks it.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({ "ended_sessions": 1 }));
    let (header, claims) = verify_with_jwks(app, &received.logout_token, &client.id).await;
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["aud"], client.id);
    // Assert: the browser is signed out and the session-bound grant is gone.
    assert_eq!(
        prompt_none(&browser, &client).await["error"],
        "login_required"
    );
    let (_, _, grants) = call(app, "GET", "/admin/users/erin/grants", Some(&token), None).await;
    assert_eq!(grants, serde_json::json!([]));
    // Assert: the audit trail names the admin, for the change and for the delivery.
    let events = app.store.list_audit_events(100).await.unwrap();
    let ended = events
        .iter()
        .find(|e| e.action == "user.end_sessions" && e.target.as_deref() == Some("erin"))
        .expect("a user.end_sessions audit event");
    assert_eq!(ended.detail["ended_sessions"], 1);
    assert_eq!(ended.detail["sessions"], serde_json::json!([sid]));
    assert!(ended.actor.starts_with("user:"), "{}", ended.actor);
    assert_ne!(
        ended.actor,
        format!("user:{}", claims["sub"].as_str().unwrap())
    );
    let delivered = audit_event(app, "backchannel_logout.delivered", &client.id).await;
    assert_eq!(delivered.actor, ended.actor);
    // Assert: nothing is left to end, and an unknown user is 404.
    let (again, _, body) = call(
        app,
        "POST",
        "/admin/users/erin/sessions/end",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (again, body),
        (200, serde_json::json!({ "ended_sessions": 0 }))
    );
    let (unknown, _, _) = call(
        app,
        "POST",
        "/admin/users/nobody/sessions/end",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(unknown, 404);
}

pub(crate) async fn disabling_a_user_through_the_admin_api_ends_their_sessions(app: &TestApp) {
    // Arrange
    let mut listener = LogoutListener::start(Script::Statuses(vec![204])).await;
    let (client, browser, tokens) = signed_in(app, "frank", &listener).await;
    let sid = unverified_claims(tokens.id_token.as_deref().unwrap())["sid"].clone();
    let token = admin_token(app).await;

    // Act
    let (status, _, body) = call(
        app,
        "POST",
        "/admin/users/frank/disable",
        Some(&token),
        None,
    )
    .await;
    let received = listener.next().await;
    // Re-enabled, frank must still sign in again: the session itself ended, not just
    // the user's right to use it.
    let (enabled, _, _) = call(app, "POST", "/admin/users/frank/enable", Some(&token), None).await;

    // Assert
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled"], true);
    assert_eq!(enabled, 200);
    assert_eq!(unverified_claims(&received.logout_token)["sid"], sid);
    assert_eq!(
        prompt_none(&browser, &client).await["error"],
        "login_required"
    );
    let events = app.store.list_audit_events(100).await.unwrap();
    let disabled = events
        .iter()
        .find(|e| e.action == "user.disable" && e.target.as_deref() == Some("frank"))
        .expect("a user.disable audit event");
    assert_eq!(disabled.detail["ended_sessions"], 1);
}
