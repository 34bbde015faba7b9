//! The Postgres store: every `portcullis_core::store` trait over a shared Postgres
//! database, so any number of replicas can serve the same issuer. The schema lives in
//! `migrations/postgres/` and is logically identical to the SQLite one; all SQL of this
//! backend lives here.
//!
//! Transactions run at Postgres's default READ COMMITTED. Single-use steps do not rely on
//! a stronger level: each is a guarded `update … where <still unused> returning …`, and a
//! concurrent writer of the same row blocks on its row lock and then re-evaluates the
//! guard against the committed version.

use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::store::{Store, StoreError};
use sqlx::Connection as _;
use sqlx::postgres::{PgPool, PgPoolOptions};

mod audit;
mod clients;
mod codes;
mod convert;
mod error;
mod grants;
mod keys;
mod purge;
mod refresh_tokens;
mod registration;
mod sessions;
mod users;

#[cfg(test)]
mod tests;

use error::from_sqlx;

/// How long a request waits for a pooled connection before failing; short, so an
/// exhausted pool or unreachable database surfaces as an error instead of a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle longer than this is pinged before use. Connections die while
/// idle (a database restart or failover, a proxy's idle timeout), and a ping then costs
/// one round trip instead of a failed request; a connection back in use within this
/// window was just working, and pinging it would double the round trips of every
/// one-query request (sqlx pings on every acquire by default).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The Postgres implementation of [`Store`]; cheap to clone (it wraps a connection pool).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db?…`) with at most
    /// `max_connections` connections, failing if it cannot be reached. Does not run
    /// migrations; see [`PgStore::migrate`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await
            .map_err(from_sqlx)?;
        Ok(PgStore { pool })
    }

    /// Applies every pending migration from `migrations/postgres/` (embedded at build
    /// time). Running it again is a no-op. The migrator holds a Postgres advisory lock
    /// while it runs, so replicas starting together apply each migration exactly once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../../migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))
    }

    /// Closes every connection; later calls fail. For orderly shutdown and tests.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
