//! The embedded SQLite store: every `portcullis_core::store` trait over one SQLite file,
//! so a single binary runs with zero setup. The schema lives in `migrations/sqlite/` and
//! is logically identical to the Postgres one; all SQL of this backend lives here.
//!
//! SQLite runs one writer at a time. Multi-statement writes therefore open their
//! transaction with `begin immediate`, taking the write lock up front: a deferred
//! transaction that reads first and writes later can fail with `SQLITE_BUSY_SNAPSHOT`
//! when another connection commits in between, which `busy_timeout` cannot retry.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::store::{Store, StoreError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

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

/// How long a connection waits for another writer's lock before failing with
/// `SQLITE_BUSY`; generous, because every write here is short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a transaction that holds the write lock from its first statement (see the
/// module docs for why a deferred transaction is not enough).
const BEGIN_IMMEDIATE: &str = "begin immediate";

/// The SQLite implementation of [`Store`]; cheap to clone (it wraps a connection pool).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` — `sqlite:///abs/path.db` or
    /// `sqlite://relative.db` — in WAL mode with foreign keys enforced, with at most
    /// `max_connections` connections. Does not run migrations; see [`SqliteStore::migrate`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(from_sqlx)?
            .create_if_missing(true)
            // WAL lets readers proceed while one writer commits.
            .journal_mode(SqliteJournalMode::Wal)
            // Cascading deletes (`delete_client`) depend on this; SQLite defaults it off.
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // In WAL mode NORMAL is still corruption-safe; only the last commits may be
            // lost on power failure, not on a process crash.
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // A connection to an embedded file cannot drop the way a network one can, so
            // the ping sqlx sends on every acquire by default would only add a trip
            // through the connection's worker thread to every query.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(from_sqlx)?;
        Ok(SqliteStore { pool })
    }

    /// Applies every pending migration from `migrations/sqlite/` (embedded at build time).
    /// Running it again is a no-op.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../../migrations/sqlite")
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
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
