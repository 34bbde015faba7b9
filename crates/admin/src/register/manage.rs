//! RFC 7592 client configuration at `registration_client_uri`: read (§2.1), update by
//! full replacement (§2.2) and delete (§2.3), each authorized by the client's
//! registration access token as an RFC 6750 bearer token. An unknown client, a client
//! that was not dynamically registered and a wrong token all get the same 401 (§2.1),
//! so client ids cannot be probed.

use anyhow::Context as _;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::audit::{self, Actor, Change};
use portcullis_core::clients::{self, MetadataError};
use portcullis_core::model::Client;
use portcullis_core::registration::{
    UpdateMismatch, check_update, managed_client, parse_registration_request,
};

use super::{audit_detail, client_information_response, rate_limit, read_body};
use crate::AdminState;
use crate::bearer::required_bearer_token;
use crate::client_ip::ClientIp;
use crate::error::{AdminError, TokenKind};
use crate::extract::Path;

/// The client the presented registration access token manages, and the token.
async fn authorize<'h>(
    state: &AdminState,
    ip: ClientIp,
    headers: &'h HeaderMap,
    client_id: &str,
) -> Result<(Client, &'h str), AdminError> {
    rate_limit(state, ip)?;
    let token = required_bearer_token(headers, TokenKind::Registration)?;
    let client = managed_client(state.store.as_ref(), client_id, token)
        .await
        .context("load the client for RFC 7592")?
        .ok_or(AdminError::InvalidToken {
            kind: TokenKind::Registration,
            reason: "no dynamically registered client with this id and token",
        })?;
    tracing::Span::current().record("client_id", client_id);
    Ok((client, token))
}

async fn record(
    state: &AdminState,
    ip: ClientIp,
    action: &str,
    client: &Client,
) -> Result<(), AdminError> {
    audit::record(
        state.store.as_ref(),
        Change {
            actor: &Actor::client(&client.client_id),
            action,
            target: Some(client.client_id.as_str()),
            ip: ip.audit(),
            detail: audit_detail(client),
        },
        state.clock.now(),
    )
    .await
    .context("record the change in the audit trail")?;
    Ok(())
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
#[tracing::instrument(name = "register.read", skip_all, fields(client_id))]
pub(crate) async fn get_client_configuration(
    State(state): State<AdminState>,
    ip: ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let (client, token) = authorize(&state, ip, &headers, &client_id).await?;
    Ok(Json(client_information_response(&state, &client, None, token)).into_response())
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the body replaces every metadata value;
/// omitted values take their defaults.
#[tracing::instrument(name = "register.update", skip_all, fields(client_id))]
pub(crate) async fn put_client_configuration(
    State(state): State<AdminState>,
    ip: ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AdminError> {
    let (client, token) = authorize(&state, ip, &headers, &client_id).await?;
    let body = read_body(&state, body).await?;
    let request = parse_registration_request(&body, Some(&state.registration.policy))?;
    check_update(&client, &request).map_err(|mismatch| match mismatch {
        UpdateMismatch::ClientId => MetadataError::Metadata {
            field: "client_id",
            problem: "must be present and equal to the client's own client_id",
        },
        UpdateMismatch::ClientSecret => MetadataError::Metadata {
            field: "client_secret",
            problem: "does not match the client's current secret",
        },
    })?;
    let (updated, secret) = clients::replace_client(
        state.store.as_ref(),
        &client_id,
        request.new,
        state.clock.now(),
    )
    .await?;
    record(&state, ip, "registration.update", &updated).await?;
    tracing::info!(client_id = %client_id, "client {client_id} updated its registration");
    Ok(Json(client_information_response(
        &state,
        &updated,
        secret.as_ref(),
        token,
    ))
    .into_response())
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): the client and everything issued to
/// it are gone; `204 No Content`.
#[tracing::instrument(name = "register.delete", skip_all, fields(client_id))]
pub(crate) async fn delete_client_configuration(
    State(state): State<AdminState>,
    ip: ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let (client, _) = authorize(&state, ip, &headers, &client_id).await?;
    clients::delete_client(state.store.as_ref(), &client_id).await?;
    record(&state, ip, "registration.delete", &client).await?;
    tracing::info!(client_id = %client_id, "client {client_id} deleted its registration");
    Ok(StatusCode::NO_CONTENT.into_response())
}
