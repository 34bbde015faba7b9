//! What an administrator does through the admin API, resource by resource, and the audit
//! trail each change leaves (who, what, on what, from where).

use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures;
use portcullis_e2e::flows;
use serde_json::{Value, json};

use super::{admin_console, admin_token, call};

/// The newest audit event.
async fn last_event(app: &TestApp) -> portcullis_core::model::AuditEvent {
    app.store.list_audit_events(1).await.unwrap().remove(0)
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> u16 {
    app.http
        .post(app.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api.read")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) async fn an_admin_creates_reads_replaces_rekeys_and_deletes_clients(app: &TestApp) {
    // Arrange
    let token = admin_token(app).await;
    let t = Some(token.as_str());
    let admin_id = app
        .store
        .find_user_by_username("root")
        .await
        .unwrap()
        .unwrap()
        .user_id;

    // Act: create with RFC 7591 metadata, beyond what registration would allow.
    let (created, _, info) = call(
        app,
        "POST",
        "/admin/clients",
        t,
        Some(json!({
            "client_name": "Reporting job",
            "grant_types": ["client_credentials"],
            "scope": "api.read admin",
        })),
    )
    .await;
    let id = info["client_id"].as_str().unwrap().to_owned();
    let first_secret = info["client_secret"].as_str().unwrap().to_owned();
    let created_event = last_event(app).await;
    let (read, _, read_info) = call(app, "GET", &format!("/admin/clients/{id}"), t, None).await;
    let (listed, _, list) = call(app, "GET", "/admin/clients", t, None).await;
    let (replaced, _, replaced_info) = call(
        app,
        "PUT",
        &format!("/admin/clients/{id}"),
        t,
        Some(json!({
            "client_name": "Reporting job v2",
            "grant_types": ["client_credentials"],
            "scope": "api.read",
        })),
    )
    .await;
    let (invalid, _, invalid_body) = call(
        app,
        "PUT",
        &format!("/admin/clients/{id}"),
        t,
        Some(json!({"redirect_uris": ["http://app.example/cb"]})),
    )
    .await;
    let (rotated, _, rotated_body) =
        call(app, "POST", &format!("/admin/clients/{id}/secret"), t, None).await;
    let new_secret = rotated_body["client_secret"].as_str().unwrap().to_owned();
    let old_works = client_credentials(app, &id, &first_secret).await;
    let new_works = client_credentials(app, &id, &new_secret).await;
    let (deleted, _, _) = call(app, "DELETE", &format!("/admin/clients/{id}"), t, None).await;
    let (gone, _, gone_body) = call(app, "GET", &format!("/admin/clients/{id}"), t, None).await;

    // Assert
    assert_eq!(created, 201, "{info}");
    assert_eq!(info["scope"], "admin api.read");
    assert_eq!(created_event.action, "client.create");
    assert_eq!(created_event.actor, format!("user:{admin_id}"));
    assert_eq!(created_event.target.as_deref(), Some(id.as_str()));
    assert_eq!(created_event.ip.as_deref(), Some("127.0.0.1"));
    assert!(!created_event.detail.to_string().contains(&first_secret));
    assert_eq!(read, 200);
    assert_eq!(read_info["client_name"], "Reporting job");
    assert!(read_info.get("client_secret").is_none());
    assert_eq!(listed, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id.as_str())
    );
    assert_eq!(replaced, 200);
    assert_eq!(replaced_info["client_name"], "Reporting job v2");
    assert_eq!(replaced_info["scope"], "api.read");
    assert_eq!(invalid, 400);
    assert_eq!(invalid_body["error"], "invalid_redirect_uri");
    assert_eq!(rotated, 200);
    assert_ne!(new_secret, first_secret);
    assert_eq!(old_works, 401, "the old secret stopped working");
    assert_eq!(new_works, 200, "the new secret works");
    assert_eq!(deleted, 204);
    assert_eq!(gone, 404);
    assert_eq!(gone_body["error"], "not_found");
    let actions: Vec<String> = app
        .store
        .list_audit_events(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.target.as_deref() == Some(id.as_str()))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "client.delete",
            "client.rotate_secret",
            "client.update",
            "client.create"
        ]
    );
}

