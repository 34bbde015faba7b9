//! The one rule for "is this access token still live?", for every endpoint that takes our
//! access tokens back (`/userinfo`, `/introspect`, the admin API): the token verifies
//! (RFC 9068 §4: type, key, signature, issuer, audience, expiry), its `jti` is not revoked
//! (RFC 7009), and, when it hangs off a grant, that grant is not revoked, belongs to the
//! token's user and client, and the user is not disabled. A token without a grant is a
//! client's own (client_credentials, `sub` = `client_id`).
//!
//! Revocation must hold at once on every replica, so the store is asked on every call, in
//! one round trip ([`RevocationStore::access_token_standing`]).

use crate::Timestamp;
use crate::ids::{GrantId, UserId};
use crate::keyring::KeySet;
use crate::model::{AccessTokenStanding, Grant, User};
use crate::store::{RevocationStore, StoreError};
use crate::tokens::{AccessTokenClaims, AccessTokenError, verify_access_token};

/// A live access token and who holds it.
#[derive(Debug, Clone)]
pub struct LiveAccessToken {
    /// Its verified claims.
    pub claims: AccessTokenClaims,
    /// Whose it is.
    pub holder: TokenHolder,
}

/// Who a live access token acts for.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one short-lived value per request: boxing would only add an allocation"
)]
pub enum TokenHolder {
    /// A user, through a grant: both as they stand now.
    User {
        /// The grant (active).
        grant: Grant,
        /// Its user (enabled).
        user: User,
    },
    /// The client itself (client_credentials): no grant, no user.
    Client,
}

