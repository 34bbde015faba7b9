//! Translation of sqlx errors into [`StoreError`]: unique violations become
//! `Conflict` with the constraint name callers match on (each backend reports it its own
//! way, see its `constraint_of`), everything else is opaque.

use portcullis_core::store::StoreError;
use sqlx::error::ErrorKind;

use super::backend::constraint_of;

/// Maps any sqlx error to a [`StoreError`].
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.kind() == ErrorKind::UniqueViolation
    {
        return StoreError::Conflict {
            constraint: constraint_of(db.as_ref()),
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
