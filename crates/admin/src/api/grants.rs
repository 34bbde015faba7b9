//! `/admin/users/{username}/grants`: the apps a user has authorized, and revoking one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::grants;
use portcullis_core::ids::GrantId;
use serde_json::{Value, json};

use super::record;
use crate::AdminState;
use crate::auth::Admin;
use crate::error::AdminError;
use crate::extract::Path;

/// `GET /admin/users/{username}/grants`: active grants, newest first.
pub(crate) async fn get_user_grants(
    State(state): State<AdminState>,
    _admin: Admin,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    let all = grants::list_user_grants(state.store.as_ref(), &username).await?;
    let body: Vec<Value> = all
        .iter()
        .map(|g| {
            json!({
                "grant_id": g.grant_id,
                "client_id": g.client_id,
                "scope": g.scope.to_string(),
                "auth_time": g.auth_time,
                "created_at": g.created_at,
                "last_used_at": g.last_used_at,
            })
        })
        .collect();
    Ok(Json(body).into_response())
}

/// `DELETE /admin/users/{username}/grants/{grant_id}`: `204`, or `404` when the user has
/// no such active grant.
pub(crate) async fn delete_user_grant(
    State(state): State<AdminState>,
    admin: Admin,
    Path((username, grant_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let grant_id: GrantId = grant_id
        .parse()
        .map_err(|_| AdminError::NotFound("The user has no such active grant."))?;
    let revoked =
        grants::revoke_user_grant(state.store.as_ref(), &username, grant_id, state.clock.now())
            .await?;
    if !revoked {
        return Err(AdminError::NotFound("The user has no such active grant."));
    }
    record(
        &state,
        &admin,
        "grant.revoke",
        &grant_id.to_string(),
        json!({ "username": username }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
