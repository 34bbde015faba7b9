//! Relying-party facing endpoints: OpenID Connect Discovery 1.0 and RFC 8414 metadata,
//! the JWKS (RFC 7517), and `/userinfo` (OIDC Core §5.3 with RFC 6750 bearer tokens).
//! The documents are built once (and on key reload), then served from memory: they are
//! the hottest endpoints.

pub mod discovery;
pub mod error;
mod jwks;
mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, header};
use axum::routing::get;
use portcullis_core::Clock;
use portcullis_core::keyring::Keyring;
use portcullis_core::store::Store;

pub use discovery::{DiscoveryDocument, DiscoveryInput};
pub use error::UserinfoError;

/// Path of the OpenID Connect discovery document (OIDC Discovery §4).
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
/// Path of the OAuth authorization server metadata (RFC 8414 §3).
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Path of the userinfo endpoint.
pub const USERINFO_PATH: &str = "/userinfo";
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
    /// The store (users, grants, revoked token ids).
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The issuer, exactly as published (access tokens must carry it).
    pub issuer: Arc<str>,
}

/// Routes for discovery, JWKS and `/userinfo`, each with CORS `*` so browser-based
/// relying parties can call them. Nothing here reads cookies, so credentialed CORS is never
/// allowed.
pub fn router<S>() -> Router<S>
where
    UserinfoState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let documents = Router::new()
        .route(
            OPENID_CONFIGURATION_PATH,
            get(discovery::get_openid_configuration),
        )
        .route(
            OAUTH_METADATA_PATH,
            get(discovery::get_oauth_authorization_server),
        )
        .route(JWKS_PATH, get(jwks::get_jwks))
        .layer(tower_http::cors::CorsLayer::permissive().allow_credentials(false));
    let userinfo = Router::new()
        .route(
            USERINFO_PATH,
            get(userinfo::get_userinfo).post(userinfo::post_userinfo),
        )
        .layer(userinfo_cors());
    documents.merge(userinfo)
}

/// CORS for `/userinfo`. The permissive layer of the documents will not do: browsers never
/// let `Access-Control-Allow-Headers: *` cover `Authorization` (Fetch standard, CORS
/// protocol), so it is listed by name; and `WWW-Authenticate` is exposed by name so a
/// browser client can read why its token was refused (RFC 6750 §3).
fn userinfo_cors() -> tower_http::cors::CorsLayer {
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE])
        .allow_credentials(false)
        .max_age(std::time::Duration::from_secs(600))
}

/// The `Cache-Control` value for public, cacheable documents.
fn public_cache_control(max_age_secs: u64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(&format!("public, max-age={max_age_secs}"))
        .unwrap_or(axum::http::HeaderValue::from_static("no-cache"))
}
