//! `TestApp`: the real Portcullis server on port 0 with a fresh database, driven over
//! HTTP. The listener is bound before the server starts, so there is nothing to wait for
//! (no sleeps, no polling) and the issuer names the real port.

use std::sync::Arc;

use anyhow::Context as _;
use openidconnect::reqwest;
use portcullis_core::keyring::{KeyEncryptionKey, Keyring};
use portcullis_core::password::PasswordHasher;
use portcullis_core::store::Store;
use portcullis_core::{Clock, SystemClock};
use portcullis_server::{Application, Backchannel, Config};
use secrecy::SecretString;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::{Backend, TestDb};

/// A running server and what a test needs to drive and inspect it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`: also the issuer (except on a [`TestApp::replica`], which
    /// keeps its primary's).
    pub base_url: String,
    /// The bound port.
    pub port: u16,
    /// An HTTP client that does not follow redirects (tests assert on them).
    pub http: reqwest::Client,
    /// The server's store, for arranging data and asserting effects.
    pub store: Arc<dyn Store>,
    /// The server's keyring.
    pub keyring: Arc<Keyring>,
    /// The server's back-channel logout sender: `settled()` waits for its deliveries.
    pub backchannel: Backchannel,
    /// The server's password hasher: a test can hold its slots to see what a flood does.
    pub hasher: PasswordHasher,
    /// The configuration it runs with.
    pub config: Config,
    /// The server's clock (shared with its replicas).
    clock: Arc<dyn Clock>,
    backend: Backend,
    /// The database this server owns and removes on `stop` (`None` on a replica).
    db: Option<TestDb>,
    _data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A fresh base64url key-encryption key.
pub fn random_kek() -> anyhow::Result<String> {
    let (_, encoded) = KeyEncryptionKey::generate()?;
    Ok(encoded)
}

impl TestApp {
    /// Starts a server on a fresh database of `backend`; `Ok(None)` when that backend is
    /// Postgres and it is unreachable outside CI (reported as skipped).
    pub async fn spawn(backend: Backend, test_name: &str) -> anyhow::Result<Option<TestApp>> {
        TestApp::spawn_with(backend, test_name, |_| {}).await
    }

    /// As [`TestApp::spawn`], with the configuration adjusted by `configure` first.
    pub async fn spawn_with(
        backend: Backend,
        test_name: &str,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Option<TestApp>> {
        TestApp::spawn_with_clock(backend, test_name, Arc::new(SystemClock), configure).await
    }

    /// As [`TestApp::spawn_with`], on `clock` (a `ManualClock` lets a test step over a
    /// delay instead of sleeping through it).
    pub async fn spawn_with_clock(
        backend: Backend,
        test_name: &str,
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Option<TestApp>> {
        let Some(db) = TestDb::create(backend, test_name).await? else {
            return Ok(None);
        };
        TestApp::spawn_configured(db, clock, configure)
            .await
            .map(Some)
    }

    /// Starts a server on `db`.
    pub async fn spawn_on(db: TestDb) -> anyhow::Result<TestApp> {
        TestApp::spawn_configured(db, Arc::new(SystemClock), |_| {}).await
    }

    async fn spawn_configured(
        db: TestDb,
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestApp> {
        let (listener, port) = bind_port_zero().await?;
        let data_dir = tempfile::tempdir()?;
        let mut config = Config {
            issuer: format!("http://127.0.0.1:{port}"),
            listen: format!("127.0.0.1:{port}"),
            data_dir: data_dir.path().to_path_buf(),
            database_url: db.url().to_owned(),
            database_max_connections: 8,
            key_encryption_key: Some(SecretString::from(random_kek()?)),
            ..Config::default()
        };
        // Dynamic registration is on in tests, with a budget no test exhausts by accident
        // (the rate-limit test sets its own).
        config.registration.mode = portcullis_core::registration::RegistrationMode::Open;
        config.registration.rate_limit_burst = 10_000;
        configure(&mut config);
        let backend = db.backend();
        TestApp::start(config, clock, listener, port, data_dir, backend, Some(db)).await
    }

    /// Another replica of this server: a second server on the same database with the same
    /// configuration (issuer and key-encryption key included) on its own port, as behind
    /// a load balancer. Stopping it leaves the database to this one.
    pub async fn replica(&self) -> anyhow::Result<TestApp> {
        let (listener, port) = bind_port_zero().await?;
        let data_dir = tempfile::tempdir()?;
        let config = Config {
            listen: format!("127.0.0.1:{port}"),
            data_dir: data_dir.path().to_path_buf(),
            ..self.config.clone()
        };
        TestApp::start(
            config,
            self.clock.clone(),
            listener,
            port,
            data_dir,
            self.backend,
            None,
        )
        .await
    }

    async fn start(
        config: Config,
        clock: Arc<dyn Clock>,
        listener: tokio::net::TcpListener,
        port: u16,
        data_dir: tempfile::TempDir,
        backend: Backend,
        db: Option<TestDb>,
    ) -> anyhow::Result<TestApp> {
        let app = Application::build_with_listener(config.clone(), clock.clone(), listener).await?;
        let store = app.store();
        let keyring = app.keyring();
        let backchannel = app.backchannel();
        let hasher = app.password_hasher();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stop_rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(TestApp {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            http,
            store,
            keyring,
            backchannel,
            hasher,
            config,
            clock,
            backend,
            db,
            _data_dir: data_dir,
            stop: Some(stop_tx),
            server: Some(server),
        })
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.http.get(self.url(path)).send().await?)
    }

    /// The backend the server's database runs on (tests that start a second,
    /// differently configured server use the same one).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Shuts the server down gracefully and removes its database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.context("server task")??;
        }
        if let Some(db) = self.db.take() {
            db.cleanup().await?;
        }
        Ok(())
    }
}

/// A listener on a free loopback port, bound before the server starts (nothing to wait
/// for), and that port.
async fn bind_port_zero() -> anyhow::Result<(tokio::net::TcpListener, u16)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding port 0")?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A test that panicked before `stop`: end the server task; the TestDb's own Drop
        // removes the database.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