pub(crate) async fn an_admin_creates_updates_disables_and_rekeys_users_and_assigns_roles(
    app: &TestApp,
) {
    // Arrange
    let token = admin_token(app).await;
    let t = Some(token.as_str());
    let console = admin_console(app).await;

    // Act
    let (created, _, user) = call(
        app,
        "POST",
        "/admin/users",
        t,
        Some(json!({"username": "carol", "password": "first password!", "email": "carol@example.com", "name": "Carol"})),
    )
    .await;
    let (duplicate, _, duplicate_body) = call(
        app,
        "POST",
        "/admin/users",
        t,
        Some(json!({"username": "carol", "password": "another password"})),
    )
    .await;
    let (weak, _, weak_body) = call(
        app,
        "POST",
        "/admin/users",
        t,
        Some(json!({"username": "dave", "password": "short"})),
    )
    .await;
    let (updated, _, updated_user) = call(
        app,
        "PUT",
        "/admin/users/carol",
        t,
        Some(json!({"name": "Carol C.", "email": "carol@example.org", "email_verified": true})),
    )
    .await;
    let (roles, _, with_roles) = call(
        app,
        "PUT",
        "/admin/users/carol/roles",
        t,
        Some(json!({"roles": ["staff", "auditor", "staff"]})),
    )
    .await;
    let (password, _, _) = call(
        app,
        "PUT",
        "/admin/users/carol/password",
        t,
        Some(json!({"password": "second password!"})),
    )
    .await;
    let new_password_signs_in = Browser::new(&app.base_url)
        .unwrap()
        .sign_in(
            &flows::authorize_path(&console.id, "openid"),
            "carol",
            "second password!",
        )
        .await
        .is_ok();
    let (disabled, _, disabled_user) =
        call(app, "POST", "/admin/users/carol/disable", t, None).await;
    let disabled_cannot_sign_in = Browser::new(&app.base_url)
        .unwrap()
        .sign_in(
            &flows::authorize_path(&console.id, "openid"),
            "carol",
            "second password!",
        )
        .await
        .is_err();
    let (enabled, _, enabled_user) = call(app, "POST", "/admin/users/carol/enable", t, None).await;
    let (listed, _, list) = call(app, "GET", "/admin/users", t, None).await;
    let (unknown, _, _) = call(app, "GET", "/admin/users/nobody", t, None).await;

    // Assert
    assert_eq!(created, 201, "{user}");
    assert_eq!(user["username"], "carol");
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    assert_eq!(duplicate, 409);
    assert_eq!(duplicate_body["error"], "conflict");
    assert_eq!(weak, 400);
    assert!(
        weak_body["error_description"]
            .as_str()
            .unwrap()
            .contains("8 characters")
    );
    assert_eq!(updated, 200);
    assert_eq!(updated_user["name"], "Carol C.");
    assert_eq!(updated_user["email_verified"], true);
    assert_eq!(roles, 200);
    assert_eq!(with_roles["roles"], json!(["auditor", "staff"]));
    assert_eq!(password, 204);
    assert!(new_password_signs_in, "the new password works");
    assert_eq!(disabled, 200);
    assert_eq!(disabled_user["disabled"], true);
    assert!(disabled_cannot_sign_in, "a disabled user cannot log in");
    assert_eq!(enabled, 200);
    assert_eq!(enabled_user["disabled"], false);
    assert_eq!(listed, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "root"]);
    assert_eq!(unknown, 404);
    let events = app.store.list_audit_events(20).await.unwrap();
    // The admin's changes to carol (her own sign-ins are audited too, as login events).
    let carol: Vec<&str> = events
        .iter()
        .filter(|e| e.target.as_deref() == Some("carol") && e.action.starts_with("user."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        carol,
        [
            "user.enable",
            "user.disable",
            "user.set_password",
            "user.set_roles",
            "user.update",
            "user.create"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| !e.detail.to_string().contains("password!")),
        "no password is audited"
    );
}

