//! The signing keyring: RS256 and ES256 keys generated with aws-lc-rs, private parts
//! sealed at rest with a key-encryption key (AES-256-GCM), shared by every replica through
//! the store, and the public JWKS (RFC 7517) built once per load.
//!
//! Each private key is parsed once, when its key set is loaded, and kept parsed: handing
//! jsonwebtoken the PKCS#8 bytes instead makes aws-lc-rs parse and check the key on every
//! signature (for RSA that includes `RSA_check_key`), which costs more than the signature
//! itself (docs/decisions/0005-parsed-signing-keys.md).
//!
//! Rotation follows the usual rollover: a new key is published in the JWKS at once but
//! only signs after `publish_delay` (so every relying party's cached JWKS already holds it),
//! and a superseded key stays published until every token it signed has expired.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretBox};
use serde::Serialize;

use crate::Timestamp;
use crate::model::{SigningAlg, SigningKeyRecord};
use crate::secret::fill_random;
use crate::store::{SigningKeyStore, StoreError, constraints};
use crate::tokens::VerifiedAccessTokens;

/// Everything that can go wrong creating, sealing or loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The key-encryption key is not 32 bytes of unpadded base64url.
    #[error("the key-encryption key must be 32 bytes, base64url-encoded without padding")]
    BadKeyEncryptionKey,
    /// A stored key could not be decrypted: wrong key-encryption key or tampering.
    #[error("signing key {kid} cannot be decrypted with the configured key-encryption key")]
    Unseal {
        /// The key that failed.
        kid: String,
    },
    /// Key generation, sealing or JWK derivation failed inside the crypto library.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking key-generation task failed.
    #[error("key generation task failed")]
    Task,
}

/// The key that seals private signing keys at rest (AES-256-GCM).
pub struct KeyEncryptionKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

impl KeyEncryptionKey {
    /// Parses the configured form: 32 bytes, base64url without padding.
    pub fn from_base64(encoded: &str) -> Result<Self, KeyringError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded.trim())
            .map_err(|_| KeyringError::BadKeyEncryptionKey)?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyringError::BadKeyEncryptionKey)?;
        Ok(KeyEncryptionKey(SecretBox::new(Box::new(array))))
    }

    /// Generates a fresh key and its encoded form (to be written to a 0600 file).
    pub fn generate() -> Result<(Self, String), KeyringError> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes).map_err(|_| KeyringError::Crypto("random"))?;
        let encoded = URL_SAFE_NO_PAD.encode(bytes);
        Ok((KeyEncryptionKey(SecretBox::new(Box::new(bytes))), encoded))
    }

    /// Derives an independent HMAC-SHA256 key for `purpose` (HKDF, RFC 5869), so one
    /// configured secret can key several mechanisms without one compromising another.
    pub fn derive_hmac_key(
        &self,
        purpose: &'static [u8],
    ) -> Result<aws_lc_rs::hmac::Key, KeyringError> {
        let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"portcullis")
            .extract(self.0.expose_secret());
        let info = [purpose];
        let okm = prk
            .expand(&info, aws_lc_rs::hmac::HMAC_SHA256)
            .map_err(|_| KeyringError::Crypto("hkdf"))?;
        Ok(aws_lc_rs::hmac::Key::from(okm))
    }

    fn aead(&self) -> Result<RandomizedNonceKey, KeyringError> {
        RandomizedNonceKey::new(&AES_256_GCM, self.0.expose_secret())
            .map_err(|_| KeyringError::Crypto("aead key"))
    }

    /// Seals `plaintext`; the `kid` is bound as associated data so a sealed key cannot be
    /// swapped onto another key's row.
    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .aead()?
            .seal_in_place_append_tag(Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| KeyringError::Crypto("seal"))?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let unseal = || KeyringError::Unseal {
            kid: kid.to_owned(),
        };
        if sealed.len() < NONCE_LEN {
            return Err(unseal());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unseal())?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| unseal())?;
        Ok(plain.to_vec())
    }
}

/// Why a JWS could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The header or the claims did not serialise to JSON.
    #[error("the JWT did not serialise")]
    Serialize(#[from] serde_json::Error),
    /// The crypto library refused to sign.
    #[error("the crypto library failed to sign")]
    Crypto,
}

