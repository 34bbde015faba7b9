//! Relying-party facing documents: OpenID Connect Discovery 1.0 and RFC 8414 metadata,
//! the JWKS (RFC 7517), and later `/userinfo` (OIDC Core §5.3). The documents are built
//! once (and on key reload), then served from memory: they are the hottest endpoints.

pub mod discovery;
mod jwks;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use portcullis_core::keyring::Keyring;

pub use discovery::{DiscoveryDocument, DiscoveryInput};

/// Path of the OpenID Connect discovery document (OIDC Discovery §4).
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
/// Path of the OAuth authorization server metadata (RFC 8414 §3).
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Path of the JWKS.
pub const JWKS_PATH: &str = "/jwks.json";

/// What the userinfo crate's handlers need.
#[derive(Clone)]
pub struct UserinfoState {
    /// The discovery document, serialised once.
    pub discovery: Arc<DiscoveryDocument>,
    /// The live keyring (its JWKS is serialised once per load).
    pub keyring: Arc<Keyring>,
    /// `Cache-Control: max-age` for discovery and JWKS, in seconds.
    pub max_age_secs: u64,
}

/// Routes for discovery and JWKS, with CORS `*` so browser-based relying parties can fetch
/// them (they carry nothing secret).
pub fn router<S>() -> Router<S>
where
    UserinfoState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            OPENID_CONFIGURATION_PATH,
            get(discovery::get_openid_configuration),
        )
        .route(
            OAUTH_METADATA_PATH,
            get(discovery::get_oauth_authorization_server),
        )
        .route(JWKS_PATH, get(jwks::get_jwks))
        .layer(tower_http::cors::CorsLayer::permissive().allow_credentials(false))
}

/// The `Cache-Control` value for public, cacheable documents.
fn public_cache_control(max_age_secs: u64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(&format!("public, max-age={max_age_secs}"))
        .unwrap_or(axum::http::HeaderValue::from_static("no-cache"))
}
