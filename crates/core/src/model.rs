//! Durable domain records: users, clients, sessions, consents, grants, authorization
//! codes, refresh tokens, signing keys, revoked token ids and audit events. Stores read
//! their rows into these types; wire formats are built from them, never the other way.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::{AuditEventId, ClientId, GrantId, SessionId, UserId};
use crate::password::PasswordHash;
use crate::redirect_uri::RedirectUri;
use crate::scope::ScopeSet;
use crate::secret::SecretHash;

/// Standard OIDC profile claims held for a user (OIDC Core §5.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `name`.
    pub name: Option<String>,
    /// `given_name`.
    pub given_name: Option<String>,
    /// `family_name`.
    pub family_name: Option<String>,
    /// `picture`.
    pub picture: Option<String>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id; its string form is `sub`.
    pub user_id: UserId,
    /// Unique login name (`preferred_username`).
    pub username: String,
    /// argon2id hash.
    pub password_hash: PasswordHash,
    /// Profile claims.
    pub profile: UserProfile,
    /// Roles (e.g. `admin`), exposed as the `roles` claim with the `roles` scope.
    pub roles: Vec<String>,
    /// Disabled users cannot log in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change (the `updated_at` claim).
    pub updated_at: Timestamp,
}

/// OAuth client type (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    /// Can keep a secret.
    Confidential,
    /// Cannot (native apps, SPAs): PKCE is mandatory.
    Public,
}

/// Client authentication method at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// Id and secret in the form body.
    ClientSecretPost,
    /// Signed JWT assertion (RFC 7523).
    PrivateKeyJwt,
    /// Public client, no authentication.
    None,
}

impl TokenEndpointAuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::PrivateKeyJwt => "private_key_jwt",
            TokenEndpointAuthMethod::None => "none",
        }
    }

    /// Parses a registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(TokenEndpointAuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(TokenEndpointAuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            "none" => Some(TokenEndpointAuthMethod::None),
            _ => None,
        }
    }
}

/// Grant types a client may use (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
}

impl GrantType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Parses a registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
}

/// Client metadata that no protocol rule reads on a hot path; stored as one JSON document
/// so RFC 7591 fields can be added without a migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// `client_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// `logo_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// `policy_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// `tos_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// `contacts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// `jwks` (for `private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// `jwks_uri` (for `private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `id_token_signed_response_alg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// `application_type` (`web` or `native`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// `backchannel_logout_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `client_id`.
    pub client_id: ClientId,
    /// SHA-256 of the client secret; `None` for public and `private_key_jwt` clients.
    pub secret_hash: Option<SecretHash>,
    /// Confidential or public.
    pub client_type: ClientType,
    /// How it authenticates at the token endpoint.
    pub auth_method: TokenEndpointAuthMethod,
    /// `client_name`, shown on the consent page.
    pub name: String,
    /// Registered redirect URIs (exact match).
    pub redirect_uris: Vec<RedirectUri>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Grant types it may use.
    pub grant_types: Vec<GrantType>,
    /// The most it may ask for.
    pub allowed_scope: ScopeSet,
    /// The rest of its RFC 7591 metadata.
    pub metadata: ClientMetadata,
    /// SHA-256 of its RFC 7592 registration access token, when dynamically registered.
    pub registration_token_hash: Option<SecretHash>,
    /// The operator vouches for this client (it ships with this deployment), so a public
    /// one may be given a code from remembered consent; only an operator sets it (CLI or
    /// admin API), never a registrant.
    pub first_party: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Client {
    /// Whether a consent the user gave this client before may stand in for asking again.
    ///
    /// Not for a public client the operator has not vouched for: it cannot authenticate,
    /// and loopback redirect URIs match any port (RFC 8252 §7.3), so any program on the
    /// device can present its `client_id` and receive the code; only the user, on the
    /// consent page, can tell the apps apart (RFC 8252 §8.6, RFC 6749 §10.2).
    pub fn remembered_consent_applies(&self) -> bool {
        self.client_type == ClientType::Confidential || self.first_party
    }
}

/// A server-side browser session; the cookie holds only a random secret whose hash is
/// `secret_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Record id (also the `sid` claim).
    pub session_id: SessionId,
    /// SHA-256 of the cookie value.
    pub secret_hash: SecretHash,
    /// Who is logged in.
    pub user_id: UserId,
    /// When the user last authenticated (OIDC `auth_time`).
    pub auth_time: Timestamp,
    /// Authentication methods (OIDC `amr`, RFC 8176), e.g. `pwd`.
    pub amr: Vec<String>,
    /// Browser user agent at login.
    pub user_agent: Option<String>,
    /// Client IP at login.
    pub ip: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last request seen.
    pub last_seen_at: Timestamp,
    /// Absolute expiry.
    pub expires_at: Timestamp,
    /// Expiry if idle: moved forward on each use, never past `expires_at`.
    pub idle_expires_at: Timestamp,
    /// When it was ended (logout, revocation); `None` while live.
    pub ended_at: Option<Timestamp>,
}

/// What a user has consented a client may have; remembered so later requests for the
/// same or fewer scopes skip the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The user.
    pub user_id: UserId,
    /// The client.
    pub client_id: ClientId,
    /// Scopes approved so far.
    pub scope: ScopeSet,
    /// First approval.
    pub granted_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// One authorization of a client by a user; codes, refresh tokens and access tokens
/// carry its id, so revoking it reaches them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Id (carried in tokens).
    pub grant_id: GrantId,
    /// The user.
    pub user_id: UserId,
    /// The client.
    pub client_id: ClientId,
    /// Scopes granted.
    pub scope: ScopeSet,
    /// The browser session it was granted in, if any.
    pub session_id: Option<SessionId>,
    /// When the user authenticated for it.
    pub auth_time: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last token issued from it.
    pub last_used_at: Timestamp,
    /// When revoked; `None` while active.
    pub revoked_at: Option<Timestamp>,
}

