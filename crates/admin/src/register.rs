//! `POST /register`: dynamic client registration (RFC 7591 §3). The request is JSON client
//! metadata (§2), checked by `portcullis_core::registration` against the rules of every
//! client and the operator's registration policy; success is `201 Created` with the client
//! information (§3.2.1): `client_id`, `client_secret` (once, for clients that use one),
//! `registration_access_token` and `registration_client_uri` for RFC 7592 management.
//!
//! It is a public write endpoint, so before anything is parsed the client address must be
//! within its rate limit and, in `token` mode, present an initial access token as an RFC
//! 6750 bearer token (§3); the body is read only up to the configured size.

mod manage;

use anyhow::Context as _;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use portcullis_core::audit::{self, Actor, Change};
use portcullis_core::clients::client_information;
use portcullis_core::model::Client;
use portcullis_core::registration::{
    self, RegistrationMode, is_initial_access_token, parse_registration_request,
};
use portcullis_core::secret::PlainSecret;
use serde_json::{Value, json};

use crate::AdminState;
use crate::bearer::required_bearer_token;
use crate::client_ip::ClientIp;
use crate::error::{AdminError, TokenKind};

/// Routes of dynamic registration and RFC 7592 client configuration.
pub(crate) fn router<S>() -> Router<S>
where
    AdminState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(crate::REGISTER_PATH, post(post_register))
        .route(
            "/register/{client_id}",
            axum::routing::get(manage::get_client_configuration)
                .put(manage::put_client_configuration)
                .delete(manage::delete_client_configuration),
        )
}

/// Spends one request of the client address's registration budget.
pub(crate) fn rate_limit(state: &AdminState, ip: ClientIp) -> Result<(), AdminError> {
    state
        .registration
        .limiter
        .check(ip.0, state.clock.now())
        .map_err(|retry_after_secs| AdminError::RateLimited { retry_after_secs })
}

/// Reads the body up to the configured limit.
pub(crate) async fn read_body(state: &AdminState, body: Body) -> Result<Bytes, AdminError> {
    axum::body::to_bytes(body, state.registration.max_body_bytes)
        .await
        .map_err(|_| AdminError::TooLarge)
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the registered
/// metadata plus the credentials the registrant holds.
pub(crate) fn client_information_response(
    state: &AdminState,
    client: &Client,
    client_secret: Option<&PlainSecret>,
    registration_access_token: &str,
) -> Value {
    let mut info = client_information(client);
    if let Some(secret) = client_secret {
        info.insert("client_secret".into(), json!(secret.expose()));
        // §3.2.1: REQUIRED with a secret; 0 means it does not expire.
        info.insert("client_secret_expires_at".into(), json!(0));
    }
    info.insert(
        "registration_access_token".into(),
        json!(registration_access_token),
    );
    info.insert(
        "registration_client_uri".into(),
        json!(state.registration_client_uri(client.client_id.as_str())),
    );
    Value::Object(info)
}

/// What an audit event says about a client, never its credentials.
pub(crate) fn audit_detail(client: &Client) -> Value {
    json!({
        "client_name": client.name,
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "redirect_uris": client.redirect_uris,
        "scope": client.allowed_scope.to_string(),
    })
}

/// Who is registering: anyone in `open` mode; in `token` mode only the holder of a live
/// initial access token (RFC 7591 §3).
async fn registrant(state: &AdminState, headers: &HeaderMap) -> Result<Actor, AdminError> {
    match state.registration.mode {
        RegistrationMode::Open => Ok(Actor::anonymous()),
        RegistrationMode::Token => {
            let token = required_bearer_token(headers, TokenKind::InitialAccess)?;
            let live = is_initial_access_token(
                state.store.as_ref(),
                &state.registration.initial_access_tokens,
                token,
                state.clock.now(),
            )
            .await
            .context("check the initial access token")?;
            if !live {
                return Err(AdminError::InvalidToken {
                    kind: TokenKind::InitialAccess,
                    reason: "unknown or expired initial access token",
                });
            }
            Ok(Actor::initial_access_token())
        }
        // Not mounted when off; answer as if it were not there.
        RegistrationMode::Off => Err(AdminError::NotFound("Registration is not offered.")),
    }
}

/// `POST /register`.
#[tracing::instrument(name = "register", skip_all, fields(client_id))]
pub(crate) async fn post_register(
    State(state): State<AdminState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AdminError> {
    rate_limit(&state, ip)?;
    let actor = registrant(&state, &headers).await?;
    let body = read_body(&state, body).await?;
    let request = parse_registration_request(&body, Some(&state.registration.policy))?;
    let now = state.clock.now();
    let registered = registration::register_client(state.store.as_ref(), request.new, now).await?;
    let client = &registered.client;
    tracing::Span::current().record("client_id", client.client_id.as_str());
    audit::record(
        state.store.as_ref(),
        Change {
            actor: &actor,
            action: "registration.create",
            target: Some(client.client_id.as_str()),
            ip: ip.audit(),
            detail: audit_detail(client),
        },
        now,
    )
    .await
    .context("record the registration in the audit trail")?;
    tracing::info!(client_id = %client.client_id, actor = %actor.0, "registered client {}", client.client_id);
    let body = client_information_response(
        &state,
        client,
        registered.client_secret.as_ref(),
        registered.registration_access_token.expose(),
    );
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
