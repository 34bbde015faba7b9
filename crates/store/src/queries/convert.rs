//! Decoding of stored column values back into core domain types. A value that does not
//! decode is reported as [`StoreError::Corrupt`], never silently replaced.
//!
//! Row types read their columns through [`Columns`], in order, so one reader serves both a
//! single-table query and a join that lists several tables' columns side by side.

use portcullis_core::Timestamp;
use portcullis_core::model::{ClientType, SigningAlg, TokenEndpointAuthMethod};
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Column as _, Decode, Row as _, Type};

use super::backend::{Db, DbRow};

/// A cursor over a row's columns. A join that selects several tables' columns side by side
/// repeats names (`oauth_grant` and `user_account` both have `user_id` and `created_at`),
/// so reading by name would silently take the first table's value; reading by position is
/// exact, and checking each position's name catches a reader that drifted from its column
/// list.
pub(crate) struct Columns<'r> {
    row: &'r DbRow,
    next: usize,
}

impl<'r> Columns<'r> {
    /// A cursor at the row's first column.
    pub(crate) fn new(row: &'r DbRow) -> Self {
        Columns { row, next: 0 }
    }

    /// The value of the next column, which must be named `name`.
    pub(crate) fn next<T>(&mut self, name: &str) -> Result<T, sqlx::Error>
    where
        T: Decode<'r, Db> + Type<Db>,
    {
        let index = self.next;
        self.next += 1;
        match self.row.columns().get(index) {
            Some(column) if column.name() == name => self.row.try_get(index),
            _ => Err(sqlx::Error::ColumnNotFound(format!(
                "{name} at position {index}"
            ))),
        }
    }
}

/// A 32-byte SHA-256 column.
pub(crate) fn secret_hash(bytes: &[u8], what: &'static str) -> Result<SecretHash, StoreError> {
    SecretHash::from_slice(bytes).ok_or(StoreError::Corrupt(what))
}

/// A nullable 32-byte SHA-256 column.
pub(crate) fn opt_secret_hash(
    bytes: Option<&[u8]>,
    what: &'static str,
) -> Result<Option<SecretHash>, StoreError> {
    bytes.map(|b| secret_hash(b, what)).transpose()
}

/// A scope set stored as its canonical space-separated text.
pub(crate) fn scope(text: &str, what: &'static str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse(text).map_err(|_| StoreError::Corrupt(what))
}

/// A JSON text column.
pub(crate) fn from_json<T: DeserializeOwned>(
    text: &str,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(what))
}

/// The JSON text to store for a value.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    value: &T,
    what: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|_| StoreError::Corrupt(what))
}

/// A nullable timestamp column.
pub(crate) fn opt_ts(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp)
}

/// The stored name of a client type (RFC 6749 §2.1).
pub(crate) fn client_type_str(t: ClientType) -> &'static str {
    match t {
        ClientType::Confidential => "confidential",
        ClientType::Public => "public",
    }
}

/// Parses a stored client type.
pub(crate) fn client_type(text: &str) -> Result<ClientType, StoreError> {
    match text {
        "confidential" => Ok(ClientType::Confidential),
        "public" => Ok(ClientType::Public),
        _ => Err(StoreError::Corrupt("client.client_type")),
    }
}

/// Parses a stored token endpoint auth method (its RFC 7591 registered name).
pub(crate) fn auth_method(text: &str) -> Result<TokenEndpointAuthMethod, StoreError> {
    [
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::None,
    ]
    .into_iter()
    .find(|m| m.as_str() == text)
    .ok_or(StoreError::Corrupt("client.auth_method"))
}

/// Parses a stored JOSE algorithm name.
pub(crate) fn signing_alg(text: &str) -> Result<SigningAlg, StoreError> {
    SigningAlg::parse(text).ok_or(StoreError::Corrupt("signing_key.alg"))
}
