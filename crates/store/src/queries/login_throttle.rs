//! [`LoginThrottleStore`] over `login_throttle`: one row per key (an account-and-network
//! pair, an account, a network), holding only a failure count, the last failure's time and
//! when the count is forgotten.
//!
//! An admission is one write transaction: the three rows are made to exist (so that
//! Postgres has rows to lock; SQLite's transaction holds its one write lock anyway), read
//! under lock in key order (`for_update!`), judged by the policy, and counted only if let
//! through. Every attempt under a shared key therefore waits for the one before it, and
//! sees its count: a burst of concurrent guesses cannot all pass on one reading. Attempts
//! share keys only of the same kind (two pairs share all three, or none), and lock them in
//! one order, so two admissions never wait on each other in a cycle.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::login_throttle::{
    Admission, AttemptEnd, FailureCount, ThrottleCounts, ThrottleKeys, ThrottlePolicy,
};
use portcullis_core::secret::SecretHash;
use portcullis_core::store::{LoginThrottleStore, StoreError};

use super::backend::DbStore;
use super::error::from_sqlx;

/// A count as stored: `(throttle_key, failures, last_failure_at, expires_at)`.
type CountRow = (Vec<u8>, i64, i64, i64);

/// The count a row holds at `now`: none once forgotten.
fn count_of(rows: &[CountRow], key: &SecretHash, now: Timestamp) -> FailureCount {
    rows.iter()
        .find(|(k, ..)| k.as_slice() == key.as_bytes())
        .filter(|(_, _, _, expires_at)| *expires_at > now.0)
        .map(|(_, failures, last, _)| FailureCount {
            failures: u32::try_from(*failures).unwrap_or(0),
            last_failure_at: Timestamp(*last),
        })
        .unwrap_or_default()
}

/// `count` with one more failure at `now`.
fn plus_one(count: FailureCount, now: Timestamp) -> FailureCount {
    FailureCount {
        failures: count.failures.saturating_add(1),
        last_failure_at: now,
    }
}

#[async_trait]
impl LoginThrottleStore for DbStore {
    async fn admit_login_attempt(
        &self,
        keys: &ThrottleKeys,
        policy: &ThrottlePolicy,
        now: Timestamp,
    ) -> Result<Admission, StoreError> {
        let mut tx = self.begin_write().await?;
        // Empty rows (expires_at 0 reads as forgotten) where none exist yet.
        sqlx::query(
            "insert into login_throttle \
             (throttle_key, account_hash, failures, last_failure_at, expires_at) \
             values ($1, $2, 0, 0, 0), ($2, $2, 0, 0, 0), ($3, null, 0, 0, 0) \
             on conflict (throttle_key) do nothing",
        )
        .bind(keys.pair.as_bytes())
        .bind(keys.account.as_bytes())
        .bind(keys.address.as_bytes())
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        let rows: Vec<CountRow> = sqlx::query_as(concat!(
            "select throttle_key, failures, last_failure_at, expires_at from login_throttle \
             where throttle_key in ($1, $2, $3) order by throttle_key",
            for_update!()
        ))
        .bind(keys.pair.as_bytes())
        .bind(keys.account.as_bytes())
        .bind(keys.address.as_bytes())
        .fetch_all(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        let before = ThrottleCounts {
            pair: count_of(&rows, &keys.pair, now),
            account: count_of(&rows, &keys.account, now),
            address: count_of(&rows, &keys.address, now),
        };
        if let Some(held) = policy.held(&before, now) {
            // Nothing is counted, not even the empty rows.
            tx.rollback().await.map_err(from_sqlx)?;
            return Ok(Admission::Held(held));
        }
        let pair = plus_one(before.pair, now);
        let counted_for_account = policy.counts_for_account(pair.failures);
        let account = if counted_for_account {
            plus_one(before.account, now)
        } else {
            before.account
        };
        // A forgotten count starts again at one. The account key is left out by naming the
        // pair twice.
        let account_or_pair = if counted_for_account {
            &keys.account
        } else {
            &keys.pair
        };
        sqlx::query(
            "update login_throttle set \
             failures = case when expires_at <= $1 then 1 else failures + 1 end, \
             last_failure_at = $1, expires_at = $2 \
             where throttle_key in ($3, $4, $5)",
        )
        .bind(now.0)
        .bind(policy.forget_at(now).0)
        .bind(keys.pair.as_bytes())
        .bind(account_or_pair.as_bytes())
        .bind(keys.address.as_bytes())
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(Admission::Admitted {
            counts: ThrottleCounts {
                pair,
                account,
                address: plus_one(before.address, now),
            },
            counted_for_account,
        })
    }

    async fn end_login_attempt(
        &self,
        keys: &ThrottleKeys,
        end: AttemptEnd,
    ) -> Result<(), StoreError> {
        let take_back = "update login_throttle set failures = failures - 1 \
                         where throttle_key in ($1, $2, $3) and failures > 0";
        match end {
            AttemptEnd::Succeeded => {
                let mut tx = self.begin_write().await?;
                sqlx::query("delete from login_throttle where throttle_key in ($1, $2)")
                    .bind(keys.pair.as_bytes())
                    .bind(keys.account.as_bytes())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                sqlx::query(take_back)
                    .bind(keys.address.as_bytes())
                    .bind(keys.address.as_bytes())
                    .bind(keys.address.as_bytes())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                tx.commit().await.map_err(from_sqlx)?;
            }
            AttemptEnd::NotChecked {
                counted_for_account,
            } => {
                let account_or_pair = if counted_for_account {
                    &keys.account
                } else {
                    &keys.pair
                };
                sqlx::query(take_back)
                    .bind(keys.pair.as_bytes())
                    .bind(account_or_pair.as_bytes())
                    .bind(keys.address.as_bytes())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err(from_sqlx)?;
            }
        }
        Ok(())
    }

    async fn clear_login_throttle(&self, account: &SecretHash) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from login_throttle where account_hash = $1")
            .bind(account.as_bytes())
            .execute(&mut *self.writer().await?)
            .await
            .map_err(from_sqlx)?;
        Ok(done.rows_affected())
    }
}
