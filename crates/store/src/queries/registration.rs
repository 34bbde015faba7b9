//! [`InitialAccessTokenStore`] over `initial_access_token`: RFC 7591 §3 initial access
//! tokens, stored and looked up by their SHA-256 only.

use async_trait::async_trait;
use portcullis_core::model::InitialAccessToken;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{InitialAccessTokenStore, StoreError};

use super::backend::DbStore;
use super::convert::{opt_ts, secret_hash};
use super::error::from_sqlx;

#[derive(sqlx::FromRow)]
struct InitialAccessTokenRow {
    token_hash: Vec<u8>,
    description: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
}

impl TryFrom<InitialAccessTokenRow> for InitialAccessToken {
    type Error = StoreError;

    fn try_from(row: InitialAccessTokenRow) -> Result<Self, Self::Error> {
        Ok(InitialAccessToken {
            token_hash: secret_hash(&row.token_hash, "initial_access_token.token_hash")?,
            description: row.description,
            created_at: portcullis_core::Timestamp(row.created_at),
            expires_at: opt_ts(row.expires_at),
        })
    }
}

#[async_trait]
impl InitialAccessTokenStore for DbStore {
    async fn create_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into initial_access_token (token_hash, description, created_at, expires_at) \
             values ($1, $2, $3, $4)",
        )
        .bind(token.token_hash.as_bytes())
        .bind(&token.description)
        .bind(token.created_at.0)
        .bind(token.expires_at.map(|t| t.0))
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn find_initial_access_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<InitialAccessToken>, StoreError> {
        sqlx::query_as::<_, InitialAccessTokenRow>(
            "select token_hash, description, created_at, expires_at \
             from initial_access_token where token_hash = $1",
        )
        .bind(token_hash.as_bytes())
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(InitialAccessToken::try_from)
        .transpose()
    }
}
