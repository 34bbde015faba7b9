//! Page view models (askama templates in `templates/`) and the stylesheet. Templates get
//! view models, never database rows; askama escapes every value, and client-supplied text
//! is never marked `|safe`.

use std::borrow::Cow;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::model::Client;
use portcullis_core::password::retry_after_secs;
use portcullis_core::scope::ScopeSet;

/// The error page shown when a request cannot be answered by redirect (RFC 6749
/// §4.1.2.1: unknown client or redirect URI) or a form cannot be trusted.
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) title: &'static str,
    pub(crate) message: &'static str,
    pub(crate) hint: &'static str,
}

/// What the error pages of the sign-in flow add below the message.
const SIGN_IN_HINT: &str = "If you followed a link from an application, tell its developers: this sign-in request cannot be completed, so you have not been sent back to it.";

/// Renders an error page of the sign-in flow with a status.
pub(crate) fn error_page(
    status: StatusCode,
    title: &'static str,
    message: &'static str,
) -> Response {
    error_page_with_hint(status, title, message, SIGN_IN_HINT)
}

/// Renders an error page with its own hint (pages outside the sign-in flow).
pub(crate) fn error_page_with_hint(
    status: StatusCode,
    title: &'static str,
    message: &'static str,
    hint: &'static str,
) -> Response {
    (
        status,
        ErrorPage {
            title,
            message,
            hint,
        },
    )
        .into_response()
}

/// A form that failed its CSRF or origin check.
pub(crate) fn stale_form() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "Go back to the application and start signing in again.",
    )
}

/// A form of the account or sign-out pages that failed its CSRF or origin check.
pub(crate) fn stale_account_form() -> Response {
    error_page_with_hint(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "Nothing was changed.",
        "Open your account page again and repeat what you were doing.",
    )
}

/// The login page: of an authorization request (`client_name` and `request` set, posting
/// to `/login`) or of the account page (neither, posting to `/account/login`).
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) client_name: Option<String>,
    pub(crate) action: &'static str,
    pub(crate) error: Option<Cow<'static, str>>,
    pub(crate) csrf_token: String,
    pub(crate) request: Option<String>,
    pub(crate) username: String,
}

/// A wait as a page says it, rounded up: "1 second", "40 seconds", "15 minutes".
pub(crate) fn wait_in_words(wait: Duration) -> String {
    let secs = retry_after_secs(wait);
    let (n, unit) = if secs < 60 {
        (secs, "second")
    } else {
        (secs.div_ceil(60), "minute")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Adds `Retry-After` in seconds (RFC 9110 §10.2.3) to a 429 or 503 response.
pub(crate) fn with_retry_after(mut response: Response, wait: Duration) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(wait)),
    );
    response
}

/// One scope as the user reads it.
pub(crate) struct ScopeView {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) show_name: bool,
}

/// A link to a page the client registered.
pub(crate) struct LinkView {
    pub(crate) label: &'static str,
    pub(crate) href: String,
}

/// The consent page.
#[derive(Template, WebTemplate)]
#[template(path = "consent.html")]
pub(crate) struct ConsentPage {
    pub(crate) client_name: String,
    pub(crate) username: String,
    pub(crate) scopes: Vec<ScopeView>,
    pub(crate) links: Vec<LinkView>,
    pub(crate) redirect_host: String,
    pub(crate) csrf_token: String,
    pub(crate) request: String,
}

/// Plain words for the scopes we define; anything else is shown by name.
pub(crate) fn describe_scopes(scope: &ScopeSet) -> Vec<ScopeView> {
    // Identity first, then what widens access, then anything client-defined: the order a
    // reader weighs them in, not the alphabet.
    let rank = |name: &str| match name {
        "openid" => 0,
        "profile" => 1,
        "email" => 2,
        "roles" => 3,
        "offline_access" => 4,
        _ => 5,
    };
    let mut names: Vec<&str> = scope.iter().collect();
    names.sort_by_key(|n| (rank(n), *n));
    names
        .into_iter()
        .map(|name| {
            let known = match name {
                "openid" => Some("Know who you are (your account identifier)"),
                "profile" => Some("See your name, username and profile picture"),
                "email" => Some("See your email address"),
                "offline_access" => Some("Stay connected when you are not using it"),
                "roles" => Some("See the roles you hold here"),
                _ => None,
            };
            ScopeView {
                name: name.to_owned(),
                description: known.map_or_else(|| "Use the permission".to_owned(), str::to_owned),
                show_name: known.is_none(),
            }
        })
        .collect()
}

/// Links to the client's registered pages. Only http(s) URLs become links: a
/// `javascript:` URI in client metadata must never be clickable.
pub(crate) fn client_links(client: &Client) -> Vec<LinkView> {
    let m = &client.metadata;
    [
        ("Website", &m.client_uri),
        ("Privacy policy", &m.policy_uri),
        ("Terms of service", &m.tos_uri),
    ]
    .into_iter()
    .filter_map(|(label, uri)| {
        let uri = uri.as_deref()?;
        let parsed = url::Url::parse(uri).ok()?;
        matches!(parsed.scheme(), "https" | "http").then(|| LinkView {
            label,
            href: parsed.to_string(),
        })
    })
    .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_said_in_whole_seconds_or_minutes_rounded_up() {
        let cases = [
            (Duration::from_millis(300), "1 second"),
            (Duration::from_secs(40), "40 seconds"),
            (Duration::from_secs(60), "1 minute"),
            (Duration::from_secs(61), "2 minutes"),
            (Duration::from_secs(900), "15 minutes"),
        ];
        for (wait, words) in cases {
            assert_eq!(wait_in_words(wait), words);
        }
    }
}
