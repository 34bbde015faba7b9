//! The JWTs we hand out, signed by the keyring's parsed keys (aws-lc-rs) and verified with
//! jsonwebtoken: RFC 9068 access tokens (`typ: at+jwt`) and OpenID Connect ID tokens
//! (OIDC Core §2), and the verification of our own access tokens at `/userinfo` and
//! `/introspect`, with the verified-signature cache that keeps those endpoints cheap.

pub mod liveness;

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::keyring::{KeySet, SignError, SigningKey};
use crate::model::SigningAlg;
use crate::secret::{RandomError, fill_random};

/// How long what the token endpoint issues lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Access tokens.
    pub access_token: std::time::Duration,
    /// ID tokens.
    pub id_token: std::time::Duration,
    /// Refresh tokens, absolute (from the first one of a grant).
    pub refresh_token: std::time::Duration,
    /// Refresh tokens, idle.
    pub refresh_token_idle: std::time::Duration,
}

/// The algorithm access tokens are signed with: ES256 signs and verifies far faster than
/// RS256 and resource servers read the key from the JWKS either way.
pub const ACCESS_TOKEN_ALG: SigningAlg = SigningAlg::Es256;

/// The default ID token algorithm (OIDC Discovery §3: RS256 MUST be supported, and it is
/// what clients assume without `id_token_signed_response_alg`).
pub const DEFAULT_ID_TOKEN_ALG: SigningAlg = SigningAlg::Rs256;

/// The `aud` of our access tokens: we are the resource server for `/userinfo`, so the
/// audience is our issuer.
pub fn access_token_audience(issuer: &str) -> String {
    issuer.to_owned()
}

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of an RFC 9068 access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id, or the client id for client_credentials.
    pub sub: String,
    /// Audience: the resource server (our issuer for `/userinfo`).
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// Unique id (for revocation lists).
    pub jti: String,
    /// The grant it hangs off (absent for client_credentials): revoking the grant revokes
    /// the token at every endpoint we control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// Browser session id, when issued from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Time of the user's authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// Claims of an OpenID Connect ID token (OIDC Core §2, §3.1.3.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience: the client id.
    pub aud: String,
    /// Authorized party: the client id.
    pub azp: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Time of the user's authentication.
    pub auth_time: i64,
    /// The request's nonce, when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Access token hash (OIDC Core §3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Session id (for logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Authentication methods (RFC 8176).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// An ID token's claims with the user claims its scope puts into it: `roles` with the
/// `roles` scope (OIDC Core §5.4 leaves extra scopes and claims to the provider).
#[derive(Debug, Clone, Serialize)]
pub struct IdTokenWithRoles<'a> {
    /// The standard claims.
    #[serde(flatten)]
    pub claims: &'a IdTokenClaims,
    /// The user's roles, when the `roles` scope was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<&'a [String]>,
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// No key of the wanted algorithm is active (keyring misconfigured).
    #[error("no active {0:?} signing key")]
    NoActiveKey(SigningAlg),
    /// Signing failed.
    #[error("signing failed")]
    Sign(#[source] SignError),
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
}

pub(crate) fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::Es256 => Algorithm::ES256,
    }
}

/// Signs `claims` with `key`, naming the key (`kid`) and the token type (`typ`).
pub(crate) fn sign<T: Serialize>(
    key: &SigningKey,
    typ: &str,
    claims: &T,
) -> Result<String, MintError> {
    let mut header = Header::new(jwt_alg(key.alg));
    header.kid = Some(key.kid.clone());
    header.typ = Some(typ.to_owned());
    key.sign_jwt(&header, claims).map_err(MintError::Sign)
}

