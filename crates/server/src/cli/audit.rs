//! `portcullis audit list`: the newest audit events (who, what, on what, when, from
//! where), newest first.

use std::io::Write;
use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::store::Store;

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit events, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: u32,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(
    cmd: AuditCommand,
    store: Arc<dyn Store>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::List { limit, json } => {
            let events = store.list_audit_events(limit).await?;
            if json {
                let rows: Vec<_> = events
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "at": e.at, "actor": e.actor, "action": e.action,
                            "target": e.target, "ip": e.ip, "detail": e.detail,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else {
                writeln!(
                    out,
                    "{:<10}  {:<44}  {:<26}  {:<15}  target",
                    "at", "actor", "action", "ip"
                )?;
                for e in &events {
                    writeln!(
                        out,
                        "{:<10}  {:<44}  {:<26}  {:<15}  {}",
                        e.at,
                        e.actor,
                        e.action,
                        e.ip.as_deref().unwrap_or("-"),
                        e.target.as_deref().unwrap_or("-")
                    )?;
                }
            }
        }
    }
    Ok(())
}
