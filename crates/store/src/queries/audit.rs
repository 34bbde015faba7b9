//! [`RevocationStore`] over `revoked_token_id` and [`AuditStore`] over `audit_event`.
//! Access tokens are self-contained JWTs; RFC 7009 revocation of one before its `exp`
//! is remembered here by `jti` until the token would have expired anyway, and a token's
//! standing (revoked `jti`, grant, user) is read in one query.

use super::backend::DbRow;
use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::{AuditEventId, GrantId};
use portcullis_core::model::{AccessTokenStanding, AuditEvent};
use portcullis_core::store::{AuditStore, RevocationStore, StoreError};
use sqlx::FromRow;
use uuid::Uuid;

use super::backend::{DbStore, INSERT_AUDIT_EVENT};
use super::convert::{Columns, from_json, to_json};
use super::error::from_sqlx;
use super::grants::{GrantRow, grant_columns};
use super::users::{UserRow, user_columns};

#[derive(sqlx::FromRow)]
struct AuditEventRow {
    audit_event_id: Uuid,
    occurred_at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    ip: Option<String>,
    detail: String,
}

impl TryFrom<AuditEventRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditEventRow) -> Result<Self, Self::Error> {
        Ok(AuditEvent {
            audit_event_id: AuditEventId(row.audit_event_id),
            at: Timestamp(row.occurred_at),
            actor: row.actor,
            action: row.action,
            target: row.target,
            ip: row.ip,
            detail: from_json(&row.detail, "audit_event.detail")?,
        })
    }
}

/// Whether a `jti` is revoked, next to a grant and its user, in one row.
struct StandingRow {
    jti_revoked: bool,
    grant: GrantRow,
    user: UserRow,
}

impl FromRow<'_, DbRow> for StandingRow {
    fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        let mut columns = Columns::new(row);
        Ok(StandingRow {
            jti_revoked: columns.next("jti_revoked")?,
            grant: GrantRow::read(&mut columns)?,
            user: UserRow::read(&mut columns)?,
        })
    }
}

#[async_trait]
impl RevocationStore for DbStore {
    async fn revoke_token_id(
        &self,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // RFC 7009 §2.2: revoking an already revoked token is still a success.
        sqlx::query(
            "insert into revoked_token_id (jti, expires_at, revoked_at) values ($1, $2, $3) \
             on conflict (jti) do nothing",
        )
        .bind(jti)
        .bind(expires_at.0)
        .bind(now.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn is_token_id_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        sqlx::query_scalar("select exists (select 1 from revoked_token_id where jti = $1)")
            .bind(jti)
            .fetch_one(self.reader())
            .await
            .map_err(from_sqlx)
    }

    async fn access_token_standing(
        &self,
        jti: &str,
        grant_id: Option<GrantId>,
    ) -> Result<AccessTokenStanding, StoreError> {
        let Some(grant_id) = grant_id else {
            return Ok(if self.is_token_id_revoked(jti).await? {
                AccessTokenStanding::Revoked
            } else {
                AccessTokenStanding::NotRevoked(None)
            });
        };
        // One query for all three facts: introspection and userinfo run this on every
        // request. No row means no such grant (a grant's user cannot be missing: deleting
        // a user cascades to its grants).
        let row = sqlx::query_as::<_, StandingRow>(concat!(
            "select exists (select 1 from revoked_token_id where jti = $1) as jti_revoked, ",
            grant_columns!("g."),
            ", ",
            user_columns!("u."),
            " from oauth_grant g join user_account u on u.user_id = g.user_id \
             where g.grant_id = $2"
        ))
        .bind(jti)
        .bind(grant_id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?;
        Ok(match row {
            None => AccessTokenStanding::UnknownGrant,
            Some(row) if row.jti_revoked => AccessTokenStanding::Revoked,
            Some(row) => {
                AccessTokenStanding::NotRevoked(Some((row.grant.try_into()?, row.user.try_into()?)))
            }
        })
    }

    async fn spend_token_id(
        &self,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        // One guarded insert: of concurrent spenders exactly one inserts the row.
        let done = sqlx::query(
            "insert into revoked_token_id (jti, expires_at, revoked_at) values ($1, $2, $3) \
             on conflict (jti) do nothing",
        )
        .bind(jti)
        .bind(expires_at.0)
        .bind(now.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl AuditStore for DbStore {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let detail = to_json(&event.detail, "audit_event.detail")?;
        // How `audit_event_seq` (the order of events within one second) is assigned is
        // the backend's: see `INSERT_AUDIT_EVENT`.
        sqlx::query(INSERT_AUDIT_EVENT)
            .bind(event.audit_event_id.0)
            .bind(event.at.0)
            .bind(&event.actor)
            .bind(&event.action)
            .bind(&event.target)
            .bind(&event.ip)
            .bind(detail)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn list_audit_events(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        sqlx::query_as::<_, AuditEventRow>(
            "select audit_event_id, occurred_at, actor, action, target, ip, detail \
             from audit_event order by occurred_at desc, audit_event_seq desc limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(from_sqlx)?
        .into_iter()
        .map(AuditEvent::try_from)
        .collect()
    }
}
