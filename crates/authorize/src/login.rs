//! `POST /login`: checks the CSRF token, the credentials (argon2id on the blocking pool,
//! the same cost for unknown and disabled users, one generic failure message), then starts
//! a fresh session and continues the authorization request. The credential check and the
//! login CSRF binding are shared with the account page's own login form.

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::model::User;
use portcullis_core::password::PasswordError;
use portcullis_core::secret::{RandomError, fill_random};
use portcullis_core::store::StoreError;
use secrecy::SecretString;
use serde::Deserialize;

use crate::AuthorizeState;
use crate::cookies::CookieKind;
use crate::error::{AuthorizeError, FlowError};
use crate::flow::{login_page, with_cookie};
use crate::form::{FormBody, read_form};
use crate::request::load_request;
use crate::session::{ClientIp, start_session};

/// The only failure text: it must not reveal whether the user exists or is disabled.
pub(crate) const LOGIN_FAILED: &str = "Incorrect username or password.";

/// How long the CSRF cookie of login forms lives.
const CSRF_COOKIE_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: String,
    request: String,
    username: String,
    password: SecretString,
}

/// The CSRF binding of login forms: the browser's CSRF cookie, or a fresh random one with
/// the `Set-Cookie` that plants it (a login form has no session to bind to yet).
pub(crate) fn login_csrf_binding(
    state: &AuthorizeState,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), RandomError> {
    if let Some(v) = state
        .cookies
        .read(headers, CookieKind::Csrf)
        .filter(|v| !v.is_empty())
    {
        return Ok((v, None));
    }
    let mut b = [0u8; 32];
    fill_random(&mut b)?;
    let v = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let cookie = state.cookies.set(CookieKind::Csrf, &v, CSRF_COOKIE_TTL);
    Ok((v, cookie))
}

/// Whether a posted login token is the one this browser's CSRF cookie vouches for.
pub(crate) fn login_csrf_valid(state: &AuthorizeState, headers: &HeaderMap, token: &str) -> bool {
    state
        .cookies
        .read(headers, CookieKind::Csrf)
        .is_some_and(|binding| {
            state
                .csrf
                .verify(CsrfPurpose::Login, binding.as_bytes(), token)
        })
}

/// Why credentials could not be checked (not "wrong password", which is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthenticateError {
    /// The user lookup failed.
    #[error("user lookup failed")]
    Store(#[from] StoreError),
    /// Hashing could not run.
    #[error("password verification failed to run")]
    Password(#[from] PasswordError),
}

impl From<AuthenticateError> for AuthorizeError {
    fn from(e: AuthenticateError) -> Self {
        match e {
            AuthenticateError::Store(cause) => AuthorizeError::TemporarilyUnavailable(
                anyhow::Error::new(cause).context("look up the user logging in"),
            ),
            AuthenticateError::Password(cause) => AuthorizeError::ServerError(
                anyhow::Error::new(cause).context("verify the password"),
            ),
        }
    }
}

/// The enabled user these credentials belong to. Verifies even for unknown users (against
/// a dummy hash) so timing reveals nothing.
pub(crate) async fn authenticate(
    state: &AuthorizeState,
    username: &str,
    password: SecretString,
) -> Result<Option<User>, AuthenticateError> {
    let user = state.store.find_user_by_username(username.trim()).await?;
    let verified = state
        .hasher
        .verify(user.as_ref().map(|u| &u.password_hash), password)
        .await?;
    Ok(user.filter(|u| verified && !u.disabled))
}

/// `POST /login`.
pub(crate) async fn post_login(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, FlowError> {
    let form: LoginForm = read_form(&headers, &body)?;
    if !login_csrf_valid(&state, &headers, &form.csrf_token) {
        return Err(FlowError::StaleForm);
    }
    let req = load_request(&state, &form.request).await?;
    let to = &req.proven.return_to;
    let user = authenticate(&state, &form.username, form.password)
        .await
        .map_err(|e| to.refuse(e.into()))?;
    let Some(user) = user else {
        tracing::info!(client_id = %req.proven.client.client_id, "login failed");
        let mut retry = req.clone();
        retry.login_hint = Some(form.username);
        return login_page(
            &state,
            &headers,
            &retry,
            Some(LOGIN_FAILED),
            StatusCode::UNAUTHORIZED,
        );
    };
    let (session, secret) = start_session(&state, &headers, &ip, user.user_id)
        .await
        .context("start a browser session")
        .map_err(|e| to.unavailable(e))?;
    tracing::info!(user_id = %user.user_id, session_id = %session.session_id, "user logged in");
    let cookie = state
        .cookies
        .set(CookieKind::Session, secret.expose(), state.sessions.ttl);
    let next = format!("{}?{}", crate::AUTHORIZE_PATH, req.raw.after_login());
    Ok(with_cookie(Redirect::to(&next).into_response(), cookie))
}
