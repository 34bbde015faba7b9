//! The operator CLI: `serve` (the default), `migrate`, `user`, `client` and `keys`
//! administration, `registration` tokens, `admin bootstrap` and the `audit` trail. Every
//! command reads the same configuration, so `PORTCULLIS_DATABASE_URL=postgres://…
//! portcullis user create …` acts on that database.

mod admin;
mod audit;
mod client;
mod keys;
mod registration;
mod user;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis_core::store::Store;
use portcullis_core::{Clock, SystemClock};

use crate::config::Config;
use crate::startup::{Application, shutdown_signal};
use crate::store::open_store;

/// Portcullis: an OAuth 2.0 and OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// TOML configuration file (also `PORTCULLIS_CONFIG`).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Dynamic client registration: initial access tokens.
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Administrators: bootstrap the first one.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The audit trail of admin changes and registrations.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// Parses arguments; on bad input returns a one-line message naming the problem (clap's
/// multi-line usage text is kept for `--help`).
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args)
}

/// Renders a clap error as one line: its message with the offending argument, no usage.
pub fn one_line_error(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.trim_start_matches("error: ").to_owned());
        }
    }
    parts.join(" ")
}

/// Runs a parsed command to completion, writing command output to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    crate::telemetry::init(&config.log);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            open_store(&config).await?;
            writeln!(out, "migrations applied")?;
            Ok(())
        }
        Command::User(cmd) => {
            let store = open_store(&config).await?;
            user::run(cmd, &config, store, clock.as_ref(), out).await
        }
        Command::Client(cmd) => {
            let store = open_store(&config).await?;
            client::run(cmd, store, clock.as_ref(), out).await
        }
        Command::Keys(cmd) => keys::run(cmd, &config, clock.as_ref(), out).await,
        Command::Registration(cmd) => {
            let store = open_store(&config).await?;
            registration::run(cmd, store, clock.as_ref(), out).await
        }
        Command::Admin(cmd) => {
            let store = open_store(&config).await?;
            admin::run(cmd, &config, store, clock.as_ref(), out).await
        }
        Command::Audit(cmd) => {
            let store = open_store(&config).await?;
            audit::run(cmd, store, out).await
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let issuer = config.issuer.clone();
    let app = Application::build(config).await?;
    let shutdown = shutdown_signal().context("installing signal handlers")?;
    let addr = app.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, %issuer, "portcullis is ready: issuer {issuer}, listening on http://{addr}");
    app.run_until_stopped(shutdown).await
}

/// Records that the operator changed something through the CLI (who: `cli`, from where:
/// this host). A failure to audit fails the command: changes must not go unrecorded.
async fn audit(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    portcullis_core::audit::record(
        store.as_ref(),
        portcullis_core::audit::Change {
            actor: &portcullis_core::audit::Actor::cli(),
            action,
            target: Some(target),
            ip: None,
            detail,
        },
        clock.now(),
    )
    .await
    .map_err(anyhow::Error::new)
    .context("recording the audit event")
}
