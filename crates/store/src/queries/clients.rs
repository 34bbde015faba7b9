//! [`ClientStore`] over the `client` table. Deleting a client relies on the schema's
//! `on delete cascade` to remove its consents, grants, codes and refresh tokens in the
//! same statement, so no half-deleted client can be observed.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::ClientId;
use portcullis_core::model::Client;
use portcullis_core::store::{ClientStore, StoreError};

use super::backend::DbStore;
use super::convert::{
    auth_method, client_type, client_type_str, from_json, opt_secret_hash, scope, to_json,
};
use super::error::{found, from_sqlx};

macro_rules! client_columns {
    () => {
        "client_id, secret_hash, client_type, auth_method, name, redirect_uris, \
         post_logout_redirect_uris, grant_types, allowed_scope, metadata, \
         registration_token_hash, first_party, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<Vec<u8>>,
    client_type: String,
    auth_method: String,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    allowed_scope: String,
    metadata: String,
    registration_token_hash: Option<Vec<u8>>,
    first_party: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, Self::Error> {
        Ok(Client {
            client_id: ClientId(row.client_id),
            secret_hash: opt_secret_hash(row.secret_hash.as_deref(), "client.secret_hash")?,
            client_type: client_type(&row.client_type)?,
            auth_method: auth_method(&row.auth_method)?,
            name: row.name,
            redirect_uris: from_json(&row.redirect_uris, "client.redirect_uris")?,
            post_logout_redirect_uris: from_json(
                &row.post_logout_redirect_uris,
                "client.post_logout_redirect_uris",
            )?,
            grant_types: from_json(&row.grant_types, "client.grant_types")?,
            allowed_scope: scope(&row.allowed_scope, "client.allowed_scope")?,
            metadata: from_json(&row.metadata, "client.metadata")?,
            registration_token_hash: opt_secret_hash(
                row.registration_token_hash.as_deref(),
                "client.registration_token_hash",
            )?,
            first_party: row.first_party,
            created_at: Timestamp(row.created_at),
            updated_at: Timestamp(row.updated_at),
        })
    }
}

/// The JSON columns of a client, encoded once for insert and update alike.
struct ClientJson {
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    metadata: String,
}

impl ClientJson {
    fn of(client: &Client) -> Result<Self, StoreError> {
        Ok(ClientJson {
            redirect_uris: to_json(&client.redirect_uris, "client.redirect_uris")?,
            post_logout_redirect_uris: to_json(
                &client.post_logout_redirect_uris,
                "client.post_logout_redirect_uris",
            )?,
            grant_types: to_json(&client.grant_types, "client.grant_types")?,
            metadata: to_json(&client.metadata, "client.metadata")?,
        })
    }
}

#[async_trait]
impl ClientStore for DbStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let json = ClientJson::of(client)?;
        sqlx::query(concat!(
            "insert into client (",
            client_columns!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(client.client_id.as_str())
        .bind(client.secret_hash.as_ref().map(|h| h.as_bytes()))
        .bind(client_type_str(client.client_type))
        .bind(client.auth_method.as_str())
        .bind(&client.name)
        .bind(json.redirect_uris)
        .bind(json.post_logout_redirect_uris)
        .bind(json.grant_types)
        .bind(client.allowed_scope.to_string())
        .bind(json.metadata)
        .bind(
            client
                .registration_token_hash
                .as_ref()
                .map(|h| h.as_bytes()),
        )
        .bind(client.first_party)
        .bind(client.created_at.0)
        .bind(client.updated_at.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn find_client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        sqlx::query_as::<_, ClientRow>(concat!(
            "select ",
            client_columns!(),
            " from client where client_id = $1"
        ))
        .bind(client_id.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(Client::try_from)
        .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        sqlx::query_as::<_, ClientRow>(concat!(
            "select ",
            client_columns!(),
            " from client order by client_id",
            byte_order!()
        ))
        .fetch_all(self.reader())
        .await
        .map_err(from_sqlx)?
        .into_iter()
        .map(Client::try_from)
        .collect()
    }

    async fn update_client(&self, client: &Client) -> Result<(), StoreError> {
        let json = ClientJson::of(client)?;
        let result = sqlx::query(
            "update client set secret_hash = $2, client_type = $3, auth_method = $4, \
             name = $5, redirect_uris = $6, post_logout_redirect_uris = $7, \
             grant_types = $8, allowed_scope = $9, metadata = $10, \
             registration_token_hash = $11, first_party = $12, updated_at = $13 \
             where client_id = $1",
        )
        .bind(client.client_id.as_str())
        .bind(client.secret_hash.as_ref().map(|h| h.as_bytes()))
        .bind(client_type_str(client.client_type))
        .bind(client.auth_method.as_str())
        .bind(&client.name)
        .bind(json.redirect_uris)
        .bind(json.post_logout_redirect_uris)
        .bind(json.grant_types)
        .bind(client.allowed_scope.to_string())
        .bind(json.metadata)
        .bind(
            client
                .registration_token_hash
                .as_ref()
                .map(|h| h.as_bytes()),
        )
        .bind(client.first_party)
        .bind(client.updated_at.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        found(result.rows_affected())
    }

    async fn delete_client(&self, client_id: &ClientId) -> Result<(), StoreError> {
        let result = sqlx::query("delete from client where client_id = $1")
            .bind(client_id.as_str())
            .execute(&mut *self.writer().await?)
            .await
            .map_err(from_sqlx)?;
        found(result.rows_affected())
    }
}
