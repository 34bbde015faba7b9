//! CSRF tokens for our HTML forms (OWASP "signed double-submit"): a token is an HMAC of
//! the form's purpose and what it is bound to (the browser's CSRF cookie, or its session),
//! so a page on another site can neither read nor forge one. Keyed from the
//! key-encryption key, so every replica accepts every other replica's tokens.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::keyring::{KeyEncryptionKey, KeyringError};

/// The form a token is for; a login token cannot be replayed on the consent form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfPurpose {
    /// The login form.
    Login,
    /// The consent form.
    Consent,
    /// Logout confirmation and account forms.
    Account,
}

impl CsrfPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            CsrfPurpose::Login => b"login",
            CsrfPurpose::Consent => b"consent",
            CsrfPurpose::Account => b"account",
        }
    }
}

/// The HMAC key for CSRF tokens.
#[derive(Clone)]
pub struct CsrfKey(hmac::Key);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

impl CsrfKey {
    /// Derives the CSRF key from the key-encryption key.
    pub fn derive(kek: &KeyEncryptionKey) -> Result<Self, KeyringError> {
        kek.derive_hmac_key(b"portcullis csrf v1").map(CsrfKey)
    }

    fn tag(&self, purpose: CsrfPurpose, binding: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(purpose.label());
        ctx.update(b"\0");
        ctx.update(binding);
        ctx.sign()
    }

    /// The token for `purpose`, bound to `binding`.
    pub fn token(&self, purpose: CsrfPurpose, binding: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(purpose, binding).as_ref())
    }

    /// Whether `token` was made by [`CsrfKey::token`] for this purpose and binding
    /// (constant-time).
    pub fn verify(&self, purpose: CsrfPurpose, binding: &[u8], token: &str) -> bool {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        let mut ctx = Vec::with_capacity(binding.len() + 9);
        ctx.extend_from_slice(purpose.label());
        ctx.push(0);
        ctx.extend_from_slice(binding);
        hmac::verify(&self.0, &ctx, &presented).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_verifies_only_for_its_purpose_and_binding() {
        let kek = KeyEncryptionKey::generate().unwrap().0;
        let key = CsrfKey::derive(&kek).unwrap();
        let t = key.token(CsrfPurpose::Login, b"cookie-1");
        assert!(key.verify(CsrfPurpose::Login, b"cookie-1", &t));
        assert!(!key.verify(CsrfPurpose::Login, b"cookie-2", &t));
        assert!(!key.verify(CsrfPurpose::Consent, b"cookie-1", &t));
        assert!(!key.verify(CsrfPurpose::Login, b"cookie-1", "not-a-token"));
        let other = CsrfKey::derive(&KeyEncryptionKey::generate().unwrap().0).unwrap();
        assert!(!other.verify(CsrfPurpose::Login, b"cookie-1", &t));
    }
}
