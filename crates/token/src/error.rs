//! The token endpoint's errors and their one wire shape (RFC 6749 §5.2): a JSON body
//! `{"error", "error_description"}` with fixed, written descriptions; 400 except
//! `invalid_client` (401, with `WWW-Authenticate: Basic` when the client tried the
//! `Authorization` header, §5.2) and `server_error` (500, never with internal detail).
//! Every response carries `Cache-Control: no-store` and `Pragma: no-cache` (§5.1).
//!
//! `IntoResponse` does not log: it parks the error in a response extension and
//! [`log_token_errors`], a middleware inside the request span, logs it exactly once with
//! the client id the handler recorded.

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why client authentication failed (RFC 6749 §2.3, §3.2.1). Logged, never sent: the
/// body says only that authentication failed, so a caller cannot probe which client ids
/// exist or which part of its credentials was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthFailure {
    /// Neither an `Authorization` header nor a `client_id` in the body.
    NoCredentials,
    /// The `Authorization` header is not well-formed Basic credentials (§2.3.1).
    MalformedBasic,
    /// No client has this id.
    UnknownClient,
    /// The secret does not match the client's.
    WrongSecret,
    /// A confidential client sent only its id (it must authenticate, §3.2.1).
    SecretRequired,
    /// A client without a secret (public, or another method) presented one.
    NoSecretRegistered,
    /// The body's `client_id` differs from the one in the `Authorization` header.
    ClientIdMismatch,
    /// A public client called `/introspect`, which only clients able to authenticate may
    /// use (RFC 7662 §2.1, §4).
    PublicClient,
    /// `private_key_jwt` (RFC 7523): the assertion is not a JWT with the claims §3 needs.
    AssertionMalformed,
    /// The client did not register `private_key_jwt`, so it may not use assertions.
    AssertionNotRegistered,
    /// The client's keys are missing, invalid or could not be fetched from `jwks_uri`.
    AssertionKeysUnavailable,
    /// No registered key of the assertion's `kid` and algorithm verifies its signature.
    AssertionSignature,
    /// `iss` or `sub` is not the client, or `aud` is not this server (RFC 7523 §3).
    AssertionClaims,
    /// `exp` has passed or is too far ahead, or `nbf`/`iat` lie in the future.
    AssertionExpired,
    /// The `jti` was used before: a replayed assertion (RFC 7523 §3 item 7).
    AssertionReplayed,
}

/// Why a grant was refused with `invalid_grant` (RFC 6749 §5.2, RFC 7636 §4.6). Some
/// share one description on the wire, so a holder of a stolen code or token learns
/// nothing about whom it belongs to; the logs keep the distinction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantFailure {
    /// The code is unknown or expired.
    UnknownCode,
    /// The code had been redeemed before: a replay; its grant is now revoked (§4.1.2).
    CodeReplayed,
    /// The code was issued to another client (§4.1.3).
    CodeOfAnotherClient,
    /// `redirect_uri` differs from the authorization request's (§4.1.3).
    RedirectUriMismatch,
    /// The code has a PKCE challenge and no `code_verifier` was sent (RFC 7636 §4.6).
    VerifierMissing,
    /// The `code_verifier` does not hash to the challenge, or is malformed (RFC 7636 §4.6).
    VerifierMismatch,
    /// A `code_verifier` was sent for a code issued without a challenge: a PKCE
    /// downgrade attempt (RFC 9700 §2.1.1).
    VerifierWithoutChallenge,
    /// A public client redeemed a code issued without PKCE (RFC 9700 §2.1.1).
    PublicClientWithoutPkce,
    /// The grant behind the code or token is revoked or gone.
    GrantInactive,
    /// The user is gone or disabled.
    UserInactive,
    /// The refresh token is unknown.
    UnknownRefreshToken,
    /// The refresh token was issued to another client (§6).
    RefreshTokenOfAnotherClient,
    /// The refresh token is revoked or expired.
    RefreshTokenInactive,
    /// The refresh token had already been rotated: reuse; its grant is now revoked
    /// (RFC 9700 §4.14.2).
    RefreshTokenReused,
}

