//! The admin crate's extractors: axum's, with every rejection in our JSON error shape
//! (logged once like any other error) instead of the framework's plain-text one.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AdminError;

/// A path parameter (a username, a client id), percent-decoded; a segment that does not
/// decode to UTF-8 text is `invalid_request`.
pub(crate) struct Path<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|_| AdminError::InvalidRequest("The request path is malformed."))
    }
}

/// A request body, within the server's body limit (`DefaultBodyLimit`); over it is 413.
pub(crate) struct AdminBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for AdminBody {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(AdminBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AdminError::TooLarge
                } else {
                    AdminError::InvalidRequest("The request body could not be read.")
                }
            })
    }
}
