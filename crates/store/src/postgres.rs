//! The Postgres backend: the shared queries (`queries/`) over a shared Postgres database,
//! so any number of replicas can serve the same issuer, plus what only Postgres needs. The
//! schema lives in `migrations/postgres/` and is logically identical to the SQLite one.
//!
//! Transactions run at Postgres's default READ COMMITTED. Single-use steps do not rely on
//! a stronger level: each is a guarded `update … where <still unused> returning …`, and a
//! concurrent writer of the same row blocks on its row lock and then re-evaluates the
//! guard against the committed version.

use std::time::Duration;

use portcullis_core::Timestamp;
use portcullis_core::model::RefreshToken;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{StoreError, constraints};
use sqlx::Connection as _;
use sqlx::error::DatabaseError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

/// The sqlx database type the shared queries are compiled for here.
pub(crate) type Db = Postgres;
/// Its row type.
pub(crate) type DbRow = sqlx::postgres::PgRow;
/// Its connection type.
pub(crate) type DbConnection = sqlx::PgConnection;
/// The store type the shared queries implement the traits for here.
pub(crate) type DbStore = PgStore;
/// What [`portcullis_core::store::Store::backend`] reports.
pub(crate) const NAME: &str = "postgres";

/// `collate "C"`: byte order, as SQLite sorts, so both backends list alike whatever the
/// database's locale.
macro_rules! byte_order {
    () => {
        " collate \"C\""
    };
}

/// Rows read to decide a write are locked until the transaction ends, so a concurrent
/// writer of the same rows waits and then reads what this one wrote.
macro_rules! for_update {
    () => {
        " for update"
    };
}

/// Replicas purging at the same time split the candidate rows instead of queueing
/// behind each other's row locks.
macro_rules! skip_locked {
    () => {
        " for update skip locked"
    };
}

#[path = "queries/queries.rs"]
mod queries;

use queries::error::from_sqlx;
use queries::refresh_tokens::{RefreshTokenRow, refresh_columns};

/// How long a request waits for a pooled connection before failing; short, so an
/// exhausted pool or unreachable database surfaces as an error instead of a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle longer than this is pinged before use. Connections die while
/// idle (a database restart or failover, a proxy's idle timeout), and a ping then costs
/// one round trip instead of a failed request; a connection back in use within this
/// window was just working, and pinging it would double the round trips of every
/// one-query request (sqlx pings on every acquire by default).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// `audit_event_seq` is an identity column: it orders events of the same second.
pub(crate) const INSERT_AUDIT_EVENT: &str = "insert into audit_event \
     (audit_event_id, occurred_at, actor, action, target, ip, detail) \
     values ($1, $2, $3, $4, $5, $6, $7)";

/// The Postgres implementation of [`portcullis_core::store::Store`]; cheap to clone (it
/// wraps a connection pool).
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
            .after_release(|conn, _| Box::pin(crate::is_outside_transaction(conn)))
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

    /// Where reads go, and `writer` a connection for writes: from the same pool, since
    /// Postgres runs readers and writers side by side.
    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn writer(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.pool.acquire().await.map_err(from_sqlx)
    }

    /// A write transaction (READ COMMITTED; see the module docs).
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(from_sqlx)
    }

    /// The guarded rotation (contract: `SqliteStore::rotate`), as one statement.
    async fn rotate(
        &self,
        old_hash: &SecretHash,
        successor: &RefreshToken,
        now: Timestamp,
    ) -> Result<Option<RefreshToken>, StoreError> {
        // One statement, so one round trip and atomic without a transaction: the guarded
        // mark, the successor insert and the grant's `last_used_at` all happen, or none.
        //
        // Exactly one concurrent rotation wins: a rotation that blocks on another's locks
        // re-checks the guard against the committed row once they are released (READ
        // COMMITTED), finds `rotated_at` set and matches nothing, so its successor and
        // touch (which read `old`) write nothing either.
        //
        // The grant row is locked (`for no key update`, the lock the touch takes anyway)
        // while the guard is evaluated, before the token row: the order `revoke_grant`
        // takes them in (grant, then its tokens). Locking the token first and the grant
        // only in the touch deadlocks against a concurrent revocation of the grant (the
        // conformance case racing the two shows it); in this order they serialise, and
        // a rotation that waited re-reads `revoked_at` once the revocation commits.
        let rotation = sqlx::query_as::<_, RefreshTokenRow>(concat!(
            "with old as (\
                 update refresh_token set rotated_at = $2 \
                 where token_hash = $1 and revoked_at is null and rotated_at is null \
                 and expires_at > $2 and idle_expires_at > $2 \
                 and exists (select 1 from oauth_grant \
                             where oauth_grant.grant_id = refresh_token.grant_id \
                             and oauth_grant.revoked_at is null \
                             for no key update) \
                 returning ",
            refresh_columns!(),
            "), successor as (\
                 insert into refresh_token (",
            refresh_columns!(),
            ") select $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 from old\
             ), touched as (\
                 update oauth_grant set last_used_at = $2 from old \
                 where oauth_grant.grant_id = old.grant_id\
             ) select ",
            refresh_columns!(),
            " from old"
        ))
        .bind(old_hash.as_bytes())
        .bind(now.0);
        let rotated = bind_refresh_token!(rotation, successor)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        rotated.map(RefreshToken::try_from).transpose()
    }
}

/// The unique constraints callers tell apart, by the names the migration declares.
const NAMED: &[&str] = &[
    constraints::USER_USERNAME,
    constraints::CLIENT_PKEY,
    constraints::KEYRING_BOOTSTRAP,
    constraints::SIGNING_KEY_PKEY,
];

/// The declared name of the unique constraint a violation reports: Postgres names it.
pub(crate) fn constraint_of(error: &dyn DatabaseError) -> &'static str {
    constraint_of_name(error.constraint())
}

fn constraint_of_name(name: Option<&str>) -> &'static str {
    NAMED
        .iter()
        .find(|known| Some(**known) == name)
        .map_or(constraints::OTHER, |known| known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_constraint_names_pass_through() {
        assert_eq!(
            constraint_of_name(Some("user_account_username_key")),
            constraints::USER_USERNAME
        );
        assert_eq!(
            constraint_of_name(Some("keyring_bootstrap_pkey")),
            constraints::KEYRING_BOOTSTRAP
        );
        assert_eq!(constraint_of_name(Some("consent_pkey")), constraints::OTHER);
        assert_eq!(constraint_of_name(None), constraints::OTHER);
    }
}
