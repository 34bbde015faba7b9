//! Issuing the successful token response (RFC 6749 §5.1), shared by every grant: the RFC
//! 9068 access token, the ID token when the scope has `openid` (OIDC Core §2, §3.1.3.3,
//! §3.1.3.6 `at_hash`, §12.2 on refresh), the refresh token when the OIDC Core §11 rule
//! allows one, and `Cache-Control: no-store` with `Pragma: no-cache` (§5.1). The
//! `client_credentials` grant gets an access token of its own shape (§4.4.3).

use anyhow::Context as _;
use axum::Json;
use axum::response::{IntoResponse, Response};
use portcullis_core::Timestamp;
use portcullis_core::ids::SessionId;
use portcullis_core::model::{Client, Grant, GrantType, RefreshToken, SigningAlg};
use portcullis_core::roles::ROLES_SCOPE;
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::{PlainSecret, SecretKind};
use portcullis_core::tokens::{
    ACCESS_TOKEN_ALG, AccessTokenClaims, DEFAULT_ID_TOKEN_ALG, IdTokenClaims, IdTokenWithRoles,
    TokenLifetimes, access_token_audience, at_hash, mint_access_token, mint_id_token, new_jti,
};
use serde::Serialize;

use crate::TokenState;
use crate::error::{TokenError, set_no_store};

/// The scope that makes a request an OpenID Connect one.
pub(crate) const OPENID: &str = "openid";

/// The scope that asks for a refresh token in OpenID Connect (OIDC Core §11).
pub(crate) const OFFLINE_ACCESS: &str = "offline_access";

/// What the access and ID tokens say about one issuance.
pub(crate) struct Issue<'a> {
    /// The client they are issued to.
    pub(crate) client: &'a Client,
    /// The grant they hang off (its user is the subject).
    pub(crate) grant: &'a Grant,
    /// The scope of the access token.
    pub(crate) scope: &'a ScopeSet,
    /// The authorization request's nonce (code exchange only, OIDC Core §3.1.3.6).
    pub(crate) nonce: Option<&'a str>,
    /// The browser session the user authenticated in, for `sid`.
    pub(crate) session_id: Option<SessionId>,
    /// When the user authenticated.
    pub(crate) auth_time: Timestamp,
    /// The user's roles, released in the ID token with the `roles` scope.
    pub(crate) roles: &'a [String],
}

/// Signed tokens, not yet handed out.
pub(crate) struct MintedTokens {
    access_token: String,
    id_token: Option<String>,
    scope: String,
    expires_in: u64,
}

/// The ID token algorithm of a client: its registered `id_token_signed_response_alg` when
/// we can sign with it, else RS256 (OIDC Discovery §3).
fn id_token_alg(client: &Client) -> SigningAlg {
    client
        .metadata
        .id_token_signed_response_alg
        .as_deref()
        .and_then(SigningAlg::parse)
        .unwrap_or(DEFAULT_ID_TOKEN_ALG)
}

/// Signs the access token and, for OpenID requests, the ID token. Pure computation, so
/// grants call it before their single store write and a signing failure leaves no state.
pub(crate) fn mint_tokens(
    state: &TokenState,
    issue: &Issue<'_>,
    now: Timestamp,
) -> Result<MintedTokens, TokenError> {
    let keys = state.keyring.current();
    let issuer = state.issuer.to_string();
    let subject = issue.grant.user_id.to_string();
    let client_id = issue.client.client_id.as_str().to_owned();
    let session_id = issue.session_id.map(|s| s.to_string());
    let claims = AccessTokenClaims {
        iss: issuer.clone(),
        sub: subject.clone(),
        aud: access_token_audience(&issuer),
        client_id: client_id.clone(),
        scope: issue.scope.to_string(),
        iat: now.unix(),
        exp: now.plus(state.lifetimes.access_token).unix(),
        jti: new_jti().context("generate access token id")?,
        gid: Some(issue.grant.grant_id.to_string()),
        sid: session_id.clone(),
        auth_time: Some(issue.auth_time.unix()),
    };
    let access_token =
        mint_access_token(&keys, ACCESS_TOKEN_ALG, &claims, now).context("sign access token")?;
    let id_token = if issue.scope.contains(OPENID) {
        let claims = IdTokenClaims {
            iss: issuer,
            sub: subject,
            aud: client_id.clone(),
            azp: client_id,
            exp: now.plus(state.lifetimes.id_token).unix(),
            iat: now.unix(),
            auth_time: issue.auth_time.unix(),
            nonce: issue.nonce.map(str::to_owned),
            at_hash: Some(at_hash(&access_token)),
            sid: session_id,
            amr: vec!["pwd".to_owned()],
        };
        let alg = id_token_alg(issue.client);
        let with_roles = IdTokenWithRoles {
            claims: &claims,
            roles: issue.scope.contains(ROLES_SCOPE).then_some(issue.roles),
        };
        Some(mint_id_token(&keys, alg, &with_roles, now).context("sign ID token")?)
    } else {
        None
    };
    Ok(MintedTokens {
        access_token,
        id_token,
        scope: issue.scope.to_string(),
        expires_in: state.lifetimes.access_token.as_secs(),
    })
}