impl GrantFailure {
    fn description(self) -> &'static str {
        match self {
            GrantFailure::UnknownCode | GrantFailure::CodeOfAnotherClient => {
                "the authorization code is invalid, expired, or was issued to another client"
            }
            GrantFailure::CodeReplayed => {
                "the authorization code was already used; every token issued from it is revoked"
            }
            GrantFailure::RedirectUriMismatch => {
                "redirect_uri does not match the one of the authorization request"
            }
            GrantFailure::VerifierMissing => {
                "code_verifier is required for this authorization code"
            }
            GrantFailure::VerifierMismatch => "code_verifier does not match the code_challenge",
            GrantFailure::VerifierWithoutChallenge => {
                "code_verifier was sent but the authorization request had no code_challenge"
            }
            GrantFailure::PublicClientWithoutPkce => {
                "public clients must use PKCE in the authorization request"
            }
            GrantFailure::GrantInactive | GrantFailure::UserInactive => {
                "the authorization grant is no longer active"
            }
            GrantFailure::UnknownRefreshToken
            | GrantFailure::RefreshTokenOfAnotherClient
            | GrantFailure::RefreshTokenInactive => {
                "the refresh token is invalid, expired, revoked, or was issued to another client"
            }
            GrantFailure::RefreshTokenReused => {
                "the refresh token was already used; the authorization grant is revoked"
            }
        }
    }

    /// Replays and reuse point at a stolen credential: worth a warning, not just a note.
    fn is_security_event(self) -> bool {
        matches!(
            self,
            GrantFailure::CodeReplayed
                | GrantFailure::RefreshTokenReused
                | GrantFailure::VerifierWithoutChallenge
        )
    }
}

/// An error of `POST /token`, named by its RFC 6749 §5.2 code.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed request; the text is the fixed description sent to the client.
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    /// Client authentication failed.
    #[error("invalid_client")]
    InvalidClient {
        /// Whether the client tried the `Authorization` header, which earns a 401 with
        /// `WWW-Authenticate` naming the scheme we accept (§5.2).
        used_basic_auth: bool,
        /// Why, for the log.
        failure: ClientAuthFailure,
    },
    /// The code or refresh token is not good for this client.
    #[error("invalid_grant")]
    InvalidGrant(GrantFailure),
    /// The client may not use this grant type.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    /// The grant type is not one we serve.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// The scope is malformed or wider than what was granted (§6).
    #[error("invalid_scope")]
    InvalidScope,
    /// Anything that is our fault; the detail goes to the log, never to the client.
    #[error("server_error")]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: &'static str,
}

/// The challenge sent with a 401 to a client that tried the `Authorization` header.
pub(crate) const BASIC_CHALLENGE: &str = r#"Basic realm="portcullis""#;

impl TokenError {
    /// The RFC 6749 §5.2 error code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient { .. } => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnauthorizedClient => "unauthorized_client",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidScope => "invalid_scope",
            TokenError::Internal(_) => "server_error",
        }
    }

    /// The fixed `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(text) => text,
            TokenError::InvalidClient { .. } => "client authentication failed",
            TokenError::InvalidGrant(failure) => failure.description(),
            TokenError::UnauthorizedClient => "the client is not allowed to use this grant type",
            TokenError::UnsupportedGrantType => "the grant type is not supported",
            TokenError::InvalidScope => {
                "the requested scope is malformed or exceeds the scope originally granted"
            }
            TokenError::Internal(_) => "the server could not complete the request",
        }
    }

    /// The HTTP status (RFC 6749 §5.2).
    pub fn status(&self) -> StatusCode {
        match self {
            TokenError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            TokenError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Shorthand for an `invalid_client` error.
    pub(crate) fn invalid_client(used_basic_auth: bool, failure: ClientAuthFailure) -> Self {
        TokenError::InvalidClient {
            used_basic_auth,
            failure,
        }
    }

    fn log(&self, client_id: &str) {
        let code = self.code();
        match self {
            TokenError::Internal(error) => tracing::error!(
                client_id,
                error = code,
                "token request of client {client_id:?} failed: {error:#}"
            ),
            TokenError::InvalidClient { failure, .. } => tracing::info!(
                client_id,
                error = code,
                reason = ?failure,
                "token request refused: client {client_id:?} failed authentication ({failure:?})"
            ),
            TokenError::InvalidGrant(failure) if failure.is_security_event() => tracing::warn!(
                client_id,
                error = code,
                reason = ?failure,
                "token request of client {client_id:?} refused: {code} ({failure:?})"
            ),
            TokenError::InvalidGrant(failure) => tracing::info!(
                client_id,
                error = code,
                reason = ?failure,
                "token request of client {client_id:?} refused: {code} ({failure:?})"
            ),
            _ => tracing::info!(
                client_id,
                error = code,
                "token request of client {client_id:?} refused: {code}: {}",
                self.description()
            ),
        }
    }
}

/// Marks a response as holding tokens or credentials-related errors: never cached
/// (RFC 6749 §5.1; `Pragma` for HTTP/1.0 caches).
pub(crate) fn set_no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The error a response was built from, waiting for [`log_token_errors`].
#[derive(Clone)]
struct PendingLog(Arc<TokenError>);

/// The client id a request presented, recorded by the handler for the error log. It is
/// an identifier, not a secret, so it may be logged even when authentication failed.
#[derive(Clone)]
pub(crate) struct RequestClientId(pub(crate) Arc<str>);

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            error_description: self.description(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        set_no_store(headers);
        if matches!(
            self,
            TokenError::InvalidClient {
                used_basic_auth: true,
                ..
            }
        ) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            );
        }
        response.extensions_mut().insert(PendingLog(Arc::new(self)));
        response
    }
}

