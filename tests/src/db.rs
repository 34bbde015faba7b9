//! Fresh, isolated databases for tests: a SQLite file in its own temporary directory, or
//! a newly created Postgres database, one per test and removed afterwards, so no test
//! shares state with another or depends on their order.
//!
//! Postgres is found through `PORTCULLIS_TEST_POSTGRES_URL` (an admin URL allowed to
//! create databases; default [`DEFAULT_POSTGRES_URL`]). When it cannot be reached the
//! Postgres-backed test is skipped with a `SKIPPED:` line on stderr, except in CI
//! (`CI=true`), where a missing Postgres fails the test. Postgres test databases use a
//! linguistic ICU collation where the server has one, so that an ordering a store leaves
//! to the database's collation shows up as a difference from SQLite's byte order.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use portcullis_core::store::Store;
use portcullis_store::PgStore;
use portcullis_store::SqliteStore;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

/// The environment variable holding the Postgres admin URL.
pub const POSTGRES_URL_ENV: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// The Postgres admin URL used when [`POSTGRES_URL_ENV`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Pool size of the stores opened by [`TestDb::open_store`]: more than one, so concurrent
/// callers really race inside the database.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// The collation test databases get when the server supports it: a linguistic one (as
/// on most production servers, e.g. `en_US.UTF-8`), where `'Bob' < 'alice'` is false.
/// SQLite compares bytes, so any ordering a store leaves to the database's default
/// collation differs between the backends here instead of only in production.
const LINGUISTIC_COLLATION: &str = "locale_provider icu icu_locale 'en-US'";

/// How long to wait for the Postgres admin connection before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A store backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// Postgres.
    Postgres,
}

impl Backend {
    /// The name [`Store::backend`] reports for this backend.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One test's own database. Call [`TestDb::cleanup`] when done; if a test panics first,
/// dropping it still removes the database (blocking briefly on a helper thread).
#[derive(Debug)]
pub struct TestDb {
    url: String,
    kind: Kind,
    cleaned_up: bool,
}

#[derive(Debug)]
enum Kind {
    Sqlite {
        /// `None` once removed by [`TestDb::cleanup`].
        dir: Option<tempfile::TempDir>,
    },
    Postgres {
        name: String,
        admin_url: String,
    },
}

impl TestDb {
    /// A fresh database of `backend`; `Ok(None)` when the backend is Postgres and it is
    /// unreachable outside CI (the test should then return early: it has been reported
    /// as skipped). `test_name` is only used in that report.
    pub async fn create(backend: Backend, test_name: &str) -> anyhow::Result<Option<TestDb>> {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await.map(Some),
            Backend::Postgres => TestDb::postgres(test_name).await,
        }
    }

    /// A fresh SQLite database file (not yet created; the store creates it) in a new
    /// temporary directory.
    pub async fn sqlite() -> anyhow::Result<TestDb> {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-test-")
            .tempdir()
            .context("could not create a temporary directory for the SQLite test database")?;
        let path = dir.path().join("portcullis.db");
        let path = path
            .to_str()
            .context("the temporary directory's path is not UTF-8")?;
        Ok(TestDb {
            url: format!("sqlite://{path}"),
            kind: Kind::Sqlite { dir: Some(dir) },
            cleaned_up: false,
        })
    }

