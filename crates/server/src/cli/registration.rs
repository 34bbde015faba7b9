//! `portcullis registration …`: initial access tokens for `registration.mode = "token"`
//! (RFC 7591 §3). The token is printed once; only its SHA-256 is stored.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use portcullis_core::Clock;
use portcullis_core::registration::create_initial_access_token;
use portcullis_core::store::Store;

#[derive(Debug, Subcommand)]
pub(crate) enum RegistrationCommand {
    /// Create an initial access token that lets its holder register clients.
    CreateToken {
        /// What it is for (shown in the audit trail).
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// How long it works, e.g. `7days`; without it, it never expires.
        #[arg(long, value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        expires_in: Option<Duration>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(
    cmd: RegistrationCommand,
    store: Arc<dyn Store>,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        RegistrationCommand::CreateToken {
            description,
            expires_in,
            json,
        } => {
            let now = clock.now();
            let expires_at = expires_in.map(|d| now.plus(d));
            let (record, token) =
                create_initial_access_token(store.as_ref(), description.clone(), expires_at, now)
                    .await?;
            super::audit(
                &store,
                clock,
                "registration.create_token",
                &format!("{:?}", record.token_hash),
                serde_json::json!({ "description": description, "expires_at": expires_at }),
            )
            .await?;
            if json {
                let doc = serde_json::json!({
                    "initial_access_token": token.expose(),
                    "expires_at": expires_at,
                });
                writeln!(out, "{doc}")?;
            } else {
                writeln!(out, "initial_access_token: {}", token.expose())?;
                match expires_at {
                    Some(t) => writeln!(out, "expires_at:           {t}")?,
                    None => writeln!(out, "expires_at:           never")?,
                }
                writeln!(out, "(the token is shown only now; it is stored hashed)")?;
            }
        }
    }
    Ok(())
}
