//! `/admin/clients`: list, create, read, replace, delete and rotate the secret of OAuth
//! clients. Bodies are RFC 7591 client metadata (the format dynamic registration takes),
//! without registration's policy ceiling: the operator may, for instance, allow a client
//! the `admin` scope. One member is the operator's alone and never read from a registrant:
//! `first_party` (a boolean, default `false`), which lets a public client get codes from
//! remembered consent (RFC 8252 §8.6); responses here show it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::clients::{self, client_information};
use portcullis_core::registration::parse_registration_request;
use serde_json::{Value, json};

use super::{json_body, record};
use crate::AdminState;
use crate::auth::Admin;
use crate::error::AdminError;
use crate::extract::{AdminBody, Path};
use crate::register::audit_detail;

/// `GET /admin/clients`.
pub(crate) async fn get_clients(
    State(state): State<AdminState>,
    _admin: Admin,
) -> Result<Response, AdminError> {
    let all = state.store.list_clients().await?;
    let body: Vec<Value> = all
        .iter()
        .map(|c| Value::Object(admin_information(c)))
        .collect();
    Ok(Json(body).into_response())
}

/// `POST /admin/clients`: `201` with the client and, once, its secret.
pub(crate) async fn post_client(
    State(state): State<AdminState>,
    admin: Admin,
    AdminBody(body): AdminBody,
) -> Result<Response, AdminError> {
    let mut new = parse_registration_request(&body, None)?.new;
    new.first_party = Some(first_party(&body)?);
    let (client, secret) =
        clients::create_client(state.store.as_ref(), new, state.clock.now()).await?;
    record(
        &state,
        &admin,
        "client.create",
        client.client_id.as_str(),
        audit_detail(&client),
    )
    .await?;
    let mut info = admin_information(&client);
    if let Some(secret) = secret {
        info.insert("client_secret".into(), json!(secret.expose()));
    }
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// `GET /admin/clients/{client_id}`.
pub(crate) async fn get_client(
    State(state): State<AdminState>,
    _admin: Admin,
    Path(client_id): Path<String>,
) -> Result<Response, AdminError> {
    let client = clients::find_client(state.store.as_ref(), &client_id).await?;
    Ok(Json(admin_information(&client)).into_response())
}

/// `PUT /admin/clients/{client_id}`: full replacement, as RFC 7592 §2.2 does it.
pub(crate) async fn put_client(
    State(state): State<AdminState>,
    admin: Admin,
    Path(client_id): Path<String>,
    AdminBody(body): AdminBody,
) -> Result<Response, AdminError> {
    let mut new = parse_registration_request(&body, None)?.new;
    // A full replacement: leaving `first_party` out makes the client third party again.
    new.first_party = Some(first_party(&body)?);
    let (client, secret) =
        clients::replace_client(state.store.as_ref(), &client_id, new, state.clock.now()).await?;
    record(
        &state,
        &admin,
        "client.update",
        &client_id,
        audit_detail(&client),
    )
    .await?;
    let mut info = admin_information(&client);
    if let Some(secret) = secret {
        info.insert("client_secret".into(), json!(secret.expose()));
    }
    Ok(Json(info).into_response())
}

/// `DELETE /admin/clients/{client_id}`: `204`.
pub(crate) async fn delete_client(
    State(state): State<AdminState>,
    admin: Admin,
    Path(client_id): Path<String>,
) -> Result<Response, AdminError> {
    clients::delete_client(state.store.as_ref(), &client_id).await?;
    record(&state, &admin, "client.delete", &client_id, Value::Null).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/clients/{client_id}/secret`: a new secret, shown once.
pub(crate) async fn post_client_secret(
    State(state): State<AdminState>,
    admin: Admin,
    Path(client_id): Path<String>,
) -> Result<Response, AdminError> {
    let (client, secret) =
        clients::rotate_client_secret(state.store.as_ref(), &client_id, state.clock.now()).await?;
    record(
        &state,
        &admin,
        "client.rotate_secret",
        &client_id,
        Value::Null,
    )
    .await?;
    Ok(Json(json!({
        "client_id": client.client_id,
        "client_secret": secret.expose(),
    }))
    .into_response())
}

/// The operator-only `first_party` member of an admin client body; absent is `false`.
fn first_party(body: &Bytes) -> Result<bool, AdminError> {
    match json_body::<Value>(body)?.get("first_party") {
        None => Ok(false),
        Some(Value::Bool(first_party)) => Ok(*first_party),
        Some(_) => Err(AdminError::InvalidRequest("first_party must be a boolean.")),
    }
}

/// What the admin API says about a client: its registered metadata, and `first_party`.
fn admin_information(client: &portcullis_core::model::Client) -> serde_json::Map<String, Value> {
    let mut info = client_information(client);
    info.insert("first_party".into(), json!(client.first_party));
    info
}
