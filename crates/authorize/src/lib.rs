//! The browser-facing side: `/authorize` (RFC 6749 §4.1, OIDC Core §3.1.2), the login and
//! consent pages, server-side browser sessions and CSRF protection, the end-session
//! endpoint (OpenID RP-Initiated Logout 1.0), back-channel logout delivery (OpenID
//! Back-Channel Logout 1.0) and the account page.

mod account;
mod audit;
mod authorize;
pub mod backchannel;
mod consent;
pub mod cookies;
mod csp;
mod error;
mod flow;
mod form;
mod login;
mod logout;
mod pages;
mod request;
mod session;
mod signout;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use portcullis_core::Clock;
use portcullis_core::csrf::CsrfKey;
use portcullis_core::keyring::Keyring;
use portcullis_core::login_throttle::ThrottlePolicy;
use portcullis_core::password::PasswordHasher;
use portcullis_core::sessions::SessionEndNotifier;
use portcullis_core::store::Store;
use tower_http::set_header::SetResponseHeaderLayer;

pub use backchannel::{Backchannel, DeliveryPolicy};
pub use cookies::CookiePolicy;
pub use error::AuthorizeError;
pub use signout::BackchannelNotifier;

/// Path of the authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/authorize";

/// Path of the end-session endpoint (discovery's `end_session_endpoint`).
pub const LOGOUT_PATH: &str = "/logout";

/// Path of the account page.
pub const ACCOUNT_PATH: &str = "/account";

/// Browser session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    /// Absolute.
    pub ttl: Duration,
    /// Idle.
    pub idle_ttl: Duration,
}

/// What the authorize crate's handlers need.
#[derive(Clone)]
pub struct AuthorizeState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The issuer, exactly as published (RFC 9207 `iss`).
    pub issuer: Arc<str>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Password verification.
    pub hasher: PasswordHasher,
    /// The login throttle every password form is checked under.
    pub throttle: ThrottlePolicy,
    /// CSRF token key.
    pub csrf: CsrfKey,
    /// Cookie flags.
    pub cookies: CookiePolicy,
    /// Browser session lifetimes.
    pub sessions: SessionLifetimes,
    /// Authorization code lifetime (at most 60 s).
    pub code_ttl: Duration,
    /// The signing keys: `id_token_hint` validation and logout tokens.
    pub keyring: Arc<Keyring>,
    /// Tells apps their sessions ended (back-channel logout); the same one the admin API
    /// uses.
    pub notifier: Arc<dyn SessionEndNotifier>,
}

/// Routes for `/authorize`, the login and consent forms, `/logout`, the account page and
/// the stylesheet, with the browser security headers every page carries (CSP without
/// inline script or external assets, forms posting only to us, no framing, no referrer,
/// no caching) and the one log line of every error response.
pub fn router<S>() -> Router<S>
where
    AuthorizeState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            AUTHORIZE_PATH,
            get(authorize::get_authorize).post(authorize::post_authorize),
        )
        .route("/login", post(login::post_login))
        .route("/consent", post(consent::post_consent))
        .route(
            LOGOUT_PATH,
            get(logout::get_logout).post(logout::post_logout),
        )
        .route("/logout/confirm", post(logout::post_logout_confirm))
        .route(ACCOUNT_PATH, get(account::get_account))
        .route("/account/login", post(account::post_account_login))
        .route("/account/apps/revoke", post(account::post_revoke_app))
        .route("/account/sessions/end", post(account::post_end_session))
        .route(
            "/account/sessions/end-all",
            post(account::post_end_all_sessions),
        )
        .route("/account/password", post(account::post_change_password))
        .route("/assets/portcullis.css", get(pages::get_stylesheet))
        .layer(axum::middleware::from_fn(error::log_errors))
        // Pages whose forms end at the app set their own policy (`csp`): only that one
        // is kept.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp::PAGE_POLICY),
        ))
        .layer(page_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(page_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(page_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

fn page_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}
