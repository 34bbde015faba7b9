//! The end-session endpoint, `GET`/`POST /logout` (OpenID RP-Initiated Logout 1.0 §2-§3),
//! and its confirmation form, `POST /logout/confirm`.
//!
//! The browser's session ends at once only when a valid `id_token_hint` was issued in this
//! very session to this very user; otherwise (no hint, a bad one, another session's) the
//! user is asked first on a CSRF-protected page (§2: the OP MUST ask then, and OWASP ASVS
//! V10.6.2: no forced logout). Ending destroys the server-side session, clears the cookie
//! and notifies apps by back channel (`signout`); then the browser goes to the checked
//! `post_logout_redirect_uri` with `state`, or sees "You are signed out".

mod error;
mod request;

use anyhow::Context as _;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::model::Session;
use serde::Deserialize;

use crate::cookies::CookieKind;
use crate::flow::with_cookie;
use crate::form::{FormBody, read_form};
use crate::session::ClientIp;
use crate::session::current_session;
use crate::signout::{Ending, SignOut, end_sessions};
use crate::{AuthorizeState, LOGOUT_PATH};
use error::LogoutError;
use request::{LogoutRequest, load_logout_request};

/// "Sign out of Portcullis?", asked when the request cannot prove the user started it.
#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
pub(crate) struct LogoutConfirmPage {
    pub(crate) username: String,
    pub(crate) client_name: Option<String>,
    pub(crate) csrf_token: String,
    pub(crate) request: String,
}

/// "You are signed out".
#[derive(Template, WebTemplate)]
#[template(path = "signed_out.html")]
pub(crate) struct SignedOutPage {}

#[derive(Deserialize)]
struct ConfirmForm {
    csrf_token: String,
    request: String,
}

/// The CSRF binding of the confirmation form: the session, and the exact request (a token
/// cannot confirm another request, nor be used by another browser).
fn confirm_binding(session: &Session, request: &str) -> Vec<u8> {
    let mut b = session.session_id.0.as_bytes().to_vec();
    b.extend_from_slice(b"\0logout\0");
    b.extend_from_slice(request.as_bytes());
    b
}

/// What the browser sees once its session is gone: the checked redirect, or our page; the
/// session cookie is deleted either way.
pub(crate) fn signed_out(state: &AuthorizeState, redirect: Option<&url::Url>) -> Response {
    let response = match redirect {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        None => SignedOutPage {}.into_response(),
    };
    with_cookie(response, state.cookies.clear(CookieKind::Session))
}

/// Ends this browser's session (with its consequences) and answers.
async fn end_and_answer(
    state: &AuthorizeState,
    req: &LogoutRequest,
    session: &Session,
    ip: ClientIp,
) -> Result<Response, LogoutError> {
    let actor = format!("user:{}", session.user_id);
    let by = SignOut {
        actor: &actor,
        ip,
        via: "logout",
    };
    end_sessions(state, session.user_id, Ending::One(session.session_id), by)
        .await
        .with_context(|| format!("end session {}", session.session_id))
        .map_err(LogoutError::SignOutUnavailable)?;
    tracing::info!(user_id = %session.user_id, session_id = %session.session_id, "user signed out");
    Ok(signed_out(state, req.redirect.as_ref()))
}

async fn logout(
    state: AuthorizeState,
    ip: ClientIp,
    headers: HeaderMap,
    raw: &str,
) -> Result<Response, LogoutError> {
    let req = load_logout_request(&state, raw).await?;
    let session = current_session(&state, &headers)
        .await
        .context("look up the browser session")
        .map_err(LogoutError::SignOutUnavailable)?;
    let Some(session) = session else {
        // Nothing to end here: the user is already signed out in this browser.
        return Ok(signed_out(&state, req.redirect.as_ref()));
    };
    // §2: without a hint issued in this session to this user, the user must confirm.
    let started_here = req.hint.as_ref().is_some_and(|h| {
        h.sub == session.user_id.to_string()
            && h.sid.as_deref() == Some(session.session_id.to_string().as_str())
    });
    if started_here {
        return end_and_answer(&state, &req, &session, ip).await;
    }
    let username = state
        .store
        .find_user(session.user_id)
        .await
        .with_context(|| format!("load user {}", session.user_id))
        .map_err(LogoutError::SignOutUnavailable)?
        .map(|u| u.username)
        .unwrap_or_default();
    let page = LogoutConfirmPage {
        username,
        client_name: req.client_name.clone(),
        csrf_token: state.csrf.token(
            CsrfPurpose::Account,
            &confirm_binding(&session, &req.encoded),
        ),
        request: req.encoded,
    }
    .into_response();
    // Confirming ends at the app's post-logout redirect URI, when one is followed.
    Ok(match &req.redirect {
        Some(target) => crate::csp::allow_form_target(page, target.as_str()),
        None => page,
    })
}

/// `GET /logout`.
pub(crate) async fn get_logout(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, LogoutError> {
    logout(state, ip, headers, query.as_deref().unwrap_or("")).await
}

/// `POST /logout` (§2: form-encoded parameters). An app's logout form posts from its own
/// site, and then the browser withholds our `SameSite=Lax` session cookie; the same request
/// is moved to a top-level `GET`, which carries it.
pub(crate) async fn post_logout(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, LogoutError> {
    if state.cookies.read(&headers, CookieKind::Session).is_none() && !body.is_empty() {
        let params = crate::request::RawParams::parse(&body).map_err(|_| LogoutError::Malformed)?;
        return Ok(
            Redirect::to(&format!("{LOGOUT_PATH}?{}", params.encode_without(&[]))).into_response(),
        );
    }
    logout(state, ip, headers, &body).await
}

/// `POST /logout/confirm`: the user's "Sign out" on the confirmation page.
pub(crate) async fn post_logout_confirm(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, LogoutError> {
    let form: ConfirmForm = read_form(&headers, &body)?;
    let req = load_logout_request(&state, &form.request).await?;
    let session = current_session(&state, &headers)
        .await
        .context("look up the browser session")
        .map_err(LogoutError::SignOutUnavailable)?;
    let Some(session) = session else {
        // Signed out meanwhile (another tab): the user's wish is already true.
        return Ok(signed_out(&state, req.redirect.as_ref()));
    };
    if !state.csrf.verify(
        CsrfPurpose::Account,
        &confirm_binding(&session, &form.request),
        &form.csrf_token,
    ) {
        return Err(LogoutError::StaleForm);
    }
    end_and_answer(&state, &req, &session, ip).await
}
