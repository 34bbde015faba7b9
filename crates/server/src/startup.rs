//! The application: builds every endpoint crate's state from `Config`, merges their
//! routers, binds the listener (port 0 works, for tests), serves it with bounded header
//! reads, requests and connections (`serve`), runs background jobs and shuts down
//! gracefully, letting in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath};
use axum::http::{HeaderValue, Request, StatusCode, header};
use portcullis_admin::AdminState;
use portcullis_authorize::{
    AuthorizeState, Backchannel, BackchannelNotifier, CookiePolicy, DeliveryPolicy,
    SessionLifetimes,
};
use portcullis_core::csrf::CsrfKey;
use portcullis_core::keyring::Keyring;
use portcullis_core::password::PasswordHasher;
use portcullis_core::registration::RegistrationMode;
use portcullis_core::sessions::SessionEndNotifier;
use portcullis_core::store::Store;
use portcullis_core::tokens::TokenLifetimes;
use portcullis_core::{Clock, SystemClock};
use portcullis_token::{ClientCache, JwksCache, TokenState};
use portcullis_userinfo::{DiscoveryDocument, DiscoveryInput, UserinfoState};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::jobs;
use crate::ops::{self, OpsState};
use crate::store::{open_store, resolve_key_encryption_key};

mod admin;
mod client_addr;
mod serve;

/// HSTS for a year (RFC 6797 §6.1.1), the order of magnitude browsers' preload lists ask
/// for; without `includeSubDomains`, since the issuer's host may share a parent domain with
/// sites that are not ours to commit.
const HSTS: &str = "max-age=31536000";

/// No request we serve needs a large body. The limit is axum's `DefaultBodyLimit`, which
/// every body extractor of ours reads through (the token and registration endpoints read
/// with smaller bounds of their own), so an oversized body is refused in each endpoint's
/// own error shape rather than by a layer answering in plain text.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every endpoint crate's state; `FromRef` hands each router only its own part. axum
/// clones the state for every request, so it sits behind one `Arc`: a request pays for
/// cloning its own crate's part, not all five.
#[derive(Clone)]
struct AppState(Arc<EndpointStates>);

struct EndpointStates {
    authorize: AuthorizeState,
    token: TokenState,
    userinfo: UserinfoState,
    ops: OpsState,
    admin: AdminState,
}

impl FromRef<AppState> for AuthorizeState {
    fn from_ref(s: &AppState) -> Self {
        s.0.authorize.clone()
    }
}
impl FromRef<AppState> for TokenState {
    fn from_ref(s: &AppState) -> Self {
        s.0.token.clone()
    }
}
impl FromRef<AppState> for UserinfoState {
    fn from_ref(s: &AppState) -> Self {
        s.0.userinfo.clone()
    }
}
impl FromRef<AppState> for OpsState {
    fn from_ref(s: &AppState) -> Self {
        s.0.ops.clone()
    }
}
impl FromRef<AppState> for AdminState {
    fn from_ref(s: &AppState) -> Self {
        s.0.admin.clone()
    }
}

