//! The real `portcullis` binary: operator commands, one-line errors with non-zero exits,
//! start-up validation, graceful shutdown, and several processes sharing one Postgres.

use std::process::Output;

use portcullis_core::ids::ClientId;
use portcullis_e2e::app::random_kek;
use portcullis_e2e::bin::{CliSandbox, run_portcullis, spawn_server, stderr, stdout};
use portcullis_e2e::db::TestDb;

/// A failed command: non-zero exit, exactly one line on stderr, no panic or backtrace.
fn assert_one_line_failure(o: &Output, needle: &str) {
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{err}");
    assert!(
        lines[0].contains(needle),
        "stderr {:?} does not mention {needle:?}",
        lines[0]
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn user_create_list_disable_and_duplicate_username() {
    // Arrange
    let sandbox = CliSandbox::new();

    // Act
    let created = sandbox.run(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--name",
            "Alice",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    let duplicate = sandbox.run(
        &["user", "create", "--username", "alice", "--password-stdin"],
        "another password\n",
    );
    let disabled = sandbox.run(&["user", "disable", "--username", "alice"], "");
    let listed = sandbox.run(&["user", "list", "--json"], "");

    // Assert
    assert!(created.status.success(), "{}", stderr(&created));
    assert_one_line_failure(&duplicate, "already taken");
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    let users: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["email"], "alice@example.com");
    assert_eq!(users[0]["roles"], serde_json::json!(["admin"]));
    assert_eq!(users[0]["disabled"], true);
}

#[test]
fn bad_cli_input_gives_one_line_errors() {
    let sandbox = CliSandbox::new();
    assert_one_line_failure(
        &sandbox.run(&["user", "create", "--password-stdin"], "pw\n"),
        "--username",
    );
    assert_one_line_failure(
        &sandbox.run(&["user", "create", "--username", "bob"], ""),
        "--password-stdin",
    );
    assert_one_line_failure(
        &sandbox.run(
            &["user", "create", "--username", "bob", "--password-stdin"],
            "short\n",
        ),
        "at least 8",
    );
    assert_one_line_failure(
        &sandbox.run(&["user", "disable", "--username", "nobody"], ""),
        "no user",
    );
    assert_one_line_failure(
        &sandbox.run(
            &[
                "client",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "https://app.example/cb#frag",
            ],
            "",
        ),
        "fragment",
    );
    assert_one_line_failure(
        &sandbox.run(
            &[
                "client",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "http://app.example/cb",
            ],
            "",
        ),
        "not loopback",
    );
    assert_one_line_failure(
        &sandbox.run(&["client", "create", "--name", "X"], ""),
        "redirect URI",
    );
    assert_one_line_failure(
        &sandbox.run(
            &[
                "client",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "https://a.example/cb",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "",
        ),
        "public client",
    );
    assert_one_line_failure(&sandbox.run(&["client", "show", "nope"], ""), "no client");
    assert_one_line_failure(&sandbox.run(&["frobnicate"], ""), "frobnicate");
}

#[tokio::test]
async fn client_create_json_shows_the_secret_once_and_stores_only_its_hash() {
    // Arrange
    let sandbox = CliSandbox::new();

    // Act
    let created = sandbox.run(
        &[
            "client",
            "create",
            "--name",
            "Example App",
            "--redirect-uri",
            "https://app.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--post-logout-redirect-uri",
            "https://app.example/bye",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile",
            "--json",
        ],
        "",
    );
    let public = sandbox.run(
        &[
            "client",
            "create",
            "--name",
            "CLI tool",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
            "--json",
        ],
        "",
    );
    let shown = sandbox.run(&["client", "show", "--json", "placeholder"], "");

    // Assert
    assert!(created.status.success(), "{}", stderr(&created));
    let doc: serde_json::Value = serde_json::from_str(stdout(&created).trim()).unwrap();
    let client_id = doc["client_id"].as_str().unwrap().to_owned();
    let secret = doc["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "secret carries at least 256 bits");
    assert_eq!(
        doc["redirect_uris"],
        serde_json::json!(["https://app.example/cb", "http://127.0.0.1/cb"])
    );
    assert_eq!(
        doc["post_logout_redirect_uris"],
        serde_json::json!(["https://app.example/bye"])
    );
    assert_eq!(doc["scope"], "openid profile");
    let public: serde_json::Value = serde_json::from_str(stdout(&public).trim()).unwrap();
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert!(!shown.status.success());

    // The secret is never shown again and is stored only as its SHA-256.
    let again = sandbox.run(&["client", "show", &client_id, "--json"], "");
    assert!(!stdout(&again).contains(&secret));
    let db = std::path::Path::new(&sandbox.data_dir()).join("portcullis.db");
    let store = portcullis_store::SqliteStore::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    use portcullis_core::store::ClientStore as _;
    let stored = store
        .find_client(&ClientId(client_id))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.secret_hash.unwrap().matches(&secret));
    for file in ["portcullis.db", "portcullis.db-wal"] {
        let path = db.with_file_name(file);
        if path.exists() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "plaintext secret found in {file}"
            );
        }
    }
}

#[test]
fn client_create_and_update_mark_a_client_first_party_and_back() {
    // Arrange
    let sandbox = CliSandbox::new();
    let json_of = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", stderr(o));
        serde_json::from_str(stdout(o).trim()).unwrap()
    };

    // Act
    let created = json_of(&sandbox.run(
        &[
            "client",
            "create",
            "--name",
            "Desktop app",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
            "--first-party",
            "--json",
        ],
        "",
    ));
    let id = created["client_id"].as_str().unwrap().to_owned();
    let cleared = json_of(&sandbox.run(
        &["client", "update", &id, "--first-party", "false", "--json"],
        "",
    ));
    let shown = json_of(&sandbox.run(&["client", "show", &id, "--json"], ""));
    let nothing = sandbox.run(&["client", "update", &id], "");

    // Assert
    assert_eq!(created["first_party"], true);
    assert_eq!(cleared["first_party"], false);
    assert_eq!(shown["first_party"], false);
    assert_one_line_failure(&nothing, "--first-party");
}

