//! The JWTs of OpenID logout: validating the `id_token_hint` an app sends to the end-session
//! endpoint (RP-Initiated Logout 1.0 §2: we must have issued it; an expired one is still
//! accepted) and minting the logout tokens of OpenID Back-Channel Logout 1.0 §2.4 (`iss`,
//! `aud`, `iat`, `exp`, `jti`, `events`, `sub`, `sid`; never a `nonce`; explicitly typed
//! `logout+jwt`, §2.4 and RFC 8725 §3.11, so no other JWT can pass for one).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::keyring::KeySet;
use crate::model::{Client, SigningAlg};
use crate::tokens::{
    ACCESS_TOKEN_TYP, DEFAULT_ID_TOKEN_ALG, MintError, SignatureFailure, decode_signed_by_us, sign,
};

/// The JOSE `typ` of logout tokens (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// The event that makes a JWT a logout token (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: it is delivered at once, so two minutes covers the
/// retries and any clock skew (Back-Channel Logout 1.0 §2.4 recommends a short `exp`).
pub const LOGOUT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(120);

/// Claims of a logout token (Back-Channel Logout 1.0 §2.4). There is deliberately no
/// `nonce` member: §2.4 forbids one, so a logout token can never pass for an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user (the `sub` of the ID tokens the client got).
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// Unique id, so the client can refuse a replay.
    pub jti: String,
    /// `{"http://schemas.openid.net/event/backchannel-logout": {}}`.
    pub events: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// The session ended (the `sid` of the ID tokens the client got in it).
    pub sid: String,
}

impl LogoutTokenClaims {
    /// The claims for one client and one ended session, valid from `now`.
    pub fn new(
        issuer: &str,
        client_id: &str,
        sub: &str,
        sid: &str,
        jti: String,
        now: Timestamp,
    ) -> Self {
        let mut events = BTreeMap::new();
        events.insert(BACKCHANNEL_LOGOUT_EVENT.to_owned(), serde_json::Map::new());
        LogoutTokenClaims {
            iss: issuer.to_owned(),
            sub: sub.to_owned(),
            aud: client_id.to_owned(),
            iat: now.unix(),
            exp: now.plus(LOGOUT_TOKEN_TTL).unix(),
            jti,
            events,
            sid: sid.to_owned(),
        }
    }
}

/// The algorithm a client's ID tokens are signed with, and so its logout tokens (the same
/// keys sign both, Back-Channel Logout 1.0 §2.4): its registered
/// `id_token_signed_response_alg` when we can sign with it, else RS256.
pub fn client_signing_alg(client: &Client) -> SigningAlg {
    client
        .metadata
        .id_token_signed_response_alg
        .as_deref()
        .and_then(SigningAlg::parse)
        .unwrap_or(DEFAULT_ID_TOKEN_ALG)
}

/// Signs a logout token with the active key of `alg`, typed `logout+jwt`.
pub fn mint_logout_token(
    keys: &KeySet,
    alg: SigningAlg,
    claims: &LogoutTokenClaims,
    now: Timestamp,
) -> Result<String, MintError> {
    let key = keys
        .signing_key(alg, now)
        .ok_or(MintError::NoActiveKey(alg))?;
    sign(key, LOGOUT_TOKEN_TYP, claims)
}

/// What a valid `id_token_hint` tells the end-session endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    /// The user it was issued about.
    pub sub: String,
    /// The client it was issued to: the app asking for logout.
    pub client_id: String,
    /// The browser session it was issued in.
    pub sid: Option<String>,
}

/// Why an `id_token_hint` was not accepted (for logs; every one means "not proven").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenHintError {
    /// Not a JWT, not an ID token's shape, or another token type.
    #[error("malformed or not an ID token")]
    Malformed,
    /// No published key has its `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify, or the algorithm is not the key's.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is not ours.
    #[error("issued by someone else")]
    WrongIssuer,
}

#[derive(Deserialize)]
struct HintClaims {
    iss: String,
    sub: String,
    aud: String,
    #[serde(default)]
    sid: Option<String>,
}

