//! `POST /login`: checks the CSRF token, the credentials (argon2id on the blocking pool,
//! the same cost for unknown and disabled users, one generic failure message), then starts
//! a fresh session and continues the authorization request.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::csrf::CsrfPurpose;
use secrecy::SecretString;
use serde::Deserialize;

use crate::AuthorizeState;
use crate::cookies::CookieKind;
use crate::flow::{login_page, redirect_error, reject, unavailable, with_cookie};
use crate::form::read_form;
use crate::pages::stale_form;
use crate::request::{RedirectError, load_request};
use crate::session::{ClientIp, start_session};

/// The only failure text: it must not reveal whether the user exists or is disabled.
const LOGIN_FAILED: &str = "Incorrect username or password.";

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: String,
    request: String,
    username: String,
    password: SecretString,
}

/// `POST /login`.
pub(crate) async fn post_login(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: LoginForm = match read_form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let Some(binding) = state.cookies.read(&headers, CookieKind::Csrf) else {
        return stale_form();
    };
    if !state
        .csrf
        .verify(CsrfPurpose::Login, binding.as_bytes(), &form.csrf_token)
    {
        return stale_form();
    }
    let req = match load_request(state.store.as_ref(), &form.request).await {
        Ok(r) => r,
        Err(rejection) => return reject(&state, rejection),
    };
    let user = match state
        .store
        .find_user_by_username(form.username.trim())
        .await
    {
        Ok(u) => u,
        Err(e) => return unavailable(&state, &req.proven, &e),
    };
    // Verify even for unknown users (against a dummy hash) so timing reveals nothing.
    let verified = match state
        .hasher
        .verify(user.as_ref().map(|u| &u.password_hash), form.password)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "login: password verification failed to run");
            return redirect_error(
                &state,
                &req.proven,
                RedirectError::new("server_error", "the server could not complete the request"),
            );
        }
    };
    let user = match user {
        Some(u) if verified && !u.disabled => u,
        _ => {
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
        }
    };
    let (session, secret) = match start_session(&state, &headers, &ip, user.user_id).await {
        Ok(s) => s,
        Err(e) => return unavailable(&state, &req.proven, &e),
    };
    tracing::info!(user_id = %user.user_id, session_id = %session.session_id, "user logged in");
    let cookie = state
        .cookies
        .set(CookieKind::Session, secret.expose(), state.sessions.ttl);
    let next = format!("{}?{}", crate::AUTHORIZE_PATH, req.raw.after_login());
    with_cookie(Redirect::to(&next).into_response(), cookie)
}
