//! [`UserStore`] over the `user_account` table.

use super::backend::DbRow;
use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::ids::UserId;
use portcullis_core::model::{User, UserProfile};
use portcullis_core::password::PasswordHash;
use portcullis_core::store::{StoreError, UserStore, constraints};
use sqlx::FromRow;
use uuid::Uuid;

use super::backend::{DbConnection, DbStore};
use super::convert::{Columns, from_json, to_json};
use super::error::{found, from_sqlx};

/// The `user_account` columns [`UserRow`] reads, in its order; with a table alias (`"u."`)
/// for joins.
macro_rules! user_columns {
    () => {
        user_columns!("")
    };
    ($t:literal) => {
        column_list!(
            $t;
            user_id, username, password_hash, email, email_verified, name, given_name,
            family_name, picture, roles, disabled, created_at, updated_at
        )
    };
}
pub(crate) use user_columns;

/// A `user_account` row as stored.
pub(crate) struct UserRow {
    user_id: Uuid,
    username: String,
    password_hash: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    picture: Option<String>,
    roles: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl UserRow {
    /// Reads the [`user_columns`], in order, from where `columns` stands.
    pub(crate) fn read(columns: &mut Columns<'_>) -> Result<Self, sqlx::Error> {
        Ok(UserRow {
            user_id: columns.next("user_id")?,
            username: columns.next("username")?,
            password_hash: columns.next("password_hash")?,
            email: columns.next("email")?,
            email_verified: columns.next("email_verified")?,
            name: columns.next("name")?,
            given_name: columns.next("given_name")?,
            family_name: columns.next("family_name")?,
            picture: columns.next("picture")?,
            roles: columns.next("roles")?,
            disabled: columns.next("disabled")?,
            created_at: columns.next("created_at")?,
            updated_at: columns.next("updated_at")?,
        })
    }
}

impl FromRow<'_, DbRow> for UserRow {
    fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        UserRow::read(&mut Columns::new(row))
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(User {
            user_id: UserId(row.user_id),
            username: row.username,
            password_hash: PasswordHash(row.password_hash),
            profile: UserProfile {
                email: row.email,
                email_verified: row.email_verified,
                name: row.name,
                given_name: row.given_name,
                family_name: row.family_name,
                picture: row.picture,
            },
            roles: from_json(&row.roles, "user_account.roles")?,
            disabled: row.disabled,
            created_at: Timestamp(row.created_at),
            updated_at: Timestamp(row.updated_at),
        })
    }
}

/// Inserts one user on `conn` (a transaction's, when it is one step of several).
async fn insert(conn: &mut DbConnection, user: &User) -> Result<(), StoreError> {
    let roles = to_json(&user.roles, "user_account.roles")?;
    sqlx::query(concat!(
        "insert into user_account (",
        user_columns!(),
        ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(user.user_id.0)
    .bind(&user.username)
    .bind(&user.password_hash.0)
    .bind(&user.profile.email)
    .bind(user.profile.email_verified)
    .bind(&user.profile.name)
    .bind(&user.profile.given_name)
    .bind(&user.profile.family_name)
    .bind(&user.profile.picture)
    .bind(roles)
    .bind(user.disabled)
    .bind(user.created_at.0)
    .bind(user.updated_at.0)
    .execute(conn)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

#[async_trait]
impl UserStore for DbStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut conn = self.writer().await?;
        insert(&mut conn, user).await
    }

    async fn create_first_admin(&self, user: &User, admin_role: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The lock row first: a concurrent bootstrap waits here until this transaction
        // ends, and then sees the administrator it created (on SQLite the transaction's
        // write lock already serialises them).
        sqlx::query(
            "update store_singleton set touched = touched + 1 \
             where store_singleton_id = 'admin_bootstrap'",
        )
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        let role_lists: Vec<String> = sqlx::query_scalar("select roles from user_account")
            .fetch_all(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        for roles in role_lists {
            let roles: Vec<String> = from_json(&roles, "user_account.roles")?;
            if roles.iter().any(|r| r == admin_role) {
                return Err(StoreError::Conflict {
                    constraint: constraints::ADMIN_EXISTS,
                });
            }
        }
        insert(&mut tx, user).await?;
        tx.commit().await.map_err(from_sqlx)
    }

    async fn find_user(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "select ",
            user_columns!(),
            " from user_account where user_id = $1"
        ))
        .bind(user_id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(User::try_from)
        .transpose()
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "select ",
            user_columns!(),
            " from user_account where username = $1"
        ))
        .bind(username)
        .fetch_optional(self.reader())
        .await
        .map_err(from_sqlx)?
        .map(User::try_from)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "select ",
            user_columns!(),
            " from user_account order by username",
            byte_order!()
        ))
        .fetch_all(self.reader())
        .await
        .map_err(from_sqlx)?
        .into_iter()
        .map(User::try_from)
        .collect()
    }

    async fn update_user_profile(
        &self,
        user_id: UserId,
        profile: &UserProfile,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "update user_account set email = $2, email_verified = $3, name = $4, \
             given_name = $5, family_name = $6, picture = $7, updated_at = $8 \
             where user_id = $1",
        )
        .bind(user_id.0)
        .bind(&profile.email)
        .bind(profile.email_verified)
        .bind(&profile.name)
        .bind(&profile.given_name)
        .bind(&profile.family_name)
        .bind(&profile.picture)
        .bind(now.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        found(result.rows_affected())
    }

    async fn set_user_password(
        &self,
        user_id: UserId,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "update user_account set password_hash = $2, updated_at = $3 where user_id = $1",
        )
        .bind(user_id.0)
        .bind(&hash.0)
        .bind(now.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        found(result.rows_affected())
    }

    async fn set_user_disabled(
        &self,
        user_id: UserId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "update user_account set disabled = $2, updated_at = $3 where user_id = $1",
        )
        .bind(user_id.0)
        .bind(disabled)
        .bind(now.0)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(from_sqlx)?;
        found(result.rows_affected())
    }

    async fn set_user_roles(
        &self,
        user_id: UserId,
        roles: &[String],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let roles = to_json(roles, "user_account.roles")?;
        let result =
            sqlx::query("update user_account set roles = $2, updated_at = $3 where user_id = $1")
                .bind(user_id.0)
                .bind(roles)
                .bind(now.0)
                .execute(&mut *self.writer().await?)
                .await
                .map_err(from_sqlx)?;
        found(result.rows_affected())
    }
}