/// Validates an `id_token_hint`: one of our published keys signed it (the algorithm taken
/// from the key, never the header, RFC 8725 §3.1) and `iss` is ours. Expiry is not checked:
/// RP-Initiated Logout 1.0 §2 says the OP should accept expired ID tokens here.
pub fn verify_id_token_hint(
    keys: &KeySet,
    issuer: &str,
    token: &str,
) -> Result<IdTokenHint, IdTokenHintError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenHintError::Malformed)?;
    // Access and logout tokens are signed by the same keys: refuse them by their type.
    if header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
            || t.eq_ignore_ascii_case("application/at+jwt")
            || t.eq_ignore_ascii_case(LOGOUT_TOKEN_TYP)
    }) {
        return Err(IdTokenHintError::Malformed);
    }
    let claims: HintClaims = decode_signed_by_us(keys, token, &header).map_err(|e| match e {
        SignatureFailure::Malformed => IdTokenHintError::Malformed,
        SignatureFailure::UnknownKey => IdTokenHintError::UnknownKey,
        SignatureFailure::BadSignature => IdTokenHintError::BadSignature,
    })?;
    if claims.iss != issuer {
        return Err(IdTokenHintError::WrongIssuer);
    }
    Ok(IdTokenHint {
        sub: claims.sub,
        client_id: claims.aud,
        sid: claims.sid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{KeyEncryptionKey, generate_signing_key};
    use crate::tokens::{IdTokenClaims, mint_id_token};

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

    fn id_token(keys: &KeySet, iss: &str, exp: i64) -> String {
        let claims = IdTokenClaims {
            iss: iss.into(),
            sub: "user-1".into(),
            aud: "app".into(),
            azp: "app".into(),
            exp,
            iat: 100,
            auth_time: 90,
            nonce: Some("n".into()),
            at_hash: None,
            sid: Some("s-1".into()),
            amr: vec![],
        };
        mint_id_token(keys, SigningAlg::Rs256, &claims, Timestamp(100)).unwrap()
    }

    #[tokio::test]
    async fn an_expired_id_token_of_ours_is_a_valid_hint() {
        let keys = keys().await;
        let hint = verify_id_token_hint(
            &keys,
            "https://id.example",
            &id_token(&keys, "https://id.example", 101),
        );
        assert_eq!(
            hint,
            Ok(IdTokenHint {
                sub: "user-1".into(),
                client_id: "app".into(),
                sid: Some("s-1".into()),
            })
        );
    }

    #[tokio::test]
    async fn foreign_issuers_foreign_keys_and_tampering_are_refused() {
        let other = keys().await;
        let keys = keys().await;
        let token = id_token(&keys, "https://other.example", 200);
        assert_eq!(
            verify_id_token_hint(&keys, "https://id.example", &token),
            Err(IdTokenHintError::WrongIssuer)
        );
        let foreign = id_token(&other, "https://id.example", 200);
        assert_eq!(
            verify_id_token_hint(&keys, "https://id.example", &foreign),
            Err(IdTokenHintError::UnknownKey)
        );
        let good = id_token(&keys, "https://id.example", 200);
        let (head, _) = good.rsplit_once('.').unwrap();
        let forged = format!("{head}.AAAA");
        assert!(verify_id_token_hint(&keys, "https://id.example", &forged).is_err());
        assert_eq!(
            verify_id_token_hint(&keys, "https://id.example", "not-a-jwt"),
            Err(IdTokenHintError::Malformed)
        );
    }

    #[tokio::test]
    async fn logout_tokens_are_typed_carry_the_event_and_never_pass_as_a_hint() {
        let keys = keys().await;
        let claims = LogoutTokenClaims::new(
            "https://id.example",
            "app",
            "user-1",
            "s-1",
            "j".into(),
            Timestamp(100),
        );
        let token = mint_logout_token(&keys, SigningAlg::Rs256, &claims, Timestamp(100)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let payload: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                token.split('.').nth(1).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            payload["events"],
            serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} })
        );
        assert_eq!(payload["exp"], 220);
        assert!(payload.get("nonce").is_none());
        assert_eq!(
            verify_id_token_hint(&keys, "https://id.example", &token),
            Err(IdTokenHintError::Malformed)
        );
    }
}
