//! The store traits every backend implements (Postgres for production, SQLite for the
//! zero-setup default). All SQL lives behind these; one conformance suite tests both.
//!
//! Every single-use step (redeeming a code, rotating a refresh token) is one guarded
//! write in the store, so concurrent callers cannot both win.

use async_trait::async_trait;

use crate::Timestamp;
use crate::ids::{ClientId, GrantId, SessionId, UserId};
use crate::login_throttle::{Admission, AttemptEnd, ThrottleKeys, ThrottlePolicy};
use crate::model::{
    AccessTokenStanding, AuditEvent, AuthorizationCode, Client, CodeRedemption, Consent, Grant,
    InitialAccessToken, RefreshRetry, RefreshRotation, RefreshToken, Session, SigningKeyRecord,
    User, UserProfile,
};
use crate::password::PasswordHash;
use crate::secret::SecretHash;
use crate::sessions::{EndedSessions, Ending};

/// Names of the unique constraints a caller may want to tell apart in
/// [`StoreError::Conflict`]; both backends' migrations use exactly these names.
pub mod constraints {
    /// Usernames are unique.
    pub const USER_USERNAME: &str = "user_account_username_key";
    /// Client ids are unique.
    pub const CLIENT_PKEY: &str = "client_pkey";
    /// The signing keyring is bootstrapped once.
    pub const KEYRING_BOOTSTRAP: &str = "keyring_bootstrap_pkey";
    /// Key ids are unique.
    pub const SIGNING_KEY_PKEY: &str = "signing_key_pkey";
    /// [`super::UserStore::create_first_admin`] found an administrator already (not a
    /// database constraint: the store's own check, made under a lock).
    pub const ADMIN_EXISTS: &str = "admin_exists";
    /// Anything else unique.
    pub const OTHER: &str = "other";
}

/// A store failure, typed so callers can map it to a protocol error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write.
    #[error("conflict on {constraint}")]
    Conflict {
        /// One of [`constraints`].
        constraint: &'static str,
    },
    /// The database failed or is unreachable; the detail is for logs only.
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored value could not be read back into a domain type (corruption or a bug).
    #[error("stored data is invalid: {0}")]
    Corrupt(&'static str),
}

