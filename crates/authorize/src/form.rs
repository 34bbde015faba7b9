//! The only way a browser `POST` to our pages is read: the body parsed into a typed form,
//! the request refused when a browser says it came from another site (`Sec-Fetch-Site:
//! cross-site`), and the CSRF token checked by the caller against its binding.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::pages::{error_page, stale_form};

/// Why a form post was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormRejection {
    /// The browser says another site sent it.
    #[error("cross-site form post")]
    CrossSite,
    /// Fields missing or malformed.
    #[error("form fields missing or malformed")]
    Malformed,
}

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        match self {
            FormRejection::CrossSite => stale_form(),
            FormRejection::Malformed => error_page(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                "The form was incomplete. Go back and try again.",
            ),
        }
    }
}

/// Parses a browser form post, refusing cross-site posts (defence in depth next to the
/// CSRF token and `SameSite` cookies).
pub(crate) fn read_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &str,
) -> Result<T, FormRejection> {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err(FormRejection::CrossSite);
    }
    serde_urlencoded::from_str(body).map_err(|_| FormRejection::Malformed)
}
