//! [`RefreshTokenStore`] over `refresh_token`. Tokens rotate on every use (RFC 9700
//! §4.14.2), so rotation is a guarded write: of concurrent presenters of one token
//! exactly one gets a successor, and any later presenter is detectable as reuse. The
//! refresh grant is a hot path, so it reads the token with its grant and user in one
//! joined query, and a rotation also records the grant's use.

use super::backend::DbRow;
use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::{ClientId, GrantId};
use portcullis_core::model::{Grant, RefreshRetry, RefreshRotation, RefreshToken, User};
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{RefreshTokenStore, StoreError};
use sqlx::FromRow;
use uuid::Uuid;

use super::backend::{DbConnection, DbStore};
use super::convert::{Columns, opt_secret_hash, opt_ts, scope, secret_hash};
use super::error::from_sqlx;
use super::grants::{GrantRow, grant_columns};
use super::users::{UserRow, user_columns};

/// The `refresh_token` columns [`RefreshTokenRow`] reads, in its order; with a table
/// alias (`"r."`) for joins.
macro_rules! refresh_columns {
    () => {
        refresh_columns!("")
    };
    ($t:literal) => {
        column_list!(
            $t;
            token_hash, grant_id, client_id, scope, parent_hash, created_at, expires_at,
            idle_expires_at, rotated_at, revoked_at
        )
    };
}
pub(crate) use refresh_columns;

/// A `refresh_token` row as stored.
pub(crate) struct RefreshTokenRow {
    token_hash: Vec<u8>,
    grant_id: Uuid,
    client_id: String,
    scope: String,
    parent_hash: Option<Vec<u8>>,
    created_at: i64,
    expires_at: i64,
    idle_expires_at: i64,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl RefreshTokenRow {
    /// Reads the `refresh_columns`, in order, from where `columns` stands.
    fn read(columns: &mut Columns<'_>) -> Result<Self, sqlx::Error> {
        Ok(RefreshTokenRow {
            token_hash: columns.next("token_hash")?,
            grant_id: columns.next("grant_id")?,
            client_id: columns.next("client_id")?,
            scope: columns.next("scope")?,
            parent_hash: columns.next("parent_hash")?,
            created_at: columns.next("created_at")?,
            expires_at: columns.next("expires_at")?,
            idle_expires_at: columns.next("idle_expires_at")?,
            rotated_at: columns.next("rotated_at")?,
            revoked_at: columns.next("revoked_at")?,
        })
    }
}

impl FromRow<'_, DbRow> for RefreshTokenRow {
    fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        RefreshTokenRow::read(&mut Columns::new(row))
    }
}

/// A refresh token joined with its grant and the grant's user, in one row.
struct RefreshTokenWithGrantRow {
    token: RefreshTokenRow,
    grant: GrantRow,
    user: UserRow,
}

impl FromRow<'_, DbRow> for RefreshTokenWithGrantRow {
    fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        let mut columns = Columns::new(row);
        Ok(RefreshTokenWithGrantRow {
            token: RefreshTokenRow::read(&mut columns)?,
            grant: GrantRow::read(&mut columns)?,
            user: UserRow::read(&mut columns)?,
        })
    }
}

impl TryFrom<RefreshTokenRow> for RefreshToken {
    type Error = StoreError;

    fn try_from(row: RefreshTokenRow) -> Result<Self, Self::Error> {
        Ok(RefreshToken {
            token_hash: secret_hash(&row.token_hash, "refresh_token.token_hash")?,
            grant_id: GrantId(row.grant_id),
            client_id: ClientId(row.client_id),
            scope: scope(&row.scope, "refresh_token.scope")?,
            parent_hash: opt_secret_hash(row.parent_hash.as_deref(), "refresh_token.parent_hash")?,
            created_at: Timestamp(row.created_at),
            expires_at: Timestamp(row.expires_at),
            idle_expires_at: Timestamp(row.idle_expires_at),
            rotated_at: opt_ts(row.rotated_at),
            revoked_at: opt_ts(row.revoked_at),
        })
    }
}

