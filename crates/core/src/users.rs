//! User administration shared by the CLI, the admin API and the account pages, so all do
//! the same thing through one piece of code.

use secrecy::{ExposeSecret, SecretString};

use crate::Timestamp;
use crate::ids::UserId;
use crate::login_throttle::ThrottleKeys;
use crate::model::{User, UserProfile};
use crate::password::{PasswordError, PasswordHasher};
use crate::sessions::{EndedSessions, Ending, end_sessions};
use crate::store::{Store, StoreError, UserStore, constraints};

/// Why a user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserAdminError {
    /// The username is empty, too long or has characters we do not accept.
    #[error("username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'")]
    InvalidUsername,
    /// The username is taken.
    #[error("username {0:?} is already taken")]
    UsernameTaken(String),
    /// The password is too short (NIST SP 800-63B §5.1.1.2: at least 8 characters).
    #[error("password must be at least 8 characters")]
    WeakPassword,
    /// A role name has characters we do not accept.
    #[error("role {0:?} must be 1-64 characters of letters, digits, '.', '_', ':' or '-'")]
    InvalidRole(String),
    /// No such user.
    #[error("no user {0:?}")]
    NotFound(String),
    /// `admin bootstrap` on an install that already has an administrator.
    #[error("an administrator already exists; manage users through them instead")]
    AdminExists,
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request to create a user.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Initial password.
    pub password: SecretString,
    /// Profile claims.
    pub profile: UserProfile,
    /// Roles.
    pub roles: Vec<String>,
}

fn valid_username(u: &str) -> bool {
    (1..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

fn valid_role(r: &str) -> bool {
    (1..=64).contains(&r.len())
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
}

fn check_password(p: &SecretString) -> Result<(), UserAdminError> {
    if p.expose_secret().chars().count() < 8 {
        return Err(UserAdminError::WeakPassword);
    }
    Ok(())
}

/// Validates and stores a new user with an argon2id password hash.
pub async fn create_user(
    store: &dyn UserStore,
    hasher: &PasswordHasher,
    new: NewUser,
    now: Timestamp,
) -> Result<User, UserAdminError> {
    let user = new_user(hasher, new, now).await?;
    match store.create_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict {
            constraint: constraints::USER_USERNAME,
        }) => Err(UserAdminError::UsernameTaken(user.username)),
        Err(e) => Err(e.into()),
    }
}

