//! `UserinfoError`: every way `/userinfo` can refuse a request, and its wire form as an
//! RFC 6750 §3 bearer-token error: the status code, the `WWW-Authenticate: Bearer`
//! challenge (§3, §3.1) and a `{"error", "error_description"}` body (OIDC Core §5.3.3).
//!
//! Descriptions are fixed text: they never say which check a token failed (an attacker
//! learns nothing from probing) and never carry a library's error message. This module
//! does not log; the handler logs each error once, with its context.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The `realm` of every challenge (RFC 6750 §3, RFC 9110 §11.5).
pub const REALM: &str = "portcullis";

/// The scope `/userinfo` requires (OIDC Core §5.3: the token must have been issued for an
/// OpenID Connect request).
pub const REQUIRED_SCOPE: &str = "openid";

/// Why a userinfo request was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    /// RFC 6750 §3.1 `invalid_request` (400): malformed, repeated, or more than one way of
    /// sending the token (§2). The text is the fixed `error_description`.
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    /// No bearer token at all (RFC 6750 §3.1: the challenge carries no error code, since
    /// the client may simply not know authentication is needed).
    #[error("no access token")]
    MissingToken,
    /// RFC 6750 §3.1 `invalid_token` (401): malformed, expired, revoked, not ours, or its
    /// grant or user is gone. `reason` is for logs only; the wire never tells them apart.
    #[error("invalid_token")]
    InvalidToken {
        /// Which check failed, for the log line.
        reason: &'static str,
    },
    /// RFC 6750 §3.1 `insufficient_scope` (403): a valid token without `openid`.
    #[error("insufficient_scope")]
    InsufficientScope,
    /// The store (or something else of ours) failed: 500 with a generic body.
    #[error("server_error")]
    Internal(#[from] anyhow::Error),
}

/// The fixed description of every rejected token.
const INVALID_TOKEN_DESCRIPTION: &str = "The access token is invalid, expired or revoked.";
const INSUFFICIENT_SCOPE_DESCRIPTION: &str =
    "The access token was not issued for the openid scope.";
const INTERNAL_DESCRIPTION: &str = "The server could not answer the request.";

impl UserinfoError {
    /// The HTTP status RFC 6750 §3.1 assigns.
    pub fn status(&self) -> StatusCode {
        match self {
            UserinfoError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            UserinfoError::MissingToken | UserinfoError::InvalidToken { .. } => {
                StatusCode::UNAUTHORIZED
            }
            UserinfoError::InsufficientScope => StatusCode::FORBIDDEN,
            UserinfoError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `WWW-Authenticate` challenge, when the status calls for one.
    fn challenge(&self) -> Option<String> {
        match self {
            UserinfoError::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
            UserinfoError::InvalidRequest(description) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_request\", error_description=\"{description}\""
            )),
            UserinfoError::InvalidToken { .. } => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{INVALID_TOKEN_DESCRIPTION}\""
            )),
            // RFC 6750 §3: `scope` tells the client which scope would have sufficed.
            UserinfoError::InsufficientScope => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{REQUIRED_SCOPE}\""
            )),
            UserinfoError::Internal(_) => None,
        }
    }

    /// The `{"error", "error_description"}` body; `None` when there is no error code.
    fn body(&self) -> Option<(&'static str, &'static str)> {
        match self {
            UserinfoError::InvalidRequest(description) => Some(("invalid_request", description)),
            UserinfoError::MissingToken => None,
            UserinfoError::InvalidToken { .. } => {
                Some(("invalid_token", INVALID_TOKEN_DESCRIPTION))
            }
            UserinfoError::InsufficientScope => {
                Some(("insufficient_scope", INSUFFICIENT_SCOPE_DESCRIPTION))
            }
            UserinfoError::Internal(_) => Some(("server_error", INTERNAL_DESCRIPTION)),
        }
    }
}

impl IntoResponse for UserinfoError {
    fn into_response(self) -> Response {
        let mut response = match self.body() {
            Some((error, description)) => (
                self.status(),
                Json(json!({ "error": error, "error_description": description })),
            )
                .into_response(),
            None => self.status().into_response(),
        };
        // Every challenge is built from fixed ASCII text, so this never fails; if it ever
        // did, the status alone still refuses the request.
        if let Some(value) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<UserinfoError> {
        vec![
            UserinfoError::InvalidRequest("Only one access token may be sent."),
            UserinfoError::MissingToken,
            UserinfoError::InvalidToken { reason: "expired" },
            UserinfoError::InsufficientScope,
            UserinfoError::Internal(anyhow::anyhow!("database is down")),
        ]
    }

    #[test]
    fn descriptions_fit_the_rfc_6750_error_description_grammar() {
        // RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E, so it can sit
        // inside a quoted-string without escaping.
        for e in all() {
            if let Some((_, description)) = e.body() {
                assert!(
                    description
                        .chars()
                        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')),
                    "{description:?}"
                );
            }
        }
    }

    #[test]
    fn each_error_has_its_rfc_6750_status_and_challenge() {
        let expected = [
            (
                400,
                Some(
                    "Bearer realm=\"portcullis\", error=\"invalid_request\", error_description=\"Only one access token may be sent.\"",
                ),
            ),
            (401, Some("Bearer realm=\"portcullis\"")),
            (
                401,
                Some(
                    "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"The access token is invalid, expired or revoked.\"",
                ),
            ),
            (
                403,
                Some("Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"openid\""),
            ),
            (500, None),
        ];
        for (e, (status, challenge)) in all().into_iter().zip(expected) {
            let response = e.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .map(|v| v.to_str().unwrap()),
                challenge
            );
        }
    }

    #[test]
    fn internal_errors_never_reach_the_body() {
        let e = UserinfoError::Internal(anyhow::anyhow!("password=hunter2 at db.internal"));
        assert_eq!(e.body(), Some(("server_error", INTERNAL_DESCRIPTION)));
    }
}