/// Users and their credentials.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; `Conflict { USER_USERNAME }` if the username is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// Finds a user by id.
    async fn find_user(&self, user_id: UserId) -> Result<Option<User>, StoreError>;
    /// Finds a user by exact username.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// All users, ordered by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Replaces profile claims; `NotFound` if absent.
    async fn update_user_profile(
        &self,
        user_id: UserId,
        profile: &UserProfile,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Replaces the password hash; `NotFound` if absent.
    async fn set_user_password(
        &self,
        user_id: UserId,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Enables or disables; `NotFound` if absent.
    async fn set_user_disabled(
        &self,
        user_id: UserId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Replaces the role list; `NotFound` if absent.
    async fn set_user_roles(
        &self,
        user_id: UserId,
        roles: &[String],
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Inserts `user` (who holds `admin_role`) only if no user holds `admin_role` yet, as
    /// one step: concurrent callers are serialised, so exactly one of them can win on an
    /// install without an administrator. `Conflict { ADMIN_EXISTS }` when one exists,
    /// `Conflict { USER_USERNAME }` if the username is taken; nothing is written then.
    async fn create_first_admin(&self, user: &User, admin_role: &str) -> Result<(), StoreError>;
}

/// Registered OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts a client; `Conflict { CLIENT_PKEY }` if the id exists.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
    /// Finds a client by id.
    async fn find_client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// All clients, ordered by id.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Replaces every field but `client_id` and `created_at`; `NotFound` if absent.
    async fn update_client(&self, client: &Client) -> Result<(), StoreError>;
    /// Deletes a client with everything hanging off it (codes, grants, tokens, consents);
    /// `NotFound` if absent.
    async fn delete_client(&self, client_id: &ClientId) -> Result<(), StoreError>;
}

/// Server-side browser sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts a session.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The live session whose cookie hashes to `secret_hash`: not ended, and neither its
    /// absolute nor its idle expiry has passed at `now`.
    async fn find_live_session(
        &self,
        secret_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError>;
    /// Finds a session by id, live or not.
    async fn find_session(&self, session_id: SessionId) -> Result<Option<Session>, StoreError>;
    /// Records activity: `last_seen_at = now`, `idle_expires_at` moved to the given
    /// instant (the caller caps it at `expires_at`). No effect on ended sessions.
    async fn touch_session(
        &self,
        session_id: SessionId,
        now: Timestamp,
        idle_expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Ends one session; returns whether it was live.
    async fn end_session(&self, session_id: SessionId, now: Timestamp) -> Result<bool, StoreError>;
    /// Ends every live session of a user except `keep`; returns the ids ended (for
    /// back-channel logout).
    async fn end_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError>;
    /// In ONE transaction: ends the sessions `which` selects of `user_id` (as
    /// [`SessionStore::end_session`] / [`SessionStore::end_user_sessions`] would), then
    /// revokes, with their refresh tokens, the active grants made in them whose scope does
    /// not hold `keep_scope` (`offline_access`: such grants outlive the session). Returns
    /// the sessions ended and every active grant that was bound to one of them, as it
    /// stood before (the kept ones included). If any step fails, nothing is written.
    async fn end_sessions_revoking_grants(
        &self,
        user_id: UserId,
        which: Ending,
        keep_scope: &str,
        now: Timestamp,
    ) -> Result<EndedSessions, StoreError>;
    /// A user's live sessions, newest first.
    async fn list_live_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError>;
}

/// Remembered consent.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// The consent of `user_id` for `client_id`, if any.
    async fn find_consent(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<Option<Consent>, StoreError>;
    /// Inserts or replaces the consent for (user, client).
    async fn save_consent(&self, consent: &Consent) -> Result<(), StoreError>;
    /// Deletes it; returns whether one existed.
    async fn delete_consent(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<bool, StoreError>;
    /// A user's consents, ordered by client id.
    async fn list_consents(&self, user_id: UserId) -> Result<Vec<Consent>, StoreError>;
    /// "Revoke access" in ONE transaction: deletes the consent of (user, client) and
    /// revokes every active grant of the pair with its refresh tokens (as
    /// [`GrantStore::revoke_client_grants`]); returns the grant ids revoked. If any step
    /// fails, nothing is written.
    async fn revoke_consent(
        &self,
        user_id: UserId,
        client_id: &ClientId,
        now: Timestamp,
    ) -> Result<Vec<GrantId>, StoreError>;
}

/// Grants: the unit of revocation.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Inserts a grant.
    async fn create_grant(&self, grant: &Grant) -> Result<(), StoreError>;
    /// Finds a grant by id.
    async fn find_grant(&self, grant_id: GrantId) -> Result<Option<Grant>, StoreError>;
    /// Records that a token was issued from it (`last_used_at = now`). A refresh token
    /// rotation records it itself ([`RefreshTokenStore::rotate_refresh_token`]).
    async fn touch_grant(&self, grant_id: GrantId, now: Timestamp) -> Result<(), StoreError>;
    /// Revokes the grant and, in the same transaction, every refresh token of it.
    /// Returns whether it was active. Idempotent.
    async fn revoke_grant(&self, grant_id: GrantId, now: Timestamp) -> Result<bool, StoreError>;
    /// Revokes every active grant of (user, client) with its refresh tokens; returns the
    /// ids revoked.
    async fn revoke_client_grants(
        &self,
        user_id: UserId,
        client_id: &ClientId,
        now: Timestamp,
    ) -> Result<Vec<GrantId>, StoreError>;
    /// A user's active grants, newest first.
    async fn list_active_grants(&self, user_id: UserId) -> Result<Vec<Grant>, StoreError>;
}

/// Authorization codes.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Inserts a code (of a grant that exists).
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// What `/authorize` stores when the user approves, in ONE transaction: the new grant
    /// and the code issued from it. If either insert fails, neither is stored.
    async fn create_grant_with_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCode,
    ) -> Result<(), StoreError>;
    /// The code with this hash, in any state, without changing it.
    async fn find_code(
        &self,
        code_hash: &SecretHash,
    ) -> Result<Option<AuthorizationCode>, StoreError>;
    /// Redeems in one guarded write (`… set redeemed_at = now where code_hash = ? and
    /// redeemed_at is null and expires_at > now`): exactly one concurrent caller gets
    /// `Redeemed`; later ones get `AlreadyRedeemed`; unknown or expired is `Invalid`.
    ///
    /// With [`CodeUse::Issued`] the winner's redemption also stores what it yields, in
    /// the same transaction: the refresh token (if any) is inserted and the grant's use
    /// recorded (`last_used_at = now`). If any of it fails, nothing is written and the
    /// code stays unredeemed, so the client's retry is a retry, not a replay.
    async fn redeem_code(
        &self,
        code_hash: &SecretHash,
        now: Timestamp,
        used: CodeUse<'_>,
    ) -> Result<CodeRedemption, StoreError>;
}

/// What a redemption of an authorization code is for.
#[derive(Debug, Clone, Copy)]
pub enum CodeUse<'a> {
    /// The rightful client's exchange was refused (its grant revoked, its user disabled):
    /// the code is only spent, so it cannot be tried again (RFC 6749 §4.1.2); nothing is
    /// issued. A presenter who is not the code's (wrong client, `redirect_uri` or PKCE
    /// verifier) never spends it.
    SpendOnly,
    /// The exchange issues tokens: store this refresh token (if any) with the redemption.
    Issued {
        /// The first refresh token of the grant, when the client gets one.
        refresh_token: Option<&'a RefreshToken>,
    },
}