/// A private key parsed once (see the module docs for why not per signature).
enum ParsedPrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl ParsedPrivateKey {
    fn parse(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, KeyringError> {
        match alg {
            SigningAlg::Rs256 => RsaKeyPair::from_pkcs8(pkcs8)
                .map(ParsedPrivateKey::Rsa)
                .map_err(|_| KeyringError::Crypto("rsa key")),
            SigningAlg::Es256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map(ParsedPrivateKey::Ec)
                .map_err(|_| KeyringError::Crypto("ec key")),
        }
    }

    /// The JWS signature over `message` (RFC 7518 §3.3 RSASSA-PKCS1-v1_5 with SHA-256;
    /// §3.4 ECDSA P-256 with SHA-256, as the fixed-width `R || S` JWS requires).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = SystemRandom::new();
        match self {
            ParsedPrivateKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| SignError::Crypto)?;
                Ok(signature)
            }
            ParsedPrivateKey::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignError::Crypto),
        }
    }
}

/// A usable signing key: private part for signing, public part for the JWKS and for
/// verifying our own tokens.
#[derive(Clone)]
pub struct SigningKey {
    /// `kid`.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// The private key, parsed.
    private: Arc<ParsedPrivateKey>,
    /// Verification key for jsonwebtoken.
    pub decoding: DecodingKey,
    /// Public JWK (`kid`, `kty`, `alg`, `use: sig`).
    pub jwk: Jwk,
    /// When it starts signing.
    pub activates_at: Timestamp,
    /// When it leaves the JWKS.
    pub retires_at: Option<Timestamp>,
}

impl SigningKey {
    /// Signs `claims` under `header` as a JWS compact serialisation (RFC 7515 §7.1):
    /// the same bytes `jsonwebtoken::encode` produces (pinned by a test), signed with the
    /// key parsed at load rather than re-parsed per call.
    pub fn sign_jwt<T: Serialize>(&self, header: &Header, claims: &T) -> Result<String, SignError> {
        let mut jws = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut jws);
        let signature = self.private.sign(jws.as_bytes())?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        Ok(jws)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .finish_non_exhaustive()
    }
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::Es256 => Algorithm::ES256,
    }
}

fn encoding_key(alg: SigningAlg, pkcs8: &[u8]) -> Result<EncodingKey, KeyringError> {
    match alg {
        // jsonwebtoken's DER entry point for RSA wants PKCS#1, aws-lc-rs exports PKCS#8;
        // its PEM parser unwraps PKCS#8 for us, so go through PEM rather than hand-parse DER.
        SigningAlg::Rs256 => {
            let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec()));
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| KeyringError::Crypto("rsa key"))
        }
        SigningAlg::Es256 => Ok(EncodingKey::from_ec_der(pkcs8)),
    }
}

/// Builds the usable key (public JWK with its RFC 7638 thumbprint as `kid`) from PKCS#8.
fn load_key(
    alg: SigningAlg,
    pkcs8: &[u8],
    activates_at: Timestamp,
    retires_at: Option<Timestamp>,
) -> Result<SigningKey, KeyringError> {
    let encoding = encoding_key(alg, pkcs8)?;
    let mut jwk = Jwk::from_encoding_key(&encoding, jwt_alg(alg))
        .map_err(|_| KeyringError::Crypto("public jwk"))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| KeyringError::Crypto("thumbprint"))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| KeyringError::Crypto("decoding key"))?;
    Ok(SigningKey {
        kid,
        alg,
        private: Arc::new(ParsedPrivateKey::parse(alg, pkcs8)?),
        decoding,
        jwk,
        activates_at,
        retires_at,
    })
}

fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, KeyringError> {
    match alg {
        SigningAlg::Rs256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| KeyringError::Crypto("rsa generate"))?;
            let der = pair
                .as_der()
                .map_err(|_| KeyringError::Crypto("rsa export"))?;
            Ok(der.as_ref().to_vec())
        }
        SigningAlg::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| KeyringError::Crypto("ec generate"))?;
            let doc = pair
                .to_pkcs8v1()
                .map_err(|_| KeyringError::Crypto("ec export"))?;
            Ok(doc.as_ref().to_vec())
        }
    }
}

/// Generates a new key of `alg` and seals it for storage. Key generation is CPU-bound
/// (RSA especially), so it runs on the blocking pool.
pub async fn generate_signing_key(
    alg: SigningAlg,
    kek: &KeyEncryptionKey,
    now: Timestamp,
    activates_at: Timestamp,
) -> Result<SigningKeyRecord, KeyringError> {
    let pkcs8 = tokio::task::spawn_blocking(move || generate_pkcs8(alg))
        .await
        .map_err(|_| KeyringError::Task)??;
    let key = load_key(alg, &pkcs8, activates_at, None)?;
    let sealed = kek.seal(&key.kid, &pkcs8)?;
    Ok(SigningKeyRecord {
        kid: key.kid,
        alg,
        sealed_private_key: sealed,
        created_at: now,
        activates_at,
        retires_at: None,
    })
}

