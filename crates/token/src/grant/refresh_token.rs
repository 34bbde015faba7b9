//! The refresh token grant (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12): the token is
//! bound to its client, may mint a narrower scope but never a wider one, and rotates on
//! every use in one guarded store write; presenting a token that was already rotated is
//! reuse, and revokes the whole grant, unless it is the same client retrying within
//! `tokens.refresh_token_reuse_grace` of the rotation, before the successor was used: the
//! retry's successor then replaces the first (decision record 0008).
//!
//! A refresh costs two store round trips: one joined read of the token, its grant and
//! the grant's user, and the rotation, which also records the grant's use.

use std::time::Duration;

use anyhow::Context as _;
use portcullis_core::Timestamp;
use portcullis_core::model::{RefreshRetry, RefreshRotation};
use portcullis_core::secret::SecretHash;

use super::{active_grant, active_user};
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
    let (old, grant, user) = store
        .find_refresh_token_with_grant(&presented)
        .await
        .context("load refresh token with its grant and user")?
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
    let grant = active_grant(grant, |revoked_at| revoked_at.is_none())?;
    let user = active_user(user)?;
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
        // The rotation recorded the grant's use too.
        RefreshRotation::Rotated(_) => {}
        // A token revoked after its rotation (a successor a retry replaced) is never a
        // retry: its holder is not the client that retried.
        RefreshRotation::AlreadyRotated(old)
            if old.revoked_at.is_none()
                && forgiven_as_retry(old.rotated_at, now, state.refresh_token_reuse_grace) =>
        {
            // The client lost the response to its first rotation and asks again: it
            // gets another successor, which replaces the first, so the chain still has
            // one live token. The window bounds how long a thief replaying the old token
            // goes unnoticed (decision record 0008).
            let since = now.minus(state.refresh_token_reuse_grace);
            match store
                .retry_refresh_rotation(&presented, &successor, now, since)
                .await
                .context("rotate a refresh token again inside the reuse grace window")?
            {
                RefreshRetry::Rotated => {}
                RefreshRetry::SuccessorUsed => return Err(reused(state, old.grant_id, now).await),
                // Revoked, expired or its grant revoked since: no longer live.
                RefreshRetry::NotLive => {
                    return Err(TokenError::InvalidGrant(GrantFailure::RefreshTokenInactive));
                }
            }
        }
        RefreshRotation::AlreadyRotated(old) => {
            return Err(reused(state, old.grant_id, now).await);
        }
        RefreshRotation::Invalid => {
            return Err(TokenError::InvalidGrant(GrantFailure::RefreshTokenInactive));
        }
    }
    Ok(TokenResponse::new(minted, Some(secret)))
}

/// A rotated token presented again: two holders of one token, one of whom stole it. Which
/// one cannot be told, so the whole grant goes (RFC 9700 §4.14.2).
async fn reused(
    state: &TokenState,
    grant_id: portcullis_core::ids::GrantId,
    now: Timestamp,
) -> TokenError {
    match state
        .store
        .revoke_grant(grant_id, now)
        .await
        .context("revoke the grant of a reused refresh token")
    {
        Ok(_) => TokenError::InvalidGrant(GrantFailure::RefreshTokenReused),
        Err(error) => error.into(),
    }
}

/// Whether presenting a token rotated at `rotated_at` again at `now` is a retry to forgive:
/// only inside a non-zero `grace` after the rotation.
fn forgiven_as_retry(rotated_at: Option<Timestamp>, now: Timestamp, grace: Duration) -> bool {
    !grace.is_zero() && rotated_at.is_some_and(|at| now.minus(grace) <= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_reuse_inside_a_non_zero_grace_window_is_a_retry() {
        let rotated = Some(Timestamp(1_000));
        let grace = Duration::from_secs(5);
        assert!(forgiven_as_retry(rotated, Timestamp(1_000), grace));
        assert!(forgiven_as_retry(rotated, Timestamp(1_005), grace));
        assert!(!forgiven_as_retry(rotated, Timestamp(1_006), grace));
        assert!(!forgiven_as_retry(
            rotated,
            Timestamp(1_000),
            Duration::ZERO
        ));
        assert!(!forgiven_as_retry(None, Timestamp(1_000), grace));
    }
}
