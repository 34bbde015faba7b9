//! The token side: `POST /token` (RFC 6749 §3.2, §4.1.3, §5, §6; RFC 7636 §4.5-4.6; OIDC
//! Core §3.1.3, §12) for the `authorization_code` and `refresh_token` grants, with client
//! authentication (§2.3.1). `/revoke` (RFC 7009) and `/introspect` (RFC 7662) are to
//! follow.
//!
//! Layout: `request` parses, `client_auth` authenticates, `grant` and its modules decide,
//! `response` issues, `error` is the one error shape, `handler` ties them together.

mod client_auth;
mod error;
mod grant;
mod handler;
mod request;
mod response;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::post;
use portcullis_core::Clock;
use portcullis_core::keyring::Keyring;
use portcullis_core::store::Store;
use portcullis_core::tokens::TokenLifetimes;
use tower_http::set_header::SetResponseHeaderLayer;

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
}

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/token";

/// Routes of the token crate. Responses the handler does not build itself (405 for
/// another method) get `no-store` too, so nothing from `/token` is ever cached (§5.1).
pub fn router<S>() -> Router<S>
where
    TokenState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(TOKEN_PATH, post(handler::post_token))
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
