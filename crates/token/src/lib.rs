//! The token side: `POST /token` (RFC 6749 §3.2, §4.1.3, §4.4, §6), `/revoke` (RFC 7009)
//! and `/introspect` (RFC 7662), with client authentication. The grants arrive with the
//! sign-in and token-lifecycle work; until then the router mounts nothing and discovery
//! advertises no token endpoint.

use std::sync::Arc;

use axum::Router;
use portcullis_core::Clock;
use portcullis_core::keyring::Keyring;
use portcullis_core::store::Store;

/// What the token crate's handlers need.
#[derive(Clone)]
pub struct TokenState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keyring: Arc<Keyring>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The issuer, exactly as published.
    pub issuer: Arc<str>,
}

/// Routes of the token crate.
pub fn router<S>() -> Router<S>
where
    TokenState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
}
