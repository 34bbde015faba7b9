//! The embedded SQLite backend: the shared queries (`queries/`) over one SQLite file, so a
//! single binary runs with zero setup, plus what only SQLite needs. The schema lives in
//! `migrations/sqlite/` and is logically identical to the Postgres one.
//!
//! SQLite runs one writer at a time. Left to itself, every connection that wants to
//! write waits in SQLite's busy handler, which sleeps in growing steps: under load writers
//! then wake late and out of order (a p99 of 80 ms at 8 concurrent refresh chains, where
//! the p50 was 2 ms). So this store keeps two pools: a `writer` pool of exactly one
//! connection, through which every write goes, and a pool of read-only `reader`
//! connections, which WAL lets run in parallel with the writer. Writers wait for the one
//! write connection in the pool's fair queue, in arrival order, without sleeping.
//! `busy_timeout` still covers the one case the queue cannot: another process (the
//! `portcullis` CLI) writing the same file.
//!
//! Multi-statement writes open their transaction with `begin immediate`, taking the write
//! lock up front: a deferred transaction that reads first and writes later can fail with
//! `SQLITE_BUSY_SNAPSHOT` when another process commits in between, which `busy_timeout`
//! cannot retry.

use std::str::FromStr;
use std::time::Duration;

use portcullis_core::Timestamp;
use portcullis_core::model::RefreshToken;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{StoreError, constraints};
use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

/// The sqlx database type the shared queries are compiled for here.
pub(crate) type Db = Sqlite;
/// Its row type.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
/// Its connection type.
pub(crate) type DbConnection = sqlx::SqliteConnection;
/// The store type the shared queries implement the traits for here.
pub(crate) type DbStore = SqliteStore;
/// What [`portcullis_core::store::Store::backend`] reports.
pub(crate) const NAME: &str = "sqlite";

/// SQLite compares text byte by byte already.
macro_rules! byte_order {
    () => {
        ""
    };
}

/// SQLite has no row locks to skip: one purge statement holds the write lock, briefly.
macro_rules! skip_locked {
    () => {
        ""
    };
}

#[path = "queries/queries.rs"]
mod queries;

use queries::error::from_sqlx;
use queries::refresh_tokens::{RefreshTokenRow, insert as insert_refresh_token, refresh_columns};

