//! [`PurgeStore`]: bounded deletion of rows that can no longer matter. Each table is
//! trimmed by at most `batch` rows per call, so one pass never holds locks (SQLite's single
//! write lock above all) long enough to stall logins and token requests. Where the
//! database can, the candidate rows are picked `for update skip locked` (`skip_locked!`),
//! so replicas purging at the same time split the work instead of queueing.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::store::{PurgeReport, PurgeStore, StoreError};

use super::backend::DbStore;
use super::error::from_sqlx;

impl DbStore {
    async fn purge(
        &self,
        sql: &'static str,
        now: Timestamp,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(sql)
            .bind(now.0)
            .bind(i64::from(batch))
            .execute(&mut *self.writer().await?)
            .await
            .map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl PurgeStore for DbStore {
    async fn purge_expired(&self, now: Timestamp, batch: u32) -> Result<PurgeReport, StoreError> {
        let codes = self
            .purge(
                concat!(
                    "delete from authorization_code where code_hash in \
                     (select code_hash from authorization_code where expires_at < $1 limit $2",
                    skip_locked!(),
                    ")"
                ),
                now,
                batch,
            )
            .await?;
        let refresh_tokens = self
            .purge(
                concat!(
                    "delete from refresh_token where token_hash in \
                     (select token_hash from refresh_token \
                      where expires_at < $1 or idle_expires_at < $1 limit $2",
                    skip_locked!(),
                    ")"
                ),
                now,
                batch,
            )
            .await?;
        let sessions = self
            .purge(
                concat!(
                    "delete from browser_session where session_id in \
                     (select session_id from browser_session \
                      where ended_at is not null or expires_at < $1 or idle_expires_at < $1 \
                      limit $2",
                    skip_locked!(),
                    ")"
                ),
                now,
                batch,
            )
            .await?;
        let revoked_token_ids = self
            .purge(
                concat!(
                    "delete from revoked_token_id where jti in \
                     (select jti from revoked_token_id where expires_at < $1 limit $2",
                    skip_locked!(),
                    ")"
                ),
                now,
                batch,
            )
            .await?;
        let login_throttles = self
            .purge(
                concat!(
                    "delete from login_throttle where throttle_key in \
                     (select throttle_key from login_throttle where expires_at < $1 limit $2",
                    skip_locked!(),
                    ")"
                ),
                now,
                batch,
            )
            .await?;
        Ok(PurgeReport {
            codes,
            refresh_tokens,
            sessions,
            revoked_token_ids,
            login_throttles,
        })
    }
}
