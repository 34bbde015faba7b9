//! PKCE (RFC 7636) through oxide-auth's extension, the one place oxide-auth is imported:
//! the engine encodes the S256 challenge and compares the verifier in constant time. We add
//! what it leaves out: only S256 (RFC 9700 §2.1.1), and the RFC 7636 §4.1/§4.2 syntax of
//! verifier and challenge. The rest of the code flow is ours (docs/decisions/0003).

use std::borrow::Cow;

use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::primitives::grant::Value;

/// A code challenge that was accepted at the authorization endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

/// Why a PKCE parameter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// `code_challenge_method` other than `S256` (`plain` included).
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    /// The challenge is not 43 base64url characters (SHA-256, RFC 7636 §4.2).
    #[error("code_challenge must be a base64url S256 challenge")]
    MalformedChallenge,
    /// The verifier is not 43-128 unreserved characters (RFC 7636 §4.1).
    #[error("code_verifier is malformed")]
    MalformedVerifier,
    /// The verifier does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

impl CodeChallenge {
    /// Accepts `code_challenge` with its method (absent means `plain`, which is refused).
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        if method != Some("S256") {
            return Err(PkceError::UnsupportedMethod);
        }
        if challenge.len() != 43
            || !challenge
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PkceError::MalformedChallenge);
        }
        // Let the engine accept it too, so what we store is what it will verify.
        Pkce::required()
            .challenge(Some(Cow::Borrowed("S256")), Some(Cow::Borrowed(challenge)))
            .map_err(|()| PkceError::MalformedChallenge)?;
        Ok(CodeChallenge(challenge.to_owned()))
    }

    /// Rebuilds a challenge read back from the store.
    pub fn from_stored(challenge: String) -> Self {
        CodeChallenge(challenge)
    }

    /// The challenge as sent (and stored).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks `verifier` against this challenge (RFC 7636 §4.6).
    pub fn verify(&self, verifier: &str) -> Result<(), PkceError> {
        if !(43..=128).contains(&verifier.len()) || !verifier.chars().all(is_unreserved) {
            return Err(PkceError::MalformedVerifier);
        }
        let pkce = Pkce::required();
        let encoded: Option<Value> = pkce
            .challenge(Some(Cow::Borrowed("S256")), Some(Cow::Borrowed(&self.0)))
            .map_err(|()| PkceError::MalformedChallenge)?;
        pkce.verify(encoded, Some(Cow::Borrowed(verifier)))
            .map_err(|()| PkceError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        let c = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(c.verify(VERIFIER), Ok(()));
    }

    #[test]
    fn wrong_or_malformed_verifier_fails() {
        let c = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(
            c.verify(&VERIFIER.replace('d', "e")),
            Err(PkceError::Mismatch)
        );
        assert_eq!(c.verify("short"), Err(PkceError::MalformedVerifier));
        assert_eq!(
            c.verify(&format!("{VERIFIER}!")),
            Err(PkceError::MalformedVerifier)
        );
    }

    #[test]
    fn plain_and_missing_methods_are_refused() {
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse("abc", Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }
}
