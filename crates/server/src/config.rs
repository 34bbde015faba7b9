//! The one typed `Config`: built-in defaults, then an optional TOML file (`--config` or
//! `PORTCULLIS_CONFIG`), then `PORTCULLIS_<KEY>` environment variables (`__` for nesting),
//! validated at start-up with errors that name the key.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use portcullis_core::client_addr::{ForwardedHeader, TrustedProxies};
use portcullis_core::ipnet::IpNet;
use portcullis_core::login_throttle::ThrottlePolicy;
use portcullis_core::password::{Argon2Params, HashQueue};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::{Host, Url};

mod registration;

pub use registration::RegistrationConfig;

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read or has the wrong shape.
    #[error("{0}")]
    Load(String),
    /// A value is present but not acceptable.
    #[error("{key}: {problem}")]
    Invalid {
        /// The key, as an operator writes it (e.g. `PORTCULLIS_ISSUER`).
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `portcullis=debug,sqlx=warn`.
    pub level: String,
}

/// Token and code lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Access token lifetime.
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// ID token lifetime.
    #[serde(with = "humantime_serde")]
    pub id_token_ttl: Duration,
    /// Authorization code lifetime (at most 60 s).
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// Refresh token absolute lifetime.
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// Refresh token idle lifetime.
    #[serde(with = "humantime_serde")]
    pub refresh_token_idle_ttl: Duration,
    /// How long a replica may reuse a client record it read for client authentication
    /// (zero disables the cache); changes to a client take effect within it.
    #[serde(with = "humantime_serde")]
    pub client_cache_ttl: Duration,
    /// How long after a refresh token's rotation the same client may present it again
    /// and get another successor, which replaces the first, instead of having the grant
    /// revoked as reuse (a retry after a lost response); zero turns it off. Decision
    /// record 0008 explains the default.
    #[serde(with = "humantime_serde")]
    pub refresh_token_reuse_grace: Duration,
}

/// Signing key handling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// How often each replica reloads the keyring from the store.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// How long a rotated-in key is published before it signs.
    #[serde(with = "humantime_serde")]
    pub publish_delay: Duration,
}

/// Browser sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Absolute session lifetime.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Idle timeout.
    #[serde(with = "humantime_serde")]
    pub idle_ttl: Duration,
}

/// Password hashing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfig {
    /// argon2id memory in KiB.
    pub memory_kib: u32,
    /// argon2id iterations.
    pub iterations: u32,
    /// argon2id lanes.
    pub parallelism: u32,
    /// Hashes running at once; more wait (bounded CPU and memory under a login flood).
    pub max_concurrent: usize,
    /// The longest a password check waits for a hashing slot before it is answered 503
    /// with `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// How many password checks may wait for a slot at once; one more is answered 503 with
    /// `Retry-After` at once.
    pub queue_max: usize,
}

/// The login throttle (online guessing; see docs/security.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginThrottleConfig {
    /// Failures in a row one account may take from one network (an IPv4 address, an IPv6
    /// /64) before each further attempt from there waits.
    pub free_failures: u32,
    /// Failures an account may take from all networks together before every attempt on
    /// it waits; each network adds at most `free_failures` to it.
    pub account_free_failures: u32,
    /// Failures one network may make across all accounts before its every attempt waits
    /// (password spraying).
    pub address_free_failures: u32,
    /// The first wait; it doubles with each further failure.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// The longest wait.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Failures are forgotten this long after the last one.
    #[serde(with = "humantime_serde")]
    pub forget_after: Duration,
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        let p = ThrottlePolicy::default();
        LoginThrottleConfig {
            free_failures: p.free_failures,
            account_free_failures: p.account_free_failures,
            address_free_failures: p.address_free_failures,
            base_delay: p.base_delay,
            max_delay: p.max_delay,
            forget_after: p.forget_after,
        }
    }
}