/// Why a presented access token is not live.
#[derive(Debug, thiserror::Error)]
pub enum NotLive {
    /// It does not verify as one of our access tokens (or has expired).
    #[error("{0}")]
    Invalid(AccessTokenError),
    /// Its `jti` was revoked.
    #[error("token id revoked")]
    Revoked,
    /// Its grant does not exist (any more).
    #[error("grant not found")]
    UnknownGrant,
    /// Its grant was revoked.
    #[error("grant revoked")]
    GrantRevoked,
    /// Its claims do not fit its grant (another user's or client's, a malformed grant id,
    /// a grantless token that is not a client's own): not as we minted it.
    #[error("claims do not match the grant: {0}")]
    Mismatched(&'static str),
    /// Its user is disabled.
    #[error("user disabled")]
    UserDisabled,
    /// The store could not answer; the token's standing is unknown (fail closed).
    #[error("the store could not be asked")]
    Store(#[from] StoreError),
}

impl NotLive {
    /// A fixed reason for logs and `error_description`s.
    pub fn reason(&self) -> &'static str {
        match self {
            NotLive::Invalid(AccessTokenError::Malformed) => "malformed",
            NotLive::Invalid(AccessTokenError::WrongType) => "not an access token",
            NotLive::Invalid(AccessTokenError::UnknownKey) => "unknown signing key",
            NotLive::Invalid(AccessTokenError::BadSignature) => "bad signature",
            NotLive::Invalid(AccessTokenError::WrongIssuer) => "wrong issuer or audience",
            NotLive::Invalid(AccessTokenError::Expired) => "expired",
            NotLive::Revoked => "token id revoked",
            NotLive::UnknownGrant => "grant not found",
            NotLive::GrantRevoked => "grant revoked",
            NotLive::Mismatched(reason) => reason,
            NotLive::UserDisabled => "user disabled",
            NotLive::Store(_) => "store unavailable",
        }
    }
}

/// Verifies `token` against `keys` (for `issuer` and `audience`) and checks in `store`
/// that it is still live at `now` (see the module docs).
pub async fn live_access_token(
    store: &dyn RevocationStore,
    keys: &KeySet,
    issuer: &str,
    audience: &str,
    token: &str,
    now: Timestamp,
) -> Result<LiveAccessToken, NotLive> {
    let claims =
        verify_access_token(keys, issuer, audience, token, now).map_err(NotLive::Invalid)?;
    let grant_id = match claims.gid.as_deref() {
        Some(gid) => Some(
            gid.parse::<GrantId>()
                .map_err(|_| NotLive::Mismatched("malformed grant id"))?,
        ),
        None if claims.sub == claims.client_id => None,
        None => return Err(NotLive::Mismatched("no grant, yet not the client's own")),
    };
    let standing = store.access_token_standing(&claims.jti, grant_id).await?;
    let holder = match (grant_id, standing) {
        (_, AccessTokenStanding::Revoked) => return Err(NotLive::Revoked),
        (_, AccessTokenStanding::UnknownGrant) => return Err(NotLive::UnknownGrant),
        (None, AccessTokenStanding::NotRevoked(None)) => TokenHolder::Client,
        (Some(_), AccessTokenStanding::NotRevoked(Some((grant, user)))) => {
            live_holder(&claims, grant, user)?
        }
        // An answer about something other than what was asked: fail closed.
        (_, AccessTokenStanding::NotRevoked(_)) => {
            return Err(NotLive::Mismatched("store answered another question"));
        }
    };
    Ok(LiveAccessToken { claims, holder })
}

/// The grant and user behind a token, if both are live and are the token's.
fn live_holder(
    claims: &AccessTokenClaims,
    grant: Grant,
    user: User,
) -> Result<TokenHolder, NotLive> {
    if grant.revoked_at.is_some() {
        return Err(NotLive::GrantRevoked);
    }
    // A grant belongs to one user and one client; a token naming another's grant was not
    // minted by us as it stands.
    if claims.sub.parse::<UserId>().ok() != Some(grant.user_id) {
        return Err(NotLive::Mismatched("grant of another user"));
    }
    if grant.client_id.as_str() != claims.client_id {
        return Err(NotLive::Mismatched("grant of another client"));
    }
    if user.disabled {
        return Err(NotLive::UserDisabled);
    }
    Ok(TokenHolder::User { grant, user })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::ids::ClientId;
    use crate::keyring::{KeyEncryptionKey, generate_signing_key};
    use crate::model::{SigningAlg, UserProfile};
    use crate::password::PasswordHash;
    use crate::scope::ScopeSet;
    use crate::tokens::mint_access_token;

    const ISSUER: &str = "https://id.example";

    /// Answers `access_token_standing` with a fixed standing, or fails; counts the calls.
    struct FixedStanding {
        standing: Option<AccessTokenStanding>,
        asked: Mutex<Vec<(String, Option<GrantId>)>>,
    }

    impl FixedStanding {
        fn answering(standing: AccessTokenStanding) -> Self {
            FixedStanding {
                standing: Some(standing),
                asked: Mutex::new(Vec::new()),
            }
        }

        fn failing() -> Self {
            FixedStanding {
                standing: None,
                asked: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait]
    impl RevocationStore for FixedStanding {
        async fn revoke_token_id(
            &self,
            _: &str,
            _: Timestamp,
            _: Timestamp,
        ) -> Result<(), StoreError> {
            unreachable!("liveness never writes")
        }
        async fn is_token_id_revoked(&self, _: &str) -> Result<bool, StoreError> {
            unreachable!("liveness asks for the standing in one call")
        }
        async fn access_token_standing(
            &self,
            jti: &str,
            grant_id: Option<GrantId>,
        ) -> Result<AccessTokenStanding, StoreError> {
            self.asked.lock().unwrap().push((jti.to_owned(), grant_id));
            self.standing
                .clone()
                .ok_or(StoreError::Corrupt("injected failure"))
        }
        async fn spend_token_id(
            &self,
            _: &str,
            _: Timestamp,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            unreachable!("liveness never writes")
        }
    }

    async fn keys() -> KeySet {
        let kek = KeyEncryptionKey::generate().unwrap().0;
        let es = generate_signing_key(SigningAlg::Es256, &kek, Timestamp(0), Timestamp(0))
            .await
            .unwrap();
        KeySet::from_records(&[es], &kek, Timestamp(0)).unwrap()
    }

    fn user() -> User {
        User {
            user_id: UserId::random(),
            username: "alice".into(),
            password_hash: PasswordHash("$argon2id$opaque".into()),
            profile: UserProfile::default(),
            roles: Vec::new(),
            disabled: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    fn grant_of(user: &User) -> Grant {
        Grant {
            grant_id: GrantId::random(),
            user_id: user.user_id,
            client_id: ClientId("app".into()),
            scope: ScopeSet::parse("openid").unwrap(),
            session_id: None,
            auth_time: Timestamp(0),
            created_at: Timestamp(0),
            last_used_at: Timestamp(0),
            revoked_at: None,
        }
    }

    fn user_claims(grant: &Grant, exp: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISSUER.into(),
            sub: grant.user_id.to_string(),
            aud: ISSUER.into(),
            client_id: "app".into(),
            scope: "openid".into(),
            iat: 100,
            exp,
            jti: "jti-1".into(),
            gid: Some(grant.grant_id.to_string()),
            sid: None,
            auth_time: None,
        }
    }

    fn client_claims() -> AccessTokenClaims {
        AccessTokenClaims {
            sub: "app".into(),
            gid: None,
            ..user_claims(&grant_of(&user()), 200)
        }
    }

    async fn check(
        store: &FixedStanding,
        claims: &AccessTokenClaims,
    ) -> Result<LiveAccessToken, NotLive> {
        let keys = keys().await;
        let token = mint_access_token(&keys, SigningAlg::Es256, claims, Timestamp(100)).unwrap();
        live_access_token(store, &keys, ISSUER, ISSUER, &token, Timestamp(150)).await
    }

    #[tokio::test]
    async fn a_token_of_a_live_grant_and_user_is_live_with_both() {
        let alice = user();
        let grant = grant_of(&alice);
        let store = FixedStanding::answering(AccessTokenStanding::NotRevoked(Some((
            grant.clone(),
            alice.clone(),
        ))));

        let live = check(&store, &user_claims(&grant, 200)).await.unwrap();

        assert!(matches!(live.holder, TokenHolder::User { user, .. } if user == alice));
        assert_eq!(
            store.asked.lock().unwrap().as_slice(),
            [("jti-1".to_owned(), Some(grant.grant_id))],
            "one question, about the token's own jti and grant"
        );
    }

    #[tokio::test]
    async fn a_revoked_jti_or_an_unknown_grant_is_not_live() {
        let grant = grant_of(&user());
        let revoked = FixedStanding::answering(AccessTokenStanding::Revoked);
        let unknown = FixedStanding::answering(AccessTokenStanding::UnknownGrant);

        let revoked = check(&revoked, &user_claims(&grant, 200)).await;
        let unknown = check(&unknown, &user_claims(&grant, 200)).await;

        assert!(matches!(revoked, Err(NotLive::Revoked)));
        assert!(matches!(unknown, Err(NotLive::UnknownGrant)));
    }

    #[tokio::test]
    async fn a_revoked_grant_or_a_disabled_user_is_not_live() {
        let alice = user();
        let grant = grant_of(&alice);
        let revoked_grant = Grant {
            revoked_at: Some(Timestamp(120)),
            ..grant.clone()
        };
        let disabled = User {
            disabled: true,
            ..alice.clone()
        };
        let of_revoked = FixedStanding::answering(AccessTokenStanding::NotRevoked(Some((
            revoked_grant,
            alice,
        ))));
        let of_disabled = FixedStanding::answering(AccessTokenStanding::NotRevoked(Some((
            grant.clone(),
            disabled,
        ))));

        let of_revoked = check(&of_revoked, &user_claims(&grant, 200)).await;
        let of_disabled = check(&of_disabled, &user_claims(&grant, 200)).await;

        assert!(matches!(of_revoked, Err(NotLive::GrantRevoked)));
        assert!(matches!(of_disabled, Err(NotLive::UserDisabled)));
    }

    #[tokio::test]
    async fn a_token_naming_another_users_or_clients_grant_is_not_live() {
        let alice = user();
        let grant = grant_of(&alice);
        let store = FixedStanding::answering(AccessTokenStanding::NotRevoked(Some((
            grant.clone(),
            alice,
        ))));
        let of_bob = AccessTokenClaims {
            sub: UserId::random().to_string(),
            ..user_claims(&grant, 200)
        };
        let of_other_client = AccessTokenClaims {
            client_id: "other".into(),
            ..user_claims(&grant, 200)
        };

        let of_bob = check(&store, &of_bob).await;
        let of_other_client = check(&store, &of_other_client).await;

        assert!(matches!(of_bob, Err(NotLive::Mismatched(_))));
        assert!(matches!(of_other_client, Err(NotLive::Mismatched(_))));
    }

    #[tokio::test]
    async fn a_clients_own_token_is_live_without_a_grant_and_only_if_its_own() {
        let store = FixedStanding::answering(AccessTokenStanding::NotRevoked(None));
        let not_its_own = AccessTokenClaims {
            sub: "someone-else".into(),
            ..client_claims()
        };

        let own = check(&store, &client_claims()).await.unwrap();
        let not_its_own = check(&store, &not_its_own).await;

        assert!(matches!(own.holder, TokenHolder::Client));
        assert!(matches!(not_its_own, Err(NotLive::Mismatched(_))));
    }

    #[tokio::test]
    async fn an_expired_token_is_not_live_and_the_store_is_not_asked() {
        let grant = grant_of(&user());
        let store = FixedStanding::answering(AccessTokenStanding::Revoked);

        let expired = check(&store, &user_claims(&grant, 150)).await;

        assert!(matches!(
            expired,
            Err(NotLive::Invalid(AccessTokenError::Expired))
        ));
        assert!(store.asked.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_store_that_cannot_answer_fails_closed() {
        let grant = grant_of(&user());
        let store = FixedStanding::failing();

        let outcome = check(&store, &user_claims(&grant, 200)).await;

        assert!(matches!(outcome, Err(NotLive::Store(_))));
    }
}
