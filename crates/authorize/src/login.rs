//! `POST /login`: checks the CSRF token, the credentials (argon2id on the blocking pool,
//! the same cost for unknown and disabled users, one generic failure message), then starts
//! a fresh session and continues the authorization request. The credential check and the
//! login CSRF binding are shared with the account page's own login form.
//!
//! Every check goes through `portcullis_core::sign_in` under the login throttle: after too
//! many failures the form is shown again with 429 and `Retry-After` and the password is
//! not checked, for unknown usernames exactly as for known ones. When every hashing slot
//! is busy and the queue for them is full (a flood), the form is shown again at once with
//! 503 and `Retry-After` instead of waiting in line.

use std::borrow::Cow;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use portcullis_core::audit::Actor;
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::model::{Session, User};
use portcullis_core::password::PasswordError;
use portcullis_core::secret::{RandomError, fill_random};
use portcullis_core::sign_in::{Attempt, PasswordCheck, SignInError, check_password};
use portcullis_core::store::StoreError;
use secrecy::SecretString;
use serde::Deserialize;

use crate::cookies::CookieKind;
use crate::error::{AuthorizeError, FlowError};
use crate::flow::{login_page, with_cookie};
use crate::form::{FormBody, read_form};
use crate::pages::{wait_in_words, with_retry_after};
use crate::request::load_request;
use crate::session::{ClientIp, start_session};
use crate::{AuthorizeState, audit};

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

/// Why a sign-in form is shown again instead of signing the user in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Wrong username or password, or a disabled user: one message for all (401).
    Incorrect,
    /// Too many failures (429): not checked; come back after this long.
    Throttled {
        /// When to come back.
        retry_after: Duration,
    },
    /// Every password hashing slot is busy (503): come back after this long.
    Busy {
        /// When to come back.
        retry_after: Duration,
    },
}

impl Refusal {
    /// The status of the page.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Refusal::Incorrect => StatusCode::UNAUTHORIZED,
            Refusal::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the page says.
    pub(crate) fn message(self) -> Cow<'static, str> {
        match self {
            Refusal::Incorrect => Cow::Borrowed(LOGIN_FAILED),
            Refusal::Throttled { retry_after } => Cow::Owned(format!(
                "Too many failed sign-in attempts. Please wait {} and try again.",
                wait_in_words(retry_after)
            )),
            Refusal::Busy { retry_after } => Cow::Owned(format!(
                "Sign-in is busy right now. Please try again in {}.",
                wait_in_words(retry_after)
            )),
        }
    }

    /// `response` (the page) with `Retry-After` when there is a time to come back.
    pub(crate) fn finish(self, response: Response) -> Response {
        match self {
            Refusal::Incorrect => response,
            Refusal::Throttled { retry_after } | Refusal::Busy { retry_after } => {
                with_retry_after(response, retry_after)
            }
        }
    }
}

/// The user a check verified, or the refusal to show.
fn checked(check: PasswordCheck) -> Result<User, Refusal> {
    match check {
        PasswordCheck::Verified(user) => Ok(*user),
        PasswordCheck::Incorrect => Err(Refusal::Incorrect),
        PasswordCheck::Throttled { retry_after } => Err(Refusal::Throttled { retry_after }),
        PasswordCheck::Busy { retry_after } => Err(Refusal::Busy { retry_after }),
    }
}

/// Why credentials could not be checked (a refusal is not an error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthenticateError {
    /// The store (user lookup or throttle) failed.
    #[error("user lookup failed")]
    Store(#[from] StoreError),
    /// Hashing could not run.
    #[error("password verification failed to run")]
    Password(#[from] PasswordError),
}

impl From<SignInError> for AuthenticateError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::Store(e) => AuthenticateError::Store(e),
            SignInError::Password(e) => AuthenticateError::Password(e),
        }
    }
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

/// The enabled user these credentials belong to, or why not, checked under the login
/// throttle (`portcullis_core::sign_in`). `via` names the form for the audit trail.
pub(crate) async fn authenticate(
    state: &AuthorizeState,
    attempt: Attempt<'_>,
) -> Result<Result<User, Refusal>, AuthenticateError> {
    let check = check_password(
        state.store.as_ref(),
        &state.hasher,
        &state.throttle,
        attempt,
        state.clock.now(),
    )
    .await?;
    Ok(checked(check))
}

/// A login form's attempt: anonymous, from this request's client.
pub(crate) fn login_attempt<'a>(
    username: &'a str,
    password: SecretString,
    ip: ClientIp,
    via: &'static str,
) -> Attempt<'a> {
    Attempt {
        username,
        password,
        client: ip.0,
        actor: Actor::anonymous(),
        via,
    }
}

/// Records a password login in the audit trail (`session.login`).
pub(crate) async fn audit_login(
    state: &AuthorizeState,
    user: &User,
    session: &Session,
    ip: ClientIp,
    via: &'static str,
) {
    audit::record(
        state,
        &Actor::user(user.user_id),
        "session.login",
        Some(user.username.clone()),
        ip,
        serde_json::json!({ "session_id": session.session_id, "via": via }),
    )
    .await;
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
    let attempt = login_attempt(&form.username, form.password, ip, "login");
    let checked = authenticate(&state, attempt)
        .await
        .map_err(|e| to.refuse(e.into()))?;
    let user = match checked {
        Ok(user) => user,
        Err(refusal) => {
            tracing::info!(client_id = %req.proven.client.client_id, ?refusal, "login refused");
            let mut retry = req.clone();
            retry.login_hint = Some(form.username);
            let page = login_page(
                &state,
                &headers,
                &retry,
                Some(refusal.message()),
                refusal.status(),
            )?;
            return Ok(refusal.finish(page));
        }
    };
    let (session, secret) = start_session(&state, &headers, &ip, user.user_id)
        .await
        .context("start a browser session")
        .map_err(|e| to.unavailable(e))?;
    tracing::info!(user_id = %user.user_id, session_id = %session.session_id, "user logged in");
    audit_login(&state, &user, &session, ip, "login").await;
    let cookie = state
        .cookies
        .set(CookieKind::Session, secret.expose(), state.sessions.ttl);
    let next = format!("{}?{}", crate::AUTHORIZE_PATH, req.raw.after_login());
    Ok(with_cookie(Redirect::to(&next).into_response(), cookie))
}
