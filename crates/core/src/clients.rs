//! Client administration shared by the CLI, the admin API and dynamic registration (RFC
//! 7591/7592): one set of rules (`validate`) and one way to create, replace, re-key and
//! delete a client, so no entry point can register something another would refuse.

pub(crate) mod validate;

use crate::Timestamp;
use crate::ids::ClientId;
use crate::model::{Client, ClientMetadata, TokenEndpointAuthMethod};
use crate::secret::{PlainSecret, RandomError, SecretHash, SecretKind};
use crate::store::{ClientStore, StoreError, constraints};

/// A client metadata value that cannot be accepted. The text is fixed and names the field,
/// so it can be shown to an operator or returned as an RFC 7591 `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A redirect URI is unacceptable (RFC 7591 §3.2.2 `invalid_redirect_uri`).
    #[error("redirect_uris: {0}")]
    RedirectUri(&'static str),
    /// Any other field (RFC 7591 §3.2.2 `invalid_client_metadata`).
    #[error("{field}: {problem}")]
    Metadata {
        /// The RFC 7591 member name.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl MetadataError {
    /// The RFC 7591 §3.2.2 error code.
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::RedirectUri(_) => "invalid_redirect_uri",
            MetadataError::Metadata { .. } => "invalid_client_metadata",
        }
    }
}

/// Why a client could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum ClientAdminError {
    /// The metadata breaks a rule.
    #[error(transparent)]
    Invalid(#[from] MetadataError),
    /// The id exists.
    #[error("client {0:?} already exists")]
    AlreadyExists(String),
    /// No such client.
    #[error("no client {0:?}")]
    NotFound(String),
    /// The client authenticates without a secret (public or `private_key_jwt`).
    #[error("client {0:?} does not authenticate with a secret, so there is none to rotate")]
    NoSecret(String),
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request to create a client, or (for [`replace_client`]) its complete new metadata.
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
    /// How it authenticates at the token endpoint; `None` means `none` for a public client
    /// and `client_secret_basic` otherwise.
    pub auth_method: Option<TokenEndpointAuthMethod>,
    /// Grant types; empty means `authorization_code` (+ `refresh_token`).
    pub grant_types: Vec<String>,
    /// Allowed scopes; `None` means `openid profile email offline_access`.
    pub scope: Option<String>,
    /// Other metadata.
    pub metadata: ClientMetadata,
    /// The hash of an RFC 7592 registration access token, for dynamically registered
    /// clients.
    pub registration_token_hash: Option<SecretHash>,
    /// Whether the operator vouches for the client ([`Client::first_party`]); `None`
    /// means no for a new client and "unchanged" for [`replace_client`], which is what a
    /// registrant's RFC 7592 update gets: only an operator may set it.
    pub first_party: Option<bool>,
}

/// The default scope ceiling of a new client.
pub const DEFAULT_CLIENT_SCOPE: &str = "openid profile email offline_access";

/// Whether a client with this method holds a secret.
fn uses_secret(method: TokenEndpointAuthMethod) -> bool {
    matches!(
        method,
        TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
    )
}

