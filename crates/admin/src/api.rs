//! The admin API under `/admin/…`: JSON over HTTP for what the operator CLI does, through
//! the same `portcullis_core` functions. Every handler takes an [`Admin`] (a live bearer
//! token with the `admin` scope, see `auth`), and every change is written to the audit
//! trail with the admin's identity and client address before the response is sent.

mod audit_log;
mod clients;
mod grants;
mod keys;
mod users;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::routing::{delete, get, post, put};
use portcullis_core::audit::{self, Change};
use serde::de::DeserializeOwned;

use crate::AdminState;
use crate::auth::Admin;
use crate::error::AdminError;

/// Routes of the admin API.
pub(crate) fn router<S>() -> Router<S>
where
    AdminState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/admin/clients",
            get(clients::get_clients).post(clients::post_client),
        )
        .route(
            "/admin/clients/{client_id}",
            get(clients::get_client)
                .put(clients::put_client)
                .delete(clients::delete_client),
        )
        .route(
            "/admin/clients/{client_id}/secret",
            post(clients::post_client_secret),
        )
        .route("/admin/users", get(users::get_users).post(users::post_user))
        .route(
            "/admin/users/{username}",
            get(users::get_user).put(users::put_user),
        )
        .route(
            "/admin/users/{username}/disable",
            post(users::post_user_disable),
        )
        .route(
            "/admin/users/{username}/enable",
            post(users::post_user_enable),
        )
        .route(
            "/admin/users/{username}/password",
            put(users::put_user_password),
        )
        .route("/admin/users/{username}/roles", put(users::put_user_roles))
        .route(
            "/admin/users/{username}/unlock",
            post(users::post_user_unlock),
        )
        .route(
            "/admin/users/{username}/sessions/end",
            post(users::post_user_sessions_end),
        )
        .route(
            "/admin/users/{username}/grants",
            get(grants::get_user_grants),
        )
        .route(
            "/admin/users/{username}/grants/{grant_id}",
            delete(grants::delete_user_grant),
        )
        .route("/admin/keys", get(keys::get_keys))
        .route("/admin/keys/rotate", post(keys::post_keys_rotate))
        .route("/admin/audit", get(audit_log::get_audit))
}

/// Parses a JSON body into `T`, refusing it in our error shape.
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|_| {
        AdminError::InvalidRequest("The request body is not the JSON object this endpoint takes.")
    })
}

/// Records an admin change.
pub(crate) async fn record(
    state: &AdminState,
    admin: &Admin,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), AdminError> {
    audit::record(
        state.store.as_ref(),
        Change {
            actor: &admin.actor,
            action,
            target: Some(target),
            ip: admin.ip.audit(),
            detail,
        },
        state.clock.now(),
    )
    .await
    .context("record the admin change in the audit trail")?;
    tracing::info!(actor = %admin.actor.0, action, target, "admin change {action} on {target}");
    Ok(())
}
