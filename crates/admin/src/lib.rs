//! Client registration and administration over HTTP: dynamic client registration (RFC
//! 7591) with its management protocol (RFC 7592) under `/register`, and the admin API
//! under `/admin/…` for clients, users, grants, signing keys and the audit trail,
//! protected by RFC 6750 bearer access tokens carrying the `admin` scope.
//!
//! Every rule lives in `portcullis-core` (`clients`, `registration`, `users`, `roles`,
//! `keyring`, `audit`), which the CLI calls too: this crate only parses, authenticates,
//! rate-limits and maps outcomes to HTTP. Every change it makes is audited with who, what,
//! when and the client address.

mod api;
mod auth;
mod bearer;
mod client_ip;
mod error;
mod extract;
pub mod rate_limit;
mod register;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use portcullis_core::Clock;
use portcullis_core::keyring::{Keyring, RotationPolicy};
use portcullis_core::password::PasswordHasher;
use portcullis_core::registration::{RegistrationMode, RegistrationPolicy};
use portcullis_core::secret::SecretHash;
use portcullis_core::sessions::SessionEndNotifier;
use portcullis_core::store::Store;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::AdminError;
pub use rate_limit::RateLimiter;

/// Path of the registration endpoint (discovery's `registration_endpoint`).
pub const REGISTER_PATH: &str = "/register";

/// Prefix of the admin API.
pub const ADMIN_PATH: &str = "/admin";

/// How `/register` is offered.
#[derive(Debug)]
pub struct RegistrationSettings {
    /// Off, open, or gated by initial access tokens.
    pub mode: RegistrationMode,
    /// What a registrant may ask for.
    pub policy: RegistrationPolicy,
    /// SHA-256 of the initial access tokens from the configuration.
    pub initial_access_tokens: Vec<SecretHash>,
    /// Largest registration request body accepted.
    pub max_body_bytes: usize,
    /// Per-IP limit on registration requests.
    pub limiter: RateLimiter,
}

/// What the admin crate's handlers need.
#[derive(Clone)]
pub struct AdminState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The live keyring (admin tokens are verified with it; rotation reloads it).
    pub keyring: Arc<Keyring>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The issuer, exactly as published (admin tokens must carry it).
    pub issuer: Arc<str>,
    /// Password hashing for user administration.
    pub hasher: PasswordHasher,
    /// Tells apps that sessions the admin ended are over (back-channel logout); injected,
    /// since the authorize crate that implements it is not ours to depend on.
    pub notifier: Arc<dyn SessionEndNotifier>,
    /// Dynamic registration.
    pub registration: Arc<RegistrationSettings>,
    /// Key rotation timing, as `portcullis keys rotate` uses it.
    pub key_rotation: RotationPolicy,
}

impl AdminState {
    /// The RFC 7592 client configuration endpoint of `client_id`.
    pub(crate) fn registration_client_uri(&self, client_id: &str) -> String {
        format!(
            "{}{REGISTER_PATH}/{client_id}",
            self.issuer.trim_end_matches('/')
        )
    }
}

/// Routes of the admin crate: `/register` (unless `registration` is off) and `/admin/…`.
/// Every response is `Cache-Control: no-store` (RFC 7591 §3.2.1: registration responses
/// carry credentials) and errors are logged once by a middleware inside the request span.
pub fn router<S>(registration: RegistrationMode) -> Router<S>
where
    AdminState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let mut router = api::router();
    if registration != RegistrationMode::Off {
        router = router.merge(register::router());
    }
    router
        .layer(axum::middleware::from_fn(error::log_admin_errors))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::PRAGMA,
            HeaderValue::from_static("no-cache"),
        ))
}
