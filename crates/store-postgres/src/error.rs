//! Translation of sqlx errors into [`StoreError`]: unique violations become
//! `Conflict` with the constraint name callers match on, everything else is opaque.

use portcullis_core::store::{StoreError, constraints};
use sqlx::error::ErrorKind;

/// The unique constraints callers tell apart, by the names the migration declares.
const NAMED: &[&str] = &[
    constraints::USER_USERNAME,
    constraints::CLIENT_PKEY,
    constraints::KEYRING_BOOTSTRAP,
    constraints::SIGNING_KEY_PKEY,
];

/// Maps any sqlx error to a [`StoreError`].
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.kind() == ErrorKind::UniqueViolation
    {
        return StoreError::Conflict {
            constraint: constraint_of(db.constraint()),
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

fn constraint_of(name: Option<&str>) -> &'static str {
    NAMED
        .iter()
        .find(|known| Some(**known) == name)
        .map_or(constraints::OTHER, |known| known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_constraint_names_pass_through() {
        assert_eq!(
            constraint_of(Some("user_account_username_key")),
            constraints::USER_USERNAME
        );
        assert_eq!(
            constraint_of(Some("keyring_bootstrap_pkey")),
            constraints::KEYRING_BOOTSTRAP
        );
        assert_eq!(constraint_of(Some("consent_pkey")), constraints::OTHER);
        assert_eq!(constraint_of(None), constraints::OTHER);
    }
}
