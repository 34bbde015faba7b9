//! `portcullis user …`: create, list, disable, enable, set-password and unlock, through the
//! same domain functions the admin API uses.

use std::io::{BufRead, Write};
use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::Clock;
use portcullis_core::model::UserProfile;
use portcullis_core::password::PasswordHasher;
use portcullis_core::store::Store;
use portcullis_core::users::{self, NewUser};
use secrecy::SecretString;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user; the password is read from the first line of stdin.
    Create {
        /// Login name.
        #[arg(long, value_name = "U")]
        username: String,
        /// Email address.
        #[arg(long, value_name = "E")]
        email: Option<String>,
        /// Display name.
        #[arg(long, value_name = "N")]
        name: Option<String>,
        /// Role (repeatable), e.g. `admin`.
        #[arg(long = "role", value_name = "R")]
        roles: Vec<String>,
        /// Read the password from stdin (required: passwords never go on the command line,
        /// where `ps` and shell history would see them).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they can no longer log in.
    Disable {
        /// Login name.
        #[arg(long, value_name = "U")]
        username: String,
    },
    /// Re-enable a disabled user.
    Enable {
        /// Login name.
        #[arg(long, value_name = "U")]
        username: String,
    },
    /// Replace a user's roles (e.g. `--role admin`); no `--role` removes them all.
    SetRoles {
        /// Login name.
        #[arg(long, value_name = "U")]
        username: String,
        /// Role (repeatable).
        #[arg(long = "role", value_name = "R")]
        roles: Vec<String>,
    },
    /// Clear a user's login throttle: failures counted against the account, from every
    /// network, are forgotten, so the owner can sign in again at once.
    Unlock {
        /// Login name.
        #[arg(value_name = "USERNAME")]
        username: String,
    },
    /// Replace a user's password, read from the first line of stdin.
    SetPassword {
        /// Login name.
        #[arg(long, value_name = "U")]
        username: String,
        /// Read the password from stdin (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub(super) fn read_password() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on stdin");
    Ok(SecretString::from(password))
}

pub(super) fn hasher(config: &Config) -> anyhow::Result<PasswordHasher> {
    Ok(PasswordHasher::new(
        config.argon2()?,
        config.password.max_concurrent,
    )?)
}

pub(crate) async fn run(
    cmd: UserCommand,
    config: &Config,
    store: Arc<dyn Store>,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            username,
            email,
            name,
            roles,
            password_stdin: _,
        } => {
            let password = read_password()?;
            let profile = UserProfile {
                email,
                name,
                ..UserProfile::default()
            };
            let new = NewUser {
                username,
                password,
                profile,
                roles,
            };
            let user =
                users::create_user(store.as_ref(), &hasher(config)?, new, clock.now()).await?;
            super::audit(
                &store,
                clock,
                "user.create",
                &user.user_id.to_string(),
                serde_json::json!({ "username": user.username, "roles": user.roles }),
            )
            .await?;
            writeln!(out, "created user {} ({})", user.username, user.user_id)?;
        }
        UserCommand::List { json } => {
            let all = store.list_users().await?;
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|u| {
                        serde_json::json!({
                            "user_id": u.user_id, "username": u.username, "email": u.profile.email,
                            "name": u.profile.name, "roles": u.roles, "disabled": u.disabled,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else {
                writeln!(
                    out,
                    "{:<36}  {:<24}  {:<8}  roles",
                    "user_id", "username", "status"
                )?;
                for u in &all {
                    let status = if u.disabled { "disabled" } else { "active" };
                    writeln!(
                        out,
                        "{:<36}  {:<24}  {:<8}  {}",
                        u.user_id,
                        u.username,
                        status,
                        u.roles.join(",")
                    )?;
                }
            }
        }
        UserCommand::Disable { username } => {
            // The user's sessions end here too, but no logout tokens are sent: the CLI runs
            // without the server's back-channel sender, and apps still learn of it when
            // their tokens stop working. The admin API does notify them.
            let ended = users::set_disabled(store.as_ref(), &username, true, clock.now()).await?;
            super::audit(
                &store,
                clock,
                "user.disable",
                &username,
                serde_json::json!({ "ended_sessions": ended.sessions.len() }),
            )
            .await?;
            writeln!(
                out,
                "disabled user {username} (ended {} session(s))",
                ended.sessions.len()
            )?;
        }
        UserCommand::Enable { username } => {
            users::set_disabled(store.as_ref(), &username, false, clock.now()).await?;
            super::audit(
                &store,
                clock,
                "user.enable",
                &username,
                serde_json::Value::Null,
            )
            .await?;
            writeln!(out, "enabled user {username}")?;
        }
        UserCommand::SetRoles { username, roles } => {
            let user = users::set_roles(store.as_ref(), &username, roles, clock.now()).await?;
            super::audit(
                &store,
                clock,
                "user.set_roles",
                &username,
                serde_json::json!({ "roles": user.roles }),
            )
            .await?;
            writeln!(out, "roles of {username}: {}", user.roles.join(" "))?;
        }
        UserCommand::Unlock { username } => {
            let cleared = users::unlock(store.as_ref(), &username).await?;
            super::audit(
                &store,
                clock,
                "user.unlock",
                &username,
                serde_json::json!({ "cleared": cleared }),
            )
            .await?;
            writeln!(out, "cleared the login throttle of {username}")?;
        }
        UserCommand::SetPassword {
            username,
            password_stdin: _,
        } => {
            let password = read_password()?;
            users::set_password(
                store.as_ref(),
                &hasher(config)?,
                &username,
                password,
                clock.now(),
            )
            .await?;
            super::audit(
                &store,
                clock,
                "user.set_password",
                &username,
                serde_json::Value::Null,
            )
            .await?;
            writeln!(out, "password changed for {username}")?;
        }
    }
    Ok(())
}