impl LoginThrottleConfig {
    /// The policy, checked.
    pub fn policy(&self) -> Result<ThrottlePolicy, ConfigError> {
        let invalid = |key, problem: &str| ConfigError::Invalid {
            key,
            problem: problem.into(),
        };
        if self.free_failures == 0 {
            return Err(invalid(
                "PORTCULLIS_LOGIN_THROTTLE__FREE_FAILURES",
                "must be at least 1",
            ));
        }
        // Below the pair's threshold the account-wide one would throttle an account from a
        // single network, which is the owner lockout the pair threshold exists to avoid.
        if self.account_free_failures < self.free_failures {
            return Err(invalid(
                "PORTCULLIS_LOGIN_THROTTLE__ACCOUNT_FREE_FAILURES",
                "must be at least login_throttle.free_failures",
            ));
        }
        if self.address_free_failures < self.free_failures {
            return Err(invalid(
                "PORTCULLIS_LOGIN_THROTTLE__ADDRESS_FREE_FAILURES",
                "must be at least login_throttle.free_failures",
            ));
        }
        // Timestamps are whole seconds: a shorter delay would round to none.
        if self.base_delay < Duration::from_secs(1) || self.max_delay < self.base_delay {
            return Err(invalid(
                "PORTCULLIS_LOGIN_THROTTLE__BASE_DELAY",
                "must be at least 1s and at most login_throttle.max_delay",
            ));
        }
        // A count forgotten before its delay ends would lift the throttle early.
        if self.forget_after < self.max_delay {
            return Err(invalid(
                "PORTCULLIS_LOGIN_THROTTLE__FORGET_AFTER",
                "must be at least login_throttle.max_delay",
            ));
        }
        Ok(ThrottlePolicy {
            free_failures: self.free_failures,
            account_free_failures: self.account_free_failures,
            address_free_failures: self.address_free_failures,
            base_delay: self.base_delay,
            max_delay: self.max_delay,
            forget_after: self.forget_after,
        })
    }
}

/// Everything the server and CLI read.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The issuer URL, byte for byte as published (`PORTCULLIS_ISSUER`).
    pub issuer: String,
    /// Socket address to listen on (`PORTCULLIS_LISTEN`).
    pub listen: String,
    /// Directory for the embedded database and generated key file (`PORTCULLIS_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means SQLite in `data_dir`
    /// (`PORTCULLIS_DATABASE_URL`).
    pub database_url: String,
    /// Pool size.
    pub database_max_connections: u32,
    /// Base64url 32-byte key sealing signing keys at rest (`PORTCULLIS_KEY_ENCRYPTION_KEY`).
    // Never serialised: secrets do not leave the process (the defaults hold none anyway).
    #[serde(default, skip_serializing)]
    pub key_encryption_key: Option<SecretString>,
    /// File holding it instead (`PORTCULLIS_KEY_ENCRYPTION_KEY_FILE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_encryption_key_file: Option<PathBuf>,
    /// `Cache-Control: max-age` of discovery and JWKS.
    #[serde(with = "humantime_serde")]
    pub metadata_max_age: Duration,
    /// How often expired rows are purged.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
    /// How long in-flight requests, and back-channel logout deliveries already under way,
    /// may take to finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Reverse proxies (CIDR blocks or single addresses) whose `forwarded_header` names the
    /// client; empty (the default): the TCP peer is the client, and no header is read.
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write: `x-forwarded-for` or `forwarded` (RFC 7239).
    pub forwarded_header: ForwardedHeader,
    /// How long a client may take to send a request's line and headers, from the first
    /// byte or, on a kept-alive connection, from the previous answer (so it is also how
    /// long an idle connection stays open). A slow client holds a connection no longer.
    #[serde(with = "humantime_serde")]
    pub http_header_read_timeout: Duration,
    /// How long one request may take once its headers are in, body and answer included;
    /// past it the answer is `408 Request Timeout`.
    #[serde(with = "humantime_serde")]
    pub http_request_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog until one
    /// closes. Lowered at start-up to what the open-files limit leaves for connections.
    pub http_max_connections: usize,
    /// Logging.
    pub log: LogConfig,
    /// Token lifetimes.
    pub tokens: TokenConfig,
    /// Signing keys.
    pub keys: KeysConfig,
    /// Browser sessions.
    pub session: SessionConfig,
    /// Password hashing.
    pub password: PasswordConfig,
    /// The login throttle.
    pub login_throttle: LoginThrottleConfig,
    /// Dynamic client registration (RFC 7591).
    pub registration: RegistrationConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &redact_url(&self.database_url))
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("key_encryption_key_file", &self.key_encryption_key_file)
            .finish_non_exhaustive()
    }
}