/// A fresh `jti`: 128 random bits.
pub fn new_jti() -> Result<String, RandomError> {
    let mut b = [0u8; 16];
    fill_random(&mut b)?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// Signs an access token with the active key of `alg`.
pub fn mint_access_token(
    keys: &KeySet,
    alg: SigningAlg,
    claims: &AccessTokenClaims,
    now: Timestamp,
) -> Result<String, MintError> {
    let key = keys
        .signing_key(alg, now)
        .ok_or(MintError::NoActiveKey(alg))?;
    sign(key, ACCESS_TOKEN_TYP, claims)
}

/// Signs an ID token (an [`IdTokenClaims`], or one with extra claims such as
/// [`IdTokenWithRoles`]) with the active key of `alg`.
pub fn mint_id_token<T: Serialize>(
    keys: &KeySet,
    alg: SigningAlg,
    claims: &T,
    now: Timestamp,
) -> Result<String, MintError> {
    let key = keys
        .signing_key(alg, now)
        .ok_or(MintError::NoActiveKey(alg))?;
    sign(key, "JWT", claims)
}

/// `at_hash` (OIDC Core §3.1.3.6): base64url of the left half of the SHA-256 of the access
/// token's ASCII form; SHA-256 because both RS256 and ES256 use it.
pub fn at_hash(access_token: &str) -> String {
    let d = digest::digest(&digest::SHA256, access_token.as_bytes());
    let bytes = d.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// Why a JWT was not signed by one of our published keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureFailure {
    /// No `kid`, or the payload is not what was expected.
    Malformed,
    /// No published key has this `kid`.
    UnknownKey,
    /// The signature does not verify, or the header's algorithm is not the key's.
    BadSignature,
}

/// Decodes a JWT (whose `header` the caller has already read and type-checked) if one of
/// our published keys signed it. The algorithm comes from our key, never from the token
/// header (RFC 8725 §3.1); claims are left to the caller, which checks them against the
/// injected clock rather than jsonwebtoken's system time.
pub(crate) fn decode_signed_by_us<T: serde::de::DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    header: &Header,
) -> Result<T, SignatureFailure> {
    let kid = header.kid.as_deref().ok_or(SignatureFailure::Malformed)?;
    let key = keys
        .verification_key(kid)
        .ok_or(SignatureFailure::UnknownKey)?;
    let alg = jwt_alg(key.alg);
    if header.alg != alg {
        return Err(SignatureFailure::BadSignature);
    }
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => SignatureFailure::BadSignature,
            _ => SignatureFailure::Malformed,
        })
}

/// Why an access token was not accepted. The variants are for logs; every one of them is
/// `invalid_token` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    /// Not a JWT, or its header is not ours.
    #[error("malformed token")]
    Malformed,
    /// `typ` is not `at+jwt` (RFC 9068 §4: an ID token must not pass as an access token).
    #[error("wrong token type")]
    WrongType,
    /// No published key has this `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify, or the algorithm does not match the key.
    #[error("bad signature")]
    BadSignature,
    /// `iss` or `aud` is not ours.
    #[error("wrong issuer or audience")]
    WrongIssuer,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
}

/// Verifies one of our access tokens: `typ`, `kid`, algorithm, signature, issuer,
/// audience and expiry (against the injected clock, not the system's). A token this key
/// set verified before skips the signature check, never the others.
pub fn verify_access_token(
    keys: &KeySet,
    issuer: &str,
    audience: &str,
    token: &str,
    now: Timestamp,
) -> Result<AccessTokenClaims, AccessTokenError> {
    let cache = keys.verified_access_tokens();
    let digest = VerifiedAccessTokens::digest(token);
    let claims = match cache.get(&digest) {
        Some(claims) => claims,
        None => {
            let claims = verify_access_token_signature(keys, token)?;
            cache.insert(digest, &claims, now);
            claims
        }
    };
    if claims.iss != issuer || claims.aud != audience {
        return Err(AccessTokenError::WrongIssuer);
    }
    if claims.exp <= now.unix() {
        return Err(AccessTokenError::Expired);
    }
    Ok(claims)
}

/// The part of access-token verification that depends only on the token's bytes and the
/// key set: type, key, algorithm, signature and claim syntax.
fn verify_access_token_signature(
    keys: &KeySet,
    token: &str,
) -> Result<AccessTokenClaims, AccessTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AccessTokenError::Malformed)?;
    if !header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    }) {
        return Err(AccessTokenError::WrongType);
    }
    decode_signed_by_us(keys, token, &header).map_err(|e| match e {
        SignatureFailure::Malformed => AccessTokenError::Malformed,
        SignatureFailure::UnknownKey => AccessTokenError::UnknownKey,
        SignatureFailure::BadSignature => AccessTokenError::BadSignature,
    })
}

