//! The public keys a client registers for `private_key_jwt` authentication (RFC 7523 §2.2,
//! OIDC Core §9): an inline `jwks` or a `jwks_uri` (RFC 7591 §2, which also forbids
//! registering both). Keys are checked once at registration and again each time they are
//! loaded, so a bad key set is refused where it enters, and a key set fetched later from a
//! `jwks_uri` gets the same rules.
//!
//! Each usable key fixes its own algorithm (RSA → RS256, EC P-256 → ES256, OKP Ed25519 →
//! EdDSA): the `alg` of an assertion header is only compared with it, never trusted to
//! pick one (RFC 8725 §3.1, §3.2).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use url::{Host, Url};

/// The most keys one client may register: enough for a rollover, small enough that
/// trying each one costs little.
pub const MAX_CLIENT_KEYS: usize = 10;

/// The assertion signature algorithms we accept, as advertised in discovery
/// (`token_endpoint_auth_signing_alg_values_supported`).
pub const ASSERTION_ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// Smallest RSA modulus accepted, in bytes (2048 bits, NIST SP 800-131A).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// Why a key set or `jwks_uri` cannot be used. [`ClientKeysError::problem`] is fixed text
/// suitable for an `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKeysError {
    /// Not a JSON object with a `keys` array of JWKs (RFC 7517 §5).
    NotAJwkSet,
    /// An empty `keys` array.
    Empty,
    /// More than [`MAX_CLIENT_KEYS`].
    TooManyKeys,
    /// A key carries private or symmetric material.
    PrivateKey,
    /// A key we cannot verify signatures with (type, curve, size or `alg`).
    UnsupportedKey,
    /// The URI is not an absolute https URL (http only on loopback, in development).
    BadUri,
}

impl ClientKeysError {
    /// The fixed description.
    pub fn problem(self) -> &'static str {
        match self {
            ClientKeysError::NotAJwkSet => "must be a JWK set: an object with a keys array",
            ClientKeysError::Empty => "must hold at least one key",
            ClientKeysError::TooManyKeys => "must hold at most 10 keys",
            ClientKeysError::PrivateKey => "must hold public keys only",
            ClientKeysError::UnsupportedKey => {
                "holds a key that is not an RSA (2048 bits or more), P-256 or Ed25519 signing key"
            }
            ClientKeysError::BadUri => "must be an https URL without a fragment",
        }
    }
}

impl std::fmt::Display for ClientKeysError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.problem())
    }
}

impl std::error::Error for ClientKeysError {}

/// One registered key, ready to verify assertions.
#[derive(Clone)]
pub struct ClientKey {
    /// `kid`, when the key has one.
    pub kid: Option<String>,
    /// The one algorithm this key verifies.
    pub alg: Algorithm,
    /// The verification key.
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Members of a JWK that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2,
/// §6.4.1, RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Parses and checks a client's JWK set.
pub fn parse_jwk_set(value: &serde_json::Value) -> Result<Vec<ClientKey>, ClientKeysError> {
    let keys = value
        .as_object()
        .and_then(|o| o.get("keys"))
        .and_then(serde_json::Value::as_array)
        .ok_or(ClientKeysError::NotAJwkSet)?;
    if keys.is_empty() {
        return Err(ClientKeysError::Empty);
    }
    if keys.len() > MAX_CLIENT_KEYS {
        return Err(ClientKeysError::TooManyKeys);
    }
    keys.iter().map(parse_key).collect()
}

fn parse_key(raw: &serde_json::Value) -> Result<ClientKey, ClientKeysError> {
    let object = raw.as_object().ok_or(ClientKeysError::NotAJwkSet)?;
    if PRIVATE_MEMBERS.iter().any(|m| object.contains_key(*m)) {
        return Err(ClientKeysError::PrivateKey);
    }
    let jwk: Jwk =
        serde_json::from_value(raw.clone()).map_err(|_| ClientKeysError::UnsupportedKey)?;
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Err(ClientKeysError::UnsupportedKey);
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = base64_len(&rsa.n).ok_or(ClientKeysError::UnsupportedKey)?;
            if n < MIN_RSA_MODULUS_BYTES {
                return Err(ClientKeysError::UnsupportedKey);
            }
            Algorithm::RS256
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => return Err(ClientKeysError::PrivateKey),
        _ => return Err(ClientKeysError::UnsupportedKey),
    };
    // A key that names an algorithm must name the one its type implies.
    if let Some(named) = jwk.common.key_algorithm
        && !key_algorithm_matches(named, alg)
    {
        return Err(ClientKeysError::UnsupportedKey);
    }
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| ClientKeysError::UnsupportedKey)?;
    Ok(ClientKey {
        kid: jwk.common.key_id,
        alg,
        decoding,
    })
}

