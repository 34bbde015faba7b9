//! Translation of sqlx errors into [`StoreError`]: unique violations become
//! `Conflict` with the constraint name callers match on, everything else is opaque.

use portcullis_core::store::{StoreError, constraints};
use sqlx::error::ErrorKind;

/// SQLite reports which columns a unique index covers (`UNIQUE constraint failed:
/// user_account.username`), never the constraint's name, so the names declared in the
/// migration are recovered from the column list.
const UNIQUE_COLUMNS: &[(&str, &str)] = &[
    ("user_account.username", constraints::USER_USERNAME),
    ("client.client_id", constraints::CLIENT_PKEY),
    (
        "keyring_bootstrap.keyring_bootstrap_id",
        constraints::KEYRING_BOOTSTRAP,
    ),
    ("signing_key.kid", constraints::SIGNING_KEY_PKEY),
];

/// Maps any sqlx error to a [`StoreError`].
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.kind() == ErrorKind::UniqueViolation
    {
        return StoreError::Conflict {
            constraint: constraint_of(db.message()),
        };
    }
    StoreError::Database(Box::new(e))
}

/// `NotFound` when an update or delete of one row by key touched nothing.
pub(crate) fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn constraint_of(message: &str) -> &'static str {
    let columns = message
        .rsplit_once(": ")
        .map_or("", |(_, cols)| cols.trim());
    UNIQUE_COLUMNS
        .iter()
        .find(|(cols, _)| *cols == columns)
        .map_or(constraints::OTHER, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_map_to_declared_constraint_names() {
        assert_eq!(
            constraint_of("UNIQUE constraint failed: user_account.username"),
            constraints::USER_USERNAME
        );
        assert_eq!(
            constraint_of("UNIQUE constraint failed: keyring_bootstrap.keyring_bootstrap_id"),
            constraints::KEYRING_BOOTSTRAP
        );
        assert_eq!(
            constraint_of("UNIQUE constraint failed: consent.user_id, consent.client_id"),
            constraints::OTHER
        );
        assert_eq!(constraint_of("something else"), constraints::OTHER);
    }
}