/// Signs the access token of the `client_credentials` grant (RFC 6749 §4.4.3): the
/// client acts for itself, so `sub` is its id, and no grant, session or user stands
/// behind the token (no `gid`, `sid` or `auth_time`); there is no ID token.
pub(crate) fn mint_client_access_token(
    state: &TokenState,
    client: &Client,
    scope: &ScopeSet,
    now: Timestamp,
) -> Result<MintedTokens, TokenError> {
    let issuer = state.issuer.to_string();
    let client_id = client.client_id.as_str().to_owned();
    let claims = AccessTokenClaims {
        aud: access_token_audience(&issuer),
        iss: issuer,
        sub: client_id.clone(),
        client_id,
        scope: scope.to_string(),
        iat: now.unix(),
        exp: now.plus(state.lifetimes.access_token).unix(),
        jti: new_jti().context("generate access token id")?,
        gid: None,
        sid: None,
        auth_time: None,
    };
    let access_token = mint_access_token(&state.keyring.current(), ACCESS_TOKEN_ALG, &claims, now)
        .context("sign access token")?;
    Ok(MintedTokens {
        access_token,
        id_token: None,
        scope: claims.scope,
        expires_in: state.lifetimes.access_token.as_secs(),
    })
}

/// Whether a code exchange yields a refresh token (OIDC Core §11): the client must be
/// allowed the grant, and an OpenID request must also have asked for `offline_access`;
/// a plain OAuth request needs no such consent.
pub(crate) fn wants_refresh_token(client: &Client, scope: &ScopeSet) -> bool {
    client.grant_types.contains(&GrantType::RefreshToken)
        && (scope.contains(OFFLINE_ACCESS) || !scope.contains(OPENID))
}

/// The idle expiry of a refresh token issued at `now`, never past the chain's end.
fn idle_expiry(lifetimes: &TokenLifetimes, now: Timestamp, expires_at: Timestamp) -> Timestamp {
    now.plus(lifetimes.refresh_token_idle).min(expires_at)
}

/// The first refresh token of a grant: its absolute lifetime starts now.
pub(crate) fn first_refresh_token(
    lifetimes: &TokenLifetimes,
    grant: &Grant,
    scope: &ScopeSet,
    now: Timestamp,
) -> Result<(PlainSecret, RefreshToken), TokenError> {
    let secret =
        PlainSecret::generate(SecretKind::RefreshToken).context("generate refresh token")?;
    let expires_at = now.plus(lifetimes.refresh_token);
    let record = RefreshToken {
        token_hash: secret.hash(),
        grant_id: grant.grant_id,
        client_id: grant.client_id.clone(),
        scope: scope.clone(),
        parent_hash: None,
        created_at: now,
        expires_at,
        idle_expires_at: idle_expiry(lifetimes, now, expires_at),
        rotated_at: None,
        revoked_at: None,
    };
    Ok((secret, record))
}

/// The token that replaces `old` on rotation (RFC 9700 §4.14.2): same grant, client and
/// scope (a narrower request narrows only the access token, RFC 6749 §6), the chain's
/// absolute expiry, a fresh idle expiry.
pub(crate) fn successor_refresh_token(
    lifetimes: &TokenLifetimes,
    old: &RefreshToken,
    now: Timestamp,
) -> Result<(PlainSecret, RefreshToken), TokenError> {
    let secret =
        PlainSecret::generate(SecretKind::RefreshToken).context("generate refresh token")?;
    let record = RefreshToken {
        token_hash: secret.hash(),
        grant_id: old.grant_id,
        client_id: old.client_id.clone(),
        scope: old.scope.clone(),
        parent_hash: Some(old.token_hash.clone()),
        created_at: now,
        expires_at: old.expires_at,
        idle_expires_at: idle_expiry(lifetimes, now, old.expires_at),
        rotated_at: None,
        revoked_at: None,
    };
    Ok((secret, record))
}

