//! `portcullis admin bootstrap`: the first administrator of a fresh install, through the
//! same domain function as every user creation. It refuses once an administrator exists.

use std::io::Write;
use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::Clock;
use portcullis_core::model::UserProfile;
use portcullis_core::store::Store;
use portcullis_core::users::{self, NewUser};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create the first user with the `admin` role; the password is read from the first
    /// line of stdin. Refuses if any user already holds the role.
    Bootstrap {
        /// Login name.
        #[arg(long, value_name = "U")]
        username: String,
        /// Email address.
        #[arg(long, value_name = "E")]
        email: Option<String>,
        /// Read the password from stdin (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub(crate) async fn run(
    cmd: AdminCommand,
    config: &Config,
    store: Arc<dyn Store>,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Bootstrap {
            username,
            email,
            password_stdin: _,
        } => {
            let password = super::user::read_password()?;
            let new = NewUser {
                username,
                password,
                profile: UserProfile {
                    email,
                    ..UserProfile::default()
                },
                roles: vec![],
            };
            let user = users::bootstrap_admin(
                store.as_ref(),
                &super::user::hasher(config)?,
                new,
                clock.now(),
            )
            .await?;
            super::audit(
                &store,
                clock,
                "admin.bootstrap",
                &user.user_id.to_string(),
                serde_json::json!({ "username": user.username, "roles": user.roles }),
            )
            .await?;
            writeln!(
                out,
                "created administrator {} ({})",
                user.username, user.user_id
            )?;
        }
    }
    Ok(())
}