/// A database URL with any password removed, for logs.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            database_max_connections: 16,
            key_encryption_key: None,
            key_encryption_key_file: None,
            metadata_max_age: Duration::from_secs(300),
            purge_interval: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(20),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            http_header_read_timeout: Duration::from_secs(30),
            http_request_timeout: Duration::from_secs(30),
            http_max_connections: 4096,
            log: LogConfig {
                format: LogFormat::Human,
                level: "info".into(),
            },
            tokens: TokenConfig {
                access_token_ttl: Duration::from_secs(600),
                id_token_ttl: Duration::from_secs(600),
                code_ttl: Duration::from_secs(60),
                refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
                refresh_token_idle_ttl: Duration::from_secs(7 * 24 * 3600),
                client_cache_ttl: Duration::from_secs(30),
                refresh_token_reuse_grace: DEFAULT_REFRESH_TOKEN_REUSE_GRACE,
            },
            keys: KeysConfig {
                reload_interval: Duration::from_secs(60),
                publish_delay: Duration::from_secs(24 * 3600),
            },
            session: SessionConfig {
                ttl: Duration::from_secs(24 * 3600),
                idle_ttl: Duration::from_secs(2 * 3600),
            },
            password: PasswordConfig {
                memory_kib: Argon2Params::default().memory_kib,
                iterations: Argon2Params::default().iterations,
                parallelism: Argon2Params::default().parallelism,
                max_concurrent: 4,
                queue_timeout: Duration::from_secs(2),
                queue_max: 64,
            },
            login_throttle: LoginThrottleConfig::default(),
            registration: RegistrationConfig::default(),
        }
    }
}

/// Where the database lives, decided from `database_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite at this URL.
    Sqlite(String),
    /// Postgres at this URL.
    Postgres(String),
}

const ENV_PREFIX: &str = "PORTCULLIS_";

/// The longest `tokens.client_cache_ttl` accepted.
const MAX_CLIENT_CACHE_TTL: Duration = Duration::from_secs(300);

/// The longest `password.queue_timeout` accepted: a browser waiting longer than this for a
/// login page is better told to come back.
const MAX_PASSWORD_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// OWASP's least argon2id memory (19 MiB), with at least 2 iterations.
const ARGON2_MIN_MEMORY_KIB: u32 = 19_456;

/// OWASP's least argon2id memory with a single iteration (46 MiB).
const ARGON2_ONE_PASS_MEMORY_KIB: u32 = 47_104;

/// The default `tokens.refresh_token_reuse_grace`: a retry after a client's request
/// timeout (commonly 10-30 s) is forgiven; see decision record 0008.
const DEFAULT_REFRESH_TOKEN_REUSE_GRACE: Duration = Duration::from_secs(30);

/// The longest `tokens.refresh_token_reuse_grace` accepted.
const MAX_REFRESH_TOKEN_REUSE_GRACE: Duration = Duration::from_secs(60);