/// Inserts one refresh token on `conn` (a transaction's, when it is one step of several).
pub(crate) async fn insert(
    conn: &mut DbConnection,
    token: &RefreshToken,
) -> Result<(), StoreError> {
    let insert = sqlx::query(concat!(
        "insert into refresh_token (",
        refresh_columns!(),
        ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ));
    bind_refresh_token!(insert, token)
        .execute(conn)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

/// The steps of `retry_refresh_rotation` on its transaction; the caller commits only
/// [`RefreshRetry::Rotated`].
async fn retry_in(
    conn: &mut DbConnection,
    old_hash: &SecretHash,
    successor: &RefreshToken,
    now: Timestamp,
    rotated_since: Timestamp,
) -> Result<RefreshRetry, StoreError> {
    let touched = sqlx::query(
        "update oauth_grant set last_used_at = $2 \
         where revoked_at is null \
         and grant_id = (select grant_id from refresh_token where token_hash = $1)",
    )
    .bind(old_hash.as_bytes())
    .bind(now.0)
    .execute(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    // The presented token: still live, and first rotated inside the window (a no-op write
    // that takes its row lock and checks the guard).
    let presented = sqlx::query(
        "update refresh_token set rotated_at = rotated_at \
         where token_hash = $1 and revoked_at is null and rotated_at >= $3 \
         and expires_at > $2 and idle_expires_at > $2",
    )
    .bind(old_hash.as_bytes())
    .bind(now.0)
    .bind(rotated_since.0)
    .execute(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    if touched.rows_affected() != 1 || presented.rows_affected() != 1 {
        return Ok(RefreshRetry::NotLive);
    }
    // A successor that was itself rotated (not revoked by an earlier retry) was used:
    // someone holds the chain's live token, and it is not this presenter.
    let used: i64 = sqlx::query_scalar(
        "select count(*) from refresh_token \
         where parent_hash = $1 and rotated_at is not null and revoked_at is null",
    )
    .bind(old_hash.as_bytes())
    .fetch_one(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    if used > 0 {
        return Ok(RefreshRetry::SuccessorUsed);
    }
    // The successor this retry replaces, never used: revoked, and marked rotated so that
    // presenting it later counts as reuse (its holder is not the one retrying).
    sqlx::query(
        "update refresh_token set revoked_at = $2, rotated_at = $2 \
         where parent_hash = $1 and revoked_at is null and rotated_at is null",
    )
    .bind(old_hash.as_bytes())
    .bind(now.0)
    .execute(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    insert(conn, successor).await?;
    Ok(RefreshRetry::Rotated)
}

#[async_trait]
impl RefreshTokenStore for DbStore {
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError> {
        let mut conn = self.writer().await?;
        insert(&mut conn, token).await
    }

    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<RefreshToken>, StoreError> {
        sqlx::query_as::<_, RefreshTokenRow>(concat!(
            "select ",
            refresh_columns!(),
            " from refresh_token where token_hash = $1"
        ))
        .bind(token_hash.as_bytes())
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(RefreshToken::try_from)
        .transpose()
    }

    async fn find_refresh_token_with_grant(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<(RefreshToken, Grant, User)>, StoreError> {
        let Some(row) = sqlx::query_as::<_, RefreshTokenWithGrantRow>(concat!(
            "select ",
            refresh_columns!("r."),
            ", ",
            grant_columns!("g."),
            ", ",
            user_columns!("u."),
            " from refresh_token r \
             join oauth_grant g on g.grant_id = r.grant_id \
             join user_account u on u.user_id = g.user_id \
             where r.token_hash = $1"
        ))
        .bind(token_hash.as_bytes())
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        else {
            return Ok(None);
        };
        Ok(Some((
            row.token.try_into()?,
            row.grant.try_into()?,
            row.user.try_into()?,
        )))
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &SecretHash,
        successor: &RefreshToken,
        now: Timestamp,
    ) -> Result<RefreshRotation, StoreError> {
        if let Some(old) = self.rotate(old_hash, successor, now).await? {
            return Ok(RefreshRotation::Rotated(old));
        }
        // Nothing was written. A token that was rotated before is being reused: the
        // caller must revoke the whole grant (RFC 9700 §4.14.2), unless it is a retry it
        // forgives, so report it as such even when it has since been revoked or expired.
        match self.find_refresh_token(old_hash).await? {
            Some(old) if old.rotated_at.is_some() => Ok(RefreshRotation::AlreadyRotated(old)),
            _ => Ok(RefreshRotation::Invalid),
        }
    }

    async fn retry_refresh_rotation(
        &self,
        old_hash: &SecretHash,
        successor: &RefreshToken,
        now: Timestamp,
        rotated_since: Timestamp,
    ) -> Result<RefreshRetry, StoreError> {
        // Rare (a lost response), so plain statements in one write transaction, the same
        // text on both backends, rather than the hot path's single-trip rotation. On
        // Postgres the grant row is locked first, by its touch: the order `revoke_grant`
        // and the rotation take (grant, then tokens), and it holds off any rotation of a
        // successor until this commits, so the check below cannot go stale.
        let mut tx = self.begin_write().await?;
        let outcome = retry_in(&mut tx, old_hash, successor, now, rotated_since).await?;
        if outcome == RefreshRetry::Rotated {
            tx.commit().await.map_err(from_sqlx)?;
        } else {
            tx.rollback().await.map_err(from_sqlx)?;
        }
        Ok(outcome)
    }

    async fn revoke_refresh_token(
        &self,
        token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let was_live: Option<bool> = sqlx::query_scalar(
            "update refresh_token set revoked_at = $2 \
             where token_hash = $1 and revoked_at is null \
             returning (rotated_at is null and expires_at > $2 and idle_expires_at > $2)",
        )
        .bind(token_hash.as_bytes())
        .bind(now.0)
        .fetch_optional(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(was_live.unwrap_or(false))
    }
}
