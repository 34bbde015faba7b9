//! The account page's changes, each a CSRF-checked `POST` answered by a redirect back to
//! the page (post/redirect/get) or, when this browser's own session ended, by the
//! signed-out page:
//! - `POST /account/apps/revoke`: forgets the consent and revokes every grant of that app
//!   with its refresh tokens (RFC 7009 §2.1 semantics: access tokens die with their grant
//!   at every endpoint that checks it, `/userinfo` included).
//! - `POST /account/sessions/end` and `/account/sessions/end-all`: "Sign out" and "Sign out
//!   everywhere", with back-channel logout (`signout`).
//! - `POST /account/password`: the current password, the new one twice (NIST SP 800-63B
//!   §5.1.1.2: at least 8 characters); every other session ends (OWASP ASVS V3.3.3). The
//!   current password is checked under the login throttle like a login (429 with
//!   `Retry-After` after too many failures); when every password hashing slot is busy it
//!   answers 503 with `Retry-After` at once.

use std::borrow::Cow;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::audit::Actor;
use portcullis_core::ids::{ClientId, SessionId, UserId};
use portcullis_core::password::PasswordError;
use portcullis_core::sign_in::Attempt;
use portcullis_core::users::{UserAdminError, change_password};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::error::AccountError;
use super::{CsrfProtected, read_account_form, view};
use crate::AuthorizeState;
use crate::form::FormBody;
use crate::login::{Refusal, authenticate};
use crate::logout::signed_out;
use crate::session::ClientIp;
use crate::signout::{Ending, SignOut, end_sessions};

fn back_to_account(done: &str) -> Response {
    Redirect::to(&format!("{}?done={done}", crate::ACCOUNT_PATH)).into_response()
}

fn actor(user_id: UserId) -> String {
    format!("user:{user_id}")
}

/// Appends an audit event of the user's own change.
async fn audit(
    state: &AuthorizeState,
    user_id: UserId,
    action: &str,
    target: Option<String>,
    ip: ClientIp,
) {
    crate::audit::record(
        state,
        &Actor::user(user_id),
        action,
        target,
        ip,
        serde_json::json!({}),
    )
    .await;
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    csrf_token: String,
    client_id: String,
}