/// Logs the error a token response was built from, once, inside the request span.
pub(crate) async fn log_token_errors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(PendingLog(error)) = response.extensions_mut().remove::<PendingLog>() {
        let client_id = response
            .extensions_mut()
            .remove::<RequestClientId>()
            .map_or_else(|| Arc::from("-"), |RequestClientId(id)| id);
        error.log(&client_id);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;

    /// Collects what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Runs one request through `log_token_errors` around a handler failing with
    /// `error`, and returns the response and the log lines.
    async fn logged(error: fn() -> TokenError) -> (Response, Vec<String>) {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app: Router = Router::new()
            .route(
                "/token",
                post(move || async move {
                    let mut response = error().into_response();
                    response
                        .extensions_mut()
                        .insert(RequestClientId(Arc::from("app-1")));
                    response
                }),
            )
            .layer(axum::middleware::from_fn(log_token_errors));
        let request = axum::http::Request::post("/token")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (response, text.lines().map(str::to_owned).collect())
    }

    #[tokio::test]
    async fn each_error_is_logged_once_with_its_client_and_reason() {
        let (response, lines) =
            logged(|| TokenError::InvalidGrant(GrantFailure::CodeReplayed)).await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(
            line.contains("WARN"),
            "a replay is a security event: {line}"
        );
        for part in [
            r#"client "app-1""#,
            r#"client_id="app-1""#,
            r#"error="invalid_grant""#,
            "reason=CodeReplayed",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
        assert!(response.extensions().get::<PendingLog>().is_none());
        assert!(response.extensions().get::<RequestClientId>().is_none());
    }

    #[tokio::test]
    async fn internal_detail_goes_to_the_log_only() {
        let (response, lines) = logged(|| {
            TokenError::Internal(anyhow::anyhow!("connection refused").context("redeem code"))
        })
        .await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("ERROR"), "{}", lines[0]);
        assert!(
            lines[0].contains("redeem code: connection refused"),
            "{}",
            lines[0]
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("connection refused"));
    }

    fn parts(error: TokenError) -> (StatusCode, HeaderMap) {
        let response = error.into_response();
        (response.status(), response.headers().clone())
    }

    #[test]
    fn invalid_client_with_basic_is_401_with_a_basic_challenge() {
        let (status, headers) = parts(TokenError::invalid_client(
            true,
            ClientAuthFailure::WrongSecret,
        ));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], BASIC_CHALLENGE);
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::PRAGMA], "no-cache");
    }

    #[test]
    fn invalid_client_without_basic_has_no_challenge() {
        let (status, headers) = parts(TokenError::invalid_client(
            false,
            ClientAuthFailure::UnknownClient,
        ));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
    }

    #[tokio::test]
    async fn internal_errors_say_server_error_and_nothing_else() {
        let error = TokenError::Internal(anyhow::anyhow!("password=hunter2 at db.internal"));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "server_error",
                "error_description": "the server could not complete the request",
            })
        );
    }

    #[test]
    fn every_code_but_invalid_client_and_server_error_is_400() {
        for error in [
            TokenError::InvalidRequest("x"),
            TokenError::InvalidGrant(GrantFailure::UnknownCode),
            TokenError::UnauthorizedClient,
            TokenError::UnsupportedGrantType,
            TokenError::InvalidScope,
        ] {
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{}", error.code());
        }
    }
}