    /// A freshly created, empty Postgres database named `pc_test_<uuid>`.
    ///
    /// `Ok(None)` when Postgres is unreachable and this is not CI: a `SKIPPED:` line
    /// naming `test_name` has then been written to stderr. In CI an unreachable Postgres
    /// panics. Other failures (e.g. no right to create databases) are errors.
    pub async fn postgres(test_name: &str) -> anyhow::Result<Option<TestDb>> {
        let admin_url =
            std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = match connect_admin(&admin_url).await {
            Ok(admin) => admin,
            Err(error) => {
                postgres_unreachable(&admin_url, test_name, &error);
                return Ok(None);
            }
        };
        let name = format!("pc_test_{}", uuid::Uuid::new_v4().simple());
        // `name` is made here of [a-z0-9_] only, so quoting it is enough. A linguistic
        // collation where the server has one (ICU, Postgres 15+), else the default.
        let linguistic = sqlx::raw_sql(AssertSqlSafe(format!(
            r#"create database "{name}" template template0 {LINGUISTIC_COLLATION}"#
        )))
        .execute(&mut admin)
        .await;
        if linguistic.is_err() {
            sqlx::raw_sql(AssertSqlSafe(format!(r#"create database "{name}""#)))
                .execute(&mut admin)
                .await
                .with_context(|| {
                    format!(
                        "could not create test database {name} at {}",
                        redacted(&admin_url)
                    )
                })?;
        }
        // The database exists now; a failed close changes nothing for the test.
        admin.close().await.ok();
        let url = database_url(&admin_url, &name)?;
        Ok(Some(TestDb {
            url,
            kind: Kind::Postgres { name, admin_url },
            cleaned_up: false,
        }))
    }

    /// Which backend this database is for.
    pub fn backend(&self) -> Backend {
        match self.kind {
            Kind::Sqlite { .. } => Backend::Sqlite,
            Kind::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The URL to give the store (`sqlite:///tmp/…/portcullis.db` or
    /// `postgres://…/pc_test_…`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects the matching store with [`DEFAULT_MAX_CONNECTIONS`] and runs its
    /// migrations.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        self.open_store_with(DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects the matching store with a pool of `max_connections` and runs its
    /// migrations.
    pub async fn open_store_with(&self, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
        match self.kind {
            Kind::Sqlite { .. } => {
                let store = SqliteStore::connect(&self.url, max_connections)
                    .await
                    .with_context(|| format!("could not open SQLite store at {}", self.url))?;
                store
                    .migrate()
                    .await
                    .context("could not migrate the SQLite test database")?;
                Ok(Arc::new(store))
            }
            Kind::Postgres { .. } => {
                let store = PgStore::connect(&self.url, max_connections)
                    .await
                    .with_context(|| {
                        format!("could not open Postgres store at {}", redacted(&self.url))
                    })?;
                store
                    .migrate()
                    .await
                    .context("could not migrate the Postgres test database")?;
                Ok(Arc::new(store))
            }
        }
    }

    /// A handle that makes chosen writes to this database fail inside the database itself
    /// (see [`Faults`]).
    pub fn faults(&self) -> Faults {
        Faults {
            url: self.url.clone(),
            backend: self.backend(),
        }
    }

    /// Removes the database: drops the Postgres database (ending any connection still
    /// open to it) or deletes the SQLite temporary directory.
    pub async fn cleanup(mut self) -> anyhow::Result<()> {
        match &mut self.kind {
            Kind::Sqlite { dir } => {
                if let Some(dir) = dir.take() {
                    let path = dir.path().display().to_string();
                    dir.close()
                        .with_context(|| format!("could not remove test directory {path}"))?;
                }
            }
            Kind::Postgres { name, admin_url } => drop_database(admin_url, name).await?,
        }
        self.cleaned_up = true;
        Ok(())
    }
}

impl Drop for TestDb {
    /// A backstop for tests that panic before [`TestDb::cleanup`]: drops the Postgres
    /// database from a helper thread with its own runtime (this may run inside an async
    /// context, where blocking on the current runtime is not allowed). The SQLite
    /// directory removes itself.
    fn drop(&mut self) {
        if self.cleaned_up {
            return;
        }
        let Kind::Postgres { name, admin_url } = &self.kind else {
            return;
        };
        let (name, admin_url) = (name.clone(), admin_url.clone());
        let helper = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_database(&admin_url, &name))
        });
        match helper.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: test database left behind: {error:#}"),
            Err(_) => eprintln!("warning: test database left behind: cleanup thread panicked"),
        }
    }
}

/// Injected write failures, to prove that a store step failing part-way leaves nothing
/// half done and that a failed transaction does not poison the connection it ran on.
///
/// A failure is a trigger on one table and one kind of write, installed over a connection
/// of its own. On SQLite it fires `raise(rollback, …)`: SQLite itself rolls the whole
/// transaction back, exactly as it does on "database or disk is full", so the rollback the
/// store then sends finds no transaction. On Postgres it raises an exception, which aborts
/// the transaction.
#[derive(Debug, Clone)]
pub struct Faults {
    url: String,
    backend: Backend,
}

/// A kind of write a [`Faults`] trigger fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `insert`.
    Insert,
    /// `update`.
    Update,
}

impl Write {
    fn sql(self) -> &'static str {
        match self {
            Write::Insert => "insert",
            Write::Update => "update",
        }
    }
}

impl Faults {
    /// From now on every `write` of `table` fails (`table` is one of ours: a fixed name).
    pub async fn fail(&self, table: &str, write: Write) -> anyhow::Result<()> {
        let trigger = trigger_name(table, write);
        let op = write.sql();
        match self.backend {
            Backend::Sqlite => {
                self.run_sqlite(&format!(
                    "create trigger {trigger} before {op} on {table} \
                     begin select raise(rollback, 'injected fault'); end"
                ))
                .await
            }
            Backend::Postgres => {
                self.run_postgres(&format!(
                    "create or replace function pc_injected_fault() returns trigger \
                     language plpgsql as $$ begin raise exception 'injected fault'; end $$; \
                     create trigger {trigger} before {op} on {table} \
                     for each row execute function pc_injected_fault()"
                ))
                .await
            }
        }
    }

