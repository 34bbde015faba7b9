//! `portcullis client …`: create, update, list, show, delete and rotate the secret of
//! OAuth clients, through the same domain functions the admin API and dynamic registration
//! use.

use std::io::Write;
use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::Clock;
use portcullis_core::clients::{self, NewClient};
use portcullis_core::model::{Client, ClientMetadata, TokenEndpointAuthMethod};
use portcullis_core::store::Store;

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once and stored hashed.
    Create {
        /// Display name shown on the consent page.
        #[arg(long, value_name = "N")]
        name: String,
        /// Redirect URI (repeatable; exact match, https or loopback http).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (native app, SPA): no secret, PKCE mandatory.
        #[arg(long)]
        public: bool,
        /// Grant type (repeatable): authorization_code, refresh_token, client_credentials.
        #[arg(long = "grant-type", value_name = "T")]
        grant_types: Vec<String>,
        /// The most the client may ask for, space-separated.
        #[arg(long, value_name = "S")]
        scope: Option<String>,
        /// Token endpoint authentication: client_secret_basic (default for confidential
        /// clients), client_secret_post or private_key_jwt (needs --jwks-uri).
        #[arg(long, value_name = "M")]
        auth_method: Option<String>,
        /// The client's JWK set URL, for private_key_jwt.
        #[arg(long, value_name = "URI")]
        jwks_uri: Option<String>,
        /// `web` (default) or `native` (RFC 8252 redirect URI rules).
        #[arg(long, value_name = "T")]
        application_type: Option<String>,
        /// The operator vouches for this client (it ships with this deployment): a public
        /// one then gets codes from remembered consent instead of asking every time.
        #[arg(long)]
        first_party: bool,
        /// Print one JSON object (with `client_id` and, once, `client_secret`).
        #[arg(long)]
        json: bool,
    },
    /// Change an existing client's operator-only attributes.
    Update {
        /// The client id.
        client_id: String,
        /// Whether the operator vouches for the client (`true` or `false`); see
        /// `client create --first-party`.
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        first_party: Option<bool>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client id.
        client_id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client and everything issued to it.
    Delete {
        /// The client id.
        client_id: String,
    },
    /// Give a client a new secret (printed once); the old one stops working.
    RotateSecret {
        /// The client id.
        client_id: String,
    },
}

fn describe(client: &Client) -> serde_json::Value {
    serde_json::json!({
        "client_id": client.client_id,
        "client_name": client.name,
        "client_type": client.client_type,
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scope": client.allowed_scope.to_string(),
        "first_party": client.first_party,
        "created_at": client.created_at,
    })
}

fn write_human(out: &mut dyn Write, client: &Client) -> std::io::Result<()> {
    writeln!(out, "client_id:     {}", client.client_id)?;
    writeln!(out, "name:          {}", client.name)?;
    writeln!(out, "type:          {:?}", client.client_type)?;
    writeln!(out, "auth method:   {}", client.auth_method.as_str())?;
    for uri in &client.redirect_uris {
        writeln!(out, "redirect_uri:  {uri}")?;
    }
    for uri in &client.post_logout_redirect_uris {
        writeln!(out, "post_logout:   {uri}")?;
    }
    let grants: Vec<_> = client.grant_types.iter().map(|g| g.as_str()).collect();
    writeln!(out, "grant types:   {}", grants.join(" "))?;
    writeln!(out, "scope:         {}", client.allowed_scope)?;
    writeln!(out, "first party:   {}", client.first_party)
}

pub(crate) async fn run(
    cmd: ClientCommand,
    store: Arc<dyn Store>,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            grant_types,
            scope,
            auth_method,
            jwks_uri,
            application_type,
            first_party,
            json,
        } => {
            let auth_method = match auth_method {
                None => None,
                Some(m) => Some(TokenEndpointAuthMethod::parse(&m).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--auth-method must be client_secret_basic, client_secret_post, private_key_jwt or none"
                    )
                })?),
            };
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                grant_types,
                scope,
                auth_method,
                metadata: ClientMetadata {
                    jwks_uri,
                    application_type,
                    ..ClientMetadata::default()
                },
                first_party: Some(first_party),
                ..NewClient::default()
            };
            let (client, secret) = clients::create_client(store.as_ref(), new, clock.now()).await?;
            super::audit(
                &store,
                clock,
                "client.create",
                client.client_id.as_str(),
                describe(&client),
            )
            .await?;
            if json {
                let mut doc = describe(&client);
                if let (Some(secret), Some(map)) = (&secret, doc.as_object_mut()) {
                    map.insert("client_secret".into(), secret.expose().into());
                }
                writeln!(out, "{doc}")?;
            } else {
                write_human(out, &client)?;
                if let Some(secret) = &secret {
                    writeln!(out, "client_secret: {}", secret.expose())?;
                    writeln!(out, "(the secret is shown only now; it is stored hashed)")?;
                }
            }
        }
        ClientCommand::Update {
            client_id,
            first_party,
            json,
        } => {
            let Some(first_party) = first_party else {
                anyhow::bail!("nothing to change: give --first-party true|false");
            };
            let client =
                clients::set_first_party(store.as_ref(), &client_id, first_party, clock.now())
                    .await?;
            super::audit(
                &store,
                clock,
                "client.update",
                &client_id,
                describe(&client),
            )
            .await?;
            if json {
                writeln!(out, "{}", describe(&client))?;
            } else {
                write_human(out, &client)?;
            }
        }
        ClientCommand::List { json } => {
            let all = store.list_clients().await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::Value::Array(all.iter().map(describe).collect())
                )?;
            } else {
                writeln!(out, "{:<32}  {:<12}  name", "client_id", "type")?;
                for c in &all {
                    writeln!(
                        out,
                        "{:<32}  {:<12}  {}",
                        c.client_id,
                        format!("{:?}", c.client_type).to_lowercase(),
                        c.name
                    )?;
                }
            }
        }
        ClientCommand::Show { client_id, json } => {
            let client = clients::find_client(store.as_ref(), &client_id).await?;
            if json {
                writeln!(out, "{}", describe(&client))?;
            } else {
                write_human(out, &client)?;
            }
        }
        ClientCommand::Delete { client_id } => {
            clients::delete_client(store.as_ref(), &client_id).await?;
            super::audit(
                &store,
                clock,
                "client.delete",
                &client_id,
                serde_json::Value::Null,
            )
            .await?;
            writeln!(out, "deleted client {client_id}")?;
        }
        ClientCommand::RotateSecret { client_id } => {
            let (_, secret) =
                clients::rotate_client_secret(store.as_ref(), &client_id, clock.now()).await?;
            super::audit(
                &store,
                clock,
                "client.rotate_secret",
                &client_id,
                serde_json::Value::Null,
            )
            .await?;
            writeln!(out, "client_secret: {}", secret.expose())?;
            writeln!(out, "(the secret is shown only now; it is stored hashed)")?;
        }
    }
    Ok(())
}