/// How long a connection waits for another process's write lock before failing with
/// `SQLITE_BUSY`; generous, because every write here is short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write waits for its turn on the write connection before failing: far above
/// any queue a healthy server builds, so only a stuck database surfaces as an error.
const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a transaction that holds the write lock from its first statement (see the
/// module docs for why a deferred transaction is not enough).
const BEGIN_IMMEDIATE: &str = "begin immediate";

/// SQLite has no identity columns; max + 1 inside the insert is race-free because the
/// statement holds the database's single write lock.
pub(crate) const INSERT_AUDIT_EVENT: &str = "insert into audit_event \
     (audit_event_id, audit_event_seq, occurred_at, actor, action, target, ip, detail) \
     values ($1, (select coalesce(max(audit_event_seq), 0) + 1 from audit_event), \
     $2, $3, $4, $5, $6, $7)";

/// The SQLite implementation of [`portcullis_core::store::Store`]; cheap to clone (it
/// wraps two connection pools).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Read-only connections, as many as configured.
    reader: SqlitePool,
    /// The one connection every write goes through.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` — `sqlite:///abs/path.db` or
    /// `sqlite://relative.db` — in WAL mode with foreign keys enforced: one write
    /// connection and at most `max_connections` read-only ones. Does not run migrations;
    /// see [`SqliteStore::migrate`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(from_sqlx)?
            // Cascading deletes (`delete_client`) depend on this; SQLite defaults it off.
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // In WAL mode NORMAL is still corruption-safe; only the last commits may be
            // lost on power failure, not on a process crash.
            .synchronous(SqliteSynchronous::Normal);
        let writer = pool_options(1)
            .acquire_timeout(WRITE_QUEUE_TIMEOUT)
            // WAL lets readers proceed while the writer commits; the writer opens the file
            // first, so it creates it and switches it to WAL (which the file remembers).
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(from_sqlx)?;
        if options.get_filename().to_str() == Some(":memory:") {
            // Every connection to `:memory:` is a database of its own: readers and the
            // writer must share the one connection.
            return Ok(SqliteStore {
                reader: writer.clone(),
                writer,
            });
        }
        let reader = pool_options(max_connections.max(1))
            // Read-only at the SQLite level: a write routed to a reader by mistake fails
            // at once (and in the conformance suite) instead of bypassing the queue.
            .connect_with(options.read_only(true))
            .await
            .map_err(from_sqlx)?;
        Ok(SqliteStore { reader, writer })
    }

    /// Applies every pending migration from `migrations/sqlite/` (embedded at build time).
    /// Running it again is a no-op.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../../migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))
    }

    /// Closes every connection; later calls fail. For orderly shutdown and tests.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Where reads go.
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Where single-statement writes go.
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction on the write connection, holding SQLite's write lock.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .map_err(from_sqlx)
    }

    /// The guarded rotation behind `rotate_refresh_token` and `retry_refresh_rotation`
    /// (each backend has its own; this is the contract both keep):
    /// marks the token rotated (keeping the first rotation's time), inserts `successor`
    /// and touches the grant, if the token is live and either not rotated yet or rotated
    /// at or after `rotated_since`. Returns the token as this call left it, or `None`
    /// when nothing was written.
    async fn rotate(
        &self,
        old_hash: &SecretHash,
        successor: &RefreshToken,
        now: Timestamp,
        rotated_since: Option<Timestamp>,
    ) -> Result<Option<RefreshToken>, StoreError> {
        let mut tx = self.begin_write().await?;
        // The transaction holds the write lock from its start, so the guard, the mark, the
        // successor insert and the grant's touch are one atomic step.
        let rotated = sqlx::query_as::<_, RefreshTokenRow>(concat!(
            "update refresh_token set rotated_at = coalesce(rotated_at, $2) \
             where token_hash = $1 and revoked_at is null \
             and (rotated_at is null or rotated_at >= $3) \
             and expires_at > $2 and idle_expires_at > $2 \
             and exists (select 1 from oauth_grant \
                         where oauth_grant.grant_id = refresh_token.grant_id \
                         and oauth_grant.revoked_at is null) \
             returning ",
            refresh_columns!()
        ))
        .bind(old_hash.as_bytes())
        .bind(now.0)
        .bind(rotated_since.map(|t| t.0))
        .fetch_optional(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        let Some(row) = rotated else {
            tx.rollback().await.map_err(from_sqlx)?;
            return Ok(None);
        };
        let old = RefreshToken::try_from(row)?;
        insert_refresh_token(&mut tx, successor).await?;
        sqlx::query("update oauth_grant set last_used_at = $2 where grant_id = $1")
            .bind(old.grant_id.0)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(Some(old))
    }
}

fn pool_options(max_connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        // A connection to an embedded file cannot drop the way a network one can, so the
        // ping sqlx sends on every acquire by default would only add a trip through the
        // connection's worker thread to every query.
        .test_before_acquire(false)
        .after_release(|conn, _| Box::pin(crate::is_outside_transaction(conn)))
}

/// SQLite reports which columns a unique index covers (`UNIQUE constraint failed:
/// user_account.username`), never the constraint's name, so the names declared in the
/// migration are recovered from the column list.
const UNIQUE_COLUMNS: &[(&str, &str)] = &[
    ("user_account.username", constraints::USER_USERNAME),
    ("client.client_id", constraints::CLIENT_PKEY),
    (
        "keyring_bootstrap.keyring_bootstrap_id",
        constraints::KEYRING_BOOTSTRAP,
    ),
    ("signing_key.kid", constraints::SIGNING_KEY_PKEY),
];

/// The declared name of the unique constraint a violation reports.
pub(crate) fn constraint_of(error: &dyn DatabaseError) -> &'static str {
    constraint_of_message(error.message())
}

fn constraint_of_message(message: &str) -> &'static str {
    let columns = message
        .rsplit_once(": ")
        .map_or("", |(_, cols)| cols.trim());
    UNIQUE_COLUMNS
        .iter()
        .find(|(cols, _)| *cols == columns)
        .map_or(constraints::OTHER, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_map_to_declared_constraint_names() {
        assert_eq!(
            constraint_of_message("UNIQUE constraint failed: user_account.username"),
            constraints::USER_USERNAME
        );
        assert_eq!(
            constraint_of_message(
                "UNIQUE constraint failed: keyring_bootstrap.keyring_bootstrap_id"
            ),
            constraints::KEYRING_BOOTSTRAP
        );
        assert_eq!(
            constraint_of_message("UNIQUE constraint failed: consent.user_id, consent.client_id"),
            constraints::OTHER
        );
        assert_eq!(constraint_of_message("something else"), constraints::OTHER);
    }
}