fn key_algorithm_matches(named: KeyAlgorithm, alg: Algorithm) -> bool {
    matches!(
        (named, alg),
        (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
    )
}

/// Decoded length of an unpadded base64url value.
fn base64_len(encoded: &str) -> Option<usize> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .map(|b| b.iter().skip_while(|x| **x == 0).count())
}

/// Checks a `jwks_uri`: an absolute https URL without a fragment or user information;
/// plain http only on a loopback host and only when `allow_loopback_http` (development).
pub fn validate_jwks_uri(raw: &str, allow_loopback_http: bool) -> Result<Url, ClientKeysError> {
    let url = Url::parse(raw).map_err(|_| ClientKeysError::BadUri)?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ClientKeysError::BadUri);
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if allow_loopback_http && is_loopback(&url) => Ok(url),
        _ => Err(ClientKeysError::BadUri),
    }
}

/// `localhost` or a loopback IP literal.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ec_key() -> serde_json::Value {
        // RFC 7517 Appendix A.1, first key.
        json!({"kty":"EC","crv":"P-256",
            "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
            "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
            "use":"sig","kid":"1"})
    }

    #[test]
    fn a_public_p256_key_verifies_es256() {
        let keys = parse_jwk_set(&json!({"keys": [ec_key()]})).unwrap();
        assert_eq!(keys[0].alg, Algorithm::ES256);
        assert_eq!(keys[0].kid.as_deref(), Some("1"));
    }

    #[test]
    fn private_symmetric_and_malformed_sets_are_refused() {
        let mut private = ec_key();
        private["d"] = json!("870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE");
        assert_eq!(
            parse_jwk_set(&json!({"keys": [private]})).unwrap_err(),
            ClientKeysError::PrivateKey
        );
        assert_eq!(
            parse_jwk_set(&json!({"keys": [{"kty":"oct","k":"AAAA"}]})).unwrap_err(),
            ClientKeysError::PrivateKey
        );
        assert_eq!(
            parse_jwk_set(&json!([ec_key()])).unwrap_err(),
            ClientKeysError::NotAJwkSet
        );
        assert_eq!(
            parse_jwk_set(&json!({"keys": []})).unwrap_err(),
            ClientKeysError::Empty
        );
        let many: Vec<_> = (0..11).map(|_| ec_key()).collect();
        assert_eq!(
            parse_jwk_set(&json!({ "keys": many })).unwrap_err(),
            ClientKeysError::TooManyKeys
        );
    }

    #[test]
    fn a_key_naming_another_algorithm_or_use_is_refused() {
        let mut wrong_alg = ec_key();
        wrong_alg["alg"] = json!("RS256");
        assert_eq!(
            parse_jwk_set(&json!({"keys": [wrong_alg]})).unwrap_err(),
            ClientKeysError::UnsupportedKey
        );
        let mut enc = ec_key();
        enc["use"] = json!("enc");
        assert_eq!(
            parse_jwk_set(&json!({"keys": [enc]})).unwrap_err(),
            ClientKeysError::UnsupportedKey
        );
    }

    #[test]
    fn jwks_uri_must_be_https_or_loopback_http_in_development() {
        assert!(validate_jwks_uri("https://app.example/jwks", false).is_ok());
        assert!(validate_jwks_uri("http://127.0.0.1:9/jwks", true).is_ok());
        for (uri, dev) in [
            ("http://127.0.0.1:9/jwks", false),
            ("http://app.example/jwks", true),
            ("https://app.example/jwks#x", false),
            ("https://u:p@app.example/jwks", false),
            ("file:///etc/passwd", true),
            ("not a uri", true),
        ] {
            assert_eq!(
                validate_jwks_uri(uri, dev).unwrap_err(),
                ClientKeysError::BadUri,
                "{uri}"
            );
        }
    }
}
