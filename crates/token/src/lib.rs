//! The token side: `POST /token` (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6; RFC 7636 §4.5-4.6;
//! OIDC Core §3.1.3, §12) for the `authorization_code`, `refresh_token` and
//! `client_credentials` grants, with client authentication (§2.3.1, and `private_key_jwt`
//! per RFC 7523 in `client_assertion`); `POST /revoke` (RFC 7009) and `POST /introspect`
//! (RFC 7662), authenticated the same way.
//!
//! Layout: `request` parses, `client_auth` authenticates (reading clients through
//! `client_cache`), `grant` and its modules decide, `response` issues, `error` is the one
//! error shape, `handler` ties them together; `revoke` and `introspect` are one module
//! per endpoint.

mod client_assertion;
mod client_auth;
mod client_cache;
mod error;
mod grant;
mod handler;
mod introspect;
mod request;
mod response;
mod revoke;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::post;
use portcullis_core::Clock;
use portcullis_core::keyring::Keyring;
use portcullis_core::store::Store;
use portcullis_core::tokens::TokenLifetimes;
use tower_http::set_header::SetResponseHeaderLayer;

pub use client_assertion::jwks_cache::JwksCache;
pub use client_cache::{ClientCache, MAX_CACHED_CLIENTS};
pub use error::{ClientAuthFailure, GrantFailure, TokenError};

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
    /// Lifetimes of what `/token` issues.
    pub lifetimes: TokenLifetimes,
    /// Recently read clients, for client authentication (see [`ClientCache`] on why
    /// this is safe).
    pub clients: Arc<ClientCache>,
    /// Key sets fetched from `private_key_jwt` clients' `jwks_uri`s.
    pub client_keys: Arc<JwksCache>,
    /// How long after its rotation a refresh token may be presented again by its client
    /// and still rotate (a retried request); zero: never, every reuse revokes the grant.
    pub refresh_token_reuse_grace: std::time::Duration,
}

impl TokenState {
    /// Verifies one of our own access tokens against the live keyring (RFC 9068 §4), for
    /// the endpoints that take tokens back: `/revoke` and `/introspect`.
    pub(crate) fn verify_access_token(
        &self,
        token: &str,
        now: portcullis_core::Timestamp,
    ) -> Result<portcullis_core::tokens::AccessTokenClaims, portcullis_core::tokens::AccessTokenError>
    {
        portcullis_core::tokens::verify_access_token(
            &self.keyring.current(),
            &self.issuer,
            &portcullis_core::tokens::access_token_audience(&self.issuer),
            token,
            now,
        )
    }
}

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/token";
/// Path of the revocation endpoint (RFC 7009).
pub const REVOKE_PATH: &str = "/revoke";
/// Path of the introspection endpoint (RFC 7662).
pub const INTROSPECT_PATH: &str = "/introspect";

/// Routes of the token crate. Responses the handlers do not build themselves (405 for
/// another method) get `no-store` too, so nothing from these endpoints is ever cached
/// (RFC 6749 §5.1).
pub fn router<S>() -> Router<S>
where
    TokenState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(TOKEN_PATH, post(handler::post_token))
        .route(REVOKE_PATH, post(revoke::post_revoke))
        .route(INTROSPECT_PATH, post(introspect::post_introspect))
        .layer(axum::middleware::from_fn(error::log_token_errors))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::PRAGMA,
            HeaderValue::from_static("no-cache"),
        ))
}
