//! [`ConsentStore`] and [`GrantStore`] over `consent` and `oauth_grant`. A grant is the
//! unit of revocation (RFC 7009 §2.1: revoking a refresh token should also invalidate
//! what was issued from the same grant), so revoking one also revokes its refresh tokens
//! in the same transaction.

use super::backend::DbRow;
use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::{ClientId, GrantId, SessionId, UserId};
use portcullis_core::model::{Consent, Grant};
use portcullis_core::store::{ConsentStore, GrantStore, StoreError};
use sqlx::FromRow;
use uuid::Uuid;

use super::backend::{DbConnection, DbStore};
use super::convert::{Columns, opt_ts, scope};
use super::error::{found, from_sqlx};

macro_rules! consent_columns {
    () => {
        "user_id, client_id, scope, granted_at, updated_at"
    };
}

/// The `oauth_grant` columns [`GrantRow`] reads, in its order; with a table alias (`"g."`)
/// for joins.
macro_rules! grant_columns {
    () => {
        grant_columns!("")
    };
    ($t:literal) => {
        column_list!(
            $t;
            grant_id, user_id, client_id, scope, session_id, auth_time, created_at, last_used_at,
            revoked_at
        )
    };
}
pub(crate) use grant_columns;

#[derive(sqlx::FromRow)]
struct ConsentRow {
    user_id: Uuid,
    client_id: String,
    scope: String,
    granted_at: i64,
    updated_at: i64,
}

impl TryFrom<ConsentRow> for Consent {
    type Error = StoreError;

    fn try_from(row: ConsentRow) -> Result<Self, Self::Error> {
        Ok(Consent {
            user_id: UserId(row.user_id),
            client_id: ClientId(row.client_id),
            scope: scope(&row.scope, "consent.scope")?,
            granted_at: Timestamp(row.granted_at),
            updated_at: Timestamp(row.updated_at),
        })
    }
}

/// An `oauth_grant` row as stored.
pub(crate) struct GrantRow {
    grant_id: Uuid,
    user_id: Uuid,
    client_id: String,
    scope: String,
    session_id: Option<Uuid>,
    auth_time: i64,
    created_at: i64,
    last_used_at: i64,
    revoked_at: Option<i64>,
}

impl GrantRow {
    /// Reads the [`grant_columns`], in order, from where `columns` stands.
    pub(crate) fn read(columns: &mut Columns<'_>) -> Result<Self, sqlx::Error> {
        Ok(GrantRow {
            grant_id: columns.next("grant_id")?,
            user_id: columns.next("user_id")?,
            client_id: columns.next("client_id")?,
            scope: columns.next("scope")?,
            session_id: columns.next("session_id")?,
            auth_time: columns.next("auth_time")?,
            created_at: columns.next("created_at")?,
            last_used_at: columns.next("last_used_at")?,
            revoked_at: columns.next("revoked_at")?,
        })
    }
}

impl FromRow<'_, DbRow> for GrantRow {
    fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        GrantRow::read(&mut Columns::new(row))
    }
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;

    fn try_from(row: GrantRow) -> Result<Self, Self::Error> {
        Ok(Grant {
            grant_id: GrantId(row.grant_id),
            user_id: UserId(row.user_id),
            client_id: ClientId(row.client_id),
            scope: scope(&row.scope, "oauth_grant.scope")?,
            session_id: row.session_id.map(SessionId),
            auth_time: Timestamp(row.auth_time),
            created_at: Timestamp(row.created_at),
            last_used_at: Timestamp(row.last_used_at),
            revoked_at: opt_ts(row.revoked_at),
        })
    }
}

/// Inserts one grant on `conn` (a transaction's, when it is one step of several).
pub(crate) async fn insert(conn: &mut DbConnection, grant: &Grant) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "insert into oauth_grant (",
        grant_columns!(),
        ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(grant.grant_id.0)
    .bind(grant.user_id.0)
    .bind(grant.client_id.as_str())
    .bind(grant.scope.to_string())
    .bind(grant.session_id.map(|s| s.0))
    .bind(grant.auth_time.0)
    .bind(grant.created_at.0)
    .bind(grant.last_used_at.0)
    .bind(grant.revoked_at.map(|t| t.0))
    .execute(conn)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

/// Revokes a grant and every refresh token of it, inside the caller's transaction;
/// returns whether the grant was active.
pub(crate) async fn revoke_in(
    tx: &mut DbConnection,
    grant_id: GrantId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let revoked = sqlx::query(
        "update oauth_grant set revoked_at = $2 where grant_id = $1 and revoked_at is null",
    )
    .bind(grant_id.0)
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .map_err(from_sqlx)?;
    // Runs even when the grant was already revoked, so a repeated call converges on "no
    // live refresh token of a revoked grant", whatever was inserted for it in between (a
    // rotation racing the first revocation).
    sqlx::query(
        "update refresh_token set revoked_at = $2 where grant_id = $1 and revoked_at is null",
    )
    .bind(grant_id.0)
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .map_err(from_sqlx)?;
    Ok(revoked.rows_affected() > 0)
}