/// Where a key stands in its life at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published, not yet signing.
    Next,
    /// The key that signs new tokens of its algorithm.
    Active,
    /// Superseded; still published so tokens it signed keep verifying.
    Previous,
    /// No longer published.
    Retired,
}

impl KeyStatus {
    /// Lowercase name for the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Next => "next",
            KeyStatus::Active => "active",
            KeyStatus::Previous => "previous",
            KeyStatus::Retired => "retired",
        }
    }
}

fn is_published(retires_at: Option<Timestamp>, now: Timestamp) -> bool {
    retires_at.is_none_or(|r| r > now)
}

/// The key of `alg` that signs at `now`: the most recently activated published key.
fn signer_index<'a, I>(keys: I, alg: SigningAlg, now: Timestamp) -> Option<usize>
where
    I: Iterator<Item = (SigningAlg, Timestamp, Option<Timestamp>)> + 'a,
{
    keys.enumerate()
        .filter(|(_, (a, act, ret))| *a == alg && *act <= now && is_published(*ret, now))
        .max_by_key(|(i, (_, act, _))| (*act, *i))
        .map(|(i, _)| i)
}

/// The status of each stored key at `now`, in store order.
pub fn key_statuses(records: &[SigningKeyRecord], now: Timestamp) -> Vec<KeyStatus> {
    let signers: Vec<Option<usize>> = [SigningAlg::Rs256, SigningAlg::Es256]
        .into_iter()
        .map(|alg| {
            signer_index(
                records
                    .iter()
                    .map(|r| (r.alg, r.activates_at, r.retires_at)),
                alg,
                now,
            )
        })
        .collect();
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if !is_published(r.retires_at, now) {
                KeyStatus::Retired
            } else if signers.contains(&Some(i)) {
                KeyStatus::Active
            } else if r.activates_at > now {
                KeyStatus::Next
            } else {
                KeyStatus::Previous
            }
        })
        .collect()
}

/// The keys loaded at one instant, with the JWKS document serialised once.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    jwks_json: String,
    verified_access_tokens: VerifiedAccessTokens,
}

impl KeySet {
    /// Unseals every published key and builds the JWKS (public keys only).
    pub fn from_records(
        records: &[SigningKeyRecord],
        kek: &KeyEncryptionKey,
        now: Timestamp,
    ) -> Result<Self, KeyringError> {
        let mut keys = Vec::new();
        for r in records.iter().filter(|r| is_published(r.retires_at, now)) {
            let pkcs8 = kek.open(&r.kid, &r.sealed_private_key)?;
            let key = load_key(r.alg, &pkcs8, r.activates_at, r.retires_at)?;
            if key.kid != r.kid {
                // The sealed material is not the key this row claims to be.
                return Err(KeyringError::Unseal { kid: r.kid.clone() });
            }
            keys.push(key);
        }
        let jwks = serde_json::json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() });
        let jwks_json = serde_json::to_string(&jwks).map_err(|_| KeyringError::Crypto("jwks"))?;
        Ok(KeySet {
            keys,
            jwks_json,
            verified_access_tokens: VerifiedAccessTokens::default(),
        })
    }

    /// The JWKS document (RFC 7517 §5), ready to serve.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    /// Every published key.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The key that signs new tokens of `alg` at `now`.
    pub fn signing_key(&self, alg: SigningAlg, now: Timestamp) -> Option<&SigningKey> {
        signer_index(
            self.keys
                .iter()
                .map(|k| (k.alg, k.activates_at, k.retires_at)),
            alg,
            now,
        )
        .and_then(|i| self.keys.get(i))
    }

    /// The access tokens this set has verified.
    pub(crate) fn verified_access_tokens(&self) -> &VerifiedAccessTokens {
        &self.verified_access_tokens
    }

    /// The published key with this `kid`, for verifying our own tokens.
    pub fn verification_key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// The live keyring of a process: swapped atomically when keys are reloaded from the store,
/// read without locks on the hot path.
#[derive(Debug)]
pub struct Keyring {
    current: ArcSwap<KeySet>,
    kek: KeyEncryptionKey,
}