/// What discovery says about this build: only endpoints that are mounted.
fn discovery_input(issuer: &str, registration: RegistrationMode) -> DiscoveryInput {
    DiscoveryInput {
        issuer: issuer.to_owned(),
        authorization_path: Some(portcullis_authorize::AUTHORIZE_PATH),
        token_path: Some(portcullis_token::TOKEN_PATH),
        userinfo_path: Some(portcullis_userinfo::USERINFO_PATH),
        jwks_path: portcullis_userinfo::JWKS_PATH,
        revocation_path: Some(portcullis_token::REVOKE_PATH),
        introspection_path: Some(portcullis_token::INTROSPECT_PATH),
        end_session_path: Some(portcullis_authorize::LOGOUT_PATH),
        backchannel_logout: true,
        grant_types: vec!["authorization_code", "refresh_token", "client_credentials"],
        token_endpoint_auth_methods: vec![
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        // RFC 7009 §5: a public client revokes its own tokens by naming itself.
        revocation_endpoint_auth_methods: vec![
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        // RFC 7662 §2.1, §4: only clients that can authenticate may introspect.
        introspection_endpoint_auth_methods: vec![
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        // RFC 8414 §2: advertised only when served.
        registration_path: (registration != RegistrationMode::Off)
            .then_some(portcullis_admin::REGISTER_PATH),
        token_endpoint_auth_signing_algs: portcullis_core::client_keys::ASSERTION_ALGS.to_vec(),
        scopes: vec!["openid", "profile", "email", "offline_access", "roles"],
        claims: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "picture",
            "updated_at",
            "email",
            "email_verified",
            "roles",
        ],
    }
}

/// A built server, bound and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    hasher: PasswordHasher,
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    backchannel: Backchannel,
    limits: serve::ConnectionLimits,
    config: Config,
}

impl Application {
    /// Opens the store (migrating it), loads or creates the keyring, builds the routers and
    /// binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with an injected clock (tests).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        config.validate()?;
        let addr = config.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("PORTCULLIS_LISTEN: cannot listen on {addr}"))?;
        Self::build_with_listener(config, clock, listener).await
    }

    /// As [`Application::build_with_clock`], on a listener bound by the caller (tests bind
    /// port 0 first so the issuer can name the real port).
    pub async fn build_with_listener(
        config: Config,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        config.validate()?;
        let kek = resolve_key_encryption_key(&config)?;
        let store = open_store(&config).await?;
        let keyring = Arc::new(
            Keyring::open(store.as_ref(), kek, clock.now())
                .await
                .context("loading the signing keyring")?,
        );
        let issuer: Arc<str> = Arc::from(config.issuer.as_str());
        let discovery = Arc::new(
            DiscoveryDocument::build(&discovery_input(&config.issuer, config.registration.mode))
                .context("building the discovery document")?,
        );
        // One hasher, so logins and admin password changes share its concurrency bound.
        let hasher = PasswordHasher::new(config.argon2()?, config.password.max_concurrent)
            .context("preparing the password hasher")?
            .with_queue(config.hash_queue());
        // One notifier, so logouts and admin session endings send logout tokens alike.
        let backchannel = Backchannel::new(DeliveryPolicy::default())
            .context("preparing back-channel logout delivery")?;
        let notifier: Arc<dyn SessionEndNotifier> = Arc::new(BackchannelNotifier::new(
            store.clone(),
            clock.clone(),
            keyring.clone(),
            issuer.clone(),
            backchannel.clone(),
        ));
        let state = AppState(Arc::new(EndpointStates {
            admin: admin::admin_state(
                &config,
                store.clone(),
                keyring.clone(),
                clock.clone(),
                issuer.clone(),
                hasher.clone(),
                notifier.clone(),
            )?,
            authorize: AuthorizeState {
                store: store.clone(),
                issuer: issuer.clone(),
                clock: clock.clone(),
                hasher: hasher.clone(),
                throttle: config.login_throttle.policy()?,
                csrf: CsrfKey::derive(keyring.kek()).context("deriving the CSRF key")?,
                cookies: CookiePolicy {
                    secure: !config.is_loopback_http_issuer(),
                },
                sessions: SessionLifetimes {
                    ttl: config.session.ttl,
                    idle_ttl: config.session.idle_ttl,
                },
                code_ttl: config.tokens.code_ttl,
                keyring: keyring.clone(),
                notifier,
            },
            token: TokenState {
                store: store.clone(),
                keyring: keyring.clone(),
                clock: clock.clone(),
                issuer: issuer.clone(),
                lifetimes: TokenLifetimes {
                    access_token: config.tokens.access_token_ttl,
                    id_token: config.tokens.id_token_ttl,
                    refresh_token: config.tokens.refresh_token_ttl,
                    refresh_token_idle: config.tokens.refresh_token_idle_ttl,
                },
                clients: Arc::new(ClientCache::new(config.tokens.client_cache_ttl)),
                client_keys: Arc::new(
                    JwksCache::new(config.is_loopback_http_issuer())
                        .context("preparing jwks_uri fetching for private_key_jwt")?,
                ),
                refresh_token_reuse_grace: config.tokens.refresh_token_reuse_grace,
            },
            userinfo: UserinfoState {
                discovery,
                keyring: keyring.clone(),
                max_age_secs: config.metadata_max_age.as_secs(),
                store: store.clone(),
                clock: clock.clone(),
                issuer,
            },
            ops: OpsState {
                store: store.clone(),
            },
        }));
        let proxies = Arc::new(config.trusted_proxies()?);
        let router = Router::new()
            .merge(portcullis_authorize::router())
            .merge(portcullis_token::router())
            .merge(portcullis_userinfo::router())
            .merge(ops::router())
            .merge(portcullis_admin::router(config.registration.mode))
            .with_state(state)
            .layer(axum::middleware::from_fn_with_state(
                proxies,
                client_addr::resolve_client_addr,
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            // Inside the trace span, so a request cut short is logged with its 408; a
            // client trickling its body is cut short here (its headers are bounded by
            // the connection's header read timeout).
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.http_request_timeout,
            ))
            .layer(TraceLayer::new_for_http().make_span_with(request_span));
        // RFC 6797 §7.2: sent only over https, which an https issuer means (TLS may end at
        // a proxy in front of us); on a plain-http development issuer it would be ignored
        // at best and pin a host that serves no https at worst.
        let router = if config.is_https_issuer() {
            router.layer(SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            ))
        } else {
            router
        };
        // The SQLite store holds one more connection than the pool: its writer.
        let database_files = u64::from(config.database_max_connections) + 1;
        let limits = serve::ConnectionLimits {
            header_read_timeout: config.http_header_read_timeout,
            max_connections: serve::connection_cap(config.http_max_connections, database_files),
        };
        Ok(Application {
            listener,
            router,
            hasher,
            store,
            keyring,
            clock,
            backchannel,
            limits,
            config,
        })
    }

    /// The bound port (useful with `127.0.0.1:0`).
    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The live keyring.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring.clone()
    }

    /// The password hasher every login and password change shares (its slots bound the
    /// hashing work in flight).
    pub fn password_hasher(&self) -> PasswordHasher {
        self.hasher.clone()
    }

    /// The store the application uses.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The back-channel logout sender, to wait until its deliveries have settled.
    pub fn backchannel(&self) -> Backchannel {
        self.backchannel.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests
    /// finish (up to `shutdown_grace`) and stops the background jobs.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        let reload = jobs::spawn_keyring_reload(
            self.store.clone(),
            self.keyring.clone(),
            self.clock.clone(),
            self.config.keys.reload_interval,
            stop_rx.clone(),
        );
        let purge = jobs::spawn_purge(
            self.store.clone(),
            self.clock.clone(),
            self.config.purge_interval,
            stop_rx.clone(),
        );
        let (signalled_tx, mut signalled_rx) = watch::channel(false);
        let signalled_at = Arc::new(std::sync::OnceLock::new());
        let graceful = {
            let signalled_at = signalled_at.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = signalled_at.set(tokio::time::Instant::now());
                let _ = signalled_tx.send(true);
            }
        };
        let serve = serve::serve(self.listener, self.router, self.limits, graceful);
        let grace = self.config.shutdown_grace;
        let deadline = async move {
            while !*signalled_rx.borrow() {
                if signalled_rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = serve => {}
            () = deadline => {
                tracing::warn!("shutdown grace period over: dropping unfinished requests");
            }
        }
        // Logout tokens already on their way are part of the logouts just answered: let them
        // finish (and record their outcome) within what is left of the same grace period.
        let left = signalled_at
            .get()
            .map_or(grace, |at: &tokio::time::Instant| {
                grace.saturating_sub(at.elapsed())
            });
        if tokio::time::timeout(left, self.backchannel.settled())
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown grace period over: dropping unfinished back-channel logout deliveries"
            );
        }
        let _ = stop_tx.send(true);
        let _ = tokio::join!(reload, purge);
        Ok(())
    }
}

/// The request span: method and matched route only, never the query string (it can carry
/// `state`, `login_hint` and other values we do not log).
fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().to_owned());
    tracing::info_span!("request", method = %req.method(), route = %route)
}

/// Installs the SIGINT and SIGTERM handlers now (before the server reports ready, so an
/// early signal is never lost to the default action) and returns a future that resolves on
/// the first of them.
#[cfg(unix)]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Installs the Ctrl-C handler and returns a future that resolves on it.
#[cfg(not(unix))]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
