//! [`SessionStore`] over `browser_session`. Sessions are looked up only by the SHA-256 of
//! the cookie value, so a leaked database row cannot be replayed as a cookie.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::{SessionId, UserId};
use portcullis_core::model::{Grant, Session};
use portcullis_core::secret::SecretHash;
use portcullis_core::sessions::{EndedSessions, Ending};
use portcullis_core::store::{SessionStore, StoreError};
use uuid::Uuid;

use super::backend::{DbConnection, DbStore};
use super::convert::{from_json, opt_ts, secret_hash, to_json};
use super::error::from_sqlx;
use super::grants::{list_active as list_active_grants, revoke_in as revoke_grant};

macro_rules! session_columns {
    () => {
        "session_id, secret_hash, user_id, auth_time, amr, user_agent, ip, created_at, \
         last_seen_at, expires_at, idle_expires_at, ended_at"
    };
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: Uuid,
    secret_hash: Vec<u8>,
    user_id: Uuid,
    auth_time: i64,
    amr: String,
    user_agent: Option<String>,
    ip: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    idle_expires_at: i64,
    ended_at: Option<i64>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, Self::Error> {
        Ok(Session {
            session_id: SessionId(row.session_id),
            secret_hash: secret_hash(&row.secret_hash, "browser_session.secret_hash")?,
            user_id: UserId(row.user_id),
            auth_time: Timestamp(row.auth_time),
            amr: from_json(&row.amr, "browser_session.amr")?,
            user_agent: row.user_agent,
            ip: row.ip,
            created_at: Timestamp(row.created_at),
            last_seen_at: Timestamp(row.last_seen_at),
            expires_at: Timestamp(row.expires_at),
            idle_expires_at: Timestamp(row.idle_expires_at),
            ended_at: opt_ts(row.ended_at),
        })
    }
}

/// Ends one session on `conn`; returns whether it was live.
async fn end_one(
    conn: &mut DbConnection,
    session_id: SessionId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let was_live: Option<bool> = sqlx::query_scalar(
        "update browser_session set ended_at = $2 \
         where session_id = $1 and ended_at is null \
         returning (expires_at > $2 and idle_expires_at > $2)",
    )
    .bind(session_id.0)
    .bind(now.0)
    .fetch_optional(conn)
    .await
    .map_err(from_sqlx)?;
    Ok(was_live.unwrap_or(false))
}

/// Ends every live session of a user but `keep` on `conn`; returns the ids ended.
async fn end_all(
    conn: &mut DbConnection,
    user_id: UserId,
    keep: Option<SessionId>,
    now: Timestamp,
) -> Result<Vec<SessionId>, StoreError> {
    let ended: Vec<Uuid> = sqlx::query_scalar(
        "update browser_session set ended_at = $3 \
         where user_id = $1 and session_id is distinct from $2 and ended_at is null \
         and expires_at > $3 and idle_expires_at > $3 \
         returning session_id",
    )
    .bind(user_id.0)
    .bind(keep.map(|k| k.0))
    .bind(now.0)
    .fetch_all(conn)
    .await
    .map_err(from_sqlx)?;
    Ok(ended.into_iter().map(SessionId).collect())
}

#[async_trait]
impl SessionStore for DbStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let amr = to_json(&session.amr, "browser_session.amr")?;
        sqlx::query(concat!(
            "insert into browser_session (",
            session_columns!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(session.session_id.0)
        .bind(session.secret_hash.as_bytes())
        .bind(session.user_id.0)
        .bind(session.auth_time.0)
        .bind(amr)
        .bind(&session.user_agent)
        .bind(&session.ip)
        .bind(session.created_at.0)
        .bind(session.last_seen_at.0)
        .bind(session.expires_at.0)
        .bind(session.idle_expires_at.0)
        .bind(session.ended_at.map(|t| t.0))
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn find_live_session(
        &self,
        secret_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        sqlx::query_as::<_, SessionRow>(concat!(
            "select ",
            session_columns!(),
            " from browser_session where secret_hash = $1 and ended_at is null \
             and expires_at > $2 and idle_expires_at > $2"
        ))
        .bind(secret_hash.as_bytes())
        .bind(now.0)
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(Session::try_from)
        .transpose()
    }

    async fn find_session(&self, session_id: SessionId) -> Result<Option<Session>, StoreError> {
        sqlx::query_as::<_, SessionRow>(concat!(
            "select ",
            session_columns!(),
            " from browser_session where session_id = $1"
        ))
        .bind(session_id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(Session::try_from)
        .transpose()
    }

    async fn touch_session(
        &self,
        session_id: SessionId,
        now: Timestamp,
        idle_expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        // An ended session stays ended: activity racing a logout must not revive it.
        let result = sqlx::query(
            "update browser_session set last_seen_at = $2, idle_expires_at = $3 \
             where session_id = $1 and ended_at is null",
        )
        .bind(session_id.0)
        .bind(now.0)
        .bind(idle_expires_at.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        if result.rows_affected() > 0 {
            return Ok(());
        }
        let exists: bool = sqlx::query_scalar(
            "select exists (select 1 from browser_session where session_id = $1)",
        )
        .bind(session_id.0)
        .fetch_one(self.reader())
        .await
        .map_err(from_sqlx)?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn end_session(&self, session_id: SessionId, now: Timestamp) -> Result<bool, StoreError> {
        let mut conn = self.writer().await?;
        end_one(&mut conn, session_id, now).await
    }

    async fn end_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut conn = self.writer().await?;
        end_all(&mut conn, user_id, keep, now).await
    }

    async fn end_sessions_revoking_grants(
        &self,
        user_id: UserId,
        which: Ending,
        keep_scope: &str,
        now: Timestamp,
    ) -> Result<EndedSessions, StoreError> {
        let mut tx = self.begin_write().await?;
        let sessions = match which {
            Ending::One(session_id) => {
                if end_one(&mut tx, session_id, now).await? {
                    vec![session_id]
                } else {
                    Vec::new()
                }
            }
            Ending::All { keep } => end_all(&mut tx, user_id, keep, now).await?,
        };
        if sessions.is_empty() {
            tx.rollback().await.map_err(from_sqlx)?;
            return Ok(EndedSessions::none(user_id));
        }
        let grants: Vec<Grant> = list_active_grants(&mut tx, user_id)
            .await?
            .into_iter()
            .filter(|g| g.session_id.is_some_and(|s| sessions.contains(&s)))
            .collect();
        for grant in grants.iter().filter(|g| !g.scope.contains(keep_scope)) {
            revoke_grant(&mut tx, grant.grant_id, now).await?;
        }
        tx.commit().await.map_err(from_sqlx)?;
        Ok(EndedSessions {
            user_id,
            sessions,
            grants,
        })
    }

    async fn list_live_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        sqlx::query_as::<_, SessionRow>(concat!(
            "select ",
            session_columns!(),
            " from browser_session where user_id = $1 and ended_at is null \
             and expires_at > $2 and idle_expires_at > $2 \
             order by created_at desc, session_id desc"
        ))
        .bind(user_id.0)
        .bind(now.0)
        .fetch_all(self.reader())
        .await
        .map_err(from_sqlx)?
        .into_iter()
        .map(Session::try_from)
        .collect()
    }
}
