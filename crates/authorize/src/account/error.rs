//! Why an account page request was not carried out, and what the browser sees instead:
//! our own pages (or, without a session, the account page's login form); nothing here
//! ever redirects off-site. Internal failures (the store, password hashing, the random
//! source) are logged once (the error is parked for `crate::error::log_errors`) and
//! never described to the browser.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::ACCOUNT_PATH;
use crate::error::{LogOnce, park};
use crate::form::FormRejection;
use crate::pages::{error_page_with_hint, stale_account_form};

/// Why an account request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    /// The form was not read.
    #[error("form not read: {0}")]
    Form(#[from] FormRejection),
    /// The form's CSRF token does not fit this browser's session.
    #[error("the form's CSRF token does not match")]
    StaleForm,
    /// Nobody is signed in: the browser goes to the account page, which shows its login
    /// form.
    #[error("nobody is signed in")]
    NotSignedIn,
    /// Something of ours failed; nothing is claimed to have happened.
    #[error("the account page is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl IntoResponse for AccountError {
    fn into_response(self) -> Response {
        let mut response = match &self {
            AccountError::Form(f) => f.into_response(),
            AccountError::StaleForm => stale_account_form(),
            AccountError::NotSignedIn => Redirect::to(ACCOUNT_PATH).into_response(),
            AccountError::Unavailable(_) => error_page_with_hint(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Your account page is temporarily unavailable. Please try again shortly.",
                "Reload your account page to see what has changed.",
            ),
        };
        park(&mut response, self);
        response
    }
}

impl LogOnce for AccountError {
    fn log(&self) {
        match self {
            AccountError::Unavailable(cause) => {
                tracing::error!(error = %format_args!("{cause:#}"), "account: {cause:#}");
            }
            // The user sees what went wrong; nothing of ours failed.
            AccountError::Form(_) | AccountError::StaleForm | AccountError::NotSignedIn => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    #[test]
    fn refusals_stay_on_our_pages() {
        let cases = [
            (AccountError::Form(FormRejection::Malformed), 400, None),
            (AccountError::StaleForm, 403, None),
            (AccountError::NotSignedIn, 303, Some(ACCOUNT_PATH)),
            (
                AccountError::Unavailable(anyhow::anyhow!("db down")),
                503,
                None,
            ),
        ];
        for (error, status, location) in cases {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response
                    .headers()
                    .get(header::LOCATION)
                    .map(|v| v.to_str().unwrap()),
                location
            );
        }
    }
}