impl Config {
    /// Loads defaults, then `file` (or `PORTCULLIS_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let from_env = std::env::var_os("PORTCULLIS_CONFIG").map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(from_env);
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "config file {}: not found or not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let known = Arc::new(known_keys());
        warn_unknown_env(&env_provider(), &known);
        // Unknown variables are left out, not refused: the prefix is not ours alone.
        // Kubernetes injects `PORTCULLIS_PORT=tcp://…`, `PORTCULLIS_SERVICE_HOST` and
        // friends into every pod beside a Service named `portcullis`, and wrappers set
        // names like `PORTCULLIS_BIN`. (Unknown keys in a TOML file stay an error: the
        // file is ours, so an unknown key there is a typo.)
        let env =
            env_provider().filter(move |key| known.contains(&key.as_str().to_ascii_lowercase()));
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(describe_figment_error(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that has a rule beyond its type.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_issuer(&self.issuer)?;
        self.listen_addr()?;
        self.backend()?;
        if self.tokens.code_ttl > Duration::from_secs(60) || self.tokens.code_ttl.is_zero() {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_TOKENS__CODE_TTL",
                problem: "authorization codes must live between 1 s and 60 s".into(),
            });
        }
        // A changed secret or a deleted client may be honoured this long on each
        // replica; "briefly" means minutes at most.
        if self.tokens.client_cache_ttl > MAX_CLIENT_CACHE_TTL {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_TOKENS__CLIENT_CACHE_TTL",
                problem: "must be at most 5 minutes (0s disables the cache)".into(),
            });
        }
        // Inside the window a replay of the rotated token is taken for a retry and not
        // detected at once (RFC 9700 §4.14.2; detection resumes when the replaced
        // successor's holder comes back), so it covers a retry, no more.
        if self.tokens.refresh_token_reuse_grace > MAX_REFRESH_TOKEN_REUSE_GRACE {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_TOKENS__REFRESH_TOKEN_REUSE_GRACE",
                problem: "must be at most 60 seconds (0s turns it off)".into(),
            });
        }
        // A rotated-in key must reach every replica and every relying party's JWKS cache
        // before it signs, or fresh tokens would fail verification.
        if self.keys.publish_delay < self.keys.reload_interval + self.metadata_max_age {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_KEYS__PUBLISH_DELAY",
                problem: "must be at least keys.reload_interval + metadata_max_age".into(),
            });
        }
        if self.keys.reload_interval.is_zero() || self.purge_interval.is_zero() {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_KEYS__RELOAD_INTERVAL",
                problem: "intervals must be greater than zero".into(),
            });
        }
        for (key, timeout) in [
            (
                "PORTCULLIS_HTTP_HEADER_READ_TIMEOUT",
                self.http_header_read_timeout,
            ),
            ("PORTCULLIS_HTTP_REQUEST_TIMEOUT", self.http_request_timeout),
        ] {
            // Zero would refuse every request; "no timeout" is what lets slow clients
            // hold connections, so it is not on offer.
            if timeout.is_zero() {
                return Err(ConfigError::Invalid {
                    key,
                    problem: "must be greater than zero".into(),
                });
            }
        }
        if self.http_max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_HTTP_MAX_CONNECTIONS",
                problem: "must be at least 1".into(),
            });
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_DATABASE_MAX_CONNECTIONS",
                problem: "must be at least 1".into(),
            });
        }
        self.argon2()?;
        if self.password.queue_timeout > MAX_PASSWORD_QUEUE_TIMEOUT {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_PASSWORD__QUEUE_TIMEOUT",
                problem: "must be at most 30 seconds".into(),
            });
        }
        self.trusted_proxies()?;
        self.login_throttle.policy()?;
        self.registration.validate()?;
        Ok(())
    }

    /// The proxies whose forwarding header is believed, parsed.
    pub fn trusted_proxies(&self) -> Result<TrustedProxies, ConfigError> {
        let nets = self
            .trusted_proxies
            .iter()
            .map(|raw| {
                let raw = raw.trim();
                raw.parse::<IpNet>()
                    .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| ConfigError::Invalid {
                        key: "PORTCULLIS_TRUSTED_PROXIES",
                        problem: format!(
                            "{raw:?} is not an address or CIDR block like 10.0.0.0/8 or fd00::/8"
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies::new(nets, self.forwarded_header))
    }

    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "PORTCULLIS_LISTEN",
            problem: format!(
                "{:?} is not a socket address like 127.0.0.1:8080",
                self.listen
            ),
        })
    }

    /// Which store to open.
    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let url = self.database_url.trim();
        if url.is_empty() {
            let path = self.data_dir.join("portcullis.db");
            return Ok(Backend::Sqlite(format!("sqlite://{}", path.display())));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Url::parse(url).map_err(|_| ConfigError::Invalid {
                key: "PORTCULLIS_DATABASE_URL",
                problem: "not a valid postgres:// URL".into(),
            })?;
            return Ok(Backend::Postgres(url.to_owned()));
        }
        if url.starts_with("sqlite:") {
            return Ok(Backend::Sqlite(url.to_owned()));
        }
        Err(ConfigError::Invalid {
            key: "PORTCULLIS_DATABASE_URL",
            problem: "must start with postgres://, postgresql:// or sqlite:".into(),
        })
    }

    /// The argon2id parameters, checked.
    pub fn argon2(&self) -> Result<Argon2Params, ConfigError> {
        let p = Argon2Params {
            memory_kib: self.password.memory_kib,
            iterations: self.password.iterations,
            parallelism: self.password.parallelism,
        };
        // OWASP Password Storage Cheat Sheet, argon2id: m = 19 MiB with t = 2, or m = 46 MiB
        // with t = 1 (the same cost, paid in memory instead of passes). Anything cheaper
        // makes an offline guess at a stolen hash cheaper than OWASP accepts.
        const FLOOR: &str =
            "argon2id needs at least 19456 KiB with 2 iterations, or 47104 KiB with 1 (OWASP)";
        let invalid = |key| ConfigError::Invalid {
            key,
            problem: FLOOR.into(),
        };
        if p.parallelism < 1 {
            return Err(ConfigError::Invalid {
                key: "PORTCULLIS_PASSWORD__PARALLELISM",
                problem: "argon2id needs at least 1 lane".into(),
            });
        }
        if p.memory_kib < ARGON2_MIN_MEMORY_KIB {
            return Err(invalid("PORTCULLIS_PASSWORD__MEMORY_KIB"));
        }
        if p.iterations < 1 || (p.iterations == 1 && p.memory_kib < ARGON2_ONE_PASS_MEMORY_KIB) {
            return Err(invalid("PORTCULLIS_PASSWORD__ITERATIONS"));
        }
        Ok(p)
    }

    /// The bounds of the password hashing queue.
    pub fn hash_queue(&self) -> HashQueue {
        HashQueue {
            timeout: self.password.queue_timeout,
            max_waiting: self.password.queue_max,
        }
    }

    /// Whether cookies may drop `Secure` and the `__Host-` prefix: only for a plain-http
    /// loopback issuer, so local development works.
    pub fn is_loopback_http_issuer(&self) -> bool {
        Url::parse(&self.issuer).is_ok_and(|u| u.scheme() == "http" && is_loopback_host(&u))
    }

    /// Whether the issuer is an https URL: responses then carry HSTS.
    pub fn is_https_issuer(&self) -> bool {
        Url::parse(&self.issuer).is_ok_and(|u| u.scheme() == "https")
    }

    /// Key rotation timing, for `portcullis keys rotate` and the admin API: new keys sign
    /// after `keys.publish_delay`; a superseded key stays published for the longest token
    /// lifetime plus one reload interval, because a replica that has not reloaded yet keeps
    /// signing with the old key until it does.
    pub fn rotation_policy(&self) -> portcullis_core::keyring::RotationPolicy {
        portcullis_core::keyring::RotationPolicy {
            publish_delay: self.keys.publish_delay,
            retire_after: self.longest_signed_token_ttl() + self.keys.reload_interval,
        }
    }

    /// The longest lifetime of anything signed with a signing key.
    pub fn longest_signed_token_ttl(&self) -> Duration {
        self.tokens.access_token_ttl.max(self.tokens.id_token_ttl)
    }
}