impl CsrfProtected for RevokeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /account/apps/revoke`.
pub(crate) async fn post_revoke_app(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, AccountError> {
    let (form, _, user) = read_account_form::<RevokeForm>(&state, &headers, &body).await?;
    let client_id = ClientId(form.client_id);
    let now = state.clock.now();
    let revoked = state
        .store
        .revoke_consent(user.user_id, &client_id, now)
        .await
        .with_context(|| format!("revoke the access of {client_id}"))
        .map_err(AccountError::Unavailable)?;
    tracing::info!(user_id = %user.user_id, client_id = %client_id, grants = revoked.len(), "user revoked the access of {client_id}");
    audit(
        &state,
        user.user_id,
        "account.app_revoke",
        Some(client_id.0),
        ip,
    )
    .await;
    Ok(back_to_account("app-revoked"))
}

#[derive(Deserialize)]
pub(crate) struct EndSessionForm {
    csrf_token: String,
    session_id: String,
}

impl CsrfProtected for EndSessionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /account/sessions/end`: one of the user's own sessions; this browser's own means
/// signing out here.
pub(crate) async fn post_end_session(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, AccountError> {
    let (form, session, user) =
        read_account_form::<EndSessionForm>(&state, &headers, &body).await?;
    let Ok(target) = form.session_id.parse::<SessionId>() else {
        return Ok(Redirect::to(crate::ACCOUNT_PATH).into_response());
    };
    // Only the user's own sessions: an id from another account must end nothing.
    let own = state
        .store
        .list_live_sessions(user.user_id, state.clock.now())
        .await
        .context("list the live sessions")
        .map_err(AccountError::Unavailable)?
        .iter()
        .any(|s| s.session_id == target);
    if !own {
        return Ok(Redirect::to(crate::ACCOUNT_PATH).into_response());
    }
    let by = SignOut {
        actor: &actor(user.user_id),
        ip,
        via: "sign_out",
    };
    end_sessions(&state, user.user_id, Ending::One(target), by)
        .await
        .with_context(|| format!("end session {target}"))
        .map_err(AccountError::Unavailable)?;
    Ok(if target == session.session_id {
        signed_out(&state, None)
    } else {
        back_to_account("session-ended")
    })
}

#[derive(Deserialize)]
pub(crate) struct EndAllForm {
    csrf_token: String,
}

impl CsrfProtected for EndAllForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /account/sessions/end-all`: "Sign out everywhere", this browser included.
pub(crate) async fn post_end_all_sessions(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, AccountError> {
    let (_, _, user) = read_account_form::<EndAllForm>(&state, &headers, &body).await?;
    let by = SignOut {
        actor: &actor(user.user_id),
        ip,
        via: "sign_out_everywhere",
    };
    end_sessions(&state, user.user_id, Ending::All { keep: None }, by)
        .await
        .context("end every session")
        .map_err(AccountError::Unavailable)?;
    Ok(signed_out(&state, None))
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    csrf_token: String,
    current_password: SecretString,
    new_password: SecretString,
    confirm_password: SecretString,
}

impl CsrfProtected for PasswordForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /account/password`.
pub(crate) async fn post_change_password(
    State(state): State<AuthorizeState>,
    ip: ClientIp,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, AccountError> {
    let (form, session, user) = read_account_form::<PasswordForm>(&state, &headers, &body).await?;
    let page = |status: StatusCode, message: Cow<'static, str>| {
        view::render(&state, &session, &user, None, Some(message), status)
    };
    let refuse = |message: &'static str| page(StatusCode::BAD_REQUEST, Cow::Borrowed(message));
    let wait = |refusal: Refusal| async move {
        let response = page(refusal.status(), refusal.message()).await?;
        Ok(refusal.finish(response))
    };
    // The current password is a password check like a login's: a stolen session must not
    // become a way to guess it without limit.
    let attempt = Attempt {
        username: &user.username,
        password: form.current_password,
        client: ip.0,
        actor: Actor::user(user.user_id),
        via: "password_change",
    };
    match authenticate(&state, attempt).await? {
        Ok(_) => {}
        Err(Refusal::Incorrect) => {
            tracing::info!(user_id = %user.user_id, "password change refused: wrong current password");
            return refuse("Your current password is not correct.").await;
        }
        Err(refusal) => return wait(refusal).await,
    }
    if form.new_password.expose_secret() != form.confirm_password.expose_secret() {
        return refuse("The new passwords do not match.").await;
    }
    let now = state.clock.now();
    let changed = change_password(
        state.store.as_ref(),
        &state.hasher,
        user.user_id,
        form.new_password,
        now,
    )
    .await;
    match changed {
        Err(UserAdminError::WeakPassword) => {
            return refuse("The new password must be at least 8 characters.").await;
        }
        Err(UserAdminError::Password(PasswordError::Busy { retry_after })) => {
            return wait(Refusal::Busy { retry_after }).await;
        }
        _ => {}
    }
    changed
        .with_context(|| format!("change the password of user {}", user.user_id))
        .map_err(AccountError::Unavailable)?;
    tracing::info!(user_id = %user.user_id, "user changed their password");
    audit(&state, user.user_id, "account.password_change", None, ip).await;
    let keep = Ending::All {
        keep: Some(session.session_id),
    };
    let by = SignOut {
        actor: &actor(user.user_id),
        ip,
        via: "password_change",
    };
    end_sessions(&state, user.user_id, keep, by)
        .await
        .context("end the other sessions after a password change")
        .map_err(AccountError::Unavailable)?;
    Ok(back_to_account("password-changed"))
}
