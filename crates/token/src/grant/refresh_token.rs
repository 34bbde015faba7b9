//! The refresh token grant (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12): the token is
//! bound to its client, may mint a narrower scope but never a wider one, and rotates on
//! every use in one guarded store write; presenting a token that was already rotated is
//! reuse, and revokes the whole grant.

use anyhow::Context as _;
use portcullis_core::Timestamp;
use portcullis_core::model::RefreshRotation;
use portcullis_core::secret::SecretHash;

use super::{find_active_user, find_grant, touch_grant};
use crate::TokenState;
use crate::client_auth::AuthenticatedClient;
use crate::error::{GrantFailure, TokenError};
use crate::request::RefreshTokenRequest;
use crate::response::{Issue, TokenResponse, mint_tokens, successor_refresh_token};

/// Exchanges a refresh token for new tokens and its successor.
pub(super) async fn refresh(
    state: &TokenState,
    client: &AuthenticatedClient,
    request: RefreshTokenRequest,
    now: Timestamp,
) -> Result<TokenResponse, TokenError> {
    let store = state.store.as_ref();
    let client = &client.client;
    let presented = SecretHash::of(&request.refresh_token);
    let old = store
        .find_refresh_token(&presented)
        .await
        .context("load refresh token")?
        .ok_or(TokenError::InvalidGrant(GrantFailure::UnknownRefreshToken))?;
    // §6: bound to its client. Checked before rotating, so another client presenting a
    // stolen token neither rotates it nor learns whether it is live.
    if old.client_id != client.client_id {
        return Err(TokenError::InvalidGrant(
            GrantFailure::RefreshTokenOfAnotherClient,
        ));
    }
    let scope = match request.scope {
        Some(asked) if asked.is_subset_of(&old.scope) => asked,
        Some(_) => return Err(TokenError::InvalidScope),
        None => old.scope.clone(),
    };
    let grant = find_grant(store, old.grant_id, |revoked_at| revoked_at.is_none()).await?;
    let user = find_active_user(store, grant.user_id).await?;
    // OIDC Core §12.2: the original authentication's time and session; no nonce.
    let minted = mint_tokens(
        state,
        &Issue {
            client,
            grant: &grant,
            scope: &scope,
            nonce: None,
            session_id: grant.session_id,
            auth_time: grant.auth_time,
            roles: &user.roles,
        },
        now,
    )?;
    let (secret, successor) = successor_refresh_token(&state.lifetimes, &old, now)?;
    match store
        .rotate_refresh_token(&presented, &successor, now)
        .await
        .context("rotate refresh token")?
    {
        RefreshRotation::Rotated(_) => {}
        RefreshRotation::AlreadyRotated(old) => {
            // Two holders of one token: one of them stole it. Which one cannot be told,
            // so the whole grant goes (RFC 9700 §4.14.2).
            store
                .revoke_grant(old.grant_id, now)
                .await
                .context("revoke the grant of a reused refresh token")?;
            return Err(TokenError::InvalidGrant(GrantFailure::RefreshTokenReused));
        }
        RefreshRotation::Invalid => {
            return Err(TokenError::InvalidGrant(GrantFailure::RefreshTokenInactive));
        }
    }
    touch_grant(store, grant.grant_id, now).await;
    Ok(TokenResponse::new(minted, Some(secret)))
}