/// The §5.1 response body.
#[derive(Serialize)]
struct TokenResponseBody {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// A successful token response. No `Debug`: it holds the tokens themselves.
pub(crate) struct TokenResponse(TokenResponseBody);

impl TokenResponse {
    /// The response for `minted`, with `refresh_token` when one was issued.
    pub(crate) fn new(minted: MintedTokens, refresh_token: Option<PlainSecret>) -> Self {
        TokenResponse(TokenResponseBody {
            access_token: minted.access_token,
            token_type: "Bearer",
            expires_in: minted.expires_in,
            scope: minted.scope,
            id_token: minted.id_token,
            refresh_token: refresh_token.map(|s| s.expose().to_owned()),
        })
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut response = Json(self.0).into_response();
        set_no_store(response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portcullis_core::ids::{ClientId, GrantId, UserId};
    use portcullis_core::model::{ClientMetadata, ClientType, TokenEndpointAuthMethod};
    use portcullis_core::secret::SecretHash;

    use super::*;

    fn client(grant_types: Vec<GrantType>) -> Client {
        Client {
            client_id: ClientId("app".into()),
            secret_hash: None,
            client_type: ClientType::Public,
            auth_method: TokenEndpointAuthMethod::None,
            name: "App".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types,
            allowed_scope: ScopeSet::default(),
            metadata: ClientMetadata::default(),
            registration_token_hash: None,
            first_party: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    fn scope(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn refresh_tokens_follow_oidc_core_section_11() {
        let both = client(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
        assert!(wants_refresh_token(&both, &scope("openid offline_access")));
        assert!(!wants_refresh_token(&both, &scope("openid profile")));
        assert!(wants_refresh_token(&both, &scope("api.read")));
        let code_only = client(vec![GrantType::AuthorizationCode]);
        assert!(!wants_refresh_token(
            &code_only,
            &scope("openid offline_access")
        ));
        assert!(!wants_refresh_token(&code_only, &scope("api.read")));
    }

    #[test]
    fn id_token_alg_follows_registration_when_we_can_sign_it() {
        let mut c = client(vec![]);
        assert_eq!(id_token_alg(&c), SigningAlg::Rs256);
        c.metadata.id_token_signed_response_alg = Some("ES256".into());
        assert_eq!(id_token_alg(&c), SigningAlg::Es256);
        c.metadata.id_token_signed_response_alg = Some("HS256".into());
        assert_eq!(id_token_alg(&c), SigningAlg::Rs256);
    }

    #[test]
    fn successors_keep_the_chain_expiry_and_cap_the_idle_one() {
        let lifetimes = TokenLifetimes {
            access_token: Duration::from_secs(600),
            id_token: Duration::from_secs(600),
            refresh_token: Duration::from_secs(1_000),
            refresh_token_idle: Duration::from_secs(300),
        };
        let grant = Grant {
            grant_id: GrantId::random(),
            user_id: UserId::random(),
            client_id: ClientId("app".into()),
            scope: scope("openid offline_access"),
            session_id: None,
            auth_time: Timestamp(0),
            created_at: Timestamp(0),
            last_used_at: Timestamp(0),
            revoked_at: None,
        };
        let (_, first) =
            first_refresh_token(&lifetimes, &grant, &grant.scope, Timestamp(0)).unwrap();
        assert_eq!(first.expires_at, Timestamp(1_000));
        assert_eq!(first.idle_expires_at, Timestamp(300));
        let (secret, next) = successor_refresh_token(&lifetimes, &first, Timestamp(900)).unwrap();
        assert_eq!(
            next.expires_at,
            Timestamp(1_000),
            "the chain's absolute end"
        );
        assert_eq!(
            next.idle_expires_at,
            Timestamp(1_000),
            "capped at the chain's end"
        );
        assert_eq!(next.parent_hash, Some(first.token_hash.clone()));
        assert_eq!(next.scope, first.scope);
        assert_eq!(next.token_hash, SecretHash::of(secret.expose()));
        assert!(secret.expose().starts_with("pcr_"));
    }
}
