//! Password hashing: argon2id (OWASP parameters or stronger), run on the blocking pool
//! behind a semaphore so a login flood cannot starve the async runtime, with the same
//! cost for unknown users so timing does not reveal which accounts exist.
//!
//! The queue for the semaphore is bounded too, in length and in waiting time: a flood
//! that outruns the hashing slots would otherwise pile up requests (each holding a
//! connection and its memory) without end, and a login that waits a minute for its turn
//! is no better than one refused at once with a time to come back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::PasswordVerifier as _;
use argon2::{Algorithm, Argon2, Params, Version, password_hash::PasswordHasher as _};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::secret::{RandomError, fill_random};

/// A PHC-format argon2id hash string as stored in the user table.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Argon2Params {
    /// Memory in KiB (OWASP minimum for t=2: 19456).
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why hashing or verification could not run (not "wrong password", which is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The parameters are outside what argon2 accepts.
    #[error("invalid argon2 parameters")]
    Params,
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// argon2 itself failed.
    #[error("argon2 failed")]
    Hash,
    /// The blocking task was cancelled or panicked.
    #[error("password hashing task failed")]
    Task,
    /// Every hashing slot is taken and the queue for them is full, or the wait for one
    /// ran out: try again after `retry_after`.
    #[error("every password hashing slot is busy")]
    Busy {
        /// When a retry may find a free slot.
        retry_after: Duration,
    },
}

/// `Retry-After` seconds for a wait of `d`: rounded up, at least 1 (RFC 9110 §10.2.3).
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    secs.max(1)
}

/// How long a hash or verification may wait for a hashing slot, and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashQueue {
    /// The longest wait for a slot before giving up with [`PasswordError::Busy`].
    pub timeout: Duration,
    /// How many may wait at once; one more is refused with [`PasswordError::Busy`] at
    /// once.
    pub max_waiting: usize,
}

impl HashQueue {
    /// No bound: wait as long as it takes (one-off use, such as the CLI).
    pub const UNBOUNDED: HashQueue = HashQueue {
        timeout: Duration::MAX,
        max_waiting: usize::MAX,
    };
}

/// One hashing slot, held until dropped: every hash and verification holds one while it
/// runs. Public so that a test can hold the slots full and see what a flood would.
#[derive(Debug)]
pub struct HashSlot {
    _permit: OwnedSemaphorePermit,
}

/// Hashes and verifies passwords off the async runtime with bounded concurrency.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    queue: HashQueue,
    /// How many are waiting for a slot now.
    waiting: Arc<AtomicUsize>,
    /// A real hash of a random password, verified against when the user is unknown.
    dummy: Arc<PasswordHash>,
}

/// A place in the queue for a slot, given up when dropped (the wait ended either way, or
/// the request was cancelled).
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the given cost and at most `max_concurrent` hashes in flight; the
    /// rest wait for a slot without bound (see [`PasswordHasher::with_queue`]).
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, PasswordError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|_| PasswordError::Params)?;
        let mut random = [0u8; 32];
        fill_random(&mut random)?;
        let dummy = hash_blocking(&params, &random)?;
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queue: HashQueue::UNBOUNDED,
            waiting: Arc::new(AtomicUsize::new(0)),
            dummy: Arc::new(dummy),
        })
    }

    /// The same hasher with its queue for slots bounded by `queue`.
    #[must_use]
    pub fn with_queue(mut self, queue: HashQueue) -> Self {
        self.queue = queue;
        self
    }

    /// Takes a hashing slot: at once if one is free, else after waiting in line, if the
    /// line is not full, for at most the queue's timeout.
    pub async fn acquire_slot(&self) -> Result<HashSlot, PasswordError> {
        // A free permit exists only while nobody waits (tokio hands released permits to
        // waiters first), so this never jumps the queue.
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(HashSlot { _permit: permit });
        }
        let busy = PasswordError::Busy {
            retry_after: self.queue.timeout.max(Duration::from_secs(1)),
        };
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _in_queue = InQueue(&self.waiting);
        if ahead >= self.queue.max_waiting {
            return Err(busy);
        }
        match tokio::time::timeout(self.queue.timeout, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(HashSlot { _permit: permit }),
            Ok(Err(_)) => Err(PasswordError::Task),
            Err(_) => Err(busy),
        }
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: SecretString) -> Result<PasswordHash, PasswordError> {
        let _slot = self.acquire_slot().await?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            hash_blocking(&params, password.expose_secret().as_bytes())
        })
        .await
        .map_err(|_| PasswordError::Task)?
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user) it verifies
    /// against a dummy hash of the same cost and answers `false`.
    pub async fn verify(
        &self,
        stored: Option<&PasswordHash>,
        password: SecretString,
    ) -> Result<bool, PasswordError> {
        let _slot = self.acquire_slot().await?;
        let known = stored.is_some();
        let hash = stored.cloned().unwrap_or_else(|| (*self.dummy).clone());
        let matched = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), hash.0.as_str())
                .is_ok()
        })
        .await
        .map_err(|_| PasswordError::Task)?;
        Ok(known && matched)
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<PasswordHash, PasswordError> {
    let mut salt = [0u8; 16];
    fill_random(&mut salt)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash = argon
        .hash_password_with_salt(password, &salt)
        .map_err(|_| PasswordError::Hash)?;
    Ok(PasswordHash(hash.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(
            Argon2Params {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn hash_is_argon2id_and_verifies_only_the_right_password() {
        let hasher = cheap();
        let hash = hasher
            .hash(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$"));
        assert!(
            hasher
                .verify(Some(&hash), SecretString::from("correct horse"))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Some(&hash), SecretString::from("wrong"))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_a_long_wait_gives_up() {
        let hasher = PasswordHasher::new(
            Argon2Params {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        let no_queue = hasher.clone().with_queue(HashQueue {
            timeout: Duration::from_secs(3600),
            max_waiting: 0,
        });
        let short_wait = hasher.clone().with_queue(HashQueue {
            timeout: Duration::from_millis(20),
            max_waiting: 8,
        });
        let held = hasher.acquire_slot().await.unwrap();

        let refused = no_queue.verify(None, SecretString::from("x")).await;
        let timed_out = short_wait.verify(None, SecretString::from("x")).await;

        assert!(
            matches!(refused, Err(PasswordError::Busy { retry_after }) if retry_after == Duration::from_secs(3600)),
            "{refused:?}"
        );
        assert!(
            matches!(timed_out, Err(PasswordError::Busy { retry_after }) if retry_after == Duration::from_secs(1)),
            "{timed_out:?}"
        );
        assert_eq!(
            hasher.waiting.load(Ordering::SeqCst),
            0,
            "nobody is left queued"
        );
        drop(held);
        assert!(
            !no_queue
                .verify(None, SecretString::from("x"))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let hasher = cheap();
        assert!(
            !hasher
                .verify(None, SecretString::from("anything"))
                .await
                .unwrap()
        );
    }
}
