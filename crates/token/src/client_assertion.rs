//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core §9, RFC 7521
//! §4.2) at `/token`, `/revoke` and `/introspect`: the client sends
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a
//! `client_assertion` JWT it signed with a key it registered (`jwks` or `jwks_uri`).
//!
//! The assertion is accepted only if
//! - it is signed by one of the client's keys, with the algorithm that key fixes (RS256,
//!   ES256 or EdDSA; the header's `alg` must match, never chooses, RFC 8725 §3.1);
//! - `iss` and `sub` are the client id (§3 items 1-2); `aud` is our issuer, alone
//!   (draft-ietf-oauth-rfc7523bis §4: an audience list or another server's name would let
//!   an assertion made for one server be replayed at another), or, as one string, our token
//!   endpoint, which older clients send (§3 item 3);
//! - `exp` has not passed and is at most [`MAX_LIFETIME_SECS`] ahead, `nbf` and `iat`
//!   are not in the future (§3 items 4-6, with [`LEEWAY_SECS`] of clock skew), with no
//!   arithmetic that a caller's extreme values can overflow;
//! - its `jti` was never seen before (§3 item 7): spent in one guarded store write and
//!   remembered until `exp`, so a replay fails on every replica.
//!
//! Every failure is `invalid_client` (RFC 7521 §4.2.1, RFC 6749 §5.2); the reason is
//! logged, never sent.

pub mod jwks_cache;

use std::sync::Arc;

use anyhow::Context as _;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Header, Validation};
use portcullis_core::Timestamp;
use portcullis_core::client_keys::{ClientKey, parse_jwk_set};
use portcullis_core::ids::ClientId;
use portcullis_core::model::{Client, TokenEndpointAuthMethod};
use serde::Deserialize;

use crate::client_auth::AuthenticatedClient;
use crate::error::{ClientAuthFailure, TokenError};
use crate::request::BodyCredentials;
use crate::{TOKEN_PATH, TokenState};

/// The one assertion type (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: i64 = 60;

/// How far ahead `exp` may be: spent `jti`s are kept until `exp`, so this bounds that
/// memory, and a short-lived assertion is all a client ever needs.
pub const MAX_LIFETIME_SECS: i64 = 600;

/// A client assertion as presented, not yet checked.
pub(crate) struct PresentedAssertion {
    /// The client it claims to come from (its unverified `sub`).
    pub(crate) client_id: String,
    assertion: String,
}

fn refuse(failure: ClientAuthFailure) -> TokenError {
    TokenError::invalid_client(false, failure)
}

