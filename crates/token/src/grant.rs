//! The grants `POST /token` serves, one module each (RFC 6749 §4.1.3 code exchange, §4.4
//! client credentials, §6 refresh), and what they share: the client must be registered
//! for the grant type (`unauthorized_client`, §5.2), and the grant and its user must still
//! be active.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use anyhow::Context as _;
use portcullis_core::Timestamp;
use portcullis_core::ids::{GrantId, UserId};
use portcullis_core::model::{Grant, GrantType, User};
use portcullis_core::store::Store;

use crate::TokenState;
use crate::client_auth::AuthenticatedClient;
use crate::error::{GrantFailure, TokenError};
use crate::request::GrantRequest;
use crate::response::TokenResponse;

/// Runs the requested grant for an authenticated client.
pub(crate) async fn exchange(
    state: &TokenState,
    client: &AuthenticatedClient,
    request: GrantRequest,
    now: Timestamp,
) -> Result<TokenResponse, TokenError> {
    let grant_type = match &request {
        GrantRequest::AuthorizationCode(_) => GrantType::AuthorizationCode,
        GrantRequest::RefreshToken(_) => GrantType::RefreshToken,
        GrantRequest::ClientCredentials(_) => GrantType::ClientCredentials,
    };
    if !client.client.grant_types.contains(&grant_type) {
        return Err(TokenError::UnauthorizedClient);
    }
    match request {
        GrantRequest::AuthorizationCode(request) => {
            authorization_code::redeem_code(state, client, request, now).await
        }
        GrantRequest::RefreshToken(request) => {
            refresh_token::refresh(state, client, request, now).await
        }
        GrantRequest::ClientCredentials(request) => {
            client_credentials::issue_client_token(state, client, request, now)
        }
    }
}

/// The grant `grant_id`, if it exists and `still_active` accepts its revocation time.
async fn find_grant(
    store: &dyn Store,
    grant_id: GrantId,
    still_active: impl FnOnce(Option<Timestamp>) -> bool,
) -> Result<Grant, TokenError> {
    let grant = store
        .find_grant(grant_id)
        .await
        .context("load grant for token request")?
        .ok_or(TokenError::InvalidGrant(GrantFailure::GrantInactive))?;
    active_grant(grant, still_active)
}

/// `grant`, if `still_active` accepts its revocation time.
fn active_grant(
    grant: Grant,
    still_active: impl FnOnce(Option<Timestamp>) -> bool,
) -> Result<Grant, TokenError> {
    if still_active(grant.revoked_at) {
        Ok(grant)
    } else {
        Err(TokenError::InvalidGrant(GrantFailure::GrantInactive))
    }
}

/// The user `user_id`, if it exists and is enabled (see [`active_user`]).
async fn find_active_user(store: &dyn Store, user_id: UserId) -> Result<User, TokenError> {
    store
        .find_user(user_id)
        .await
        .context("load user for token request")?
        .ok_or(TokenError::InvalidGrant(GrantFailure::UserInactive))
        .and_then(active_user)
}

/// `user`, if enabled: a disabled account gets no new tokens, whatever it granted before.
fn active_user(user: User) -> Result<User, TokenError> {
    if user.disabled {
        Err(TokenError::InvalidGrant(GrantFailure::UserInactive))
    } else {
        Ok(user)
    }
}
