//! The admin crate's one error type and its wire shape: a JSON body `{"error",
//! "error_description"}` with fixed, written descriptions (never a library's text).
//!
//! - Registration refusals use the RFC 7591 §3.2.2 codes (`invalid_redirect_uri`,
//!   `invalid_client_metadata`, `invalid_software_statement`) with 400.
//! - Bearer token failures follow RFC 6750 §3: 401 with `WWW-Authenticate: Bearer`
//!   (plus `error="invalid_token"` when a token was presented), 403 `insufficient_scope`
//!   for a valid token without the `admin` scope or role (RFC 7592 §2 and the admin API).
//! - 404, 409, 413 and 429 for what they mean; 503 with `Retry-After` when every password
//!   hashing slot is busy; 500 `server_error` without detail.
//!
//! `IntoResponse` does not log: it parks the error in a response extension and
//! [`log_admin_errors`] logs it once, inside the request span.

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portcullis_core::clients::{ClientAdminError, MetadataError};
use portcullis_core::password::{PasswordError, retry_after_secs};
use portcullis_core::registration::RegistrationError;
use portcullis_core::users::UserAdminError;
use serde::Serialize;

/// Which bearer credential a 401 is about; picks the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An admin API access token.
    Access,
    /// An RFC 7591 §3 initial access token.
    InitialAccess,
    /// An RFC 7592 registration access token.
    Registration,
}

/// Everything the registration endpoint and the admin API refuse with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// RFC 7591 §3.2.2 (400).
    #[error("{0}")]
    Registration(#[from] RegistrationError),
    /// A malformed request (400 `invalid_request`).
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// No bearer token where one is required (401).
    #[error("missing {0:?} token")]
    MissingToken(TokenKind),
    /// A bearer token that is not (or no longer) good (401 `invalid_token`).
    #[error("invalid {kind:?} token: {reason}")]
    InvalidToken {
        /// Which credential.
        kind: TokenKind,
        /// Why, for the log only.
        reason: &'static str,
    },
    /// A good token without the `admin` scope, or whose user lacks the `admin` role (403).
    #[error("insufficient scope: {reason}")]
    InsufficientScope {
        /// Why, for the log only.
        reason: &'static str,
    },
    /// 404 `not_found`.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// 409 `conflict`.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// 413: the body is over the limit.
    #[error("request body too large")]
    TooLarge,
    /// 429: the peer's registration budget is spent.
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the next request would be allowed.
        retry_after_secs: u64,
    },
    /// 503: every password hashing slot is busy and the queue for them is full.
    #[error("password hashing busy for {retry_after_secs} s")]
    Busy {
        /// Seconds until a retry may find a free slot.
        retry_after_secs: u64,
    },
    /// 500 `server_error`.
    #[error("server_error")]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: String,
}

/// The error parked in a response for [`log_admin_errors`].
#[derive(Clone)]
struct PendingLog(Arc<AdminError>);

