//! The sign-in flow's errors (`/authorize`, `/login`, `/consent`) and the one way each may
//! reach the browser (RFC 6749 §4.1.2.1):
//!
//! - Until `client_id` and `redirect_uri` are proven ([`Unredirectable`]), and for forms
//!   we cannot read or trust, our own HTML error page and never a redirect: sending the
//!   browser to an unproven URI would make us an open redirector.
//! - After, an [`AuthorizeError`] goes back to the proven redirect URI with `error`,
//!   `error_description`, `state` and `iss` (RFC 9207), through the [`ReturnTo`] that only
//!   a proven request carries.
//!
//! The variants of [`AuthorizeError`] are the RFC 6749 §4.1.2.1 and OIDC Core §3.1.2.6
//! codes; descriptions are fixed text, and internal causes (the store, the random source,
//! password hashing) go to the log only.
//!
//! `IntoResponse` does not log: every error response of this crate (the logout and account
//! pages' too) parks its error in a response extension with [`park`], and [`log_errors`],
//! a middleware of [`crate::router`], logs it once inside the request span.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::ids::ClientId;
use url::Url;

use crate::form::FormRejection;
use crate::pages::{error_page, stale_form};

/// An error sent back to the client after its redirect URI is proven, named by its RFC 6749
/// §4.1.2.1 or OIDC Core §3.1.2.6 code.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// A parameter is missing, malformed or has a value we do not support; the text is
    /// the fixed `error_description`.
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    /// The client may not use the authorization code grant.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    /// The user (or their account) refused; the text is the fixed `error_description`.
    #[error("access_denied")]
    AccessDenied(&'static str),
    /// A `response_type` other than `code`.
    #[error("unsupported_response_type")]
    UnsupportedResponseType,
    /// The scope is missing, malformed or wider than the client may ask for; the text is
    /// the fixed `error_description`.
    #[error("invalid_scope")]
    InvalidScope(&'static str),
    /// Something of ours failed in a way a retry will not fix; the cause is logged only.
    #[error("server_error")]
    ServerError(#[source] anyhow::Error),
    /// The store failed; the cause is logged only.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable(#[source] anyhow::Error),
    /// `prompt=none` and nobody is logged in (OIDC Core §3.1.2.6).
    #[error("login_required")]
    LoginRequired,
    /// `prompt=none` and the user has not consented (OIDC Core §3.1.2.6).
    #[error("consent_required")]
    ConsentRequired,
    /// A `request` object (OIDC Core §6), which we do not support.
    #[error("request_not_supported")]
    RequestNotSupported,
    /// A `request_uri` (OIDC Core §6.2), which we do not support.
    #[error("request_uri_not_supported")]
    RequestUriNotSupported,
}

impl AuthorizeError {
    /// The `error` parameter.
    pub fn code(&self) -> &'static str {
        match self {
            AuthorizeError::InvalidRequest(_) => "invalid_request",
            AuthorizeError::UnauthorizedClient => "unauthorized_client",
            AuthorizeError::AccessDenied(_) => "access_denied",
            AuthorizeError::UnsupportedResponseType => "unsupported_response_type",
            AuthorizeError::InvalidScope(_) => "invalid_scope",
            AuthorizeError::ServerError(_) => "server_error",
            AuthorizeError::TemporarilyUnavailable(_) => "temporarily_unavailable",
            AuthorizeError::LoginRequired => "login_required",
            AuthorizeError::ConsentRequired => "consent_required",
            AuthorizeError::RequestNotSupported => "request_not_supported",
            AuthorizeError::RequestUriNotSupported => "request_uri_not_supported",
        }
    }

    /// The fixed `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            AuthorizeError::InvalidRequest(text)
            | AuthorizeError::AccessDenied(text)
            | AuthorizeError::InvalidScope(text) => text,
            AuthorizeError::UnauthorizedClient => {
                "this client may not use the authorization code grant"
            }
            AuthorizeError::UnsupportedResponseType => "only response_type=code is supported",
            AuthorizeError::ServerError(_) => "the server could not complete the request",
            AuthorizeError::TemporarilyUnavailable(_) => {
                "the server could not complete the request; try again"
            }
            AuthorizeError::LoginRequired => "the user is not logged in",
            AuthorizeError::ConsentRequired => "the user has not consented to this request",
            AuthorizeError::RequestNotSupported => "request objects are not supported",
            AuthorizeError::RequestUriNotSupported => "request_uri is not supported",
        }
    }

    /// The internal failure behind the error, for the log.
    fn cause(&self) -> Option<&anyhow::Error> {
        match self {
            AuthorizeError::ServerError(cause) | AuthorizeError::TemporarilyUnavailable(cause) => {
                Some(cause)
            }
            _ => None,
        }
    }
}

