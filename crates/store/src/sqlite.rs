//! The embedded SQLite backend: the shared queries (`queries/`) over one SQLite file, so a
//! single binary runs with zero setup, plus what only SQLite needs. The schema lives in
//! `migrations/sqlite/` and is logically identical to the Postgres one.
//!
//! SQLite runs one writer at a time. Left to itself, every connection that wants to
//! write waits in SQLite's busy handler, which sleeps in growing steps: under load writers
//! then wake late and out of order (a p99 of 80 ms at 8 concurrent refresh chains, where
//! the p50 was 2 ms). So every write of this store goes through ONE connection held behind
//! a fair (FIFO) async mutex, the [`Writer`]: writers wait for it in arrival order, woken
//! the moment it is free, without sleeping; reads go to a pool of read-only connections,
//! which WAL lets run in parallel with the writer. `busy_timeout` still covers the one
//! case the queue cannot: another process (the `portcullis` CLI) writing the same file.
//!
//! The write connection lives outside any pool on purpose: a pool pings every connection
//! it gets back, one more trip through the connection's worker thread inside the section
//! every writer queues for. A write transaction ([`WriteTx`]) that does not end in a
//! commit or rollback (an error part-way, a cancelled request, a commit that failed) takes
//! the connection with it: it is closed, which rolls back whatever SQLite still had open,
//! and the next writer opens a fresh one. So no writer can inherit a transaction in an
//! unknown state (SQLite rolls some back by itself, e.g. on "database or disk is full").
//!
//! Multi-statement writes open their transaction with `begin immediate`, taking the write
//! lock up front: a deferred transaction that reads first and writes later can fail with
//! `SQLITE_BUSY_SNAPSHOT` when another process commits in between, which `busy_timeout`
//! cannot retry.
//!
//! Two things keep the write connection's queue short under load, where it is the
//! bottleneck (one connection, one worker thread):
//! - Refresh rotations, the one write on a hot path, commit in groups ([`run_rotations`]):
//!   every rotation waiting when the connection is free goes in one script, one
//!   transaction, one WAL append, each with the guards it has alone.
//! - WAL checkpoints run on a connection of their own ([`run_checkpoints`]), not on the
//!   committing writer, whose `fsync`s every other writer would otherwise wait behind.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use portcullis_core::Timestamp;
use portcullis_core::model::RefreshToken;
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{StoreError, constraints};
use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, Executor as _, FromRow as _, Row as _, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot, watch};

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

/// SQLite has no row locks: a write transaction holds the database's one write lock from
/// its first statement (`begin immediate`), which serialises more than `for update` would.
macro_rules! for_update {
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
use queries::refresh_tokens::{RefreshTokenRow, refresh_columns};

/// How long a connection waits for another process's write lock before failing with
/// `SQLITE_BUSY`; generous, because every write here is short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write waits for its turn on the write connection before failing: far above
/// any queue a healthy server builds, so only a stuck database surfaces as an error.
const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// How far the WAL may grow (in pages) before the writer checkpoints it itself, should
/// the checkpointer fall behind; SQLite's default, 1,000, would have the writer do it.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 16_000;

/// The least time between two checkpoints: each costs a few `fsync`s, and one copies
/// every frame committed since the last.
const CHECKPOINT_PACE: Duration = Duration::from_millis(200);

/// Opens a transaction that holds the write lock from its first statement (see the
/// module docs for why a deferred transaction is not enough).
const BEGIN_IMMEDIATE: &str = "begin immediate";

/// The one write connection and how to open another (see the module docs).
#[derive(Debug)]
struct Writer {
    /// `None` until first use, and after a transaction left it in an unknown state.
    conn: Arc<Mutex<Option<SqliteConnection>>>,
    options: SqliteConnectOptions,
    /// Counts writes, for the checkpointer ([`run_checkpoints`]) to wake on.
    writes: watch::Sender<u64>,
}

/// The write connection, held: every other writer waits until this is dropped.
pub(crate) struct WriteGuard(OwnedMutexGuard<Option<SqliteConnection>>);

impl Deref for WriteGuard {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        // `Writer::lock` only hands out a guard holding a connection.
        match self.0.as_ref() {
            Some(conn) => conn,
            None => unreachable!("a WriteGuard always holds a connection"),
        }
    }
}

impl WriteGuard {
    /// Closes the connection when its transaction state is no longer known; the next
    /// writer opens a fresh one.
    fn discard(&mut self) {
        self.0.take();
    }
}

impl DerefMut for WriteGuard {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self.0.as_mut() {
            Some(conn) => conn,
            None => unreachable!("a WriteGuard always holds a connection"),
        }
    }
}

/// A write transaction on the write connection. Ends with [`WriteTx::commit`] or
/// [`WriteTx::rollback`]; dropped any other way, it closes the connection (see the module
/// docs).
pub(crate) struct WriteTx {
    guard: Option<WriteGuard>,
}

