//! `/admin/users`: list, create, read, update the profile of, disable, enable, set the
//! password of, assign roles to, clear the login throttle of and end the sessions of
//! users. Passwords travel only in request bodies and are never returned, logged or
//! audited.

use anyhow::Context as _;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::model::{User, UserProfile};
use portcullis_core::sessions::{self, EndedSessions, Ending};
use portcullis_core::users::{self, NewUser};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{json_body, record};
use crate::AdminState;
use crate::auth::Admin;
use crate::error::AdminError;
use crate::extract::{AdminBody, Path};

/// A user as the admin API shows it: never the password hash.
pub(crate) fn user_view(u: &User) -> Value {
    json!({
        "user_id": u.user_id,
        "username": u.username,
        "email": u.profile.email,
        "email_verified": u.profile.email_verified,
        "name": u.profile.name,
        "given_name": u.profile.given_name,
        "family_name": u.profile.family_name,
        "picture": u.profile.picture,
        "roles": u.roles,
        "disabled": u.disabled,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

/// Profile claims in a request body; absent ones are cleared.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

impl From<ProfileBody> for UserProfile {
    fn from(p: ProfileBody) -> Self {
        UserProfile {
            email: p.email,
            email_verified: p.email_verified,
            name: p.name,
            given_name: p.given_name,
            family_name: p.family_name,
            picture: p.picture,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserBody {
    username: String,
    password: SecretString,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

/// `GET /admin/users`.
pub(crate) async fn get_users(
    State(state): State<AdminState>,
    _admin: Admin,
) -> Result<Response, AdminError> {
    let all = state.store.list_users().await?;
    Ok(Json(all.iter().map(user_view).collect::<Vec<_>>()).into_response())
}

/// `POST /admin/users`: `201` with the user.
pub(crate) async fn post_user(
    State(state): State<AdminState>,
    admin: Admin,
    AdminBody(body): AdminBody,
) -> Result<Response, AdminError> {
    let b: CreateUserBody = json_body(&body)?;
    let new = NewUser {
        username: b.username,
        password: b.password,
        profile: UserProfile {
            email: b.email,
            email_verified: b.email_verified,
            name: b.name,
            given_name: b.given_name,
            family_name: b.family_name,
            picture: b.picture,
        },
        roles: b.roles,
    };
    let user =
        users::create_user(state.store.as_ref(), &state.hasher, new, state.clock.now()).await?;
    record(
        &state,
        &admin,
        "user.create",
        &user.username,
        json!({ "user_id": user.user_id, "roles": user.roles }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user_view(&user))).into_response())
}

/// `GET /admin/users/{username}`.
pub(crate) async fn get_user(
    State(state): State<AdminState>,
    _admin: Admin,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    let user = users::find_by_username(state.store.as_ref(), &username).await?;
    Ok(Json(user_view(&user)).into_response())
}

/// `PUT /admin/users/{username}`: replaces the profile claims.
pub(crate) async fn put_user(
    State(state): State<AdminState>,
    admin: Admin,
    Path(username): Path<String>,
    AdminBody(body): AdminBody,
) -> Result<Response, AdminError> {
    let profile: ProfileBody = json_body(&body)?;
    let user = users::update_profile(
        state.store.as_ref(),
        &username,
        profile.into(),
        state.clock.now(),
    )
    .await?;
    record(&state, &admin, "user.update", &username, Value::Null).await?;
    Ok(Json(user_view(&user)).into_response())
}

async fn set_disabled(
    state: AdminState,
    admin: Admin,
    username: String,
    disabled: bool,
) -> Result<Response, AdminError> {
    let ended =
        users::set_disabled(state.store.as_ref(), &username, disabled, state.clock.now()).await?;
    let (action, detail) = if disabled {
        (
            "user.disable",
            json!({ "ended_sessions": ended.sessions.len() }),
        )
    } else {
        ("user.enable", Value::Null)
    };
    notify(&state, &admin, &ended).await;
    record(&state, &admin, action, &username, detail).await?;
    let user = users::find_by_username(state.store.as_ref(), &username).await?;
    Ok(Json(user_view(&user)).into_response())
}

/// Starts the back-channel logout of sessions that ended. Called before the change is
/// recorded: the sessions are already over, so the apps must hear of it even if the audit
/// write then fails. The notifier returns at once and never fails.
async fn notify(state: &AdminState, admin: &Admin, ended: &EndedSessions) {
    if !ended.is_empty() {
        state.notifier.sessions_ended(ended, &admin.actor.0).await;
    }
}

/// `POST /admin/users/{username}/sessions/end`: ends every live session of the user, with
/// the grants made in them that were not for offline access, and sends each app that got
/// an ID token in one of them a logout token (Back-Channel Logout 1.0). Answers
/// `{"ended_sessions": n}`; `0` when the user had none.
pub(crate) async fn post_user_sessions_end(
    State(state): State<AdminState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    let user = users::find_by_username(state.store.as_ref(), &username).await?;
    let ended = sessions::end_sessions(
        state.store.as_ref(),
        user.user_id,
        Ending::All { keep: None },
        state.clock.now(),
    )
    .await
    .context("end the user's sessions")?;
    let count = ended.sessions.len();
    notify(&state, &admin, &ended).await;
    record(
        &state,
        &admin,
        "user.end_sessions",
        &username,
        json!({ "ended_sessions": count, "sessions": ended.sessions }),
    )
    .await?;
    Ok(Json(json!({ "ended_sessions": count })).into_response())
}

/// `POST /admin/users/{username}/disable`: the user can no longer log in, every session
/// of theirs ends as with `sessions/end`, and tokens issued to them stop working at
/// `/userinfo` and here.
pub(crate) async fn post_user_disable(
    State(state): State<AdminState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    set_disabled(state, admin, username, true).await
}

/// `POST /admin/users/{username}/enable`.
pub(crate) async fn post_user_enable(
    State(state): State<AdminState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    set_disabled(state, admin, username, false).await
}

/// `PUT /admin/users/{username}/password`: `204`.
pub(crate) async fn put_user_password(
    State(state): State<AdminState>,
    admin: Admin,
    Path(username): Path<String>,
    AdminBody(body): AdminBody,
) -> Result<Response, AdminError> {
    let b: PasswordBody = json_body(&body)?;
    users::set_password(
        state.store.as_ref(),
        &state.hasher,
        &username,
        b.password,
        state.clock.now(),
    )
    .await?;
    record(&state, &admin, "user.set_password", &username, Value::Null).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/users/{username}/unlock`: clears the user's login throttle (every failure
/// counted against the account, from every network). Answers `{"cleared": n}`, the
/// number of counts forgotten (`0` when none were kept).
pub(crate) async fn post_user_unlock(
    State(state): State<AdminState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    let cleared = users::unlock(state.store.as_ref(), &username).await?;
    record(
        &state,
        &admin,
        "user.unlock",
        &username,
        json!({ "cleared": cleared }),
    )
    .await?;
    Ok(Json(json!({ "cleared": cleared })).into_response())
}

/// `PUT /admin/users/{username}/roles`: replaces the role list.
pub(crate) async fn put_user_roles(
    State(state): State<AdminState>,
    admin: Admin,
    Path(username): Path<String>,
    AdminBody(body): AdminBody,
) -> Result<Response, AdminError> {
    let b: RolesBody = json_body(&body)?;
    let user =
        users::set_roles(state.store.as_ref(), &username, b.roles, state.clock.now()).await?;
    record(
        &state,
        &admin,
        "user.set_roles",
        &username,
        json!({ "roles": user.roles }),
    )
    .await?;
    Ok(Json(user_view(&user)).into_response())
}
