//! The Portcullis store: every `portcullis_core::store` trait over Postgres (the shared
//! production store) and embedded SQLite (the zero-setup default), with ONE text for every
//! query and its row mapping. All SQL of the project lives in this crate.
//!
//! `queries/` holds that text. It is compiled twice, once inside [`sqlite`] and once
//! inside [`postgres`] (each includes it with `#[path]`), against the sqlx types and the
//! few dialect items the including module defines; decision record 0006 says why this
//! shape and not a generic one. What truly differs between the databases lives only in
//! those two files:
//! - how a write transaction starts (`begin immediate` on SQLite's single write
//!   connection, READ COMMITTED on Postgres) and where reads and writes go;
//! - how a unique violation names its constraint;
//! - the refresh rotation (one CTE statement on Postgres, a transaction on SQLite);
//! - `audit_event_seq` (an identity column on Postgres, `max + 1` on SQLite);
//! - `byte_order!` (`collate "C"`), `for_update!` (row locks where Postgres needs them and
//!   SQLite's write lock already serialises) and `skip_locked!` (purge batches), spliced
//!   into otherwise shared statements.
//!
//! Migrations stay separate, one folder per backend (`migrations/sqlite/`,
//! `migrations/postgres/`), logically identical.

#![expect(
    clippy::duplicate_mod,
    reason = "queries/ is included once per backend on purpose (decision record 0006)"
)]

/// A column list as one string literal, `a, b, c`, each name prefixed with the table alias
/// `$t` (`"g."`, or `""` for none). The row types' `*_columns!` lists are built with it,
/// so a join can name each table's columns unambiguously.
macro_rules! column_list {
    ($t:literal; $first:ident $(, $rest:ident)* $(,)?) => {
        concat!($t, stringify!($first) $(, ", ", $t, stringify!($rest))*)
    };
}

/// Binds `$token`'s fields as the next ten parameters, in `refresh_columns` order (the
/// insert and a rotation's successor insert bind the same columns).
macro_rules! bind_refresh_token {
    ($query:expr, $token:expr) => {
        $query
            .bind($token.token_hash.as_bytes())
            .bind($token.grant_id.0)
            .bind($token.client_id.as_str())
            .bind($token.scope.to_string())
            .bind($token.parent_hash.as_ref().map(|h| h.as_bytes()))
            .bind($token.created_at.0)
            .bind($token.expires_at.0)
            .bind($token.idle_expires_at.0)
            .bind($token.rotated_at.map(|t| t.0))
            .bind($token.revoked_at.map(|t| t.0))
    };
}

mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The Postgres pool's `after_release` check: a connection that comes back to the pool
/// still inside a transaction is closed instead of reused. That happens when a rollback
/// fails (the connection broke part-way, or the database had already ended the
/// transaction itself): sqlx then keeps counting the connection as inside a transaction,
/// and every later `begin` on it would fail until the process restarted. (SQLite's one
/// write connection guards itself the same way: see `sqlite::WriteTx`.)
///
/// A dropped transaction queues its rollback on the connection; the ping makes sure that
/// rollback has run before the state is read.
async fn is_outside_transaction<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!(
            "a database connection came back from a failed transaction in an unknown state: \
             closing it"
        );
        return Ok(false);
    }
    Ok(true)
}