impl WriteTx {
    /// A transaction that one multi-statement script opens and commits itself: held
    /// like any other, so that a script that fails or is cancelled part-way closes the
    /// connection; released with [`WriteTx::script_committed`].
    fn ended_by_script(guard: WriteGuard) -> WriteTx {
        WriteTx { guard: Some(guard) }
    }

    /// Releases the write connection after its script ran to the end, `commit` included.
    fn script_committed(mut self) {
        self.guard.take();
    }

    /// Commits; on failure the connection is discarded.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.finish("commit").await
    }

    /// Rolls back; on failure the connection is discarded.
    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.finish("rollback").await
    }

    async fn finish(&mut self, statement: &'static str) -> Result<(), sqlx::Error> {
        let Some(mut guard) = self.guard.take() else {
            return Ok(());
        };
        match guard.execute(statement).await {
            Ok(_) => Ok(()),
            Err(error) => {
                // SQLite may already have ended the transaction itself; either way its
                // state is not known any more.
                guard.discard();
                Err(error)
            }
        }
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self.guard.as_ref() {
            Some(guard) => guard,
            None => unreachable!("a WriteTx is used only until it ends"),
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self.guard.as_mut() {
            Some(guard) => guard,
            None => unreachable!("a WriteTx is used only until it ends"),
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            // Ended neither way (an error part-way, a cancelled request): closing the
            // connection is the one rollback that cannot fail or be skipped.
            if let Some(conn) = guard.0.take() {
                tracing::debug!("a write transaction was abandoned: closing its connection");
                drop(conn);
            }
        }
    }
}

impl Writer {
    /// Waits for the write connection (in arrival order), opening it if needed.
    async fn lock(&self) -> Result<WriteGuard, StoreError> {
        let mut guard = tokio::time::timeout(WRITE_QUEUE_TIMEOUT, self.conn.clone().lock_owned())
            .await
            .map_err(|_| {
                StoreError::Database("timed out waiting for the write connection".into())
            })?;
        if guard.is_none() {
            let conn = SqliteConnection::connect_with(&self.options)
                .await
                .map_err(from_sqlx)?;
            *guard = Some(conn);
        }
        // A write is about to append to the WAL: the checkpointer copies it back later.
        self.writes
            .send_modify(|count| *count = count.wrapping_add(1));
        Ok(WriteGuard(guard))
    }
}

/// SQLite has no identity columns; max + 1 inside the insert is race-free because the
/// statement holds the database's single write lock.
pub(crate) const INSERT_AUDIT_EVENT: &str = "insert into audit_event \
     (audit_event_id, audit_event_seq, occurred_at, actor, action, target, ip, detail) \
     values ($1, (select coalesce(max(audit_event_seq), 0) + 1 from audit_event), \
     $2, $3, $4, $5, $6, $7)";

