//! `/admin/keys`: the signing keys with their state, and rotation with the same timing as
//! `portcullis keys rotate` (published now, signing after `keys.publish_delay`, the old
//! keys retired once every token they signed has expired). This replica reloads its
//! keyring at once; the others within `keys.reload_interval`.

use anyhow::Context as _;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_core::keyring::{self, key_statuses};
use serde_json::{Value, json};

use super::record;
use crate::AdminState;
use crate::auth::Admin;
use crate::error::AdminError;

/// `GET /admin/keys`.
pub(crate) async fn get_keys(
    State(state): State<AdminState>,
    _admin: Admin,
) -> Result<Response, AdminError> {
    let records = state.store.list_signing_keys().await?;
    let statuses = key_statuses(&records, state.clock.now());
    let body: Vec<Value> = records
        .iter()
        .zip(&statuses)
        .map(|(r, s)| {
            json!({
                "kid": r.kid, "alg": r.alg.as_str(), "state": s.as_str(),
                "created_at": r.created_at, "activates_at": r.activates_at,
                "retires_at": r.retires_at,
            })
        })
        .collect();
    Ok(Json(body).into_response())
}

/// `POST /admin/keys/rotate`: the new keys.
pub(crate) async fn post_keys_rotate(
    State(state): State<AdminState>,
    admin: Admin,
) -> Result<Response, AdminError> {
    let now = state.clock.now();
    let created = keyring::rotate_signing_keys(
        state.store.as_ref(),
        state.keyring.kek(),
        now,
        state.key_rotation,
    )
    .await
    .context("rotate the signing keys")?;
    state
        .keyring
        .reload(state.store.as_ref(), now)
        .await
        .context("reload the keyring after rotation")?;
    let mut body = Vec::new();
    for k in &created {
        record(
            &state,
            &admin,
            "keys.rotate",
            &k.kid,
            json!({ "alg": k.alg.as_str(), "activates_at": k.activates_at }),
        )
        .await?;
        body.push(json!({"kid": k.kid, "alg": k.alg.as_str(), "activates_at": k.activates_at}));
    }
    Ok(Json(body).into_response())
}
