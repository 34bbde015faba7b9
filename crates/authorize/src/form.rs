//! The only way a browser `POST` to our pages is read: [`FormBody`] takes the body (form
//! encoded, UTF-8, within the server's body limit, or our own error page, never the
//! framework's plain-text rejection), [`read_form`] parses it into a typed form and refuses
//! the request when a browser says it came from another site (`Sec-Fetch-Site:
//! cross-site`), and the caller checks the CSRF token against its binding.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::media_type;
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
    /// The body is not `application/x-www-form-urlencoded`, what HTML forms send.
    #[error("form body of another media type")]
    NotAForm,
    /// The body is larger than any form of ours.
    #[error("form body too large")]
    TooLarge,
    /// The body could not be read, or is not UTF-8.
    #[error("form body unreadable")]
    Unreadable,
}

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        match self {
            FormRejection::CrossSite => stale_form(),
            FormRejection::Malformed | FormRejection::Unreadable => error_page(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                "The form was incomplete. Go back and try again.",
            ),
            FormRejection::NotAForm => error_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Invalid form",
                "The form was not sent the way a browser sends it. Go back and try again.",
            ),
            FormRejection::TooLarge => error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Invalid form",
                "The form was too large. Go back and try again.",
            ),
        }
    }
}

/// The body of a browser form post, as text. A non-empty body must be declared
/// `application/x-www-form-urlencoded`; an empty one (a bare `POST /logout`) may come
/// without a type.
pub(crate) struct FormBody(pub(crate) String);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = FormRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| media_type::is(v, media_type::FORM_URLENCODED));
        // Read through axum's extractor so the router's `DefaultBodyLimit` bounds it.
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                FormRejection::TooLarge
            } else {
                FormRejection::Unreadable
            }
        })?;
        if !bytes.is_empty() && !is_form {
            return Err(FormRejection::NotAForm);
        }
        String::from_utf8(bytes.into())
            .map(FormBody)
            .map_err(|_| FormRejection::Unreadable)
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

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::DefaultBodyLimit;
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;

    async fn post_body(content_type: Option<&str>, body: Vec<u8>) -> (StatusCode, String) {
        let router = Router::new()
            .route("/", post(|FormBody(body): FormBody| async move { body }))
            .layer(DefaultBodyLimit::max(1024));
        let mut request = axum::http::Request::post("/");
        if let Some(t) = content_type {
            request = request.header(header::CONTENT_TYPE, t);
        }
        let response = router
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type)
    }

    #[tokio::test]
    async fn bodies_we_cannot_read_get_our_page_with_the_right_status() {
        let form = Some(media_type::FORM_URLENCODED);
        for (content_type, body, status) in [
            (form, b"a=\xff\xfe".to_vec(), StatusCode::BAD_REQUEST),
            (
                Some("application/json"),
                b"{}".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (None, b"a=b".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
            (form, vec![b'a'; 2048], StatusCode::PAYLOAD_TOO_LARGE),
        ] {
            let (got, page_type) = post_body(content_type, body).await;
            assert_eq!(got, status, "{content_type:?}");
            assert!(page_type.starts_with("text/html"), "{page_type}");
        }
    }

    #[tokio::test]
    async fn a_form_or_an_empty_body_is_read() {
        let (status, _) = post_body(
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            b"a=b".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = post_body(None, Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
    }
}