/// Why a request cannot be answered by redirect: its client or redirect URI is not proven
/// (RFC 6749 §4.1.2.1: the server MUST NOT redirect then), or the client could not be
/// looked up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unredirectable {
    #[error("the request is not form-encoded")]
    Malformed,
    #[error("a parameter is repeated")]
    Repeated,
    #[error("client_id is missing")]
    MissingClient,
    #[error("the client is not registered")]
    UnknownClient,
    #[error("redirect_uri is missing")]
    MissingRedirectUri,
    #[error("redirect_uri is not registered for the client")]
    UnregisteredRedirectUri,
    /// The store failed looking up the client; the cause is logged only.
    #[error("the client lookup failed")]
    Unavailable {
        client_id: ClientId,
        #[source]
        cause: anyhow::Error,
    },
}

impl Unredirectable {
    /// Our error page for it.
    pub(crate) fn page(&self) -> Response {
        let (status, title, message) = match self {
            Unredirectable::Malformed => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request is malformed.",
            ),
            Unredirectable::Repeated => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request repeats a parameter.",
            ),
            Unredirectable::MissingClient => (
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The sign-in request does not say which application sent it.",
            ),
            Unredirectable::UnknownClient => (
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The application that sent you here is not registered.",
            ),
            Unredirectable::MissingRedirectUri => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request does not say where to return.",
            ),
            Unredirectable::UnregisteredRedirectUri => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request asks to return to an address the application has not registered.",
            ),
            Unredirectable::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Sign-in is temporarily unavailable. Please try again shortly.",
            ),
        };
        error_page(status, title, message)
    }
}

/// Where answers go once the client and its redirect URI are proven (RFC 6749 §4.1.2): the
/// URI exactly as the request named it, the request's `state`, and our issuer for `iss`
/// (RFC 9207). Only a proven request has one, so only a proven request can redirect.
#[derive(Debug, Clone)]
pub(crate) struct ReturnTo {
    /// The proven client, for the log.
    pub(crate) client_id: ClientId,
    /// The proven redirect URI.
    pub(crate) redirect_uri: String,
    /// The request's `state`, echoed back.
    pub(crate) state: Option<String>,
    /// Our issuer, exactly as published.
    pub(crate) issuer: Arc<str>,
}

impl ReturnTo {
    /// The redirect to the client with `pairs`, then `state` and `iss`.
    pub(crate) fn redirect(&self, pairs: &[(&str, &str)]) -> Response {
        let Ok(mut url) = Url::parse(&self.redirect_uri) else {
            return Unredirectable::UnregisteredRedirectUri.page();
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(s) = &self.state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.issuer);
        }
        Redirect::to(url.as_str()).into_response()
    }

    /// `error`, to be sent back here.
    pub(crate) fn refuse(&self, error: AuthorizeError) -> FlowError {
        FlowError::Redirect {
            to: Box::new(self.clone()),
            error,
        }
    }

    /// `temporarily_unavailable` for a store failure; `cause` is logged only.
    pub(crate) fn unavailable(&self, cause: anyhow::Error) -> FlowError {
        self.refuse(AuthorizeError::TemporarilyUnavailable(cause))
    }

    /// `server_error` for any other failure of ours; `cause` is logged only.
    pub(crate) fn server_error(&self, cause: anyhow::Error) -> FlowError {
        self.refuse(AuthorizeError::ServerError(cause))
    }
}

/// A refusal of the sign-in flow, in the only form it may take.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlowError {
    /// Before the client and redirect URI are proven: our page.
    #[error("unredirectable authorization request: {0}")]
    Unredirectable(#[from] Unredirectable),
    /// A login or consent post that was not read: our page.
    #[error("form not read: {0}")]
    Form(#[from] FormRejection),
    /// A login or consent post whose CSRF token does not fit: our page (403).
    #[error("the form's CSRF token does not match")]
    StaleForm,
    /// After the proof: back to the client.
    #[error("{error} sent to client {}", .to.client_id)]
    Redirect {
        /// Where.
        to: Box<ReturnTo>,
        /// What.
        #[source]
        error: AuthorizeError,
    },
}

impl IntoResponse for FlowError {
    fn into_response(self) -> Response {
        let mut response = match &self {
            FlowError::Unredirectable(u) => u.page(),
            FlowError::Form(f) => f.into_response(),
            FlowError::StaleForm => stale_form(),
            FlowError::Redirect { to, error } => to.redirect(&[
                ("error", error.code()),
                ("error_description", error.description()),
            ]),
        };
        park(&mut response, self);
        response
    }
}

impl LogOnce for FlowError {
    fn log(&self) {
        match self {
            FlowError::Redirect { to, error } => {
                let client_id = &to.client_id;
                let code = error.code();
                match error.cause() {
                    Some(cause) => tracing::error!(
                        client_id = %client_id,
                        error = code,
                        "authorize: {code} sent to client {client_id}: {cause:#}"
                    ),
                    None => tracing::info!(
                        client_id = %client_id,
                        error = code,
                        "authorization error sent to the client"
                    ),
                }
            }
            FlowError::Unredirectable(Unredirectable::Unavailable { client_id, cause }) => {
                tracing::error!(client_id = %client_id, "authorize: error page shown: {cause:#}");
            }
            // The user sees what went wrong; nothing of ours failed.
            FlowError::Unredirectable(_) | FlowError::Form(_) | FlowError::StaleForm => {}
        }
    }
}

/// An error that logs itself, once, after its response is built.
pub(crate) trait LogOnce: Send + Sync + 'static {
    /// Writes the log line, if the error deserves one.
    fn log(&self);
}

