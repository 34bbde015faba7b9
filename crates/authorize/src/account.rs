//! `GET /account`: what a signed-in user controls — their profile, the apps they gave
//! access to (with "Revoke access"), where they are signed in (with "Sign out" and "Sign
//! out everywhere") and their password. Without a session it shows its own login form
//! (`POST /account/login`), which returns to the account page and nowhere else: no return
//! URL ever comes from the browser.
//!
//! Every form carries a CSRF token bound to the session (OWASP ASVS V3.5, `core::csrf`,
//! purpose `Account`) and is read through `form` (cross-site posts refused).

mod actions;
mod error;
mod view;

use std::borrow::Cow;

use anyhow::Context as _;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::model::{Session, User};
use portcullis_core::store::StoreError;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cookies::CookieKind;
use crate::flow::with_cookie;
use crate::form::{FormBody, read_form};
use crate::login::{
    AuthenticateError, audit_login, authenticate, login_attempt, login_csrf_binding,
    login_csrf_valid,
};
use crate::pages::LoginPage;
use crate::session::{ClientIp, current_session, start_session};
use crate::{ACCOUNT_PATH, AuthorizeState};
use error::AccountError;

pub(crate) use actions::{
    post_change_password, post_end_all_sessions, post_end_session, post_revoke_app,
};

/// The signed-in user of this browser, if any (a disabled user is not signed in).
async fn signed_in_user(
    state: &AuthorizeState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, StoreError> {
    let Some(session) = current_session(state, headers).await? else {
        return Ok(None);
    };
    let user = state
        .store
        .find_user(session.user_id)
        .await?
        .filter(|u| !u.disabled);
    Ok(user.map(|u| (session, u)))
}

impl From<AuthenticateError> for AccountError {
    fn from(e: AuthenticateError) -> Self {
        AccountError::Unavailable(match e {
            AuthenticateError::Store(cause) => {
                anyhow::Error::new(cause).context("look up the user logging in")
            }
            AuthenticateError::Password(cause) => {
                anyhow::Error::new(cause).context("verify the password")
            }
        })
    }
}

/// The CSRF binding of account forms: the session, so a token works only in the browser
/// (and the session) it was shown to.
fn account_binding(session: &Session) -> Vec<u8> {
    let mut b = session.session_id.0.as_bytes().to_vec();
    b.extend_from_slice(b"\0account");
    b
}

/// Forms whose first check is their CSRF token.
trait CsrfProtected {
    fn csrf_token(&self) -> &str;
}

/// Reads an account form and checks it belongs to this browser's session: cross-site posts
/// and wrong tokens are refused, and without a session the browser goes to the account
/// page (its login form).
async fn read_account_form<T: DeserializeOwned + CsrfProtected>(
    state: &AuthorizeState,
    headers: &HeaderMap,
    body: &str,
) -> Result<(T, Session, User), AccountError> {
    let form: T = read_form(headers, body)?;
    let (session, user) = signed_in_user(state, headers)
        .await
        .context("look up the signed-in user")
        .map_err(AccountError::Unavailable)?
        .ok_or(AccountError::NotSignedIn)?;
    if !state.csrf.verify(
        CsrfPurpose::Account,
        &account_binding(&session),
        form.csrf_token(),
    ) {
        return Err(AccountError::StaleForm);
    }
    Ok((form, session, user))
}

/// Fixed messages after a change, chosen by a key in the query (never reflected text).
fn notice(query: Option<&str>) -> Option<&'static str> {
    #[derive(Deserialize)]
    struct Done {
        done: Option<String>,
    }
    let done: Done = serde_urlencoded::from_str(query?).ok()?;
    match done.done?.as_str() {
        "app-revoked" => {
            Some("Access revoked. The app must ask you again before it can use your account.")
        }
        "session-ended" => Some("That session is signed out."),
        "password-changed" => Some("Password changed. Your other sessions are signed out."),
        _ => None,
    }
}

/// `GET /account`.
pub(crate) async fn get_account(
    State(state): State<AuthorizeState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AccountError> {
    let signed_in = signed_in_user(&state, &headers)
        .await
        .context("look up the signed-in user")
        .map_err(AccountError::Unavailable)?;
    match signed_in {
        Some((session, user)) => {
            view::render(
                &state,
                &session,
                &user,
                notice(query.as_deref()),
                None,
                StatusCode::OK,
            )
            .await
        }
        None => account_login_page(&state, &headers, None, StatusCode::OK, String::new()),
    }
}

/// The account's login form, with a CSRF token bound to the browser's CSRF cookie.
fn account_login_page(
    state: &AuthorizeState,
    headers: &HeaderMap,
    error: Option<Cow<'static, str>>,
    status: StatusCode,
    username: String,
) -> Result<Response, AccountError> {
    let (binding, set_cookie) = login_csrf_binding(state, headers)
        .context("plant the login CSRF cookie")
        .map_err(AccountError::Unavailable)?;
    let page = LoginPage {
        client_name: None,
        action: "/account/login",
        error,
        csrf_token: state.csrf.token(CsrfPurpose::Login, binding.as_bytes()),
        request: None,
        username,
    };
    Ok(with_cookie((status, page).into_response(), set_cookie))
}

#[derive(Deserialize)]
struct AccountLoginForm {
    csrf_token: String,
    username: String,
    password: SecretString,
}

/// `POST /account/login`: the same checks as `/login`, then a fresh session and back to
/// the account page.
pub(crate) async fn post_account_login(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, AccountError> {
    let form: AccountLoginForm = read_form(&headers, &body)?;
    if !login_csrf_valid(&state, &headers, &form.csrf_token) {
        return Err(AccountError::StaleForm);
    }
    let attempt = login_attempt(&form.username, form.password, ip, "account_login");
    let user = match authenticate(&state, attempt).await? {
        Ok(user) => user,
        Err(refusal) => {
            tracing::info!(?refusal, "account login refused");
            let page = account_login_page(
                &state,
                &headers,
                Some(refusal.message()),
                refusal.status(),
                form.username,
            )?;
            return Ok(refusal.finish(page));
        }
    };
    let (session, secret) = start_session(&state, &headers, &ip, user.user_id)
        .await
        .context("start a browser session")
        .map_err(AccountError::Unavailable)?;
    tracing::info!(user_id = %user.user_id, session_id = %session.session_id, "user logged in to the account page");
    audit_login(&state, &user, &session, ip, "account_login").await;
    let cookie = state
        .cookies
        .set(CookieKind::Session, secret.expose(), state.sessions.ttl);
    Ok(with_cookie(
        Redirect::to(ACCOUNT_PATH).into_response(),
        cookie,
    ))
}
