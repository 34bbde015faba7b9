//! The authorization code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3.2). The presenter is
//! checked before the code is touched: the code must belong to the authenticated client,
//! the `redirect_uri` must be the authorization request's byte for byte, and PKCE must hold
//! (RFC 7636 §4.6) with no downgrade (RFC 9700 §2.1.1). A refused presenter leaves the
//! code as it was, so whoever stole a code (an app on the same device claiming a public
//! client's id, RFC 8252 §8.6) can neither redeem it nor destroy it for its owner. Then one
//! guarded store write redeems it, so of any number of concurrent presenters exactly one
//! wins; a replay by a presenter who passes those checks revokes the grant and with it
//! every token the first redemption issued (§4.1.2, §10.5).

use anyhow::Context as _;
use portcullis_core::Timestamp;
use portcullis_core::model::{AuthorizationCode, ClientType, CodeRedemption, RefreshToken};
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::CodeUse;

use super::{find_active_user, find_grant};
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
///
/// The code is read first and the presenter checked against it; only a presenter who
/// passes may spend it. Everything is then checked and minted before the code is redeemed,
/// so that the redemption and the refresh token it yields are stored in ONE store step: a
/// failure part-way (a full disk) leaves the code unredeemed, and the client's retry is
/// a retry instead of a replay that would revoke the grant.
pub(super) async fn redeem_code(
    state: &TokenState,
    client: &AuthenticatedClient,
    request: AuthorizationCodeRequest,
    now: Timestamp,
) -> Result<TokenResponse, TokenError> {
    let store = state.store.as_ref();
    let code_hash = SecretHash::of(&request.code);
    let code = match store
        .find_code(&code_hash)
        .await
        .context("find authorization code")?
    {
        // A redeemed code is kept past its expiry so that its replay is recognised.
        Some(code) if code.redeemed_at.is_some() || code.expires_at > now => code,
        _ => return Err(TokenError::InvalidGrant(GrantFailure::UnknownCode)),
    };
    // Nothing is written for a presenter that fails here: spending the code (or revoking
    // its grant, for a redeemed one) on a stranger's say-so would let anyone who saw the
    // code in a log, a referrer or another app's URL handler destroy the owner's sign-in.
    // Guessing the verifier instead is hopeless: RFC 7636 §7.1 gives it 256 bits, and the
    // code lives at most 60 s.
    check_presenter(client, &request, &code)?;
    if code.redeemed_at.is_some() {
        return Err(replayed(state, &code, now).await);
    }
    let (response, refresh_record) = match exchange(state, client, &code, now).await {
        Ok(issued) => issued,
        Err(refused) => {
            // The rightful client was refused (grant revoked, user disabled): the code is
            // spent all the same (RFC 6749 §4.1.2: it must not be tried again), and one
            // that lost the race to another presenter is a replay.
            let spent = store
                .redeem_code(&code_hash, now, CodeUse::SpendOnly)
                .await
                .context("spend a refused authorization code")?;
            if let CodeRedemption::AlreadyRedeemed(code) = spent {
                return Err(replayed(state, &code, now).await);
            }
            return Err(refused);
        }
    };
    let used = CodeUse::Issued {
        refresh_token: refresh_record.as_ref(),
    };
    match store
        .redeem_code(&code_hash, now, used)
        .await
        .context("redeem authorization code")?
    {
        CodeRedemption::Redeemed(_) => Ok(response),
        CodeRedemption::AlreadyRedeemed(code) => Err(replayed(state, &code, now).await),
        CodeRedemption::Invalid => Err(TokenError::InvalidGrant(GrantFailure::UnknownCode)),
    }
}

/// Whether the presenter is the one the code was issued to (RFC 6749 §4.1.3): the same
/// client, the same `redirect_uri`, and the PKCE verifier of the challenge (RFC 7636 §4.6).
fn check_presenter(
    client: &AuthenticatedClient,
    request: &AuthorizationCodeRequest,
    code: &AuthorizationCode,
) -> Result<(), TokenError> {
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
    .map_err(TokenError::InvalidGrant)
}

/// A presented code that was already redeemed (RFC 6749 §4.1.2): revokes the grant, and
/// with it everything the first redemption issued.
async fn replayed(state: &TokenState, code: &AuthorizationCode, now: Timestamp) -> TokenError {
    // Never stamp the revocation before the redemption it follows (our `now` may predate
    // it under concurrency or clock skew between replicas).
    let revoked_at = code.redeemed_at.map_or(now, |redeemed| redeemed.max(now));
    match state
        .store
        .revoke_grant(code.grant_id, revoked_at)
        .await
        .context("revoke the grant of a replayed authorization code")
    {
        Ok(_) => TokenError::InvalidGrant(GrantFailure::CodeReplayed),
        Err(error) => error.into(),
    }
}

/// Mints what redeeming an unredeemed code yields for its proven presenter: the response,
/// and the refresh token to store with the redemption.
async fn exchange(
    state: &TokenState,
    client: &AuthenticatedClient,
    code: &AuthorizationCode,
    now: Timestamp,
) -> Result<(TokenResponse, Option<RefreshToken>), TokenError> {
    let store = state.store.as_ref();
    let client = &client.client;
    let grant = find_grant(store, code.grant_id, |revoked_at| revoked_at.is_none()).await?;
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
    if !wants_refresh_token(client, &code.scope) {
        return Ok((TokenResponse::new(minted, None), None));
    }
    let (secret, record) = first_refresh_token(&state.lifetimes, &grant, &code.scope, now)?;
    Ok((TokenResponse::new(minted, Some(secret)), Some(record)))
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