/// What the store says about an access token at the moment it is checked: a self-contained
/// JWT stays verifiable until its `exp`, so revoking it (RFC 7009), its grant, or its user
/// must be looked up on every use for the revocation to take effect at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per request and matched at once; boxing the grant and user \
              would add an allocation to the hot path this type exists to shorten"
)]
pub enum AccessTokenStanding {
    /// Its `jti` is on the revocation list.
    Revoked,
    /// It names a grant the store does not hold.
    UnknownGrant,
    /// Not revoked by id: its grant and that grant's user as they stand now (`None` when
    /// no grant was asked about: a client's own token).
    NotRevoked(Option<(Grant, User)>),
}

/// An authorization code (RFC 6749 §4.1.2), stored hashed, single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub code_hash: SecretHash,
    /// The grant it will redeem into.
    pub grant_id: GrantId,
    /// Client it was issued to.
    pub client_id: ClientId,
    /// User who approved.
    pub user_id: UserId,
    /// The exact `redirect_uri` of the request (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// Scopes approved.
    pub scope: ScopeSet,
    /// OIDC `nonce`, copied into the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636).
    pub code_challenge: Option<String>,
    /// The browser session (for `sid`).
    pub session_id: SessionId,
    /// When the user authenticated (`auth_time`).
    pub auth_time: Timestamp,
    /// Issue time.
    pub created_at: Timestamp,
    /// Expiry (at most 60 s after issue).
    pub expires_at: Timestamp,
    /// When redeemed; `None` until then.
    pub redeemed_at: Option<Timestamp>,
}

/// The result of trying to redeem a code in one guarded write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// This call redeemed it; the record as stored.
    Redeemed(AuthorizationCode),
    /// It was redeemed before: a replay (RFC 6749 §4.1.2: revoke what it issued).
    AlreadyRedeemed(AuthorizationCode),
    /// Unknown or expired.
    Invalid,
}

/// A refresh token, stored hashed, rotated on every use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_hash: SecretHash,
    /// The grant it belongs to.
    pub grant_id: GrantId,
    /// The client it is bound to.
    pub client_id: ClientId,
    /// Scopes it may mint.
    pub scope: ScopeSet,
    /// The token it replaced, if any.
    pub parent_hash: Option<SecretHash>,
    /// Issue time.
    pub created_at: Timestamp,
    /// Absolute expiry (inherited through the rotation chain).
    pub expires_at: Timestamp,
    /// Expiry if unused.
    pub idle_expires_at: Timestamp,
    /// When rotated (used); `None` while current.
    pub rotated_at: Option<Timestamp>,
    /// When revoked; `None` unless revoked.
    pub revoked_at: Option<Timestamp>,
}

/// The result of trying to rotate a refresh token in one guarded write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// This call rotated it and stored the successor; the old record as stored.
    Rotated(RefreshToken),
    /// It had already been rotated: reuse (RFC 9700 §4.14.2: revoke the grant).
    AlreadyRotated(RefreshToken),
    /// Unknown, revoked or expired.
    Invalid,
}

/// The result of a client's retried rotation inside the reuse grace window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRetry {
    /// The new successor was stored, and the unused successor it replaces revoked (and
    /// marked rotated, so whoever holds it and presents it later is caught as reuse): the
    /// grant's chain still has one live token.
    Rotated,
    /// A successor of the token was already used: the chain went on without this
    /// presenter, so the token is being reused (RFC 9700 §4.14.2). Nothing was written.
    SuccessorUsed,
    /// Rotated before the window, revoked, expired, or its grant revoked: nothing written.
    NotLive,
}

/// Signature algorithms of our signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (OIDC Discovery §3: MUST be supported).
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlg {
    /// JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
        }
    }

    /// Parses a JOSE name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(SigningAlg::Rs256),
            "ES256" => Some(SigningAlg::Es256),
            _ => None,
        }
    }
}

/// A signing key as stored: the private part sealed with the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// `kid` (RFC 7638 thumbprint).
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// AES-256-GCM sealed PKCS#8 private key (nonce ‖ ciphertext ‖ tag).
    pub sealed_private_key: Vec<u8>,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it starts signing; before that it is only published (RFC 7517 rollover).
    pub activates_at: Timestamp,
    /// When it stops being published; set when a successor takes over, far enough out
    /// that every token it signed has expired.
    pub retires_at: Option<Timestamp>,
}

/// An access-token `jti` revoked before its `exp` (RFC 7009), kept until then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedTokenId {
    /// The `jti`.
    pub jti: String,
    /// The token's `exp`; the entry is purged after it.
    pub expires_at: Timestamp,
    /// When revoked.
    pub revoked_at: Timestamp,
}

/// An RFC 7591 §3 initial access token created by the operator, stored as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    /// SHA-256 of the token.
    pub token_hash: SecretHash,
    /// What the operator said it is for.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it stops working; `None` for never.
    pub expires_at: Option<Timestamp>,
}

/// Who did what, when and from where: every admin change and registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Id.
    pub audit_event_id: AuditEventId,
    /// When.
    pub at: Timestamp,
    /// Who (e.g. `cli`, `user:<id>`, `client:<id>`).
    pub actor: String,
    /// What (e.g. `client.create`).
    pub action: String,
    /// On what (e.g. the client id).
    pub target: Option<String>,
    /// From where (IP), when known.
    pub ip: Option<String>,
    /// Extra structured detail; never secrets.
    pub detail: serde_json::Value,
}
