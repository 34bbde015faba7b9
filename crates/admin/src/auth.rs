//! Who may use the admin API: the bearer of one of our RFC 9068 access tokens (RFC 6750
//! §2.1) that is still live (signature, issuer, audience and expiry; not revoked; its
//! grant not revoked; its user not disabled) and carries the `admin` scope, issued either
//! to a user who holds the `admin` role now, or, through client_credentials, to a client
//! the operator allowed the `admin` scope. Anything not live is 401 `invalid_token`; a live
//! token without the scope or role is 403 `insufficient_scope` (RFC 6750 §3.1).

use anyhow::Context as _;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use portcullis_core::audit::Actor;
use portcullis_core::ids::ClientId;
use portcullis_core::model::User;
use portcullis_core::roles::{ADMIN_ROLE, ADMIN_SCOPE, has_role};
use portcullis_core::scope::ScopeSet;
use portcullis_core::tokens::liveness::{NotLive, TokenHolder, live_access_token};
use portcullis_core::tokens::{AccessTokenClaims, access_token_audience};

use crate::AdminState;
use crate::bearer::required_bearer_token;
use crate::client_ip::ClientIp;
use crate::error::{AdminError, TokenKind};

/// An authenticated administrator and where the request came from.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    /// `user:<id>` or `client:<id>`, for the audit trail.
    pub(crate) actor: Actor,
    /// Where the request came from (the resolved client address).
    pub(crate) ip: ClientIp,
}

fn invalid(reason: &'static str) -> AdminError {
    AdminError::InvalidToken {
        kind: TokenKind::Access,
        reason,
    }
}

impl<S> FromRequestParts<S> for Admin
where
    AdminState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AdminState::from_ref(state);
        let Ok(ip) = ClientIp::from_request_parts(parts, &()).await;
        let token = required_bearer_token(&parts.headers, TokenKind::Access)?;
        let live = live_access_token(
            state.store.as_ref(),
            &state.keyring.current(),
            &state.issuer,
            &access_token_audience(&state.issuer),
            token,
            state.clock.now(),
        )
        .await
        .map_err(|not_live| match not_live {
            NotLive::Store(error) => AdminError::from(
                anyhow::Error::new(error)
                    .context("check the admin token's revocation, grant and user"),
            ),
            not_live => invalid(not_live.reason()),
        })?;
        let scope = ScopeSet::parse(&live.claims.scope).map_err(|_| invalid("malformed scope"))?;
        let actor = match &live.holder {
            TokenHolder::User { user, .. } => user_admin(user, &scope)?,
            TokenHolder::Client => client_admin(&state, &live.claims, &scope).await?,
        };
        Ok(Admin { actor, ip })
    }
}

/// A token a user was issued (grant and user live): the scope granted, the role still held.
fn user_admin(user: &User, scope: &ScopeSet) -> Result<Actor, AdminError> {
    if !scope.contains(ADMIN_SCOPE) {
        return Err(AdminError::InsufficientScope {
            reason: "user token without the admin scope",
        });
    }
    if !has_role(user, ADMIN_ROLE) {
        return Err(AdminError::InsufficientScope {
            reason: "user does not hold the admin role",
        });
    }
    Ok(Actor::user(user.user_id))
}

/// A client_credentials token: the client still exists and may still have the scope.
async fn client_admin(
    state: &AdminState,
    claims: &AccessTokenClaims,
    scope: &ScopeSet,
) -> Result<Actor, AdminError> {
    let client = state
        .store
        .find_client(&ClientId(claims.client_id.clone()))
        .await
        .context("load the admin token's client")?
        .ok_or(invalid("client no longer exists"))?;
    if !scope.contains(ADMIN_SCOPE) || !client.allowed_scope.contains(ADMIN_SCOPE) {
        return Err(AdminError::InsufficientScope {
            reason: "client token without the admin scope",
        });
    }
    Ok(Actor::client(client.client_id))
}