pub(crate) async fn an_admin_lists_and_revokes_a_users_app_grants(app: &TestApp) {
    // Arrange: erin signed in to an app.
    let token = admin_token(app).await;
    let t = Some(token.as_str());
    fixtures::user(app.store.as_ref(), "erin").await.unwrap();
    let app_client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let erin = flows::sign_in_and_exchange(
        app,
        &Browser::new(&app.base_url).unwrap(),
        &app_client,
        "erin",
        "openid profile",
    )
    .await
    .unwrap();
    let userinfo = |token: String| async move {
        app.http
            .get(app.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let before = userinfo(erin.access_token.clone()).await;

    // Act
    let (listed, _, grants) = call(app, "GET", "/admin/users/erin/grants", t, None).await;
    let grant_id = grants[0]["grant_id"].as_str().unwrap().to_owned();
    let (of_another, _, _) = call(
        app,
        "DELETE",
        &format!("/admin/users/root/grants/{grant_id}"),
        t,
        None,
    )
    .await;
    let (revoked, _, _) = call(
        app,
        "DELETE",
        &format!("/admin/users/erin/grants/{grant_id}"),
        t,
        None,
    )
    .await;
    let (again, _, _) = call(
        app,
        "DELETE",
        &format!("/admin/users/erin/grants/{grant_id}"),
        t,
        None,
    )
    .await;
    let after = userinfo(erin.access_token.clone()).await;
    let (relisted, _, regrants) = call(app, "GET", "/admin/users/erin/grants", t, None).await;

    // Assert
    assert_eq!(before, 200);
    assert_eq!(listed, 200);
    assert_eq!(grants.as_array().unwrap().len(), 1);
    assert_eq!(grants[0]["client_id"], app_client.id.as_str());
    assert_eq!(grants[0]["scope"], "openid profile");
    assert_eq!(of_another, 404, "another user's grant is not touched");
    assert_eq!(revoked, 204);
    assert_eq!(again, 404, "an already revoked grant");
    assert_eq!(
        after, 401,
        "the grant's access token stopped working at once"
    );
    assert_eq!(relisted, 200);
    assert_eq!(regrants, json!([]));
    let event = last_event_of(app, "grant.revoke").await;
    assert_eq!(event.target.as_deref(), Some(grant_id.as_str()));
    assert_eq!(event.detail["username"], "erin");
}

/// The newest audit event with this action.
pub(crate) async fn last_event_of(
    app: &TestApp,
    action: &str,
) -> portcullis_core::model::AuditEvent {
    app.store
        .list_audit_events(50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == action)
        .unwrap()
}

pub(crate) async fn an_admin_lists_and_rotates_signing_keys_and_reads_the_audit_trail(
    app: &TestApp,
) {
    // Arrange
    let token = admin_token(app).await;
    let t = Some(token.as_str());

    // Act
    let (listed, _, keys) = call(app, "GET", "/admin/keys", t, None).await;
    let (rotated, _, new_keys) = call(app, "POST", "/admin/keys/rotate", t, None).await;
    let (relisted, _, all_keys) = call(app, "GET", "/admin/keys", t, None).await;
    let jwks: Value = app.get("/jwks.json").await.unwrap().json().await.unwrap();
    let (audit, _, events) = call(app, "GET", "/admin/audit?limit=2", t, None).await;
    let (bad_limit, _, _) = call(app, "GET", "/admin/audit?limit=lots", t, None).await;

    // Assert
    assert_eq!(listed, 200);
    let states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "active"]);
    assert_eq!(rotated, 200);
    assert_eq!(new_keys.as_array().unwrap().len(), 2);
    assert_eq!(relisted, 200);
    let states: Vec<&str> = all_keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "active", "next", "next"]);
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        4,
        "this replica publishes the next keys at once"
    );
    assert_eq!(audit, 200);
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e["action"] == "keys.rotate" && e["ip"] == "127.0.0.1")
    );
    assert_eq!(bad_limit, 400);
}