fn is_loopback_host(u: &Url) -> bool {
    match u.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// OIDC Discovery §3 / RFC 8414 §2: an https URL with no query or fragment; plain http is
/// accepted only on loopback, for development.
fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    let invalid = |problem: &str| ConfigError::Invalid {
        key: "PORTCULLIS_ISSUER",
        problem: format!("{issuer:?} {problem}"),
    };
    let url = Url::parse(issuer).map_err(|_| invalid("is not an absolute URL"))?;
    if url.query().is_some() || url.fragment().is_some() || issuer.contains(['?', '#']) {
        return Err(invalid("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not contain user information"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err(invalid("must use https (http is allowed only on loopback)")),
        _ => Err(invalid("must be an https URL")),
    }
}

fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX).ignore(&["CONFIG"]).split("__")
}

/// Unknown `PORTCULLIS_*` variables may be typos; say so, since they are ignored.
fn warn_unknown_env(env: &Env, known: &BTreeSet<String>) {
    for (key, _) in env.iter() {
        let key = key.as_str().to_ascii_lowercase();
        if !known.contains(&key) {
            tracing::warn!(
                variable = %format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('.', "__")),
                "unknown configuration variable ignored"
            );
        }
    }
}

fn known_keys() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let with_optionals = Config {
        key_encryption_key_file: Some(PathBuf::new()),
        ..Config::default()
    };
    if let Ok(Value::Dict(_, dict)) = Value::serialize(&with_optionals) {
        collect_keys("", &dict, &mut out);
    }
    out.insert("key_encryption_key".to_owned());
    out.insert("registration.initial_access_tokens".to_owned());
    out
}