#[test]
fn key_rotation_publishes_next_keys_before_they_sign() {
    // Arrange
    let sandbox = CliSandbox::new();
    let before: serde_json::Value =
        serde_json::from_str(&stdout(&sandbox.run(&["keys", "list", "--json"], ""))).unwrap();

    // Act
    let rotated = sandbox.run(&["keys", "rotate"], "");
    let after: serde_json::Value =
        serde_json::from_str(&stdout(&sandbox.run(&["keys", "list", "--json"], ""))).unwrap();

    // Assert
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let states = |v: &serde_json::Value| {
        let mut s: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                format!(
                    "{} {}",
                    k["alg"].as_str().unwrap(),
                    k["state"].as_str().unwrap()
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(states(&before), ["ES256 active", "RS256 active"]);
    assert_eq!(
        states(&after),
        ["ES256 active", "ES256 next", "RS256 active", "RS256 next"]
    );
    for old in after
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "active")
    {
        assert!(
            old["retires_at"].as_i64().is_some(),
            "superseded key gets a retirement time"
        );
    }
}

#[test]
fn startup_errors_name_the_key_and_exit_non_zero() {
    let sandbox = CliSandbox::new();
    let data = sandbox.data_dir();
    let missing = sandbox.path().join("missing-kek").display().to_string();
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("PORTCULLIS_ISSUER", "http://id.example")],
            "PORTCULLIS_ISSUER",
        ),
        (
            &[("PORTCULLIS_LISTEN", "not-an-address")],
            "PORTCULLIS_LISTEN",
        ),
        (
            &[
                (
                    "PORTCULLIS_DATABASE_URL",
                    "postgres://postgres@127.0.0.1:1/portcullis",
                ),
                (
                    "PORTCULLIS_KEY_ENCRYPTION_KEY",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ),
            ],
            "PORTCULLIS_DATABASE_URL",
        ),
        (
            &[("PORTCULLIS_KEY_ENCRYPTION_KEY_FILE", &missing)],
            "PORTCULLIS_KEY_ENCRYPTION_KEY_FILE",
        ),
        (
            &[(
                "PORTCULLIS_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/postgres",
            )],
            "PORTCULLIS_KEY_ENCRYPTION_KEY",
        ),
        // Below OWASP's argon2id floor: 19 MiB needs two passes.
        (
            &[
                ("PORTCULLIS_PASSWORD__MEMORY_KIB", "19456"),
                ("PORTCULLIS_PASSWORD__ITERATIONS", "1"),
            ],
            "PORTCULLIS_PASSWORD__ITERATIONS",
        ),
    ];
    for (env, needle) in cases {
        let mut full = vec![
            ("PORTCULLIS_DATA_DIR", data.as_str()),
            ("PORTCULLIS_LOG__LEVEL", "off"),
        ];
        full.extend_from_slice(env);
        let out = run_portcullis(&full, &["serve"], "").unwrap();
        assert_one_line_failure(&out, needle);
    }
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    // Arrange
    let sandbox = CliSandbox::new();
    let data = sandbox.data_dir();
    let server = spawn_server(&[
        ("PORTCULLIS_DATA_DIR", &data),
        ("PORTCULLIS_LISTEN", "127.0.0.1:0"),
    ])
    .unwrap();
    assert!(server.base_url.starts_with("http://127.0.0.1:"));

    // Act
    let status = server.terminate().unwrap();

    // Assert
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_publish_the_same_jwks_and_share_cli_changes() {
    // Arrange: a fresh database both processes start against at the same time, so they
    // also race to migrate and to create the keyring.
    let Some(db) = TestDb::postgres("cli::two_processes_on_one_postgres")
        .await
        .unwrap()
    else {
        return;
    };
    let kek = random_kek().unwrap();
    let sandbox = CliSandbox::new();
    let data = sandbox.data_dir();
    let env = [
        ("PORTCULLIS_DATABASE_URL", db.url()),
        ("PORTCULLIS_KEY_ENCRYPTION_KEY", kek.as_str()),
        ("PORTCULLIS_LISTEN", "127.0.0.1:0"),
        ("PORTCULLIS_DATA_DIR", data.as_str()),
    ];

    // Act
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn_server(&env));
        let b = s.spawn(|| spawn_server(&env));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let http = openidconnect::reqwest::Client::new();
    let jwks_a = http
        .get(format!("{}/jwks.json", a.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks_b = http
        .get(format!("{}/jwks.json", b.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let disc_b: serde_json::Value = http
        .get(format!("{}/.well-known/openid-configuration", b.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = run_portcullis(
        &[
            ("PORTCULLIS_DATABASE_URL", db.url()),
            ("PORTCULLIS_LOG__LEVEL", "error"),
        ],
        &[
            "user",
            "create",
            "--username",
            "pg-user",
            "--password-stdin",
        ],
        "long enough password\n",
    )
    .unwrap();
    let listed = run_portcullis(
        &[
            ("PORTCULLIS_DATABASE_URL", db.url()),
            ("PORTCULLIS_LOG__LEVEL", "error"),
        ],
        &["user", "list", "--json"],
        "",
    )
    .unwrap();

    // Assert
    assert_eq!(jwks_a, jwks_b, "replicas must publish the same keys");
    let jwks: serde_json::Value = serde_json::from_str(&jwks_a).unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "exactly one keyring was created"
    );
    assert_eq!(disc_b["issuer"], "http://127.0.0.1:8080");
    assert!(user.status.success(), "{}", stderr(&user));
    assert!(stdout(&listed).contains("\"pg-user\""));
    assert!(a.terminate().unwrap().success());
    assert!(b.terminate().unwrap().success());
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_keeps_working_on_a_sqlite_database_a_live_server_is_writing() {
    // Arrange: a server on the sandbox's SQLite file, and a client it issues tokens to.
    let sandbox = CliSandbox::new();
    let data = sandbox.data_dir();
    let created = sandbox.run(
        &[
            "client",
            "create",
            "--name",
            "Load",
            "--grant-type",
            "client_credentials",
            "--json",
        ],
        "",
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let doc: serde_json::Value = serde_json::from_str(stdout(&created).trim()).unwrap();
    let client_id = doc["client_id"].as_str().unwrap().to_owned();
    let secret = doc["client_secret"].as_str().unwrap().to_owned();
    let server = spawn_server(&[
        ("PORTCULLIS_DATA_DIR", &data),
        ("PORTCULLIS_LISTEN", "127.0.0.1:0"),
    ])
    .unwrap();
    let base = server.base_url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The server writes all along: every revocation of an access token is a write.
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (base, client_id, secret, stop) = (
                base.clone(),
                client_id.clone(),
                secret.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut failures = Vec::new();
                let mut revoked = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let token: serde_json::Value = http
                        .post(format!("{base}/token"))
                        .basic_auth(&client_id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let access_token = token["access_token"].as_str().unwrap().to_owned();
                    let revocation = http
                        .post(format!("{base}/revoke"))
                        .basic_auth(&client_id, Some(&secret))
                        .form(&[("token", access_token.as_str())])
                        .send()
                        .await
                        .unwrap();
                    if revocation.status().is_success() {
                        revoked += 1;
                    } else {
                        failures.push(revocation.status());
                    }
                }
                (revoked, failures)
            })
        })
        .collect();

    // Act: another process writes the same file meanwhile.
    let mut outcomes = Vec::new();
    for i in 0..4 {
        let sandbox_dir = data.clone();
        let out = tokio::task::spawn_blocking(move || {
            run_portcullis(
                &[
                    ("PORTCULLIS_DATA_DIR", &sandbox_dir),
                    ("PORTCULLIS_LOG__LEVEL", "error"),
                ],
                &[
                    "user",
                    "create",
                    "--username",
                    &format!("user{i}"),
                    "--password-stdin",
                ],
                &format!("correct horse battery {i}\n"),
            )
        })
        .await
        .unwrap()
        .unwrap();
        outcomes.push(out);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut revoked = 0;
    let mut failures = Vec::new();
    for writer in writers {
        let (n, f) = writer.await.unwrap();
        revoked += n;
        failures.extend(f);
    }
    let listed = sandbox.run(&["user", "list", "--json"], "");
    server.terminate().unwrap();

    // Assert
    for out in &outcomes {
        assert!(
            out.status.success(),
            "the CLI write failed: {}",
            stderr(out)
        );
    }
    assert!(failures.is_empty(), "server writes failed: {failures:?}");
    assert!(revoked > 0, "the server was writing while the CLI ran");
    let users: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(users.as_array().map(Vec::len), Some(4), "{users}");
}
