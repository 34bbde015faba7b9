//! The authorization code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3.2): one guarded store
//! write redeems the code, so of any number of concurrent presenters exactly one wins; a
//! replay revokes the grant and with it every token the first redemption issued (§4.1.2,
//! §10.5). Then the code must belong to the client, the `redirect_uri` must be the
//! authorization request's byte for byte, and PKCE must hold (RFC 7636 §4.6) with no
//! downgrade (RFC 9700 §2.1.1).

use anyhow::Context as _;
use portcullis_core::Timestamp;
use portcullis_core::model::{ClientType, CodeRedemption};
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::secret::SecretHash;

use super::{find_active_user, find_grant, touch_grant};
use crate::TokenState;
use crate::client_auth::AuthenticatedClient;
use crate::error::{GrantFailure, TokenError};
use crate::request::AuthorizationCodeRequest;
use crate::response::{
    Issue, TokenResponse, first_refresh_token, mint_tokens, wants_refresh_token,
};

/// Checks the PKCE verifier against the code's challenge (RFC 7636 §4.6). Every failure
/// is `invalid_grant`: a verifier that does not match is a bad grant, not a bad request.
fn verify_pkce(
    challenge: Option<&str>,
    verifier: Option<&str>,
    client_type: ClientType,
) -> Result<(), GrantFailure> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => CodeChallenge::from_stored(challenge.to_owned())
            .verify(verifier)
            .map_err(|_| GrantFailure::VerifierMismatch),
        (Some(_), None) => Err(GrantFailure::VerifierMissing),
        // A verifier for a code issued without a challenge means the challenge was
        // stripped from the authorization request: refuse rather than ignore it.
        (None, Some(_)) => Err(GrantFailure::VerifierWithoutChallenge),
        // A public client proves possession only through PKCE; the authorization endpoint
        // insists on it, and so do we, in case a code ever slips through without.
        (None, None) if client_type == ClientType::Public => {
            Err(GrantFailure::PublicClientWithoutPkce)
        }
        (None, None) => Ok(()),
    }
}

/// Exchanges an authorization code for tokens.
pub(super) async fn redeem_code(
    state: &TokenState,
    client: &AuthenticatedClient,
    request: AuthorizationCodeRequest,
    now: Timestamp,
) -> Result<TokenResponse, TokenError> {
    let store = state.store.as_ref();
    let code = match store
        .redeem_code(&SecretHash::of(&request.code), now)
        .await
        .context("redeem authorization code")?
    {
        CodeRedemption::Redeemed(code) => code,
        CodeRedemption::AlreadyRedeemed(code) => {
            // Never stamp the revocation before the redemption it follows (our `now` may
            // predate it under concurrency or clock skew between replicas), so the
            // redeemer can tell it apart from a revocation that came first (below).
            let revoked_at = code.redeemed_at.map_or(now, |redeemed| redeemed.max(now));
            store
                .revoke_grant(code.grant_id, revoked_at)
                .await
                .context("revoke the grant of a replayed authorization code")?;
            return Err(TokenError::InvalidGrant(GrantFailure::CodeReplayed));
        }
        CodeRedemption::Invalid => return Err(TokenError::InvalidGrant(GrantFailure::UnknownCode)),
    };
    let client = &client.client;
    if code.client_id != client.client_id {
        return Err(TokenError::InvalidGrant(GrantFailure::CodeOfAnotherClient));
    }
    if request.redirect_uri != code.redirect_uri {
        return Err(TokenError::InvalidGrant(GrantFailure::RedirectUriMismatch));
    }
    verify_pkce(
        code.code_challenge.as_deref(),
        request.code_verifier.as_deref(),
        client.client_type,
    )
    .map_err(TokenError::InvalidGrant)?;
    // The grant must have been active when the code was redeemed. A revocation stamped
    // `now` or later came after our redemption, typically from a concurrent replay of
    // this very code: this redemption still won the code, and what it issues is dead
    // with the grant anyway (rotation refuses a revoked grant's refresh tokens, and the
    // access token carries the grant id for resource endpoints to check).
    let grant = find_grant(store, code.grant_id, |revoked_at| {
        revoked_at.is_none_or(|at| at >= now)
    })
    .await?;
    let user = find_active_user(store, code.user_id).await?;
    let minted = mint_tokens(
        state,
        &Issue {
            client,
            grant: &grant,
            scope: &code.scope,
            nonce: code.nonce.as_deref(),
            session_id: Some(code.session_id),
            auth_time: code.auth_time,
            roles: &user.roles,
        },
        now,
    )?;
    let refresh_token = if wants_refresh_token(client, &code.scope) {
        let (secret, record) = first_refresh_token(&state.lifetimes, &grant, &code.scope, now)?;
        store
            .insert_refresh_token(&record)
            .await
            .context("store refresh token")?;
        Some(secret)
    } else {
        None
    };
    touch_grant(store, grant.grant_id, now).await;
    Ok(TokenResponse::new(minted, refresh_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc7636_verifier_passes() {
        for client_type in [ClientType::Public, ClientType::Confidential] {
            assert_eq!(
                verify_pkce(Some(CHALLENGE), Some(VERIFIER), client_type),
                Ok(())
            );
        }
    }

    #[test]
    fn a_wrong_malformed_or_missing_verifier_is_a_bad_grant() {
        let wrong = VERIFIER.replace('d', "e");
        assert_eq!(
            verify_pkce(Some(CHALLENGE), Some(&wrong), ClientType::Confidential),
            Err(GrantFailure::VerifierMismatch)
        );
        assert_eq!(
            verify_pkce(Some(CHALLENGE), Some("short"), ClientType::Confidential),
            Err(GrantFailure::VerifierMismatch)
        );
        assert_eq!(
            verify_pkce(Some(CHALLENGE), None, ClientType::Confidential),
            Err(GrantFailure::VerifierMissing)
        );
    }

    #[test]
    fn a_verifier_without_a_challenge_is_a_downgrade() {
        assert_eq!(
            verify_pkce(None, Some(VERIFIER), ClientType::Confidential),
            Err(GrantFailure::VerifierWithoutChallenge)
        );
    }

    #[test]
    fn only_confidential_clients_may_skip_pkce() {
        assert_eq!(verify_pkce(None, None, ClientType::Confidential), Ok(()));
        assert_eq!(
            verify_pkce(None, None, ClientType::Public),
            Err(GrantFailure::PublicClientWithoutPkce)
        );
    }
}
