//! `portcullis keys …`: list the signing keys with their state, rotate them, and generate
//! a key-encryption key for a Postgres deployment.

use std::io::Write;

use clap::Subcommand;
use portcullis_core::Clock;
use portcullis_core::keyring::{self, KeyEncryptionKey, Keyring};

use crate::config::Config;
use crate::store::{open_store, resolve_key_encryption_key};

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// List signing keys: kid, algorithm, state (next, active, previous, retired), times.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rotate: new keys are published now and sign after `keys.publish_delay`; the current
    /// ones stay published until every token they signed has expired.
    Rotate,
    /// Print a fresh key-encryption key (for PORTCULLIS_KEY_ENCRYPTION_KEY).
    GenerateKek,
}

pub(crate) async fn run(
    cmd: KeysCommand,
    config: &Config,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::GenerateKek => {
            let (_, encoded) = KeyEncryptionKey::generate()?;
            writeln!(out, "{encoded}")?;
        }
        KeysCommand::List { json } => {
            let kek = resolve_key_encryption_key(config)?;
            let store = open_store(config).await?;
            // Opening creates the first keyring on a fresh database, like the server would.
            Keyring::open(store.as_ref(), kek, clock.now()).await?;
            let records = store.list_signing_keys().await?;
            let statuses = keyring::key_statuses(&records, clock.now());
            if json {
                let rows: Vec<_> = records
                    .iter()
                    .zip(&statuses)
                    .map(|(r, s)| serde_json::json!({
                        "kid": r.kid, "alg": r.alg.as_str(), "state": s.as_str(),
                        "created_at": r.created_at, "activates_at": r.activates_at, "retires_at": r.retires_at,
                    }))
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else {
                writeln!(
                    out,
                    "{:<43}  {:<5}  {:<8}  {:<10}  {:<10}  retires_at",
                    "kid", "alg", "state", "created_at", "activates"
                )?;
                for (r, s) in records.iter().zip(&statuses) {
                    let retires = r
                        .retires_at
                        .map_or_else(|| "-".to_owned(), |t| t.to_string());
                    writeln!(
                        out,
                        "{:<43}  {:<5}  {:<8}  {:<10}  {:<10}  {}",
                        r.kid,
                        r.alg.as_str(),
                        s.as_str(),
                        r.created_at,
                        r.activates_at,
                        retires
                    )?;
                }
            }
        }
        KeysCommand::Rotate => {
            let kek = resolve_key_encryption_key(config)?;
            let store = open_store(config).await?;
            let ring = Keyring::open(store.as_ref(), kek, clock.now()).await?;
            let policy = config.rotation_policy();
            let created =
                keyring::rotate_signing_keys(store.as_ref(), ring.kek(), clock.now(), policy)
                    .await?;
            for k in &created {
                super::audit(
                    &store,
                    clock,
                    "keys.rotate",
                    &k.kid,
                    serde_json::json!({ "alg": k.alg.as_str(), "activates_at": k.activates_at }),
                )
                .await?;
                writeln!(
                    out,
                    "new {} key {} publishes now, signs from {}",
                    k.alg.as_str(),
                    k.kid,
                    k.activates_at
                )?;
            }
        }
    }
    Ok(())
}
