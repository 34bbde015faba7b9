//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), on top
//! of [`crate::clients`]: the JSON client metadata of §2 parsed member by member (so an
//! error names the member), the registration policy the operator configured (what an
//! anonymous registrant may ask for), registration access tokens (§3 of RFC 7592: 256-bit,
//! shown once, stored as SHA-256) and initial access tokens (RFC 7591 §3).
//!
//! The same parser reads the admin API's client bodies with no policy ceiling, so both
//! speak RFC 7591 metadata and end in the same `create_client`/`replace_client`.

mod metadata;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::clients::{self, ClientAdminError, MetadataError, NewClient};
use crate::model::{Client, GrantType, InitialAccessToken};
use crate::scope::ScopeSet;
use crate::secret::{PlainSecret, SecretHash, SecretKind};
use crate::store::{ClientStore, InitialAccessTokenStore, StoreError};

pub use metadata::{RegistrationRequest, parse_registration_request};

/// Who may use `POST /register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Not served, not advertised.
    Off,
    /// Anyone (RFC 7591 §3: open registration), within the policy and rate limit.
    Open,
    /// Only holders of an initial access token (RFC 7591 §3, sent as a Bearer token).
    Token,
}

/// What an anonymous registrant may ask for: no registration may yield a client able to
/// do more than this.
#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    /// The most any registered client may ask for.
    pub allowed_scope: ScopeSet,
    /// The scope a registration without `scope` gets.
    pub default_scope: ScopeSet,
    /// Grant types a registered client may use.
    pub allowed_grant_types: Vec<GrantType>,
    /// Whether a `jwks_uri` may be plain http on a loopback host (development only).
    pub allow_loopback_http_jwks_uri: bool,
}

/// A refused registration request (RFC 7591 §3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// `invalid_software_statement`: we accept none.
    #[error("software_statement: software statements are not accepted by this server")]
    SoftwareStatement,
}

impl RegistrationError {
    /// The RFC 7591 §3.2.2 error code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistrationError::Metadata(m) => m.code(),
            RegistrationError::SoftwareStatement => "invalid_software_statement",
        }
    }
}

/// A client just registered, with what its registrant is shown exactly once.
#[derive(Debug)]
pub struct Registered {
    /// The stored client.
    pub client: Client,
    /// Its secret, when it authenticates with one.
    pub client_secret: Option<PlainSecret>,
    /// The RFC 7592 registration access token.
    pub registration_access_token: PlainSecret,
}

/// Registers a client from validated metadata, with a fresh registration access token.
pub async fn register_client(
    store: &dyn ClientStore,
    mut new: NewClient,
    now: Timestamp,
) -> Result<Registered, ClientAdminError> {
    let token = PlainSecret::generate(SecretKind::RegistrationToken)?;
    new.registration_token_hash = Some(token.hash());
    let (client, client_secret) = clients::create_client(store, new, now).await?;
    Ok(Registered {
        client,
        client_secret,
        registration_access_token: token,
    })
}

/// The client a registration access token manages (RFC 7592 §3): `None` when the client
/// does not exist, was not dynamically registered, or the token is not its token. The
/// caller answers all three the same way (401, RFC 7592 §2.1), so client ids cannot be
/// probed.
pub async fn managed_client(
    store: &dyn ClientStore,
    client_id: &str,
    presented_token: &str,
) -> Result<Option<Client>, StoreError> {
    let client = store
        .find_client(&crate::ids::ClientId(client_id.to_owned()))
        .await?;
    Ok(client.filter(|c| {
        c.registration_token_hash
            .as_ref()
            .is_some_and(|h| h.matches(presented_token))
    }))
}

/// Why an RFC 7592 update was refused before any rule of the metadata itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMismatch {
    /// The body's `client_id` is missing or names another client (RFC 7592 §2.2).
    ClientId,
    /// The body's `client_secret` is not the client's secret (RFC 7592 §2.2).
    ClientSecret,
}

/// RFC 7592 §2.2: the update names the same client, and any secret it carries is the
/// current one.
pub fn check_update(client: &Client, request: &RegistrationRequest) -> Result<(), UpdateMismatch> {
    if request.client_id.as_deref() != Some(client.client_id.as_str()) {
        return Err(UpdateMismatch::ClientId);
    }
    if let Some(secret) = &request.client_secret
        && !client
            .secret_hash
            .as_ref()
            .is_some_and(|h| h.matches(secret))
    {
        return Err(UpdateMismatch::ClientSecret);
    }
    Ok(())
}

/// Issues an initial access token (RFC 7591 §3) and stores its hash; the plaintext is
/// shown to the operator once.
pub async fn create_initial_access_token(
    store: &dyn InitialAccessTokenStore,
    description: Option<String>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(InitialAccessToken, PlainSecret), ClientAdminError> {
    let token = PlainSecret::generate(SecretKind::InitialAccessToken)?;
    let record = InitialAccessToken {
        token_hash: token.hash(),
        description,
        created_at: now,
        expires_at,
    };
    store.create_initial_access_token(&record).await?;
    Ok((record, token))
}

/// Whether `presented` is a live initial access token: one of the configured ones
/// (compared by SHA-256, in constant time) or one created with the CLI and not expired.
pub async fn is_initial_access_token(
    store: &dyn InitialAccessTokenStore,
    configured: &[SecretHash],
    presented: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    // Every configured hash is compared, so timing does not reveal which one matched.
    let from_config = configured
        .iter()
        .fold(false, |found, h| h.matches(presented) | found);
    if from_config {
        return Ok(true);
    }
    let stored = store
        .find_initial_access_token(&SecretHash::of(presented))
        .await?;
    Ok(stored.is_some_and(|t| t.expires_at.is_none_or(|e| e > now)))
}
