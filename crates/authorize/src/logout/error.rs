//! Why the end-session endpoint or its confirmation form did not sign the browser out, and
//! the page each reason shows. RP-Initiated Logout 1.0 §3: after a failure the OP must not
//! redirect, so every one of them is our own page. Store failures are logged once (the
//! error is parked for `crate::error::log_errors`) and never described to the browser.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{LogOnce, park};
use crate::form::FormRejection;
use crate::pages::{error_page_with_hint, stale_account_form};

/// Why an end-session request was not answered as asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogoutError {
    /// Not form-encoded, or a parameter repeated (which copy to trust is undecidable).
    #[error("malformed end-session request")]
    Malformed,
    /// The store failed while the request was checked, before anything changed.
    #[error("checking the end-session request failed")]
    CheckUnavailable(#[source] anyhow::Error),
    /// The store failed while the session was looked up or ended.
    #[error("signing out failed")]
    SignOutUnavailable(#[source] anyhow::Error),
    /// The confirmation form was not read.
    #[error("form not read: {0}")]
    Form(#[from] FormRejection),
    /// The confirmation form's CSRF token does not fit this session and request.
    #[error("the form's CSRF token does not match")]
    StaleForm,
}

impl IntoResponse for LogoutError {
    fn into_response(self) -> Response {
        const HINT: &str = "If you followed a link from an application, tell its developers. You can still sign out from your account page.";
        const UNAVAILABLE: &str =
            "Signing out is temporarily unavailable. Please try again shortly.";
        let mut response = match &self {
            LogoutError::Malformed => error_page_with_hint(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-out request is malformed.",
                HINT,
            ),
            LogoutError::CheckUnavailable(_) => error_page_with_hint(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                UNAVAILABLE,
                "Your session has not been changed.",
            ),
            // Nothing is claimed to have happened: the failure may have come after some
            // of the work.
            LogoutError::SignOutUnavailable(_) => error_page_with_hint(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                UNAVAILABLE,
                "Your session may still be active.",
            ),
            LogoutError::Form(f) => f.into_response(),
            LogoutError::StaleForm => stale_account_form(),
        };
        park(&mut response, self);
        response
    }
}

impl LogOnce for LogoutError {
    fn log(&self) {
        match self {
            LogoutError::CheckUnavailable(cause) | LogoutError::SignOutUnavailable(cause) => {
                tracing::error!(error = %format_args!("{cause:#}"), "logout: store failure: {cause:#}");
            }
            // The user sees what went wrong; nothing of ours failed.
            LogoutError::Malformed | LogoutError::Form(_) | LogoutError::StaleForm => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_page_and_never_a_redirect() {
        let cases = [
            (LogoutError::Malformed, 400),
            (
                LogoutError::CheckUnavailable(anyhow::anyhow!("db down")),
                503,
            ),
            (
                LogoutError::SignOutUnavailable(anyhow::anyhow!("db down")),
                503,
            ),
            (LogoutError::Form(FormRejection::CrossSite), 403),
            (LogoutError::StaleForm, 403),
        ];
        for (error, status) in cases {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert!(
                response
                    .headers()
                    .get(axum::http::header::LOCATION)
                    .is_none()
            );
        }
    }
}