fn collect_keys(prefix: &str, dict: &Dict, out: &mut BTreeSet<String>) {
    for (k, v) in dict {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Value::Dict(_, inner) = v {
            collect_keys(&path, inner, out);
        } else {
            out.insert(path);
        }
    }
}

/// Figment's message plus the key in operator terms.
fn describe_figment_error(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let env_name = format!("{ENV_PREFIX}{}", e.path.join("__").to_ascii_uppercase());
    if key.is_empty() {
        format!("configuration: {}", e.kind)
    } else {
        format!("configuration key {key} ({env_name}): {}", e.kind)
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail closures must return figment's own error type"
)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_select_embedded_sqlite() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.listen_addr().unwrap().to_string(), "127.0.0.1:8080");
        assert!(
            matches!(c.backend().unwrap(), Backend::Sqlite(u) if u.ends_with("data/portcullis.db"))
        );
        assert!(c.is_loopback_http_issuer());
    }

    #[test]
    fn issuer_rules_name_the_key() {
        for bad in [
            "not a url",
            "http://id.example",
            "https://id.example/?x=1",
            "ftp://id.example",
        ] {
            let c = Config {
                issuer: bad.into(),
                ..Config::default()
            };
            let err = c.validate().unwrap_err().to_string();
            assert!(err.starts_with("PORTCULLIS_ISSUER:"), "{err}");
        }
        let ok = Config {
            issuer: "https://id.example/tenant".into(),
            ..Config::default()
        };
        ok.validate().unwrap();
        assert!(!ok.is_loopback_http_issuer());
    }

    #[test]
    fn database_url_selects_the_backend() {
        let pg = Config {
            database_url: "postgres://u@db/portcullis".into(),
            ..Config::default()
        };
        assert_eq!(
            pg.backend().unwrap(),
            Backend::Postgres("postgres://u@db/portcullis".into())
        );
        let bad = Config {
            database_url: "mysql://x".into(),
            ..Config::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .starts_with("PORTCULLIS_DATABASE_URL:")
        );
    }

    #[test]
    fn refresh_token_reuse_grace_is_half_a_minute_by_default_and_at_most_a_minute() {
        let mut c = Config::default();
        assert_eq!(c.tokens.refresh_token_reuse_grace, Duration::from_secs(30));
        c.tokens.refresh_token_reuse_grace = Duration::ZERO;
        c.validate().unwrap();
        c.tokens.refresh_token_reuse_grace = Duration::from_secs(60);
        c.validate().unwrap();
        c.tokens.refresh_token_reuse_grace = Duration::from_secs(61);
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .starts_with("PORTCULLIS_TOKENS__REFRESH_TOKEN_REUSE_GRACE:")
        );
    }

    #[test]
    fn http_timeouts_and_the_connection_cap_cannot_be_turned_off() {
        let c = Config::default();
        assert_eq!(c.http_header_read_timeout, Duration::from_secs(30));
        assert_eq!(c.http_request_timeout, Duration::from_secs(30));
        assert_eq!(c.http_max_connections, 4096);
        for (change, key) in [
            (
                (|c: &mut Config| c.http_header_read_timeout = Duration::ZERO) as fn(&mut Config),
                "PORTCULLIS_HTTP_HEADER_READ_TIMEOUT:",
            ),
            (
                |c: &mut Config| c.http_request_timeout = Duration::ZERO,
                "PORTCULLIS_HTTP_REQUEST_TIMEOUT:",
            ),
            (
                |c: &mut Config| c.http_max_connections = 0,
                "PORTCULLIS_HTTP_MAX_CONNECTIONS:",
            ),
        ] {
            let mut c = Config::default();
            change(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.starts_with(key), "{err}");
        }
    }

    #[test]
    fn argon2id_below_the_owasp_floor_is_refused_naming_the_key() {
        let with = |memory_kib, iterations, parallelism| {
            let mut c = Config::default();
            c.password.memory_kib = memory_kib;
            c.password.iterations = iterations;
            c.password.parallelism = parallelism;
            c.validate().map_err(|e| e.to_string())
        };
        for (m, t, p) in [
            (19_456, 2, 1),
            (47_104, 1, 1),
            (65_536, 3, 4),
            (19_456, 10, 1),
        ] {
            with(m, t, p).unwrap();
        }
        for (m, t, p, key) in [
            (19_456, 1, 1, "PORTCULLIS_PASSWORD__ITERATIONS:"),
            (47_103, 1, 1, "PORTCULLIS_PASSWORD__ITERATIONS:"),
            (65_536, 0, 1, "PORTCULLIS_PASSWORD__ITERATIONS:"),
            (19_455, 2, 1, "PORTCULLIS_PASSWORD__MEMORY_KIB:"),
            (12_288, 3, 1, "PORTCULLIS_PASSWORD__MEMORY_KIB:"),
            (19_456, 2, 0, "PORTCULLIS_PASSWORD__PARALLELISM:"),
        ] {
            let err = with(m, t, p).unwrap_err();
            assert!(err.starts_with(key), "m={m} t={t} p={p}: {err}");
        }
        assert!(
            with(19_456, 1, 1).unwrap_err().contains("47104 KiB with 1"),
            "the message says what would do"
        );
    }

    #[test]
    fn client_cache_ttl_is_bounded_and_may_be_zero() {
        let mut c = Config::default();
        c.tokens.client_cache_ttl = Duration::ZERO;
        c.validate().unwrap();
        c.tokens.client_cache_ttl = Duration::from_secs(301);
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .starts_with("PORTCULLIS_TOKENS__CLIENT_CACHE_TTL:")
        );
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks_or_addresses_and_bad_ones_are_named() {
        let mut c = Config::default();
        assert!(
            !c.trusted_proxies().unwrap().any(),
            "no proxy is trusted by default"
        );
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "192.0.2.1".into(), "fd00::/8".into()];
        c.validate().unwrap();
        let proxies = c.trusted_proxies().unwrap();
        let client = proxies.client_addr("192.0.2.1".parse().unwrap(), ["203.0.113.4"]);
        assert_eq!(client.to_string(), "203.0.113.4");
        c.trusted_proxies = vec!["10.0.0.0/33".into()];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .starts_with("PORTCULLIS_TRUSTED_PROXIES:")
        );
    }

    #[test]
    fn trusted_proxies_and_the_header_are_read_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("PORTCULLIS_TRUSTED_PROXIES", "[\"10.0.0.0/8\", \"::1\"]");
            jail.set_env("PORTCULLIS_FORWARDED_HEADER", "forwarded");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.trusted_proxies, vec!["10.0.0.0/8", "::1"]);
            assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
            Ok(())
        });
    }

    #[test]
    fn the_login_throttle_defaults_are_valid_and_its_rules_name_the_key() {
        let mut c = Config::default();
        assert_eq!(
            c.login_throttle.policy().unwrap(),
            ThrottlePolicy::default()
        );
        c.login_throttle.account_free_failures = c.login_throttle.free_failures - 1;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .starts_with("PORTCULLIS_LOGIN_THROTTLE__ACCOUNT_FREE_FAILURES:")
        );
        c.login_throttle = LoginThrottleConfig {
            forget_after: Duration::from_secs(60),
            ..LoginThrottleConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("FORGET_AFTER")
        );
        c.login_throttle = LoginThrottleConfig {
            base_delay: Duration::from_millis(500),
            ..LoginThrottleConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("BASE_DELAY"));
    }

    #[test]
    fn publish_delay_must_cover_reload_and_cache() {
        let mut c = Config::default();
        c.keys.publish_delay = Duration::from_secs(10);
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("PUBLISH_DELAY")
        );
    }

    #[test]
    fn file_then_env_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "portcullis.toml",
                "issuer = \"https://id.example\"\nlisten = \"0.0.0.0:9000\"\n[tokens]\naccess_token_ttl = \"15m\"\n",
            )?;
            jail.set_env("PORTCULLIS_LISTEN", "127.0.0.1:9001");
            jail.set_env("PORTCULLIS_TOKENS__ID_TOKEN_TTL", "2m");
            let c = Config::load(Some(Path::new("portcullis.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.issuer, "https://id.example");
            assert_eq!(c.listen, "127.0.0.1:9001");
            assert_eq!(c.tokens.access_token_ttl, Duration::from_secs(900));
            assert_eq!(c.tokens.id_token_ttl, Duration::from_secs(120));
            Ok(())
        });
    }

    #[test]
    fn unknown_environment_variables_are_ignored_not_refused() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            // What Kubernetes injects beside a Service named `portcullis`, and a wrapper's.
            jail.set_env("PORTCULLIS_PORT", "tcp://10.0.0.1:8080");
            jail.set_env("PORTCULLIS_PORT_8080_TCP_ADDR", "10.0.0.1");
            jail.set_env("PORTCULLIS_SERVICE_HOST", "10.0.0.1");
            jail.set_env("PORTCULLIS_BIN", "/usr/local/bin/portcullis");
            jail.set_env("PORTCULLIS_TOKENS__NO_SUCH_KEY", "1");
            jail.set_env("PORTCULLIS_ISSUER", "https://id.example");
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.issuer, "https://id.example",
                "known ones still apply"
            );
            Ok(())
        });
    }

    #[test]
    fn every_key_of_the_example_configuration_is_known() {
        // The environment filter keeps only known keys: one it did not know would be
        // silently ignored when set through the environment.
        let example = figment::Provider::data(&Toml::string(include_str!(
            "../../../config/portcullis.example.toml"
        )))
        .unwrap();
        let mut keys = BTreeSet::new();
        for dict in example.values() {
            collect_keys("", dict, &mut keys);
        }
        assert!(keys.contains("issuer"), "the example was read: {keys:?}");
        let known = known_keys();
        let unknown: Vec<_> = keys.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "not known to the environment filter: {unknown:?}"
        );
    }

    #[test]
    fn unknown_file_key_and_bad_duration_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "isuer = \"https://typo.example\"\n")?;
            let err = Config::load(Some(Path::new("a.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("isuer"), "{err}");
            jail.clear_env();
            jail.set_env("PORTCULLIS_TOKENS__CODE_TTL", "soon");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("tokens.code_ttl") && err.contains("PORTCULLIS_TOKENS__CODE_TTL"),
                "{err}"
            );
            Ok(())
        });
    }
}

#[cfg(test)]
mod example_file_tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../config/portcullis.example.toml");

    /// The documented example must parse, hold the defaults, and mention every key, so it
    /// cannot drift from `Config`.
    #[test]
    fn example_config_parses_and_documents_every_key() {
        let parsed: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(EXAMPLE))
            .extract()
            .unwrap();
        parsed.validate().unwrap();
        assert_eq!(parsed.issuer, Config::default().issuer);
        assert_eq!(
            parsed.tokens.refresh_token_ttl,
            Config::default().tokens.refresh_token_ttl
        );
        for key in known_keys() {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(
                EXAMPLE.contains(&format!("{leaf} =")) || EXAMPLE.contains(&format!("# {leaf} =")),
                "config/portcullis.example.toml does not document {key}"
            );
        }
    }
}
