//! [`PurgeStore`]: bounded deletion of rows that can no longer matter. Each table is
//! trimmed by at most `batch` rows per call, so no pass holds locks for long; the
//! candidate rows are picked `for update skip locked`, so replicas purging at the same
//! time split the work instead of queueing behind each other.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::store::{PurgeReport, PurgeStore, StoreError};

use crate::PgStore;
use crate::error::from_sqlx;

impl PgStore {
    async fn purge(
        &self,
        sql: &'static str,
        now: Timestamp,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(sql)
            .bind(now.0)
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl PurgeStore for PgStore {
    async fn purge_expired(&self, now: Timestamp, batch: u32) -> Result<PurgeReport, StoreError> {
        let codes = self
            .purge(
                "delete from authorization_code where code_hash in \
                 (select code_hash from authorization_code where expires_at < $1 limit $2 \
                 for update skip locked)",
                now,
                batch,
            )
            .await?;
        let refresh_tokens = self
            .purge(
                "delete from refresh_token where token_hash in \
                 (select token_hash from refresh_token \
                  where expires_at < $1 or idle_expires_at < $1 limit $2 \
                  for update skip locked)",
                now,
                batch,
            )
            .await?;
        let sessions = self
            .purge(
                "delete from browser_session where session_id in \
                 (select session_id from browser_session \
                  where ended_at is not null or expires_at < $1 or idle_expires_at < $1 \
                  limit $2 for update skip locked)",
                now,
                batch,
            )
            .await?;
        let revoked_token_ids = self
            .purge(
                "delete from revoked_token_id where jti in \
                 (select jti from revoked_token_id where expires_at < $1 limit $2 \
                 for update skip locked)",
                now,
                batch,
            )
            .await?;
        Ok(PurgeReport {
            codes,
            refresh_tokens,
            sessions,
            revoked_token_ids,
        })
    }
}
