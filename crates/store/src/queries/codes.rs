//! [`CodeStore`] over `authorization_code`. RFC 6749 §4.1.2: a code MUST NOT be used
//! more than once, so redemption is one guarded `update … returning`; of any number of
//! concurrent callers exactly one sees the row come back.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::{ClientId, GrantId, SessionId, UserId};
use portcullis_core::model::{AuthorizationCode, CodeRedemption, Grant};
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{CodeStore, CodeUse, StoreError};
use uuid::Uuid;

use super::backend::{DbConnection, DbStore};
use super::convert::{opt_ts, scope, secret_hash};
use super::error::from_sqlx;
use super::grants::insert as insert_grant;
use super::refresh_tokens::insert as insert_refresh_token;

macro_rules! code_columns {
    () => {
        "code_hash, grant_id, client_id, user_id, redirect_uri, scope, nonce, \
         code_challenge, session_id, auth_time, created_at, expires_at, redeemed_at"
    };
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: Vec<u8>,
    grant_id: Uuid,
    client_id: String,
    user_id: Uuid,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    session_id: Uuid,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    redeemed_at: Option<i64>,
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;

    fn try_from(row: CodeRow) -> Result<Self, Self::Error> {
        Ok(AuthorizationCode {
            code_hash: secret_hash(&row.code_hash, "authorization_code.code_hash")?,
            grant_id: GrantId(row.grant_id),
            client_id: ClientId(row.client_id),
            user_id: UserId(row.user_id),
            redirect_uri: row.redirect_uri,
            scope: scope(&row.scope, "authorization_code.scope")?,
            nonce: row.nonce,
            code_challenge: row.code_challenge,
            session_id: SessionId(row.session_id),
            auth_time: Timestamp(row.auth_time),
            created_at: Timestamp(row.created_at),
            expires_at: Timestamp(row.expires_at),
            redeemed_at: opt_ts(row.redeemed_at),
        })
    }
}

/// Inserts one code on `conn` (a transaction's, when it is one step of several).
async fn insert(conn: &mut DbConnection, code: &AuthorizationCode) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "insert into authorization_code (",
        code_columns!(),
        ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(code.code_hash.as_bytes())
    .bind(code.grant_id.0)
    .bind(code.client_id.as_str())
    .bind(code.user_id.0)
    .bind(&code.redirect_uri)
    .bind(code.scope.to_string())
    .bind(&code.nonce)
    .bind(&code.code_challenge)
    .bind(code.session_id.0)
    .bind(code.auth_time.0)
    .bind(code.created_at.0)
    .bind(code.expires_at.0)
    .bind(code.redeemed_at.map(|t| t.0))
    .execute(conn)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

#[async_trait]
impl CodeStore for DbStore {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let mut conn = self.writer().await?;
        insert(&mut conn, code).await
    }

    async fn create_grant_with_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCode,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_grant(&mut tx, grant).await?;
        insert(&mut tx, code).await?;
        tx.commit().await.map_err(from_sqlx)
    }

    async fn find_code(
        &self,
        code_hash: &SecretHash,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        sqlx::query_as::<_, CodeRow>(concat!(
            "select ",
            code_columns!(),
            " from authorization_code where code_hash = $1"
        ))
        .bind(code_hash.as_bytes())
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(AuthorizationCode::try_from)
        .transpose()
    }

    async fn redeem_code(
        &self,
        code_hash: &SecretHash,
        now: Timestamp,
        used: CodeUse<'_>,
    ) -> Result<CodeRedemption, StoreError> {
        let mut tx = self.begin_write().await?;
        // The guarded update is the transaction's first statement: on SQLite the
        // transaction already holds the write lock, on Postgres a concurrent redeemer
        // blocks on the row lock and, once the winner commits, re-checks `redeemed_at is
        // null` against the new row version and matches nothing.
        let redeemed = sqlx::query_as::<_, CodeRow>(concat!(
            "update authorization_code set redeemed_at = $2 \
             where code_hash = $1 and redeemed_at is null and expires_at > $2 \
             returning ",
            code_columns!()
        ))
        .bind(code_hash.as_bytes())
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        if let Some(row) = redeemed {
            let code = AuthorizationCode::try_from(row)?;
            if let CodeUse::Issued { refresh_token } = used {
                if let Some(refresh_token) = refresh_token {
                    insert_refresh_token(&mut tx, refresh_token).await?;
                }
                sqlx::query("update oauth_grant set last_used_at = $2 where grant_id = $1")
                    .bind(code.grant_id.0)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
            }
            tx.commit().await.map_err(from_sqlx)?;
            return Ok(CodeRedemption::Redeemed(code));
        }
        tx.rollback().await.map_err(from_sqlx)?;
        // Lost the race or never valid: only a replay of a redeemed code is worth telling
        // apart, because the caller must then revoke what the first redemption issued.
        match self.find_code(code_hash).await? {
            Some(code) if code.redeemed_at.is_some() => Ok(CodeRedemption::AlreadyRedeemed(code)),
            _ => Ok(CodeRedemption::Invalid),
        }
    }
}
