//! `GET /admin/audit?limit=N`: the newest audit events (default 50, at most 1000).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AdminState;
use crate::auth::Admin;
use crate::error::AdminError;

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /admin/audit`.
pub(crate) async fn get_audit(
    State(state): State<AdminState>,
    _admin: Admin,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, AdminError> {
    let Query(query) =
        query.map_err(|_| AdminError::InvalidRequest("limit must be a positive number."))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    let events = state.store.list_audit_events(limit).await?;
    let body: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "at": e.at, "actor": e.actor, "action": e.action,
                "target": e.target, "ip": e.ip, "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(body).into_response())
}