impl AdminError {
    /// The `error` member.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Registration(e) => e.code(),
            AdminError::InvalidRequest(_) | AdminError::TooLarge => "invalid_request",
            AdminError::MissingToken(_) | AdminError::InvalidToken { .. } => "invalid_token",
            AdminError::InsufficientScope { .. } => "insufficient_scope",
            AdminError::NotFound(_) => "not_found",
            AdminError::Conflict(_) => "conflict",
            AdminError::RateLimited { .. } | AdminError::Busy { .. } => "temporarily_unavailable",
            AdminError::Internal(_) => "server_error",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AdminError::Registration(_) | AdminError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::MissingToken(_) | AdminError::InvalidToken { .. } => {
                StatusCode::UNAUTHORIZED
            }
            AdminError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AdminError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error_description` member: fixed text.
    pub fn description(&self) -> String {
        match self {
            AdminError::Registration(e) => e.to_string(),
            AdminError::InvalidRequest(d) | AdminError::NotFound(d) | AdminError::Conflict(d) => {
                (*d).to_owned()
            }
            AdminError::MissingToken(kind) | AdminError::InvalidToken { kind, .. } => {
                let present = matches!(self, AdminError::InvalidToken { .. });
                match (kind, present) {
                    (TokenKind::Access, false) => "An admin access token is required.",
                    (TokenKind::Access, true) => "The access token is invalid, expired or revoked.",
                    (TokenKind::InitialAccess, false) => {
                        "An initial access token is required to register a client."
                    }
                    (TokenKind::InitialAccess, true) => {
                        "The initial access token is invalid or expired."
                    }
                    (TokenKind::Registration, false) => {
                        "The client's registration access token is required."
                    }
                    (TokenKind::Registration, true) => {
                        "The registration access token is not valid for this client."
                    }
                }
                .to_owned()
            }
            AdminError::InsufficientScope { .. } => {
                "The access token does not carry the admin scope for an administrator.".to_owned()
            }
            AdminError::TooLarge => "The request body is too large.".to_owned(),
            AdminError::RateLimited { .. } => {
                "Too many registration requests from this address; try again later.".to_owned()
            }
            AdminError::Busy { .. } => {
                "The server is busy checking passwords; try again shortly.".to_owned()
            }
            AdminError::Internal(_) => "The server could not complete the request.".to_owned(),
        }
    }

    fn challenge(&self) -> Option<&'static str> {
        match self {
            AdminError::MissingToken(_) => Some("Bearer"),
            AdminError::InvalidToken { .. } => Some("Bearer error=\"invalid_token\""),
            AdminError::InsufficientScope { .. } => {
                Some("Bearer error=\"insufficient_scope\", scope=\"admin\"")
            }
            _ => None,
        }
    }

    fn log(&self) {
        match self {
            AdminError::Internal(cause) => {
                tracing::error!(error = %format_args!("{cause:#}"), "admin request failed: {cause:#}");
            }
            AdminError::InvalidToken { kind, reason } => {
                tracing::info!(?kind, reason, "refused a bearer token: {reason}");
            }
            AdminError::InsufficientScope { reason } => {
                tracing::info!(reason, "refused an admin request: {reason}");
            }
            AdminError::RateLimited { retry_after_secs } => {
                tracing::warn!(retry_after_secs, "registration rate limit reached");
            }
            AdminError::Busy { retry_after_secs } => {
                tracing::warn!(retry_after_secs, "password hashing queue full");
            }
            other => {
                let code = other.code();
                tracing::info!(
                    error = code,
                    "admin request refused: {}",
                    other.description()
                );
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            error_description: self.description(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge() {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let AdminError::RateLimited { retry_after_secs }
        | AdminError::Busy { retry_after_secs } = &self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response.extensions_mut().insert(PendingLog(Arc::new(self)));
        response
    }
}

/// Logs the error a response was built from, once, inside the request span.
pub(crate) async fn log_admin_errors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(PendingLog(error)) = response.extensions_mut().remove::<PendingLog>() {
        error.log();
    }
    response
}

impl From<MetadataError> for AdminError {
    fn from(e: MetadataError) -> Self {
        AdminError::Registration(RegistrationError::Metadata(e))
    }
}

impl From<ClientAdminError> for AdminError {
    fn from(e: ClientAdminError) -> Self {
        match e {
            ClientAdminError::Invalid(m) => m.into(),
            ClientAdminError::NotFound(_) => AdminError::NotFound("There is no such client."),
            ClientAdminError::AlreadyExists(_) => {
                AdminError::Conflict("A client with this id already exists.")
            }
            ClientAdminError::NoSecret(_) => AdminError::Conflict(
                "This client does not authenticate with a secret, so there is none to rotate.",
            ),
            other => {
                AdminError::Internal(anyhow::Error::new(other).context("client administration"))
            }
        }
    }
}

impl From<UserAdminError> for AdminError {
    fn from(e: UserAdminError) -> Self {
        match e {
            UserAdminError::InvalidUsername => AdminError::InvalidRequest(
                "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'.",
            ),
            UserAdminError::UsernameTaken(_) => {
                AdminError::Conflict("A user with this username already exists.")
            }
            UserAdminError::WeakPassword => {
                AdminError::InvalidRequest("password must be at least 8 characters.")
            }
            UserAdminError::InvalidRole(_) => AdminError::InvalidRequest(
                "roles must be 1-64 characters of letters, digits, '.', '_', ':' or '-'.",
            ),
            UserAdminError::NotFound(_) => AdminError::NotFound("There is no such user."),
            UserAdminError::AdminExists => AdminError::Conflict("An administrator already exists."),
            UserAdminError::Password(PasswordError::Busy { retry_after }) => AdminError::Busy {
                retry_after_secs: retry_after_secs(retry_after),
            },
            other => AdminError::Internal(anyhow::Error::new(other).context("user administration")),
        }
    }
}

impl From<portcullis_core::store::StoreError> for AdminError {
    fn from(e: portcullis_core::store::StoreError) -> Self {
        AdminError::Internal(anyhow::Error::new(e).context("store"))
    }
}