/// Takes the client assertion out of the request, if it has one. A request with an
/// assertion must use no other method (RFC 6749 §2.3), and a `client_id` it also sends
/// must name the same client (RFC 7521 §4.2).
pub(crate) fn presented(
    headers: &HeaderMap,
    body: &mut BodyCredentials,
) -> Result<Option<PresentedAssertion>, TokenError> {
    let assertion_type = body.client_assertion_type.take();
    let Some(assertion) = body.client_assertion.take() else {
        if assertion_type.is_some() {
            return Err(TokenError::InvalidRequest(
                "client_assertion_type was sent without client_assertion",
            ));
        }
        return Ok(None);
    };
    if assertion_type.as_deref() != Some(JWT_BEARER) {
        return Err(TokenError::InvalidRequest(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    if headers.contains_key(header::AUTHORIZATION) || body.client_secret.is_some() {
        return Err(TokenError::InvalidRequest(
            "the client used more than one authentication method",
        ));
    }
    let client_id =
        unverified_subject(&assertion).ok_or(refuse(ClientAuthFailure::AssertionMalformed))?;
    if body.client_id.as_ref().is_some_and(|id| *id != client_id) {
        return Err(refuse(ClientAuthFailure::ClientIdMismatch));
    }
    Ok(Some(PresentedAssertion {
        client_id,
        assertion,
    }))
}

/// The `sub` of a JWT, read without verifying anything: only to find whose keys to try.
fn unverified_subject(jwt: &str) -> Option<String> {
    let mut parts = jwt.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether the assertion is meant for us and only us: our issuer, alone in an array or
    /// as the one string; or, as the one string, our token endpoint.
    fn is_only(&self, issuer: &str, token_endpoint: &str) -> bool {
        match self {
            Audience::One(a) => a == issuer || a == token_endpoint,
            Audience::Many(all) => matches!(all.as_slice(), [only] if only == issuer),
        }
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    jti: String,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
}

/// Why no claims came out of the signature check.
enum Unverified {
    /// No registered key has the assertion's `kid` and algorithm: maybe a rollover.
    NoMatchingKey,
    /// A matching key did not verify it, or it is not a JWT with our claims.
    Failed(ClientAuthFailure),
}

/// Verifies the signature with the client's keys: the key named by `kid` (or, without a
/// `kid`, each key of the header's algorithm).
fn verify_signature(
    keys: &[ClientKey],
    header: &Header,
    assertion: &str,
) -> Result<AssertionClaims, Unverified> {
    let candidates: Vec<&ClientKey> = keys
        .iter()
        .filter(|k| k.alg == header.alg)
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .collect();
    if candidates.is_empty() {
        return Err(Unverified::NoMatchingKey);
    }
    let mut failure = ClientAuthFailure::AssertionSignature;
    for key in candidates {
        let mut validation = Validation::new(key.alg);
        // Time and audience are checked below against the injected clock and our names.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        match jsonwebtoken::decode::<AssertionClaims>(assertion, &key.decoding, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {}
            Err(_) => failure = ClientAuthFailure::AssertionMalformed,
        }
    }
    Err(Unverified::Failed(failure))
}

/// The client's registered keys: inline, or from its `jwks_uri` through the cache.
async fn client_keys(
    state: &TokenState,
    client: &Client,
    now: Timestamp,
    refresh: bool,
) -> Result<Arc<Vec<ClientKey>>, TokenError> {
    if let Some(jwks) = &client.metadata.jwks {
        return parse_jwk_set(jwks)
            .map(Arc::new)
            .map_err(|_| refuse(ClientAuthFailure::AssertionKeysUnavailable));
    }
    let uri = client
        .metadata
        .jwks_uri
        .as_deref()
        .ok_or(refuse(ClientAuthFailure::AssertionKeysUnavailable))?;
    state
        .client_keys
        .keys(uri, now, refresh)
        .await
        .map_err(|e| {
            tracing::info!(client_id = %client.client_id, reason = ?e, "could not load the keys of client {} from its jwks_uri", client.client_id);
            refuse(ClientAuthFailure::AssertionKeysUnavailable)
        })
}

/// Checks the claims RFC 7523 §3 requires once the signature holds.
fn check_claims(
    issuer: &str,
    client_id: &str,
    claims: &AssertionClaims,
    now: Timestamp,
) -> Result<(), ClientAuthFailure> {
    if claims.iss != client_id || claims.sub != client_id {
        return Err(ClientAuthFailure::AssertionClaims);
    }
    let token_endpoint = format!("{}{TOKEN_PATH}", issuer.trim_end_matches('/'));
    if !claims.aud.is_only(issuer, &token_endpoint) {
        return Err(ClientAuthFailure::AssertionClaims);
    }
    // The times are the caller's numbers: compare them with `now` moved, never move them
    // (an `exp` of i64::MAX plus the leeway would overflow).
    let now = now.unix();
    let expired = claims.exp <= now.saturating_sub(LEEWAY_SECS);
    let too_long = claims.exp > now.saturating_add(MAX_LIFETIME_SECS + LEEWAY_SECS);
    let latest_start = now.saturating_add(LEEWAY_SECS);
    let early = claims.nbf.is_some_and(|t| t > latest_start)
        || claims.iat.is_some_and(|t| t > latest_start);
    if expired || too_long || early {
        return Err(ClientAuthFailure::AssertionExpired);
    }
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(ClientAuthFailure::AssertionMalformed);
    }
    Ok(())
}

/// Authenticates a client by its assertion.
pub(crate) async fn authenticate(
    state: &TokenState,
    presented: PresentedAssertion,
) -> Result<AuthenticatedClient, TokenError> {
    let now = state.clock.now();
    let client = state
        .clients
        .find(
            state.store.as_ref(),
            &ClientId(presented.client_id.clone()),
            now,
        )
        .await
        .context("load client for client assertion")?
        .ok_or(refuse(ClientAuthFailure::UnknownClient))?;
    // A client uses the one method it registered (RFC 6749 §2.3): a secret client cannot
    // switch to assertions, which would sidestep its secret.
    if client.auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
        return Err(refuse(ClientAuthFailure::AssertionNotRegistered));
    }
    let header = jsonwebtoken::decode_header(&presented.assertion)
        .map_err(|_| refuse(ClientAuthFailure::AssertionMalformed))?;
    let keys = client_keys(state, &client, now, false).await?;
    let claims = match verify_signature(&keys, &header, &presented.assertion) {
        Ok(claims) => claims,
        Err(Unverified::NoMatchingKey) if client.metadata.jwks_uri.is_some() => {
            // The client may have rolled its keys over since we fetched them.
            let keys = client_keys(state, &client, now, true).await?;
            verify_signature(&keys, &header, &presented.assertion).map_err(|e| match e {
                Unverified::NoMatchingKey => refuse(ClientAuthFailure::AssertionSignature),
                Unverified::Failed(f) => refuse(f),
            })?
        }
        Err(Unverified::NoMatchingKey) => {
            return Err(refuse(ClientAuthFailure::AssertionSignature));
        }
        Err(Unverified::Failed(f)) => return Err(refuse(f)),
    };
    check_claims(&state.issuer, client.client_id.as_str(), &claims, now).map_err(refuse)?;
    let spent = state
        .store
        .spend_token_id(
            &format!("assertion:{}:{}", client.client_id, claims.jti),
            Timestamp(claims.exp.saturating_add(LEEWAY_SECS)),
            now,
        )
        .await
        .context("spend the client assertion's jti")?;
    if !spent {
        return Err(refuse(ClientAuthFailure::AssertionReplayed));
    }
    Ok(AuthenticatedClient {
        client,
        // Possession of a registered private key is as good a proof as a secret.
        used_secret: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_is_read_from_the_payload_only_of_a_three_part_jwt() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"app","iss":"app"}"#);
        assert_eq!(
            unverified_subject(&format!("e30.{payload}.sig")).as_deref(),
            Some("app")
        );
        assert_eq!(unverified_subject(&format!("e30.{payload}")), None);
        assert_eq!(unverified_subject(&format!("e30.{payload}.a.b")), None);
        assert_eq!(unverified_subject("e30.!!!.sig"), None);
    }

    const ISSUER: &str = "https://id.example";
    const NOW: i64 = 1_800_000_000;

    fn claims(aud: serde_json::Value, exp: i64) -> AssertionClaims {
        serde_json::from_value(serde_json::json!({
            "iss": "app", "sub": "app", "aud": aud, "exp": exp, "jti": "j-1",
        }))
        .unwrap()
    }

    fn check(claims: &AssertionClaims) -> Result<(), ClientAuthFailure> {
        check_claims(ISSUER, "app", claims, Timestamp(NOW))
    }

    #[test]
    fn the_audience_is_our_issuer_alone_or_as_one_string_our_token_endpoint() {
        use serde_json::json;
        for aud in [
            json!(ISSUER),
            json!([ISSUER]),
            json!("https://id.example/token"),
        ] {
            assert_eq!(check(&claims(aud.clone(), NOW + 60)), Ok(()), "{aud}");
        }
        for aud in [
            json!([ISSUER, "https://other.example"]),
            json!(["https://other.example", ISSUER]),
            json!([ISSUER, ISSUER]),
            json!(["https://id.example/token"]),
            json!([]),
            json!("https://other.example"),
            json!("https://id.example/"),
        ] {
            assert_eq!(
                check(&claims(aud.clone(), NOW + 60)),
                Err(ClientAuthFailure::AssertionClaims),
                "{aud}"
            );
        }
    }

    #[test]
    fn extreme_times_are_refused_without_overflowing() {
        let aud = serde_json::json!(ISSUER);
        for exp in [i64::MAX, i64::MAX - LEEWAY_SECS + 1, i64::MIN, i64::MIN + 1] {
            assert_eq!(
                check(&claims(aud.clone(), exp)),
                Err(ClientAuthFailure::AssertionExpired),
                "exp {exp}"
            );
        }
        for early in [i64::MAX, i64::MAX - 1] {
            let mut c = claims(aud.clone(), NOW + 60);
            c.nbf = Some(early);
            assert_eq!(check(&c), Err(ClientAuthFailure::AssertionExpired));
            let mut c = claims(aud.clone(), NOW + 60);
            c.iat = Some(early);
            assert_eq!(check(&c), Err(ClientAuthFailure::AssertionExpired));
        }
        // At the other end of time, the clock: a `now` near the limits still works.
        let c = claims(aud, i64::MAX);
        assert_eq!(check_claims(ISSUER, "app", &c, Timestamp(i64::MAX)), Ok(()));
    }
}