/// Refresh tokens.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Inserts a refresh token.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError>;
    /// Finds one by hash, in any state.
    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<RefreshToken>, StoreError>;
    /// The token with this hash (in any state) together with its grant and the grant's
    /// user as they stand now (revoked or disabled included), read in ONE round trip: the
    /// refresh grant needs all three before it rotates, and it is a hot path. `None` when
    /// no token hashes to it.
    async fn find_refresh_token_with_grant(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<(RefreshToken, Grant, User)>, StoreError>;
    /// Rotates atomically: marks `old_hash` rotated with a guarded write (only if not
    /// rotated, not revoked, its grant not revoked, and neither expiry passed at `now`),
    /// inserts `successor`, and records the grant's use (`last_used_at = now`, as
    /// [`GrantStore::touch_grant`] would). Exactly one concurrent caller gets `Rotated`;
    /// others get `AlreadyRotated`; unknown, revoked or expired is `Invalid`. Only
    /// `Rotated` writes anything: otherwise no successor is inserted and the grant is not
    /// touched, and if any part fails nothing is written.
    async fn rotate_refresh_token(
        &self,
        old_hash: &SecretHash,
        successor: &RefreshToken,
        now: Timestamp,
    ) -> Result<RefreshRotation, StoreError>;
    /// A client's retry inside the reuse grace window (`tokens.refresh_token_reuse_grace`):
    /// gives `old_hash` another `successor` although it was already rotated, provided its
    /// first rotation happened at or after `rotated_since` and it is otherwise live (not
    /// revoked, grant not revoked, neither expiry passed at `now`), and no successor of it
    /// has been used. In the same transaction the unused successor it replaces is revoked
    /// (and marked rotated at `now`), so the chain keeps one live token, and the grant is
    /// touched like a rotation. The first rotation time is kept, so retries never stretch
    /// the window. Anything but [`RefreshRetry::Rotated`] writes nothing.
    async fn retry_refresh_rotation(
        &self,
        old_hash: &SecretHash,
        successor: &RefreshToken,
        now: Timestamp,
        rotated_since: Timestamp,
    ) -> Result<RefreshRetry, StoreError>;
    /// Revokes one token; returns whether it was live.
    async fn revoke_refresh_token(
        &self,
        token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// Signing keys, shared by every replica.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every stored key, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Stores the first keyring exactly once across all replicas: claims a one-row
    /// bootstrap marker and inserts `keys` in the same transaction. A second caller gets
    /// `Conflict { KEYRING_BOOTSTRAP }` and nothing is written.
    async fn bootstrap_signing_keys(&self, keys: &[SigningKeyRecord]) -> Result<(), StoreError>;
    /// Rotation in one transaction: inserts `next` and sets `retires_at` on every key
    /// of the same algorithm that has none yet.
    async fn rotate_signing_key(
        &self,
        next: &SigningKeyRecord,
        retire_at: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Access-token ids revoked before their expiry.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revoked `jti` until `expires_at`. Idempotent.
    async fn revoke_token_id(
        &self,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Whether `jti` is revoked.
    async fn is_token_id_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// Everything a presented access token's liveness depends on, in ONE round trip
    /// (introspection and userinfo check it on every request): whether `jti` is revoked
    /// and, when `grant_id` is given, that grant with its user, read by one query.
    ///
    /// With `grant_id`: `UnknownGrant` when the store holds no such grant (whether or not
    /// `jti` is revoked: the token is dead either way), else `Revoked` if `jti` is revoked,
    /// else `NotRevoked(Some((grant, user)))` with the grant in any state (revoked
    /// included) and its user (disabled included); the caller applies the rules. Without:
    /// `Revoked` or `NotRevoked(None)`.
    async fn access_token_standing(
        &self,
        jti: &str,
        grant_id: Option<GrantId>,
    ) -> Result<AccessTokenStanding, StoreError>;
    /// Spends a single-use token id (an RFC 7523 client assertion's `jti`) in one guarded
    /// insert, kept until `expires_at` like a revoked id: `true` when this call spent it,
    /// `false` when it was already spent (a replay). Exactly one concurrent caller wins.
    async fn spend_token_id(
        &self,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// RFC 7591 §3 initial access tokens created by the operator.
#[async_trait]
pub trait InitialAccessTokenStore: Send + Sync {
    /// Stores a new token (by hash).
    async fn create_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError>;
    /// The token with this hash, expired or not.
    async fn find_initial_access_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<InitialAccessToken>, StoreError>;
}

/// The audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event.
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The newest `limit` events, newest first.
    async fn list_audit_events(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The login throttle's counts ([`crate::login_throttle`]), shared by every replica.
#[async_trait]
pub trait LoginThrottleStore: Send + Sync {
    /// Decides whether a password may be checked now and, if so, counts the attempt, in
    /// ONE step serialised with every other attempt under any of the same keys (so a
    /// burst of concurrent guesses cannot all slip in on the same reading):
    ///
    /// reads the counts under `keys` (a count whose last failure is `forget_after` old or
    /// more reads as none); if `policy` holds the attempt back, writes nothing and returns
    /// [`Admission::Held`]; otherwise adds the attempt as a failure (at `now`) to the
    /// pair's and the network's counts, and to the account's if
    /// [`ThrottlePolicy::counts_for_account`] says so for the pair's new count, and
    /// returns [`Admission::Admitted`] with the counts as they now stand.
    async fn admit_login_attempt(
        &self,
        keys: &ThrottleKeys,
        policy: &ThrottlePolicy,
        now: Timestamp,
    ) -> Result<Admission, StoreError>;
    /// Ends an admitted attempt that did not fail (see [`AttemptEnd`]): a success forgets
    /// the pair's and the account's counts and takes one failure back from the network's;
    /// an attempt never checked takes one back from each count it was added to. No count
    /// goes below zero.
    async fn end_login_attempt(
        &self,
        keys: &ThrottleKeys,
        end: AttemptEnd,
    ) -> Result<(), StoreError>;
    /// Forgets every count of the account `account` ([`ThrottleKeys::account_of`]): its
    /// own and every (account, network) pair's. Networks' counts stay. Returns how many
    /// counts were forgotten (0: the account was not being counted).
    async fn clear_login_throttle(
        &self,
        account: &crate::secret::SecretHash,
    ) -> Result<u64, StoreError>;
}

/// Counts of rows removed by one housekeeping pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Authorization codes past expiry.
    pub codes: u64,
    /// Refresh tokens past expiry (absolute or idle).
    pub refresh_tokens: u64,
    /// Sessions ended or expired.
    pub sessions: u64,
    /// Revoked token ids past the token's own expiry.
    pub revoked_token_ids: u64,
    /// Login throttle counts forgotten (`forget_after` past their last failure).
    pub login_throttles: u64,
}

/// Housekeeping: removal of rows that can no longer matter.
#[async_trait]
pub trait PurgeStore: Send + Sync {
    /// Deletes at most `batch` expired rows from each table (bounded, so no long locks;
    /// safe to run on every replica at once). Rows are expired when their expiry is
    /// before `now`.
    async fn purge_expired(&self, now: Timestamp, batch: u32) -> Result<PurgeReport, StoreError>;
}

/// Everything a Portcullis server needs from its database.
#[async_trait]
pub trait Store:
    UserStore
    + ClientStore
    + SessionStore
    + ConsentStore
    + GrantStore
    + CodeStore
    + RefreshTokenStore
    + SigningKeyStore
    + RevocationStore
    + InitialAccessTokenStore
    + AuditStore
    + LoginThrottleStore
    + PurgeStore
    + Send
    + Sync
    + 'static
{
    /// Readiness: the database answers a read AND accepts a write (a database on a full
    /// disk, or a read-only standby, still answers reads while every sign-in fails).
    async fn check_ready(&self) -> Result<(), StoreError>;
    /// `postgres` or `sqlite`, for logs.
    fn backend(&self) -> &'static str;
}
