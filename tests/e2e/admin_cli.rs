//! The operator's side of administration with the real `portcullis` binary:
//! `admin bootstrap` (once only), `registration create-token` feeding a server in token
//! mode, and `audit list` showing who did what from where.

use portcullis_e2e::bin::{CliSandbox, spawn_server, stderr, stdout};
use serde_json::{Value, json};

#[test]
fn admin_bootstrap_creates_the_first_admin_once_and_is_audited() {
    // Arrange
    let sandbox = CliSandbox::new();

    // Act
    let first = sandbox.run(
        &[
            "admin",
            "bootstrap",
            "--username",
            "root",
            "--password-stdin",
        ],
        "a long admin password\n",
    );
    let second = sandbox.run(
        &[
            "admin",
            "bootstrap",
            "--username",
            "root2",
            "--password-stdin",
        ],
        "another long password\n",
    );
    let users = sandbox.run(&["user", "list", "--json"], "");
    let audit = sandbox.run(&["audit", "list", "--json", "--limit", "5"], "");
    let table = sandbox.run(&["audit", "list"], "");

    // Assert
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("created administrator root"));
    assert!(!second.status.success());
    let err = stderr(&second);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("administrator already exists"), "{err}");
    let users: Value = serde_json::from_str(&stdout(&users)).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["roles"], json!(["admin"]));
    let audit: Value = serde_json::from_str(&stdout(&audit)).unwrap();
    assert_eq!(audit[0]["action"], "admin.bootstrap");
    assert_eq!(audit[0]["actor"], "cli");
    assert_eq!(audit[0]["detail"]["username"], "root");
    assert!(!stdout(&table).contains("long admin password"));
    assert!(stdout(&table).contains("admin.bootstrap"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_access_token_from_the_cli_registers_a_client_on_a_token_mode_server() {
    // Arrange: a token created before the server starts, in the same database.
    let sandbox = CliSandbox::new();
    let created = sandbox.run(
        &[
            "registration",
            "create-token",
            "--description",
            "partner onboarding",
            "--expires-in",
            "1day",
            "--json",
        ],
        "",
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let created: Value = serde_json::from_str(&stdout(&created)).unwrap();
    let token = created["initial_access_token"].as_str().unwrap().to_owned();
    let data = sandbox.data_dir();
    let server = tokio::task::spawn_blocking(move || {
        spawn_server(&[
            ("PORTCULLIS_DATA_DIR", &data),
            ("PORTCULLIS_LISTEN", "127.0.0.1:0"),
            ("PORTCULLIS_REGISTRATION__MODE", "token"),
        ])
    })
    .await
    .unwrap()
    .unwrap();
    let http = openidconnect::reqwest::Client::new();
    let body = json!({"redirect_uris": ["https://partner.example/cb"], "client_name": "Partner"});

    // Act
    let refused = http
        .post(format!("{}/register", server.base_url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status();
    let registered = http
        .post(format!("{}/register", server.base_url))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = registered.status();
    let info: Value = registered.json().await.unwrap();
    let status_after = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap()
        .unwrap();
    let audit = sandbox.run(&["audit", "list", "--json"], "");

    // Assert
    assert!(token.starts_with("pia_"));
    assert!(created["expires_at"].as_i64().is_some());
    assert_eq!(refused, 401);
    assert_eq!(status, 201, "{info}");
    assert!(status_after.success());
    let audit: Value = serde_json::from_str(&stdout(&audit)).unwrap();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("registration.create", "initial_access_token"),
            ("registration.create_token", "cli")
        ]
    );
    assert_eq!(audit[0]["ip"], "127.0.0.1");
    assert_eq!(audit[0]["target"], info["client_id"]);
    assert!(
        !audit.to_string().contains(&token),
        "the token is never audited"
    );
}