    /// Writes of `table` succeed again.
    pub async fn heal(&self, table: &str, write: Write) -> anyhow::Result<()> {
        let trigger = trigger_name(table, write);
        match self.backend {
            Backend::Sqlite => self.run_sqlite(&format!("drop trigger {trigger}")).await,
            Backend::Postgres => {
                self.run_postgres(&format!("drop trigger {trigger} on {table}"))
                    .await
            }
        }
    }

    async fn run_sqlite(&self, sql: &str) -> anyhow::Result<()> {
        run_on::<sqlx::SqliteConnection>(&self.url, sql).await
    }

    async fn run_postgres(&self, sql: &str) -> anyhow::Result<()> {
        run_on::<PgConnection>(&self.url, sql).await
    }
}

/// Runs `sql` over a connection of its own to `url`.
async fn run_on<C>(url: &str, sql: &str) -> anyhow::Result<()>
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut conn = C::connect(url)
        .await
        .context("could not connect to the test database to inject a fault")?;
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .with_context(|| format!("could not inject a fault: {sql}"))?;
    conn.close().await.ok();
    Ok(())
}

fn trigger_name(table: &str, write: Write) -> String {
    format!("pc_fault_{table}_{}", write.sql())
}

async fn connect_admin(admin_url: &str) -> anyhow::Result<PgConnection> {
    tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(admin_url))
        .await
        .with_context(|| format!("no answer within {CONNECT_TIMEOUT:?}"))?
        .map_err(anyhow::Error::from)
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = connect_admin(admin_url).await.with_context(|| {
        format!(
            "could not connect to {} to drop test database {name}",
            redacted(admin_url)
        )
    })?;
    // `name` was generated by `TestDb::postgres` from [a-z0-9_] only.
    sqlx::raw_sql(AssertSqlSafe(format!(
        r#"drop database if exists "{name}" with (force)"#
    )))
    .execute(&mut admin)
    .await
    .with_context(|| format!("could not drop test database {name}"))?;
    admin.close().await.ok();
    Ok(())
}

/// Reports an unreachable Postgres: a failure in CI, a visible skip elsewhere.
#[expect(
    clippy::panic,
    reason = "in CI a missing Postgres must fail the run instead of silently skipping tests"
)]
fn postgres_unreachable(admin_url: &str, test_name: &str, error: &anyhow::Error) {
    let url = redacted(admin_url);
    let in_ci = std::env::var("CI").is_ok_and(|ci| ci == "true" || ci == "1");
    if in_ci {
        panic!(
            "Postgres not reachable at {url} (set {POSTGRES_URL_ENV}); in CI this is a failure: \
             Postgres-backed test {test_name} cannot run: {error:#}"
        );
    }
    eprintln!(
        "SKIPPED: Postgres not reachable at {url}: Postgres-backed test {test_name} did not run"
    );
    eprintln!("  cause: {error:#}");
}

/// The admin URL with its path replaced by `/<name>` (query options are kept).
fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url)
        .with_context(|| format!("{POSTGRES_URL_ENV} is not a valid URL"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

/// The URL with any password masked, for messages.
fn redacted(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            // Only fails for URLs that cannot have a password, which this one has.
            url.set_password(Some("***")).ok();
            url.into()
        }
        Ok(url) => url.into(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_only_the_database_name() {
        assert_eq!(
            database_url(
                "postgres://pg:pw@db.internal:5433/postgres?sslmode=disable",
                "pc_test_x"
            )
            .unwrap(),
            "postgres://pg:pw@db.internal:5433/pc_test_x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432", "pc_test_y").unwrap(),
            "postgres://postgres@127.0.0.1:5432/pc_test_y"
        );
    }

    #[test]
    fn redacted_urls_never_show_the_password() {
        assert_eq!(
            redacted("postgres://pg:secret@127.0.0.1/postgres"),
            "postgres://pg:***@127.0.0.1/postgres"
        );
        assert_eq!(
            redacted(DEFAULT_POSTGRES_URL),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
}