/// The SQLite implementation of [`portcullis_core::store::Store`]; cheap to clone (it
/// wraps a connection pool and the shared write connection).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Read-only connections, as many as configured.
    reader: SqlitePool,
    /// The one connection every write goes through.
    writer: Arc<Writer>,
    /// Refresh rotations, committed in batches by [`run_rotations`] on `writer`.
    rotations: mpsc::Sender<PendingRotation>,
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
        if options.get_filename().to_str() == Some(":memory:") {
            // Every connection to `:memory:` is a database of its own, so readers would
            // never see what the writer wrote.
            return Err(StoreError::Database(
                "the embedded store needs a database file, not :memory:".into(),
            ));
        }
        // The writer opens the file first, so it creates it and switches it to WAL (which
        // the file remembers); WAL lets readers proceed while the writer commits.
        let (writes, written) = watch::channel(0);
        let writer = Writer {
            conn: Arc::new(Mutex::new(None)),
            options: options
                .clone()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Checkpoints are the checkpointer's job; the writer does one itself only
                // if the WAL grows this far regardless (module docs).
                .pragma(
                    "wal_autocheckpoint",
                    WRITER_AUTOCHECKPOINT_PAGES.to_string(),
                ),
            writes,
        };
        drop(writer.lock().await?);
        // Ends when the writer (the last sender) is dropped with the last store clone.
        tokio::spawn(run_checkpoints(options.clone(), written));
        let reader = pool_options(max_connections.max(1))
            // Read-only at the SQLite level: a write routed to a reader by mistake fails
            // at once (and in the conformance suite) instead of bypassing the queue.
            .connect_with(options.read_only(true))
            .await
            .map_err(from_sqlx)?;
        let writer = Arc::new(writer);
        let (rotations, queue) = mpsc::channel(ROTATION_QUEUE_CAPACITY);
        // Ends when the last clone of this store (the last sender) is dropped.
        tokio::spawn(run_rotations(Arc::clone(&writer), queue));
        Ok(SqliteStore {
            reader,
            writer,
            rotations,
        })
    }

    /// Applies every pending migration from `migrations/sqlite/` (embedded at build time).
    /// Running it again is a no-op.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&mut *writer)
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))
    }

    /// Closes every connection; later calls fail. For orderly shutdown and tests.
    pub async fn close(&self) {
        if let Some(conn) = self.writer.conn.lock().await.take() {
            conn.close().await.ok();
        }
        self.reader.close().await;
    }

    /// Where reads go.
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// The write connection, for single-statement writes (once it is free).
    async fn writer(&self) -> Result<WriteGuard, StoreError> {
        self.writer.lock().await
    }

    /// A write transaction on the write connection, holding SQLite's write lock.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let mut guard = self.writer.lock().await?;
        if let Err(error) = guard.execute(BEGIN_IMMEDIATE).await {
            guard.discard();
            return Err(from_sqlx(error));
        }
        Ok(WriteTx { guard: Some(guard) })
    }

    /// The guarded rotation behind `rotate_refresh_token` (each backend has its own; this
    /// is the contract both keep): marks the token rotated, inserts `successor` and
    /// touches the grant, if the token is live and not rotated yet. Returns the token as this call left it, or `None`
    /// when nothing was written. Here it waits its turn in the store's rotation queue
    /// ([`run_rotations`]).
    async fn rotate(
        &self,
        old_hash: &SecretHash,
        successor: &RefreshToken,
        now: Timestamp,
    ) -> Result<Option<RefreshToken>, StoreError> {
        let (outcome, receive) = oneshot::channel();
        let rotation = PendingRotation {
            old_hash: old_hash.clone(),
            successor: successor.clone(),
            now,
            outcome,
        };
        let stopped = || StoreError::Database("the refresh rotation queue has stopped".into());
        self.rotations.send(rotation).await.map_err(|_| stopped())?;
        receive.await.map_err(|_| stopped())?
    }
}

/// The most refresh rotations one transaction commits: bounds the script (12 parameters
/// each; SQLite allows 32,766) and how long one transaction holds the write lock.
const MAX_ROTATION_BATCH: usize = 32;

/// How many rotations may wait for the [`RotationQueue`] before a caller waits to enqueue.
const ROTATION_QUEUE_CAPACITY: usize = 1024;

/// One refresh rotation waiting for its turn, and where its outcome goes.
struct PendingRotation {
    old_hash: SecretHash,
    successor: RefreshToken,
    now: Timestamp,
    outcome: oneshot::Sender<Result<Option<RefreshToken>, StoreError>>,
}

/// The statements of the `k`-th rotation of a batch, its parameters numbered from
/// `12 k + 1`: mark the token rotated if it is live and not rotated yet, returning it with its
/// place in the batch; insert the successor and touch the grant, each only if the
/// statement before changed a row (`changes()`), so a guard that matched nothing writes
/// nothing.
fn rotation_statements(k: usize) -> String {
    let p = |n: usize| format!("${}", 12 * k + n);
    let successor: Vec<String> = (3..=12).map(p).collect();
    format!(
        "update refresh_token set rotated_at = {now} \
         where token_hash = {old} and revoked_at is null and rotated_at is null \
         and expires_at > {now} and idle_expires_at > {now} \
         and exists (select 1 from oauth_grant \
                     where oauth_grant.grant_id = refresh_token.grant_id \
                     and oauth_grant.revoked_at is null) \
         returning {columns}, {k} as batch_index; \
         insert into refresh_token ({columns}) select {successor} where changes() = 1; \
         update oauth_grant set last_used_at = {now} \
         where changes() = 1 \
         and grant_id = (select grant_id from refresh_token where token_hash = {old}); ",
        old = p(1),
        now = p(2),
        columns = refresh_columns!(),
        successor = successor.join(", "),
    )
}

/// One script per batch size: `begin immediate`, each rotation's statements in arrival
/// order, `commit`. Built once; sqlx then keeps each prepared on the write connection.
static ROTATION_SCRIPTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (1..=MAX_ROTATION_BATCH)
        .map(|n| {
            let mut script = String::from("begin immediate; ");
            (0..n).for_each(|k| script.push_str(&rotation_statements(k)));
            script.push_str("commit");
            script
        })
        .collect()
});

