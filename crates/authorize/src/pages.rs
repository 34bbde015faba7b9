//! Page view models (askama templates in `templates/`) and the stylesheet. Templates get
//! view models, never database rows; askama escapes every value, and client-supplied text
//! is never marked `|safe`.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;

/// The error page shown when a request cannot be answered by redirect (RFC 6749
/// §4.1.2.1: unknown client or redirect URI).
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) title: &'static str,
    pub(crate) message: &'static str,
}

const STYLESHEET: &str = include_str!("../../../templates/portcullis.css");

/// `GET /assets/portcullis.css`: our only asset, served by us (the CSP allows `'self'`).
pub(crate) async fn get_stylesheet() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        STYLESHEET,
    )
}