/// Validates and stores a new client. Returns it with its plaintext secret (clients
/// authenticating with one only), which is shown once and stored only as a hash.
pub async fn create_client(
    store: &dyn ClientStore,
    new: NewClient,
    now: Timestamp,
) -> Result<(Client, Option<PlainSecret>), ClientAdminError> {
    let v = validate::validate(&new)?;
    let secret = if uses_secret(v.auth_method) {
        Some(PlainSecret::generate(SecretKind::ClientSecret)?)
    } else {
        None
    };
    let client = Client {
        client_id: ClientId::random(),
        secret_hash: secret.as_ref().map(PlainSecret::hash),
        client_type: v.client_type,
        auth_method: v.auth_method,
        name: v.name,
        redirect_uris: v.redirect_uris,
        post_logout_redirect_uris: v.post_logout_redirect_uris,
        grant_types: v.grant_types,
        allowed_scope: v.allowed_scope,
        metadata: v.metadata,
        registration_token_hash: new.registration_token_hash,
        first_party: new.first_party.unwrap_or(false),
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

/// Replaces every field of client `client_id` with `new` (RFC 7592 §2.2 full replace),
/// under the same rules as creation. The id, creation time and registration access token
/// are kept (a `new.registration_token_hash` replaces the token). The secret is kept while
/// the new method still uses one, dropped when it no longer does, and generated (and
/// returned, once) when the client starts using one.
pub async fn replace_client(
    store: &dyn ClientStore,
    client_id: &str,
    new: NewClient,
    now: Timestamp,
) -> Result<(Client, Option<PlainSecret>), ClientAdminError> {
    let old = find_client(store, client_id).await?;
    let v = validate::validate(&new)?;
    let (secret_hash, secret) = match (uses_secret(v.auth_method), old.secret_hash) {
        (true, Some(hash)) => (Some(hash), None),
        (true, None) => {
            let s = PlainSecret::generate(SecretKind::ClientSecret)?;
            (Some(s.hash()), Some(s))
        }
        (false, _) => (None, None),
    };
    let client = Client {
        client_id: old.client_id,
        secret_hash,
        client_type: v.client_type,
        auth_method: v.auth_method,
        name: v.name,
        redirect_uris: v.redirect_uris,
        post_logout_redirect_uris: v.post_logout_redirect_uris,
        grant_types: v.grant_types,
        allowed_scope: v.allowed_scope,
        metadata: v.metadata,
        registration_token_hash: new.registration_token_hash.or(old.registration_token_hash),
        first_party: new.first_party.unwrap_or(old.first_party),
        created_at: old.created_at,
        updated_at: now,
    };
    store_update(store, &client).await?;
    Ok((client, secret))
}

/// Gives a client that authenticates with a secret a new one; the old one stops working
/// at once (on other replicas within the token endpoint's client cache lifetime).
pub async fn rotate_client_secret(
    store: &dyn ClientStore,
    client_id: &str,
    now: Timestamp,
) -> Result<(Client, PlainSecret), ClientAdminError> {
    let mut client = find_client(store, client_id).await?;
    if !uses_secret(client.auth_method) {
        return Err(ClientAdminError::NoSecret(client_id.to_owned()));
    }
    let secret = PlainSecret::generate(SecretKind::ClientSecret)?;
    client.secret_hash = Some(secret.hash());
    client.updated_at = now;
    store_update(store, &client).await?;
    Ok((client, secret))
}

/// Marks a client first party or not ([`Client::first_party`]): an operator's decision,
/// kept apart from the metadata a registrant may replace.
pub async fn set_first_party(
    store: &dyn ClientStore,
    client_id: &str,
    first_party: bool,
    now: Timestamp,
) -> Result<Client, ClientAdminError> {
    let mut client = find_client(store, client_id).await?;
    client.first_party = first_party;
    client.updated_at = now;
    store_update(store, &client).await?;
    Ok(client)
}

async fn store_update(store: &dyn ClientStore, client: &Client) -> Result<(), ClientAdminError> {
    match store.update_client(client).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(ClientAdminError::NotFound(client.client_id.0.clone())),
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

/// The client's registered metadata in RFC 7591 §2 member names (plus `client_id`,
/// `client_id_issued_at` and `client_type`), as the registration endpoint, the admin API
/// and `portcullis client show --json` describe a client. Never includes secrets or
/// their hashes.
pub fn client_information(client: &Client) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let m = &client.metadata;
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    put("client_id", json!(client.client_id));
    put("client_id_issued_at", json!(client.created_at.unix()));
    put("client_name", json!(client.name));
    put("client_type", json!(client.client_type));
    put(
        "token_endpoint_auth_method",
        json!(client.auth_method.as_str()),
    );
    put("redirect_uris", json!(client.redirect_uris));
    put(
        "grant_types",
        json!(
            client
                .grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
        ),
    );
    let response_types: Vec<&str> = if client
        .grant_types
        .contains(&crate::model::GrantType::AuthorizationCode)
    {
        vec!["code"]
    } else {
        vec![]
    };
    put("response_types", json!(response_types));
    put("scope", json!(client.allowed_scope.to_string()));
    put(
        "application_type",
        json!(m.application_type.as_deref().unwrap_or("web")),
    );
    if !client.post_logout_redirect_uris.is_empty() {
        put(
            "post_logout_redirect_uris",
            json!(client.post_logout_redirect_uris),
        );
    }
    if let Value::Object(extra) = serde_json::to_value(m).unwrap_or(Value::Null) {
        for (k, v) in extra {
            if k != "application_type"
                && !(k == "backchannel_logout_session_required" && v == false)
            {
                out.insert(k, v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_errors_carry_the_rfc_7591_code_and_name_the_field() {
        let e = MetadataError::Metadata {
            field: "scope",
            problem: "bad",
        };
        assert_eq!(e.code(), "invalid_client_metadata");
        assert_eq!(e.to_string(), "scope: bad");
        assert_eq!(
            MetadataError::RedirectUri("x").code(),
            "invalid_redirect_uri"
        );
    }
}
