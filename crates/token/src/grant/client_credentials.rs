//! The client credentials grant (RFC 6749 §4.4): a confidential client asks for an access
//! token for itself. Only a client that proved who it is may use it (§4.4: "MUST only be
//! used by confidential clients"); the scope is at most the client's
//! allowed scope (§3.3), and defaults to it minus the scopes that only make sense for a
//! user (`openid`, `offline_access`). No refresh token (§4.4.3) and no ID token, since no
//! user signed in. Nothing is written to the store, and the client record comes from the
//! client cache, so a warm request never touches the database.

use portcullis_core::Timestamp;
use portcullis_core::model::ClientType;
use portcullis_core::scope::ScopeSet;

use crate::TokenState;
use crate::client_auth::AuthenticatedClient;
use crate::error::TokenError;
use crate::request::ClientCredentialsRequest;
use crate::response::{OFFLINE_ACCESS, OPENID, TokenResponse, mint_client_access_token};

/// Scopes about a user (OIDC Core §3.1.2.1, §11): meaningless without one, so never
/// granted to a client acting for itself.
const USER_ONLY_SCOPES: [&str; 2] = [OPENID, OFFLINE_ACCESS];

/// Issues an access token to the client itself.
pub(super) fn issue_client_token(
    state: &TokenState,
    client: &AuthenticatedClient,
    request: ClientCredentialsRequest,
    now: Timestamp,
) -> Result<TokenResponse, TokenError> {
    // Registration refuses the grant to public clients; this holds even for a record
    // that slipped through, since a client that proved nothing cannot act for itself.
    if client.client.client_type != ClientType::Confidential || !client.used_secret {
        return Err(TokenError::UnauthorizedClient);
    }
    let scope = client_scope(&client.client.allowed_scope, request.scope)?;
    let minted = mint_client_access_token(state, &client.client, &scope, now)?;
    Ok(TokenResponse::new(minted, None))
}

/// The scope of the token: what was asked, if the client may have it; otherwise the
/// client's default. A request naming a user-only scope, or anything beyond the allowed
/// scope, is `invalid_scope` (§5.2), as is an empty default (§3.3 lets us refuse rather
/// than issue a token good for nothing).
fn client_scope(allowed: &ScopeSet, asked: Option<ScopeSet>) -> Result<ScopeSet, TokenError> {
    match asked {
        Some(asked) => {
            if USER_ONLY_SCOPES.iter().any(|s| asked.contains(s)) || !asked.is_subset_of(allowed) {
                return Err(TokenError::InvalidScope);
            }
            Ok(asked)
        }
        None => {
            let default =
                ScopeSet::from_tokens(allowed.iter().filter(|s| !USER_ONLY_SCOPES.contains(s)))
                    .map_err(|_| TokenError::InvalidScope)?;
            if default.is_empty() {
                return Err(TokenError::InvalidScope);
            }
            Ok(default)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    fn code(result: Result<ScopeSet, TokenError>) -> &'static str {
        match result {
            Ok(s) => panic!("expected an error, got scope {s}"),
            Err(e) => e.code(),
        }
    }

    #[test]
    fn the_default_is_the_allowed_scope_without_user_scopes() {
        let allowed = scope("openid offline_access api.read api.write");
        assert_eq!(
            client_scope(&allowed, None).unwrap(),
            scope("api.read api.write")
        );
    }

    #[test]
    fn a_narrower_scope_may_be_asked_for() {
        let allowed = scope("openid api.read api.write");
        assert_eq!(
            client_scope(&allowed, Some(scope("api.read"))).unwrap(),
            scope("api.read")
        );
    }

    #[test]
    fn a_wider_scope_is_invalid_scope() {
        let allowed = scope("api.read");
        assert_eq!(
            code(client_scope(&allowed, Some(scope("api.read api.admin")))),
            "invalid_scope"
        );
    }

    #[test]
    fn user_scopes_are_invalid_scope_even_when_allowed() {
        let allowed = scope("openid offline_access api.read");
        for asked in ["openid", "offline_access", "api.read openid"] {
            assert_eq!(
                code(client_scope(&allowed, Some(scope(asked)))),
                "invalid_scope",
                "{asked}"
            );
        }
    }

    #[test]
    fn an_empty_default_is_invalid_scope() {
        assert_eq!(
            code(client_scope(&scope("openid offline_access"), None)),
            "invalid_scope"
        );
    }
}
