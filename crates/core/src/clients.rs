//! Client administration shared by the CLI and (later) the admin API and dynamic
//! registration: validation of redirect URIs, grant types and scopes, and secret issuance.

use crate::Timestamp;
use crate::ids::ClientId;
use crate::model::{Client, ClientMetadata, ClientType, GrantType, TokenEndpointAuthMethod};
use crate::redirect_uri::{RedirectUri, RedirectUriError};
use crate::scope::ScopeSet;
use crate::secret::{PlainSecret, RandomError, SecretKind};
use crate::store::{ClientStore, StoreError, constraints};

/// Why a client could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ClientAdminError {
    /// The name is empty or too long.
    #[error("client name must be 1-200 characters")]
    InvalidName,
    /// A redirect URI is not acceptable.
    #[error("redirect URI {uri:?}: {reason}")]
    InvalidRedirectUri {
        /// The URI.
        uri: String,
        /// Why.
        reason: RedirectUriError,
    },
    /// The authorization code grant needs at least one redirect URI.
    #[error("the authorization_code grant needs at least one redirect URI")]
    MissingRedirectUri,
    /// A grant type we do not know.
    #[error(
        "unknown grant type {0:?} (expected authorization_code, refresh_token or client_credentials)"
    )]
    UnknownGrantType(String),
    /// A public client cannot hold credentials for client_credentials (RFC 6749 §4.4).
    #[error("a public client cannot use the client_credentials grant")]
    PublicClientCredentials,
    /// The scope string is malformed.
    #[error("scope is not a valid RFC 6749 scope list")]
    InvalidScope,
    /// The id exists.
    #[error("client {0:?} already exists")]
    AlreadyExists(String),
    /// No such client.
    #[error("no client {0:?}")]
    NotFound(String),
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request to create a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Public (no secret, PKCE mandatory) or confidential.
    pub public: bool,
    /// Grant types; empty means `authorization_code` (+ `refresh_token`).
    pub grant_types: Vec<String>,
    /// Allowed scopes; `None` means `openid profile email offline_access`.
    pub scope: Option<String>,
    /// Other metadata.
    pub metadata: ClientMetadata,
}

/// The default scope ceiling of a new client.
pub const DEFAULT_CLIENT_SCOPE: &str = "openid profile email offline_access";

fn parse_uris(raw: &[String]) -> Result<Vec<RedirectUri>, ClientAdminError> {
    raw.iter()
        .map(|u| {
            RedirectUri::parse(u).map_err(|reason| ClientAdminError::InvalidRedirectUri {
                uri: u.clone(),
                reason,
            })
        })
        .collect()
}

/// Validates and stores a new client. Returns it with its plaintext secret (confidential
/// clients only), which is shown once and stored only as a hash.
pub async fn create_client(
    store: &dyn ClientStore,
    new: NewClient,
    now: Timestamp,
) -> Result<(Client, Option<PlainSecret>), ClientAdminError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ClientAdminError::InvalidName);
    }
    let redirect_uris = parse_uris(&new.redirect_uris)?;
    let post_logout_redirect_uris = parse_uris(&new.post_logout_redirect_uris)?;
    let mut grant_types = if new.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        new.grant_types
            .iter()
            .map(|g| {
                GrantType::parse(g).ok_or_else(|| ClientAdminError::UnknownGrantType(g.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    grant_types.sort();
    grant_types.dedup();
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(ClientAdminError::MissingRedirectUri);
    }
    if new.public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(ClientAdminError::PublicClientCredentials);
    }
    let allowed_scope = ScopeSet::parse(new.scope.as_deref().unwrap_or(DEFAULT_CLIENT_SCOPE))
        .map_err(|_| ClientAdminError::InvalidScope)?;
    let (client_type, auth_method, secret) = if new.public {
        (ClientType::Public, TokenEndpointAuthMethod::None, None)
    } else {
        (
            ClientType::Confidential,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(PlainSecret::generate(SecretKind::ClientSecret)?),
        )
    };
    let client = Client {
        client_id: ClientId::random(),
        secret_hash: secret.as_ref().map(PlainSecret::hash),
        client_type,
        auth_method,
        name,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        allowed_scope,
        metadata: new.metadata,
        registration_token_hash: None,
        created_at: now,
        updated_at: now,
    };
    match store.create_client(&client).await {
        Ok(()) => Ok((client, secret)),
        Err(StoreError::Conflict {
            constraint: constraints::CLIENT_PKEY,
        }) => Err(ClientAdminError::AlreadyExists(client.client_id.0)),
        Err(e) => Err(e.into()),
    }
}

/// Looks a client up, or fails naming it.
pub async fn find_client(
    store: &dyn ClientStore,
    client_id: &str,
) -> Result<Client, ClientAdminError> {
    store
        .find_client(&ClientId(client_id.to_owned()))
        .await?
        .ok_or_else(|| ClientAdminError::NotFound(client_id.to_owned()))
}

/// Deletes a client and everything issued to it.
pub async fn delete_client(
    store: &dyn ClientStore,
    client_id: &str,
) -> Result<(), ClientAdminError> {
    match store.delete_client(&ClientId(client_id.to_owned())).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(ClientAdminError::NotFound(client_id.to_owned())),
        Err(e) => Err(e.into()),
    }
}
