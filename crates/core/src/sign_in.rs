//! A password check guarded by the login throttle: the one way every form that takes a
//! user's password checks it (`/login`, `/account/login`, the account's password change),
//! so all of them count failures alike and all of them are held back alike.
//!
//! The throttle is asked first ([`crate::store::LoginThrottleStore::admit_login_attempt`]):
//! a held-back attempt is answered at once without looking the user up or checking the
//! password, the same way for unknown and known usernames, so a throttled answer reveals
//! neither the password nor whether the account exists. An admitted attempt is counted as
//! a failure before the check runs (a burst of concurrent guesses sees each other), and
//! the count is ended as a success or taken back if the check never ran. An unknown user
//! costs the same argon2 work as a wrong password (a dummy hash, `crate::password`).
//!
//! Every failure is an audit event (`login.failure`), and so is every failure that leaves
//! the next attempt held back (`login.throttle`). Attempts refused while held back are
//! logged but not audited: each costs the store a read only, and auditing them would turn
//! a flood of refusals into a flood of writes.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;

use crate::Timestamp;
use crate::audit::{self, Actor, Change};
use crate::client_addr::ClientAddr;
use crate::login_throttle::{Admission, AttemptEnd, ThrottleKeys, ThrottleLevel, ThrottlePolicy};
use crate::model::User;
use crate::password::{PasswordError, PasswordHasher};
use crate::store::{Store, StoreError};

/// One attempt to prove a password.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The username as typed (trimmed here, as every lookup trims it).
    pub username: &'a str,
    /// The password as typed.
    pub password: SecretString,
    /// Where the attempt comes from.
    pub client: Option<ClientAddr>,
    /// Who is asking, for the audit trail: anonymous on a login form, the signed-in user
    /// on the password change form.
    pub actor: Actor,
    /// Which form, for the audit trail (`login`, `account_login`, `password_change`).
    pub via: &'static str,
}

/// What the check came to.
#[derive(Debug)]
pub enum PasswordCheck {
    /// The password is right and the user enabled.
    Verified(Box<User>),
    /// Wrong password, unknown user or disabled user: one answer for all.
    Incorrect,
    /// Too many failures: not checked; try again after this long.
    Throttled {
        /// When to try again.
        retry_after: Duration,
    },
    /// Every hashing slot is busy: not checked, and not counted; try again after this long.
    Busy {
        /// When to try again.
        retry_after: Duration,
    },
}

/// Why the check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed (other than by being busy).
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// Checks `attempt` under `policy` at `now`.
pub async fn check_password(
    store: &dyn Store,
    hasher: &PasswordHasher,
    policy: &ThrottlePolicy,
    attempt: Attempt<'_>,
    now: Timestamp,
) -> Result<PasswordCheck, SignInError> {
    let username = attempt.username.trim();
    let keys = ThrottleKeys::new(username, attempt.client);
    let (counts, counted_for_account) = match store.admit_login_attempt(&keys, policy, now).await? {
        Admission::Held(held) => {
            tracing::info!(level = ?held.level, until = %held.until, via = attempt.via, "password check held back by the login throttle");
            return Ok(PasswordCheck::Throttled {
                retry_after: held.retry_after(now),
            });
        }
        Admission::Admitted {
            counts,
            counted_for_account,
        } => (counts, counted_for_account),
    };
    let not_checked = AttemptEnd::NotChecked {
        counted_for_account,
    };
    let user = match store.find_user_by_username(username).await {
        Ok(user) => user,
        Err(e) => {
            take_back(store, &keys, not_checked).await;
            return Err(e.into());
        }
    };
    let verified = match hasher
        .verify(user.as_ref().map(|u| &u.password_hash), attempt.password)
        .await
    {
        Ok(verified) => verified,
        Err(PasswordError::Busy { retry_after }) => {
            take_back(store, &keys, not_checked).await;
            return Ok(PasswordCheck::Busy { retry_after });
        }
        Err(e) => {
            take_back(store, &keys, not_checked).await;
            return Err(e.into());
        }
    };
    if let Some(user) = user.as_ref().filter(|u| verified && !u.disabled) {
        store
            .end_login_attempt(&keys, AttemptEnd::Succeeded)
            .await?;
        return Ok(PasswordCheck::Verified(Box::new(user.clone())));
    }
    // Only a username that names an account is recorded: an unknown one is as likely to be
    // a password typed into the wrong field, which must not end up in the audit trail.
    let target = user.as_ref().map(|u| u.username.as_str());
    let ip = attempt.client.map(|c| c.to_string());
    record(
        store,
        Change {
            actor: &attempt.actor,
            action: "login.failure",
            target,
            ip: ip.clone(),
            detail: json!({ "via": attempt.via, "known_user": user.is_some() }),
        },
        now,
    )
    .await;
    if let Some(held) = policy.held(&counts, now) {
        let retry_after = held.retry_after(now);
        tracing::warn!(level = ?held.level, until = %held.until, "login throttle imposed for {} s", retry_after.as_secs());
        record(
            store,
            Change {
                actor: &attempt.actor,
                action: "login.throttle",
                target,
                ip,
                detail: json!({
                    "via": attempt.via,
                    "level": held.level,
                    "until": held.until,
                    "failures": match held.level {
                        ThrottleLevel::Pair => counts.pair.failures,
                        ThrottleLevel::Account => counts.account.failures,
                        ThrottleLevel::Address => counts.address.failures,
                    },
                }),
            },
            now,
        )
        .await;
    }
    Ok(PasswordCheck::Incorrect)
}

/// Takes an attempt that was never checked back from the throttle's counts; a failure
/// here only leaves it counted as a failure (the safe side), so it is logged, not raised.
async fn take_back(store: &dyn Store, keys: &ThrottleKeys, end: AttemptEnd) {
    if let Err(e) = store.end_login_attempt(keys, end).await {
        tracing::error!(error = ?e, "taking an unchecked attempt back from the login throttle failed");
    }
}

/// Records an audit event; a failure is logged and does not change the answer.
async fn record(store: &dyn Store, change: Change<'_>, now: Timestamp) {
    let action = change.action;
    if let Err(e) = audit::record(store, change, now).await {
        tracing::error!(error = ?e, action, "recording a sign-in event failed");
    }
}
