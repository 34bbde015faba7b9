//! Password hashing: argon2id (OWASP parameters or stronger), run on the blocking pool
//! behind a semaphore so a login flood cannot starve the async runtime, with the same
//! cost for unknown users so timing does not reveal which accounts exist.

use std::sync::Arc;

use argon2::password_hash::PasswordVerifier as _;
use argon2::{Algorithm, Argon2, Params, Version, password_hash::PasswordHasher as _};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

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
}

/// Hashes and verifies passwords off the async runtime with bounded concurrency.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the user is unknown.
    dummy: Arc<PasswordHash>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the given cost and at most `max_concurrent` hashes in flight.
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
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: SecretString) -> Result<PasswordHash, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Task)?;
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
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Task)?;
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