impl Keyring {
    /// Loads the shared keyring, creating the first RS256 and ES256 keys if the store has
    /// none. Replicas racing on an empty store agree: one bootstrap wins, the others load it.
    pub async fn open(
        store: &dyn SigningKeyStore,
        kek: KeyEncryptionKey,
        now: Timestamp,
    ) -> Result<Self, KeyringError> {
        let mut records = store.list_signing_keys().await?;
        if records.is_empty() {
            let mut fresh = Vec::new();
            for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
                fresh.push(generate_signing_key(alg, &kek, now, now).await?);
            }
            match store.bootstrap_signing_keys(&fresh).await {
                Ok(()) => {
                    tracing::info!(kids = ?fresh.iter().map(|k| &k.kid).collect::<Vec<_>>(), "created the signing keyring")
                }
                Err(StoreError::Conflict {
                    constraint: constraints::KEYRING_BOOTSTRAP,
                }) => tracing::info!("another replica created the signing keyring first"),
                Err(e) => return Err(e.into()),
            }
            records = store.list_signing_keys().await?;
        }
        let set = KeySet::from_records(&records, &kek, now)?;
        Ok(Keyring {
            current: ArcSwap::from_pointee(set),
            kek,
        })
    }

    /// The keys as of the last load.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// Reloads from the store (rotations by another process or replica, expiries).
    pub async fn reload(
        &self,
        store: &dyn SigningKeyStore,
        now: Timestamp,
    ) -> Result<(), KeyringError> {
        let records = store.list_signing_keys().await?;
        let set = KeySet::from_records(&records, &self.kek, now)?;
        self.current.store(Arc::new(set));
        Ok(())
    }

    /// The key-encryption key, for rotation.
    pub fn kek(&self) -> &KeyEncryptionKey {
        &self.kek
    }
}

/// Timing of a key rotation.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// How long a new key is published before it signs: at least the time for every
    /// replica to reload plus every relying party's JWKS cache lifetime.
    pub publish_delay: Duration,
    /// How long a superseded key stays published after its successor starts signing: at
    /// least the longest lifetime of a token it signed.
    pub retire_after: Duration,
}

