//! Remembered consent and public clients (RFC 8252 §8.6, RFC 6749 §10.2): a native app
//! cannot prove who it is and its loopback redirect URIs match any port (RFC 8252 §7.3), so
//! another program on the device can present its `client_id`. Such a client gets the
//! consent page every time; only a client the operator marks first party is given a code
//! from remembered consent. Only an operator can mark one, never a registrant.

use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::clients::set_first_party;
use portcullis_core::ids::ClientId;
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::{Browser, Page};
use portcullis_e2e::fixtures::{self, PASSWORD};
use portcullis_e2e::flows::CHALLENGE;
use serde_json::json;

use crate::admin::{admin_token, call};

/// An authorization request of the native app, for its loopback redirect on `port`.
fn native_request(client_id: &str, port: u16, extra: &str) -> String {
    let redirect_uri = format!("http://127.0.0.1:{port}/cb");
    let mut path = url::form_urlencoded::Serializer::new(String::from("/authorize?"))
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid profile")
        .append_pair("state", "st4te")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish();
    path.push_str(extra);
    path
}

fn is_consent_page(page: &Page) -> bool {
    page.status == 200 && page.body.contains("action=\"/consent\"")
}

/// The redirect's target and its `code`, if any.
fn code_to(page: &Page) -> (String, Option<String>) {
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.clone().unwrap();
    let params = page.redirect_params().unwrap();
    (location, params.get("code").cloned())
}

pub(crate) async fn public_clients_are_asked_every_time_unless_first_party(app: &TestApp) {
    // Arrange: the user signs in to the native app on its first loopback port and
    // approves; the app's id and the second port are then used by another program.
    let (app_port, other_port) = (49_152, 49_153);
    fixtures::user(app.store.as_ref(), "nina").await.unwrap();
    let native = fixtures::client(app.store.as_ref(), true).await.unwrap();
    let browser = Browser::new(&app.base_url).unwrap();
    let first = browser
        .sign_in(&native_request(&native.id, app_port, ""), "nina", PASSWORD)
        .await
        .unwrap();
    let (first_target, first_code) = code_to(&first);
    assert!(first_target.starts_with(&format!("http://127.0.0.1:{app_port}/cb?")));
    assert!(first_code.is_some());

    // Act: the same request again, from the other port, and silently.
    let again = browser
        .get(&native_request(&native.id, app_port, ""))
        .await
        .unwrap();
    let other = browser
        .get(&native_request(&native.id, other_port, ""))
        .await
        .unwrap();
    let silent = browser
        .get(&native_request(&native.id, other_port, "&prompt=none"))
        .await
        .unwrap();

    // Assert: the user is asked each time, and prompt=none cannot skip the page.
    assert!(is_consent_page(&again), "{} {}", again.status, again.body);
    assert!(is_consent_page(&other), "{} {}", other.status, other.body);
    assert!(
        other.body.contains("127.0.0.1"),
        "names where the code goes"
    );
    let (silent_target, silent_code) = code_to(&silent);
    assert!(silent_target.starts_with(&format!("http://127.0.0.1:{other_port}/cb?")));
    assert_eq!(silent_code, None);
    assert_eq!(
        silent.redirect_params().unwrap()["error"],
        "consent_required"
    );

    // Act: the operator vouches for the app.
    set_first_party(app.store.as_ref(), &native.id, true, SystemClock.now())
        .await
        .unwrap();
    let vouched = browser
        .get(&native_request(&native.id, other_port, ""))
        .await
        .unwrap();

    // Assert: now the remembered consent stands.
    let (_, vouched_code) = code_to(&vouched);
    assert!(vouched_code.is_some());
}

pub(crate) async fn only_an_operator_marks_a_client_first_party(app: &TestApp) {
    // Arrange
    let token = admin_token(app).await;
    let t = Some(token.as_str());
    let native = json!({
        "client_name": "Desktop app",
        "application_type": "native",
        "redirect_uris": ["http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "none",
    });
    let mut first_party = native.clone();
    first_party["first_party"] = json!(true);
    let mut not_a_bool = native.clone();
    not_a_bool["first_party"] = json!("yes");

    // Act: the operator creates a first-party client, replaces it without the member,
    // and sends a malformed one; a registrant claims first party for itself.
    let (created, _, created_info) =
        call(app, "POST", "/admin/clients", t, Some(first_party)).await;
    let id = created_info["client_id"].as_str().unwrap().to_owned();
    let stored_created = app.store.find_client(&ClientId(id.clone())).await.unwrap();
    let (replaced, _, replaced_info) = call(
        app,
        "PUT",
        &format!("/admin/clients/{id}"),
        t,
        Some(native.clone()),
    )
    .await;
    let (malformed, _, malformed_body) = call(
        app,
        "PUT",
        &format!("/admin/clients/{id}"),
        t,
        Some(not_a_bool),
    )
    .await;
    let mut claimed = native.clone();
    claimed["first_party"] = json!(true);
    let registered = app
        .http
        .post(app.url("/register"))
        .json(&claimed)
        .send()
        .await
        .unwrap();
    let registered_status = registered.status().as_u16();
    let registered: serde_json::Value = registered.json().await.unwrap();
    let registered_id = registered["client_id"].as_str().unwrap().to_owned();

    // Assert
    assert_eq!(created, 201, "{created_info}");
    assert_eq!(created_info["first_party"], true);
    assert!(stored_created.unwrap().first_party);
    assert_eq!(replaced, 200, "{replaced_info}");
    assert_eq!(replaced_info["first_party"], false);
    assert_eq!(malformed, 400);
    assert_eq!(malformed_body["error"], "invalid_request");
    assert_eq!(registered_status, 201, "{registered}");
    let stored = app
        .store
        .find_client(&ClientId(registered_id))
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.first_party);
}