/// The error a response was built from, waiting for [`log_errors`].
#[derive(Clone)]
struct PendingLog(Arc<dyn LogOnce>);

/// Parks `error` in `response` for [`log_errors`].
pub(crate) fn park(response: &mut Response, error: impl LogOnce) {
    response
        .extensions_mut()
        .insert(PendingLog(Arc::new(error)));
}

/// Logs the error a response was built from, once, inside the request span.
pub(crate) async fn log_errors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(PendingLog(error)) = response.extensions_mut().remove::<PendingLog>() {
        error.log();
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    fn to() -> ReturnTo {
        ReturnTo {
            client_id: ClientId("app-1".to_owned()),
            redirect_uri: "https://app.example/cb?keep=1".to_owned(),
            state: Some("xyz 1".to_owned()),
            issuer: Arc::from("https://id.example"),
        }
    }

    fn body(response: Response) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn location(response: &Response) -> Url {
        Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap()
    }

    #[test]
    fn refusals_redirect_with_error_description_state_and_iss_in_that_order() {
        let response = to()
            .refuse(AuthorizeError::InvalidScope("scope is required"))
            .into_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let pairs: Vec<(String, String)> = location(&response)
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let expected = [
            ("keep", "1"),
            ("error", "invalid_scope"),
            ("error_description", "scope is required"),
            ("state", "xyz 1"),
            ("iss", "https://id.example"),
        ];
        assert_eq!(
            pairs,
            expected.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        assert!(response.extensions().get::<PendingLog>().is_some());
    }

    #[test]
    fn internal_causes_never_reach_the_redirect() {
        let cause = anyhow::anyhow!("password=hunter2 at db.internal").context("load the user");
        for (error, code) in [
            (to().unavailable(cause), "temporarily_unavailable"),
            (
                to().server_error(anyhow::anyhow!("password=hunter2")),
                "server_error",
            ),
        ] {
            let response = error.into_response();
            let url = location(&response);
            assert!(!url.as_str().contains("hunter2"), "{url}");
            assert!(
                url.query_pairs().any(|(k, v)| k == "error" && v == code),
                "{url}"
            );
        }
    }

    #[test]
    fn unproven_requests_get_a_page_and_never_a_redirect() {
        let cases = [
            (FlowError::from(Unredirectable::UnknownClient), 400),
            (
                FlowError::from(Unredirectable::UnregisteredRedirectUri),
                400,
            ),
            (
                FlowError::from(Unredirectable::Unavailable {
                    client_id: ClientId("app-1".to_owned()),
                    cause: anyhow::anyhow!("connection refused at db.internal"),
                }),
                503,
            ),
            (FlowError::StaleForm, 403),
            (FlowError::Form(FormRejection::Malformed), 400),
        ];
        for (error, status) in cases {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert!(response.headers().get(header::LOCATION).is_none());
            let text = body(response);
            assert!(text.contains("<h1>"), "{text}");
            assert!(!text.contains("db.internal"), "{text}");
        }
    }

    #[test]
    fn every_code_is_the_rfc_one() {
        let cases = [
            (AuthorizeError::InvalidRequest("x"), "invalid_request"),
            (AuthorizeError::UnauthorizedClient, "unauthorized_client"),
            (AuthorizeError::AccessDenied("x"), "access_denied"),
            (
                AuthorizeError::UnsupportedResponseType,
                "unsupported_response_type",
            ),
            (AuthorizeError::InvalidScope("x"), "invalid_scope"),
            (
                AuthorizeError::ServerError(anyhow::anyhow!("x")),
                "server_error",
            ),
            (
                AuthorizeError::TemporarilyUnavailable(anyhow::anyhow!("x")),
                "temporarily_unavailable",
            ),
            (AuthorizeError::LoginRequired, "login_required"),
            (AuthorizeError::ConsentRequired, "consent_required"),
            (AuthorizeError::RequestNotSupported, "request_not_supported"),
            (
                AuthorizeError::RequestUriNotSupported,
                "request_uri_not_supported",
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.to_string(), code);
        }
    }
}
