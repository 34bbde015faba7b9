//! Secrets a client or browser holds (client secrets, codes, refresh tokens, session ids,
//! registration tokens): generated from the OS CSPRNG, shown once, stored only as SHA-256.

use aws_lc_rs::{digest, rand::SecureRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Failure of the operating system's random source; nothing sensible can continue.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Fills `buf` from the system CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomError> {
    aws_lc_rs::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| RandomError)
}

/// The kinds of bearer secret we hand out; the prefix makes a leaked value recognisable
/// (secret scanners) and stops one kind being replayed as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// An OAuth client secret.
    ClientSecret,
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode,
    /// A refresh token (RFC 6749 §1.5).
    RefreshToken,
    /// A browser session id (the cookie value).
    Session,
    /// An RFC 7592 registration access token.
    RegistrationToken,
    /// An RFC 7591 §3 initial access token, which lets its holder register clients.
    InitialAccessToken,
    /// A CSRF token bound to a form.
    Csrf,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "pcs_",
            SecretKind::AuthorizationCode => "pcc_",
            SecretKind::RefreshToken => "pcr_",
            SecretKind::Session => "pse_",
            SecretKind::RegistrationToken => "prt_",
            SecretKind::InitialAccessToken => "pia_",
            SecretKind::Csrf => "pcf_",
        }
    }
}

/// A freshly generated secret in plaintext: 256 random bits, base64url, with a type
/// prefix. It exists only long enough to be shown to its holder once.
pub struct PlainSecret(String);

impl PlainSecret {
    /// Generates a new 256-bit secret of the given kind.
    pub fn generate(kind: SecretKind) -> Result<Self, RandomError> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        Ok(PlainSecret(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// The value to hand to the holder.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash to store.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl std::fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainSecret(<redacted>)")
    }
}

/// SHA-256 of a presented secret: what the store keeps and looks up by. A database leak
/// therefore yields no usable code, token or session.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Hashes a secret as presented by a client or browser.
    pub fn of(presented: &str) -> Self {
        let d = digest::digest(&digest::SHA256, presented.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        SecretHash(out)
    }

    /// Rebuilds a hash read back from the store.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(SecretHash)
    }

    /// The raw 32 bytes, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison against a presented secret (for client secrets checked
    /// against one known hash rather than looked up by hash).
    pub fn matches(&self, presented: &str) -> bool {
        let other = SecretHash::of(presented);
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only a short fingerprint: enough to correlate, never the whole digest.
        write!(f, "SecretHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_prefixed_long_and_distinct() {
        let a = PlainSecret::generate(SecretKind::RefreshToken).unwrap();
        let b = PlainSecret::generate(SecretKind::RefreshToken).unwrap();
        assert!(a.expose().starts_with("pcr_"));
        // 32 bytes in unpadded base64url are 43 characters.
        assert_eq!(a.expose().len(), 4 + 43);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn hash_matches_only_the_original_secret() {
        let s = PlainSecret::generate(SecretKind::ClientSecret).unwrap();
        let h = s.hash();
        assert!(h.matches(s.expose()));
        assert!(!h.matches("pcs_something-else"));
        assert_eq!(SecretHash::from_slice(h.as_bytes()), Some(h));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = PlainSecret::generate(SecretKind::Session).unwrap();
        assert!(!format!("{s:?}").contains(s.expose()));
    }
}