/// How many verified access tokens one key set remembers: enough for every token a busy
/// resource server holds at once, small enough (~2 MiB) not to matter.
const VERIFIED_ACCESS_TOKENS_CAPACITY: usize = 4096;

/// Access tokens a key set has already verified, by the SHA-256 of the token. A resource
/// server introspects, and a client presents at `/userinfo`, the same token many times in
/// its life, and an ES256 verification costs more than the rest of such a request. Only
/// what depends on the token's bytes and the keys is remembered (signature, type, claim
/// syntax); issuer, audience, expiry and revocation are checked on every use. The cache
/// belongs to one [`KeySet`]: a reload builds a new set with an empty cache, so a token
/// never outlives the key that verified it. Only tokens that verified are inserted, so
/// forged tokens cannot fill it.
#[derive(Default)]
pub struct VerifiedAccessTokens {
    entries: Mutex<HashMap<[u8; 32], AccessTokenClaims>>,
}

impl std::fmt::Debug for VerifiedAccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedAccessTokens")
            .finish_non_exhaustive()
    }
}

impl VerifiedAccessTokens {
    fn digest(token: &str) -> [u8; 32] {
        let mut out = [0; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], AccessTokenClaims>> {
        // A panic while holding the lock cannot leave a half-written entry behind (each
        // operation is one map call), so a poisoned map is still sound.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, digest: &[u8; 32]) -> Option<AccessTokenClaims> {
        self.lock().get(digest).cloned()
    }

    /// Remembers a verified token. When full, expired entries make room; if none has
    /// expired the newcomer is not remembered (the tokens already held stay hot).
    fn insert(&self, digest: [u8; 32], claims: &AccessTokenClaims, now: Timestamp) {
        let mut entries = self.lock();
        if entries.len() >= VERIFIED_ACCESS_TOKENS_CAPACITY {
            entries.retain(|_, c| c.exp > now.unix());
        }
        if entries.len() < VERIFIED_ACCESS_TOKENS_CAPACITY {
            entries.insert(digest, claims.clone());
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{KeyEncryptionKey, generate_signing_key};

    async fn keys() -> KeySet {
        let kek = KeyEncryptionKey::generate().unwrap().0;
        let rs = generate_signing_key(SigningAlg::Rs256, &kek, Timestamp(0), Timestamp(0))
            .await
            .unwrap();
        let es = generate_signing_key(SigningAlg::Es256, &kek, Timestamp(0), Timestamp(0))
            .await
            .unwrap();
        KeySet::from_records(&[rs, es], &kek, Timestamp(0)).unwrap()
    }

    fn claims(exp: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://id.example".into(),
            sub: "user-1".into(),
            aud: "https://id.example".into(),
            client_id: "app".into(),
            scope: "openid".into(),
            iat: 100,
            exp,
            jti: "j1".into(),
            gid: Some("g1".into()),
            sid: None,
            auth_time: Some(90),
        }
    }

    #[tokio::test]
    async fn access_token_round_trips_and_expires_by_the_injected_clock() {
        let keys = keys().await;
        let token =
            mint_access_token(&keys, SigningAlg::Es256, &claims(200), Timestamp(100)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let ok = verify_access_token(
            &keys,
            "https://id.example",
            "https://id.example",
            &token,
            Timestamp(199),
        );
        assert_eq!(ok.unwrap(), claims(200));
        let late = verify_access_token(
            &keys,
            "https://id.example",
            "https://id.example",
            &token,
            Timestamp(200),
        );
        assert_eq!(late, Err(AccessTokenError::Expired));
    }

    #[tokio::test]
    async fn id_tokens_and_foreign_issuers_are_not_access_tokens() {
        let keys = keys().await;
        let c = claims(200);
        let id_like = mint_id_token(
            &keys,
            SigningAlg::Rs256,
            &IdTokenClaims {
                iss: c.iss.clone(),
                sub: c.sub.clone(),
                aud: "app".into(),
                azp: "app".into(),
                exp: 200,
                iat: 100,
                auth_time: 90,
                nonce: None,
                at_hash: None,
                sid: None,
                amr: vec![],
            },
            Timestamp(100),
        )
        .unwrap();
        assert_eq!(
            verify_access_token(
                &keys,
                "https://id.example",
                "https://id.example",
                &id_like,
                Timestamp(150)
            ),
            Err(AccessTokenError::WrongType)
        );
        let token = mint_access_token(&keys, SigningAlg::Rs256, &c, Timestamp(100)).unwrap();
        assert_eq!(
            verify_access_token(
                &keys,
                "https://other.example",
                "https://id.example",
                &token,
                Timestamp(150)
            ),
            Err(AccessTokenError::WrongIssuer)
        );
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(
            verify_access_token(
                &keys,
                "https://id.example",
                "https://id.example",
                &tampered,
                Timestamp(150)
            )
            .is_err()
        );
    }

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OIDC Core A.3 example: access_token jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y
        // has at_hash 77QmUPtjPfzWtF2AnpK9RQ.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    const ISS: &str = "https://id.example";

    #[tokio::test]
    async fn a_verified_token_is_remembered_but_issuer_and_expiry_are_checked_every_time() {
        let keys = keys().await;
        let token =
            mint_access_token(&keys, SigningAlg::Es256, &claims(200), Timestamp(100)).unwrap();
        assert_eq!(keys.verified_access_tokens().len(), 0);
        let first = verify_access_token(&keys, ISS, ISS, &token, Timestamp(150)).unwrap();
        assert_eq!(keys.verified_access_tokens().len(), 1);
        let again = verify_access_token(&keys, ISS, ISS, &token, Timestamp(150)).unwrap();
        assert_eq!((first, keys.verified_access_tokens().len()), (again, 1));
        // Served from the cache, yet still judged against the caller's issuer and clock.
        assert_eq!(
            verify_access_token(&keys, "https://other.example", ISS, &token, Timestamp(150)),
            Err(AccessTokenError::WrongIssuer)
        );
        assert_eq!(
            verify_access_token(&keys, ISS, ISS, &token, Timestamp(200)),
            Err(AccessTokenError::Expired)
        );
    }

    #[tokio::test]
    async fn tokens_that_fail_verification_are_not_remembered() {
        let keys = keys().await;
        let token =
            mint_access_token(&keys, SigningAlg::Es256, &claims(200), Timestamp(100)).unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let other_claims = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&AccessTokenClaims {
                scope: "openid admin".into(),
                ..claims(200)
            })
            .unwrap(),
        );
        let head = signed.split_once('.').unwrap().0;
        let forged = format!("{head}.{other_claims}.{signature}");
        for _ in 0..2 {
            assert_eq!(
                verify_access_token(&keys, ISS, ISS, &forged, Timestamp(150)),
                Err(AccessTokenError::BadSignature)
            );
        }
        assert_eq!(keys.verified_access_tokens().len(), 0);
    }

    #[test]
    fn a_full_cache_makes_room_from_expired_tokens_only() {
        let cache = VerifiedAccessTokens::default();
        let key = |i: usize| VerifiedAccessTokens::digest(&i.to_string());
        for i in 0..VERIFIED_ACCESS_TOKENS_CAPACITY {
            cache.insert(
                key(i),
                &claims(if i % 2 == 0 { 100 } else { 300 }),
                Timestamp(50),
            );
        }
        assert_eq!(cache.len(), VERIFIED_ACCESS_TOKENS_CAPACITY);
        // At 200 the even half has expired: it makes room and the newcomer is held.
        let newcomer = key(VERIFIED_ACCESS_TOKENS_CAPACITY);
        cache.insert(newcomer, &claims(400), Timestamp(200));
        assert_eq!(cache.len(), VERIFIED_ACCESS_TOKENS_CAPACITY / 2 + 1);
        assert!(cache.get(&newcomer).is_some() && cache.get(&key(0)).is_none());
        // Full of live tokens: the newcomer is not held and no live token is dropped.
        let live = VerifiedAccessTokens::default();
        for i in 0..VERIFIED_ACCESS_TOKENS_CAPACITY {
            live.insert(key(i), &claims(300), Timestamp(50));
        }
        live.insert(newcomer, &claims(400), Timestamp(200));
        assert_eq!(live.len(), VERIFIED_ACCESS_TOKENS_CAPACITY);
        assert!(live.get(&newcomer).is_none() && live.get(&key(0)).is_some());
    }
}