/// Runs every refresh rotation of this store, in batches (group commit).
///
/// Under load nearly every rotation waits behind another for the one write connection;
/// run one at a time, each pays its own transaction, its own WAL append and its own trip
/// through the connection's worker thread, and those are what the next one waits for.
/// This task takes every rotation waiting when it is free (up to [`MAX_ROTATION_BATCH`])
/// and runs them as ONE script in ONE transaction, in arrival order, each with the same
/// guards as alone: so each outcome is what it would have been one after the other, and
/// a rotation waits for at most one batch before its own. It runs apart from the
/// requests, so a request that goes away cannot cut a batch short for the others.
async fn run_rotations(writer: Arc<Writer>, mut queue: mpsc::Receiver<PendingRotation>) {
    let mut batch = Vec::with_capacity(MAX_ROTATION_BATCH);
    while queue.recv_many(&mut batch, MAX_ROTATION_BATCH).await > 0 {
        match rotate_batch(&writer, &batch).await {
            Ok(outcomes) => {
                for (rotation, outcome) in batch.drain(..).zip(outcomes) {
                    // The caller may have gone away; its rotation stands all the same.
                    rotation.outcome.send(Ok(outcome)).ok();
                }
            }
            Err(_) if batch.len() > 1 => {
                // Nothing of the batch was committed (its transaction went with the
                // connection). Each goes again alone, so that each gets its own outcome.
                for rotation in batch.drain(..) {
                    let outcome = rotate_batch(&writer, std::slice::from_ref(&rotation))
                        .await
                        .map(|mut outcomes| outcomes.pop().flatten());
                    rotation.outcome.send(outcome).ok();
                }
            }
            Err(error) => {
                if let Some(rotation) = batch.pop() {
                    rotation.outcome.send(Err(error)).ok();
                }
            }
        }
    }
}

/// Runs `batch` as one transaction; returns each rotation's token as the batch left it,
/// or `None` where nothing was written.
async fn rotate_batch(
    writer: &Writer,
    batch: &[PendingRotation],
) -> Result<Vec<Option<RefreshToken>>, StoreError> {
    let scripts: &'static Vec<String> = LazyLock::force(&ROTATION_SCRIPTS);
    let Some(script) = batch.len().checked_sub(1).and_then(|i| scripts.get(i)) else {
        return Ok(Vec::new());
    };
    let mut query = sqlx::query(script.as_str());
    for rotation in batch {
        query = query
            .bind(rotation.old_hash.as_bytes())
            .bind(rotation.now.0);
        query = bind_refresh_token!(query, rotation.successor);
    }
    // Held as a transaction: if the script fails part-way, its transaction may still be
    // open, and the connection goes with it (module docs).
    let mut tx = WriteTx::ended_by_script(writer.lock().await?);
    // `fetch_all` runs every statement, `commit` included; only the guarded updates
    // return rows.
    let rows = query.fetch_all(&mut *tx).await.map_err(from_sqlx)?;
    tx.script_committed();
    let mut outcomes: Vec<Option<RefreshToken>> = batch.iter().map(|_| None).collect();
    for row in rows {
        let index: i64 = row.try_get("batch_index").map_err(from_sqlx)?;
        let slot = usize::try_from(index)
            .ok()
            .and_then(|index| outcomes.get_mut(index))
            .ok_or_else(|| StoreError::Database("a rotation outside its batch".into()))?;
        *slot = Some(
            RefreshTokenRow::from_row(&row)
                .map_err(from_sqlx)?
                .try_into()?,
        );
    }
    Ok(outcomes)
}

/// Copies committed pages from the WAL back into the database file, on a connection of its
/// own, after writes (at most once per [`CHECKPOINT_PACE`]).
///
/// SQLite's default has the committing connection do this every 1,000 WAL pages: three
/// `fsync`s, measured at 25-30 ms here, during which every writer queued behind the one
/// write connection waits (it was the p99 of the refresh benchmark). A passive checkpoint
/// neither waits for nor blocks readers and writers, so here it blocks only its own
/// connection. Ends when the store's writer is dropped.
async fn run_checkpoints(options: SqliteConnectOptions, mut written: watch::Receiver<u64>) {
    let mut conn: Option<SqliteConnection> = None;
    let mut failing = false;
    while written.changed().await.is_ok() {
        let result = match conn.as_mut() {
            Some(conn) => Ok(conn),
            None => SqliteConnection::connect_with(&options)
                .await
                .map(|opened| conn.insert(opened)),
        };
        let result = match result {
            Ok(open) => open
                .execute("pragma wal_checkpoint(passive)")
                .await
                .map(drop),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => failing = false,
            Err(error) => {
                // Logged once per run of failures (a full disk fails every try); the
                // writer's own autocheckpoint still bounds the WAL.
                if !failing {
                    tracing::warn!(%error, "WAL checkpoint failed; retrying after later writes");
                }
                failing = true;
                conn = None;
            }
        }
        tokio::time::sleep(CHECKPOINT_PACE).await;
    }
}

fn pool_options(max_connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        // A connection to an embedded file cannot drop the way a network one can, so the
        // ping sqlx sends on every acquire by default would only add a trip through the
        // connection's worker thread to every query.
        .test_before_acquire(false)
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