/// Revokes every active grant of (user, client) with its refresh tokens, inside the
/// caller's transaction; returns the ids revoked.
async fn revoke_client_grants_in(
    tx: &mut DbConnection,
    user_id: UserId,
    client_id: &ClientId,
    now: Timestamp,
) -> Result<Vec<GrantId>, StoreError> {
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "update oauth_grant set revoked_at = $3 \
         where user_id = $1 and client_id = $2 and revoked_at is null \
         returning grant_id",
    )
    .bind(user_id.0)
    .bind(client_id.as_str())
    .bind(now.0)
    .fetch_all(&mut *tx)
    .await
    .map_err(from_sqlx)?;
    sqlx::query(
        "update refresh_token set revoked_at = $3 where revoked_at is null and grant_id in \
         (select grant_id from oauth_grant where user_id = $1 and client_id = $2)",
    )
    .bind(user_id.0)
    .bind(client_id.as_str())
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .map_err(from_sqlx)?;
    Ok(revoked.into_iter().map(GrantId).collect())
}

/// Deletes the consent of (user, client) on `conn`; returns whether one existed.
async fn delete_consent_in(
    conn: &mut DbConnection,
    user_id: UserId,
    client_id: &ClientId,
) -> Result<bool, StoreError> {
    let result = sqlx::query("delete from consent where user_id = $1 and client_id = $2")
        .bind(user_id.0)
        .bind(client_id.as_str())
        .execute(conn)
        .await
        .map_err(from_sqlx)?;
    Ok(result.rows_affected() > 0)
}

/// A user's active grants, newest first, read on `conn`.
pub(crate) async fn list_active(
    conn: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<Grant>, StoreError> {
    sqlx::query_as::<_, GrantRow>(concat!(
        "select ",
        grant_columns!(),
        " from oauth_grant where user_id = $1 and revoked_at is null \
         order by created_at desc, grant_id desc"
    ))
    .bind(user_id.0)
    .fetch_all(conn)
    .await
    .map_err(from_sqlx)?
    .into_iter()
    .map(Grant::try_from)
    .collect()
}

#[async_trait]
impl ConsentStore for DbStore {
    async fn find_consent(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<Option<Consent>, StoreError> {
        sqlx::query_as::<_, ConsentRow>(concat!(
            "select ",
            consent_columns!(),
            " from consent where user_id = $1 and client_id = $2"
        ))
        .bind(user_id.0)
        .bind(client_id.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(Consent::try_from)
        .transpose()
    }

    async fn save_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "insert into consent (",
            consent_columns!(),
            ") values ($1, $2, $3, $4, $5) \
             on conflict (user_id, client_id) do update set scope = excluded.scope, \
             granted_at = excluded.granted_at, updated_at = excluded.updated_at"
        ))
        .bind(consent.user_id.0)
        .bind(consent.client_id.as_str())
        .bind(consent.scope.to_string())
        .bind(consent.granted_at.0)
        .bind(consent.updated_at.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn delete_consent(
        &self,
        user_id: UserId,
        client_id: &ClientId,
    ) -> Result<bool, StoreError> {
        delete_consent_in(&mut *self.writer().await?, user_id, client_id).await
    }

    async fn revoke_consent(
        &self,
        user_id: UserId,
        client_id: &ClientId,
        now: Timestamp,
    ) -> Result<Vec<GrantId>, StoreError> {
        let mut tx = self.begin_write().await?;
        delete_consent_in(&mut tx, user_id, client_id).await?;
        let revoked = revoke_client_grants_in(&mut tx, user_id, client_id, now).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(revoked)
    }

    async fn list_consents(&self, user_id: UserId) -> Result<Vec<Consent>, StoreError> {
        sqlx::query_as::<_, ConsentRow>(concat!(
            "select ",
            consent_columns!(),
            " from consent where user_id = $1 order by client_id",
            byte_order!()
        ))
        .bind(user_id.0)
        .fetch_all(self.reader())
        .await
        .map_err(from_sqlx)?
        .into_iter()
        .map(Consent::try_from)
        .collect()
    }
}

#[async_trait]
impl GrantStore for DbStore {
    async fn create_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let mut conn = self.writer().await?;
        insert(&mut conn, grant).await
    }

    async fn find_grant(&self, grant_id: GrantId) -> Result<Option<Grant>, StoreError> {
        sqlx::query_as::<_, GrantRow>(concat!(
            "select ",
            grant_columns!(),
            " from oauth_grant where grant_id = $1"
        ))
        .bind(grant_id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(Grant::try_from)
        .transpose()
    }

    async fn touch_grant(&self, grant_id: GrantId, now: Timestamp) -> Result<(), StoreError> {
        let result = sqlx::query("update oauth_grant set last_used_at = $2 where grant_id = $1")
            .bind(grant_id.0)
            .bind(now.0)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(from_sqlx)?;
        found(result.rows_affected())
    }

    async fn revoke_grant(&self, grant_id: GrantId, now: Timestamp) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let revoked = revoke_in(&mut tx, grant_id, now).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(revoked)
    }

    async fn revoke_client_grants(
        &self,
        user_id: UserId,
        client_id: &ClientId,
        now: Timestamp,
    ) -> Result<Vec<GrantId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let revoked = revoke_client_grants_in(&mut tx, user_id, client_id, now).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(revoked)
    }

    async fn list_active_grants(&self, user_id: UserId) -> Result<Vec<Grant>, StoreError> {
        let mut conn = self.reader().acquire().await.map_err(from_sqlx)?;
        list_active(&mut conn, user_id).await
    }
}
