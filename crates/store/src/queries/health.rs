//! [`Store`] itself: readiness and the backend's name.

use async_trait::async_trait;
use portcullis_core::store::{Store, StoreError};

use super::backend::{self, DbStore};
use super::error::from_sqlx;

#[async_trait]
impl Store for DbStore {
    async fn check_ready(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(self.reader())
            .await
            .map_err(from_sqlx)?;
        // Reads alone are not enough: a database on a full disk (or a Postgres that failed
        // over to a read-only standby) still answers them while every sign-in, refresh
        // and revocation fails. A replica that cannot write must leave the load balancer.
        sqlx::query(
            "update store_singleton set touched = touched + 1 \
             where store_singleton_id = 'readiness_probe'",
        )
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        backend::NAME
    }
}