/// Rotates every algorithm: stores a next key that signs from `now + publish_delay` and
/// schedules the current keys to leave the JWKS `retire_after` later. Returns the new keys.
pub async fn rotate_signing_keys(
    store: &dyn SigningKeyStore,
    kek: &KeyEncryptionKey,
    now: Timestamp,
    policy: RotationPolicy,
) -> Result<Vec<SigningKeyRecord>, KeyringError> {
    let activates_at = now.plus(policy.publish_delay);
    let retire_at = activates_at.plus(policy.retire_after);
    let mut created = Vec::new();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let next = generate_signing_key(alg, kek, now, activates_at).await?;
        store.rotate_signing_key(&next, retire_at).await?;
        created.push(next);
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::generate().unwrap().0
    }

    #[tokio::test]
    async fn sealed_key_opens_only_with_the_same_kek_and_kid() {
        let k = kek();
        let rec = generate_signing_key(SigningAlg::Es256, &k, Timestamp(10), Timestamp(10))
            .await
            .unwrap();
        assert!(KeySet::from_records(std::slice::from_ref(&rec), &k, Timestamp(10)).is_ok());
        let other = kek();
        assert!(matches!(
            KeySet::from_records(std::slice::from_ref(&rec), &other, Timestamp(10)),
            Err(KeyringError::Unseal { .. })
        ));
        let mut swapped = rec.clone();
        swapped.kid = "another-kid".into();
        assert!(KeySet::from_records(&[swapped], &k, Timestamp(10)).is_err());
    }

    #[tokio::test]
    async fn jwks_holds_public_parts_only_with_kid_kty_alg_use() {
        let k = kek();
        let rsa = generate_signing_key(SigningAlg::Rs256, &k, Timestamp(0), Timestamp(0))
            .await
            .unwrap();
        let ec = generate_signing_key(SigningAlg::Es256, &k, Timestamp(0), Timestamp(0))
            .await
            .unwrap();
        let set = KeySet::from_records(&[rsa.clone(), ec.clone()], &k, Timestamp(0)).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(set.jwks_json()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for key in keys {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(
                    key.get(private).is_none(),
                    "private member {private} published"
                );
            }
            assert_eq!(key["use"], "sig");
        }
        assert_eq!(keys[0]["kty"], "RSA");
        assert_eq!(keys[0]["alg"], "RS256");
        assert_eq!(keys[0]["kid"], rsa.kid.as_str());
        assert_eq!(keys[1]["kty"], "EC");
        assert_eq!(keys[1]["crv"], "P-256");
        assert_eq!(keys[1]["alg"], "ES256");
        assert_eq!(keys[1]["kid"], ec.kid.as_str());
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"sub": "x", "exp": 4_000_000_000u64, "scope": "openid"})
    }

    fn header(key: &SigningKey) -> Header {
        let mut header = Header::new(jwt_alg(key.alg));
        header.kid = Some(key.kid.clone());
        header.typ = Some("at+jwt".into());
        header
    }

    #[test]
    fn rs256_tokens_are_byte_for_byte_what_jsonwebtoken_encodes() {
        // RSASSA-PKCS1-v1_5 is deterministic, so the whole compact JWS must match.
        let pkcs8 = generate_pkcs8(SigningAlg::Rs256).unwrap();
        let key = load_key(SigningAlg::Rs256, &pkcs8, Timestamp(0), None).unwrap();
        let ours = key.sign_jwt(&header(&key), &claims()).unwrap();
        let theirs = jsonwebtoken::encode(
            &header(&key),
            &claims(),
            &encoding_key(SigningAlg::Rs256, &pkcs8).unwrap(),
        )
        .unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn es256_tokens_match_jsonwebtoken_and_verify_with_the_published_key() {
        // ECDSA signatures are randomised: the signed part must match, and the signature
        // must verify with the key we publish.
        let k = kek();
        let pkcs8 = generate_pkcs8(SigningAlg::Es256).unwrap();
        let key = load_key(SigningAlg::Es256, &pkcs8, Timestamp(0), None).unwrap();
        let record = SigningKeyRecord {
            kid: key.kid.clone(),
            alg: SigningAlg::Es256,
            sealed_private_key: k.seal(&key.kid, &pkcs8).unwrap(),
            created_at: Timestamp(0),
            activates_at: Timestamp(0),
            retires_at: None,
        };
        let set = KeySet::from_records(&[record], &k, Timestamp(0)).unwrap();
        let signer = set.signing_key(SigningAlg::Es256, Timestamp(0)).unwrap();
        let ours = signer.sign_jwt(&header(signer), &claims()).unwrap();
        let theirs = jsonwebtoken::encode(
            &header(signer),
            &claims(),
            &encoding_key(SigningAlg::Es256, &pkcs8).unwrap(),
        )
        .unwrap();
        let signed_part = |t: &str| t.rsplit_once('.').unwrap().0.to_owned();
        assert_eq!(signed_part(&ours), signed_part(&theirs));

        let kid = jsonwebtoken::decode_header(&ours).unwrap().kid.unwrap();
        let verify = set.verification_key(&kid).unwrap();
        let validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        let data = jsonwebtoken::decode::<serde_json::Value>(&ours, &verify.decoding, &validation)
            .unwrap();
        assert_eq!(data.claims, claims());
        // The same signature over other claims must not verify.
        let (head, rest) = ours.split_once('.').unwrap();
        let signature = rest.rsplit_once('.').unwrap().1;
        let other = URL_SAFE_NO_PAD.encode(br#"{"sub":"y","exp":4000000000}"#);
        let forged = format!("{head}.{other}.{signature}");
        let refused =
            jsonwebtoken::decode::<serde_json::Value>(&forged, &verify.decoding, &validation);
        assert!(matches!(
            refused.unwrap_err().kind(),
            jsonwebtoken::errors::ErrorKind::InvalidSignature
        ));
    }

    #[test]
    fn rotation_publishes_before_signing_and_retires_after_tokens_expire() {
        let rec = |kid: &str, act: i64, ret: Option<i64>| SigningKeyRecord {
            kid: kid.into(),
            alg: SigningAlg::Es256,
            sealed_private_key: vec![],
            created_at: Timestamp(0),
            activates_at: Timestamp(act),
            retires_at: ret.map(Timestamp),
        };
        // old key active since 0, rotated at 100: next activates at 160, old leaves at 460.
        let records = [rec("old", 0, Some(460)), rec("new", 160, None)];
        assert_eq!(
            key_statuses(&records, Timestamp(100)),
            [KeyStatus::Active, KeyStatus::Next]
        );
        assert_eq!(
            key_statuses(&records, Timestamp(200)),
            [KeyStatus::Previous, KeyStatus::Active]
        );
        assert_eq!(
            key_statuses(&records, Timestamp(500)),
            [KeyStatus::Retired, KeyStatus::Active]
        );
    }
}
