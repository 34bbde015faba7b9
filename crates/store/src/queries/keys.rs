//! [`SigningKeyStore`] over `signing_key` and the one-row `keyring_bootstrap` marker.
//! Every replica must publish and sign with the same keys, so the first keyring is
//! claimed through a unique row rather than "insert if the table is empty", which two
//! replicas starting together could both see as true.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::model::SigningKeyRecord;
use portcullis_core::store::{SigningKeyStore, StoreError};

use super::backend::{DbConnection, DbStore};
use super::convert::{opt_ts, signing_alg};
use super::error::from_sqlx;

macro_rules! key_columns {
    () => {
        "kid, alg, sealed_private_key, created_at, activates_at, retires_at"
    };
}

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    alg: String,
    sealed_private_key: Vec<u8>,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
}

impl TryFrom<SigningKeyRow> for SigningKeyRecord {
    type Error = StoreError;

    fn try_from(row: SigningKeyRow) -> Result<Self, Self::Error> {
        Ok(SigningKeyRecord {
            kid: row.kid,
            alg: signing_alg(&row.alg)?,
            sealed_private_key: row.sealed_private_key,
            created_at: Timestamp(row.created_at),
            activates_at: Timestamp(row.activates_at),
            retires_at: opt_ts(row.retires_at),
        })
    }
}

async fn insert(conn: &mut DbConnection, key: &SigningKeyRecord) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "insert into signing_key (",
        key_columns!(),
        ") values ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(&key.kid)
    .bind(key.alg.as_str())
    .bind(&key.sealed_private_key)
    .bind(key.created_at.0)
    .bind(key.activates_at.0)
    .bind(key.retires_at.map(|t| t.0))
    .execute(conn)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

#[async_trait]
impl SigningKeyStore for DbStore {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query_as::<_, SigningKeyRow>(concat!(
            "select ",
            key_columns!(),
            " from signing_key order by created_at, activates_at, kid"
        ))
        .fetch_all(self.reader())
        .await
        .map_err(from_sqlx)?
        .into_iter()
        .map(SigningKeyRecord::try_from)
        .collect()
    }

    async fn bootstrap_signing_keys(&self, keys: &[SigningKeyRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The marker goes first: a second caller fails here with the
        // keyring_bootstrap_pkey conflict and its transaction writes nothing.
        sqlx::query("insert into keyring_bootstrap (keyring_bootstrap_id) values (1)")
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        for key in keys {
            insert(&mut tx, key).await?;
        }
        tx.commit().await.map_err(from_sqlx)?;
        Ok(())
    }

    async fn rotate_signing_key(
        &self,
        next: &SigningKeyRecord,
        retire_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // Retire before inserting, so `next` itself is not caught by the update.
        sqlx::query("update signing_key set retires_at = $2 where alg = $1 and retires_at is null")
            .bind(next.alg.as_str())
            .bind(retire_at.0)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        insert(&mut tx, next).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(())
    }
}
