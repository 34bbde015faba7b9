//! [`CodeStore`] over `authorization_code`. RFC 6749 §4.1.2: a code MUST NOT be used
//! more than once, so redemption is one guarded `update … returning`; of any number of
//! concurrent callers exactly one sees the row come back.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::{ClientId, GrantId, SessionId, UserId};
use portcullis_core::model::{AuthorizationCode, CodeRedemption};
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{CodeStore, StoreError};
use uuid::Uuid;

use crate::PgStore;
use crate::convert::{opt_ts, scope, secret_hash};
use crate::error::from_sqlx;

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

#[async_trait]
impl CodeStore for PgStore {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<CodeRedemption, StoreError> {
        // A concurrent redeemer blocks on the row lock and, once the winner commits,
        // re-checks `redeemed_at is null` against the new row version and matches nothing.
        let redeemed = sqlx::query_as::<_, CodeRow>(concat!(
            "update authorization_code set redeemed_at = $2 \
             where code_hash = $1 and redeemed_at is null and expires_at > $2 \
             returning ",
            code_columns!()
        ))
        .bind(code_hash.as_bytes())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        if let Some(row) = redeemed {
            return Ok(CodeRedemption::Redeemed(row.try_into()?));
        }
        // Lost the race or never valid: only a replay of a redeemed code is worth telling
        // apart, because the caller must then revoke what the first redemption issued.
        let existing = sqlx::query_as::<_, CodeRow>(concat!(
            "select ",
            code_columns!(),
            " from authorization_code where code_hash = $1"
        ))
        .bind(code_hash.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        match existing {
            Some(row) if row.redeemed_at.is_some() => {
                Ok(CodeRedemption::AlreadyRedeemed(row.try_into()?))
            }
            _ => Ok(CodeRedemption::Invalid),
        }
    }
}