/// The user record a valid [`NewUser`] becomes (password hashed), not yet stored.
async fn new_user(
    hasher: &PasswordHasher,
    new: NewUser,
    now: Timestamp,
) -> Result<User, UserAdminError> {
    if !valid_username(&new.username) {
        return Err(UserAdminError::InvalidUsername);
    }
    let roles = normalise_roles(new.roles)?;
    check_password(&new.password)?;
    let password_hash = hasher.hash(new.password).await?;
    let user = User {
        user_id: UserId::random(),
        username: new.username,
        password_hash,
        profile: new.profile,
        roles,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    Ok(user)
}

/// Looks a user up by username, or fails naming it.
pub async fn find_by_username(
    store: &dyn UserStore,
    username: &str,
) -> Result<User, UserAdminError> {
    store
        .find_user_by_username(username)
        .await?
        .ok_or_else(|| UserAdminError::NotFound(username.to_owned()))
}

/// Replaces a user's password.
pub async fn set_password(
    store: &dyn UserStore,
    hasher: &PasswordHasher,
    username: &str,
    password: SecretString,
    now: Timestamp,
) -> Result<(), UserAdminError> {
    check_password(&password)?;
    let user = find_by_username(store, username).await?;
    let hash = hasher.hash(password).await?;
    store.set_user_password(user.user_id, &hash, now).await?;
    Ok(())
}

/// Replaces the password of the user with this id (the account page), with the same
/// policy as every other password change.
pub async fn change_password(
    store: &dyn UserStore,
    hasher: &PasswordHasher,
    user_id: UserId,
    password: SecretString,
    now: Timestamp,
) -> Result<(), UserAdminError> {
    check_password(&password)?;
    let hash = hasher.hash(password).await?;
    store.set_user_password(user_id, &hash, now).await?;
    Ok(())
}

/// Clears the login throttle of a user (`portcullis user unlock`, the admin API): every
/// failure counted against the account, from every network, is forgotten, so its owner
/// can sign in again at once. Returns how many counts were cleared.
pub async fn unlock(store: &dyn Store, username: &str) -> Result<u64, UserAdminError> {
    let user = find_by_username(store, username).await?;
    Ok(store
        .clear_login_throttle(&ThrottleKeys::account_of(&user.username))
        .await?)
}

/// Disables or re-enables a user; a disabled user cannot log in. Disabling also ends every
/// live session of the user, with their session-bound grants (see
/// [`crate::sessions::end_sessions`]), so no browser stays signed in as them; the caller
/// passes what ended to its [`crate::sessions::SessionEndNotifier`], if it has one.
pub async fn set_disabled(
    store: &dyn Store,
    username: &str,
    disabled: bool,
    now: Timestamp,
) -> Result<EndedSessions, UserAdminError> {
    let user = find_by_username(store, username).await?;
    store.set_user_disabled(user.user_id, disabled, now).await?;
    if !disabled {
        return Ok(EndedSessions::none(user.user_id));
    }
    Ok(end_sessions(store, user.user_id, Ending::All { keep: None }, now).await?)
}

fn normalise_roles(mut roles: Vec<String>) -> Result<Vec<String>, UserAdminError> {
    if let Some(bad) = roles.iter().find(|r| !valid_role(r)) {
        return Err(UserAdminError::InvalidRole(bad.clone()));
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Replaces a user's roles (released as the `roles` claim; `admin` opens the admin API).
pub async fn set_roles(
    store: &dyn UserStore,
    username: &str,
    roles: Vec<String>,
    now: Timestamp,
) -> Result<User, UserAdminError> {
    let roles = normalise_roles(roles)?;
    let mut user = find_by_username(store, username).await?;
    store.set_user_roles(user.user_id, &roles, now).await?;
    user.roles = roles;
    user.updated_at = now;
    Ok(user)
}

/// Replaces a user's profile claims.
pub async fn update_profile(
    store: &dyn UserStore,
    username: &str,
    profile: UserProfile,
    now: Timestamp,
) -> Result<User, UserAdminError> {
    let mut user = find_by_username(store, username).await?;
    store
        .update_user_profile(user.user_id, &profile, now)
        .await?;
    user.profile = profile;
    user.updated_at = now;
    Ok(user)
}

/// Creates the first administrator of a fresh install: a user holding the
/// [`crate::roles::ADMIN_ROLE`] role. Refuses once any user holds that role, so it cannot
/// be used to mint a second way in.
pub async fn bootstrap_admin(
    store: &dyn UserStore,
    hasher: &PasswordHasher,
    mut new: NewUser,
    now: Timestamp,
) -> Result<User, UserAdminError> {
    // Refuse before paying for the hash; the store checks again, atomically, below.
    let users = store.list_users().await?;
    if users
        .iter()
        .any(|u| u.roles.iter().any(|r| r == crate::roles::ADMIN_ROLE))
    {
        return Err(UserAdminError::AdminExists);
    }
    new.roles.push(crate::roles::ADMIN_ROLE.to_owned());
    let user = new_user(hasher, new, now).await?;
    // One store step that checks and inserts under a lock: two bootstraps racing on a
    // fresh install cannot both create an administrator.
    match store
        .create_first_admin(&user, crate::roles::ADMIN_ROLE)
        .await
    {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict {
            constraint: constraints::ADMIN_EXISTS,
        }) => Err(UserAdminError::AdminExists),
        Err(StoreError::Conflict {
            constraint: constraints::USER_USERNAME,
        }) => Err(UserAdminError::UsernameTaken(user.username)),
        Err(e) => Err(e.into()),
    }
}
