//! Client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1): HTTP Basic with
//! the form-urlencoded id and secret (`client_secret_basic`, §2.3.1 and Appendix B), the
//! id and secret in the body (`client_secret_post`), or the id alone for a public client
//! (`none`; PKCE then carries the proof, RFC 7636). A request uses one method only
//! (§2.3). Secrets are compared in constant time against the stored SHA-256. The
//! `/revoke` and `/introspect` endpoints authenticate the same way (RFC 7009 §2.1, RFC
//! 7662 §2.1), and client records come through the short-lived [`ClientCache`].

use std::sync::Arc;

use anyhow::Context as _;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use portcullis_core::Timestamp;
use portcullis_core::ids::ClientId;
use portcullis_core::model::{Client, ClientType};
use portcullis_core::store::ClientStore;

use crate::client_cache::ClientCache;
use crate::error::{ClientAuthFailure, TokenError};
use crate::request::BodyCredentials;

/// Standard base64 (RFC 7617 §2), with or without padding: some clients drop it, and
/// accepting both costs nothing.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The `Authorization` header is not well-formed Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedBasic;

/// A client id and secret decoded from a Basic `Authorization` header.
#[derive(PartialEq, Eq)]
pub(crate) struct BasicCredentials {
    /// The client id, form-url-decoded.
    pub(crate) client_id: String,
    /// The secret, form-url-decoded.
    pub(crate) secret: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Decodes one `application/x-www-form-urlencoded` value (RFC 6749 Appendix B): `+` is a
/// space, `%XX` a byte, the result UTF-8. A `%` not followed by two hex digits is
/// malformed rather than guessed at.
fn form_url_decode(encoded: &[u8]) -> Result<String, MalformedBasic> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(encoded.len());
    let mut bytes = encoded.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(hex).ok_or(MalformedBasic)?;
                let lo = bytes.next().and_then(hex).ok_or(MalformedBasic)?;
                out.push(hi << 4 | lo);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| MalformedBasic)
}

/// Decodes `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC
/// 7617). The split is at the first `:` of the decoded text: a conforming client has
/// encoded any `:` of its id, and one in the secret (sent raw by clients that skip the
/// encoding) then stays part of the secret.
pub(crate) fn decode_basic(value: &str) -> Result<BasicCredentials, MalformedBasic> {
    let (scheme, token) = value.split_once(' ').ok_or(MalformedBasic)?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return Err(MalformedBasic);
    }
    let token = token.trim_matches(' ');
    if token.is_empty() {
        return Err(MalformedBasic);
    }
    let decoded = BASIC_BASE64.decode(token).map_err(|_| MalformedBasic)?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(MalformedBasic)?;
    let (id, secret) = (&decoded[..colon], &decoded[colon + 1..]);
    let client_id = form_url_decode(id)?;
    if client_id.is_empty() {
        return Err(MalformedBasic);
    }
    Ok(BasicCredentials {
        client_id,
        secret: form_url_decode(secret)?,
    })
}

/// The credentials a request presented, before they are checked.
pub(crate) enum Presented {
    /// `client_secret_basic`.
    Basic(BasicCredentials),
    /// `client_secret_post`.
    Post {
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        secret: String,
    },
    /// A public client naming itself (`none`).
    Public {
        /// `client_id`.
        client_id: String,
    },
}

impl Presented {
    /// The client id presented, whichever the method.
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Presented::Basic(basic) => &basic.client_id,
            Presented::Post { client_id, .. } | Presented::Public { client_id } => client_id,
        }
    }

    fn used_basic_auth(&self) -> bool {
        matches!(self, Presented::Basic(_))
    }
}

/// Works out which method the request used and what it presented; refuses a request
/// that uses two methods (§2.3: one method per request) or malformed Basic credentials.
pub(crate) fn identify(
    headers: &HeaderMap,
    body: BodyCredentials,
) -> Result<Presented, TokenError> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let header_value = authorization.next();
    // Any `Authorization` header counts as an attempt at header authentication, so
    // failures answer with the challenge naming the scheme we accept (§5.2).
    let malformed = || TokenError::invalid_client(true, ClientAuthFailure::MalformedBasic);
    if authorization.next().is_some() {
        return Err(malformed());
    }
    match (header_value, body.client_secret) {
        (Some(_), Some(_)) => Err(TokenError::InvalidRequest(
            "the client used more than one authentication method",
        )),
        (Some(value), None) => {
            let basic = value
                .to_str()
                .ok()
                .and_then(|v| decode_basic(v).ok())
                .ok_or_else(malformed)?;
            if body.client_id.is_some_and(|id| id != basic.client_id) {
                return Err(TokenError::invalid_client(
                    true,
                    ClientAuthFailure::ClientIdMismatch,
                ));
            }
            Ok(Presented::Basic(basic))
        }
        (None, Some(secret)) => {
            let client_id = body.client_id.ok_or(TokenError::InvalidRequest(
                "client_secret was sent without client_id",
            ))?;
            Ok(Presented::Post { client_id, secret })
        }
        (None, None) => body
            .client_id
            .map(|client_id| Presented::Public { client_id })
            .ok_or(TokenError::invalid_client(
                false,
                ClientAuthFailure::NoCredentials,
            )),
    }
}

/// A client that proved who it is (or, if public, named itself).
#[derive(Debug)]
pub(crate) struct AuthenticatedClient {
    /// The registered client.
    pub(crate) client: Arc<Client>,
    /// Whether it proved who it is (its secret or, under `private_key_jwt`, a signed
    /// assertion); `false` for a public client that only named itself (`none`). The
    /// `client_credentials` grant and introspection need `true`.
    pub(crate) used_secret: bool,
}

/// Checks what was presented against the registered client, read through `cache`.
pub(crate) async fn authenticate(
    cache: &ClientCache,
    store: &dyn ClientStore,
    presented: Presented,
    now: Timestamp,
) -> Result<AuthenticatedClient, TokenError> {
    let used_basic_auth = presented.used_basic_auth();
    let refuse = |failure| TokenError::invalid_client(used_basic_auth, failure);
    let client = cache
        .find(store, &ClientId(presented.client_id().to_owned()), now)
        .await
        .context("load client for client authentication")?
        .ok_or_else(|| refuse(ClientAuthFailure::UnknownClient))?;
    // Either secret method is accepted for any client holding a secret: the registered
    // `token_endpoint_auth_method` is advisory for clients created by the operator,
    // and both carry the same secret over the same TLS channel.
    let secret = match presented {
        Presented::Basic(basic) => basic.secret,
        Presented::Post { secret, .. } => secret,
        Presented::Public { .. } => {
            // §3.2.1: a confidential client must authenticate; naming itself is not enough.
            if client.client_type != ClientType::Public || client.secret_hash.is_some() {
                return Err(refuse(ClientAuthFailure::SecretRequired));
            }
            return Ok(AuthenticatedClient {
                client,
                used_secret: false,
            });
        }
    };
    let hash = client
        .secret_hash
        .as_ref()
        .ok_or_else(|| refuse(ClientAuthFailure::NoSecretRegistered))?;
    if !hash.matches(&secret) {
        return Err(refuse(ClientAuthFailure::WrongSecret));
    }
    Ok(AuthenticatedClient {
        client,
        used_secret: true,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn creds(client_id: &str, secret: &str) -> BasicCredentials {
        BasicCredentials {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn rfc6749_example_decodes() {
        // RFC 6749 §2.3.1.
        assert_eq!(
            decode_basic("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"),
            Ok(creds("s6BhdRkqt3", "gX1fBat3bV"))
        );
    }

    #[test]
    fn form_encoded_special_characters_decode() {
        // What a conforming client sends for secret "a+b/c=d%e:f" and id "my app".
        assert_eq!(
            decode_basic(&basic("my+app:a%2Bb%2Fc%3Dd%25e%3Af")),
            Ok(creds("my app", "a+b/c=d%e:f"))
        );
        // A `+` is a space, as in any form value.
        assert_eq!(decode_basic(&basic("id:x+y")), Ok(creds("id", "x y")));
        // UTF-8 percent-encoded.
        assert_eq!(decode_basic(&basic("id:%C3%A9")), Ok(creds("id", "é")));
    }

    #[test]
    fn split_is_at_the_first_colon_so_a_raw_colon_stays_in_the_secret() {
        assert_eq!(
            decode_basic(&basic("client:pa:ss:word")),
            Ok(creds("client", "pa:ss:word"))
        );
        assert_eq!(
            decode_basic(&basic("client%3Aid:s")),
            Ok(creds("client:id", "s"))
        );
    }

    #[test]
    fn unpadded_base64_and_a_lowercase_scheme_are_accepted() {
        // "id:s" is "aWQ6cw==" padded.
        assert_eq!(decode_basic("basic aWQ6cw"), Ok(creds("id", "s")));
        assert_eq!(decode_basic("Basic  aWQ6cw== "), Ok(creds("id", "s")));
    }

    #[test]
    fn malformed_credentials_are_refused() {
        for value in [
            "Basic",
            "Basic ",
            "Bearer czZCaGRSa3F0MzpnWDFmQmF0M2JW",
            "Basic not*base64",
            // No colon.
            &basic("justanid"),
            // Empty id.
            &basic(":secret"),
            // Bad percent escapes.
            &basic("id:50%"),
            &basic("id:%zz"),
            &basic("id%4:x"),
            // Not UTF-8 once decoded.
            &basic("id:%FF"),
        ] {
            assert_eq!(decode_basic(value), Err(MalformedBasic), "{value}");
        }
    }

    fn headers(authorization: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for value in authorization {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn body(client_id: Option<&str>, client_secret: Option<&str>) -> BodyCredentials {
        BodyCredentials {
            client_id: client_id.map(Into::into),
            client_secret: client_secret.map(Into::into),
            ..BodyCredentials::default()
        }
    }

    fn refused(result: Result<Presented, TokenError>) -> TokenError {
        match result {
            Ok(p) => panic!("expected a refusal, got client {}", p.client_id()),
            Err(e) => e,
        }
    }

    #[test]
    fn two_methods_in_one_request_are_invalid_request() {
        let e = refused(identify(
            &headers(&["Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"]),
            body(Some("s6BhdRkqt3"), Some("gX1fBat3bV")),
        ));
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn a_body_client_id_must_agree_with_basic() {
        let h = headers(&["Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"]);
        let same = identify(&h, body(Some("s6BhdRkqt3"), None)).unwrap();
        assert_eq!(same.client_id(), "s6BhdRkqt3");
        let e = refused(identify(&h, body(Some("other"), None)));
        assert!(matches!(
            e,
            TokenError::InvalidClient {
                used_basic_auth: true,
                failure: ClientAuthFailure::ClientIdMismatch
            }
        ));
    }

    #[test]
    fn malformed_or_repeated_authorization_is_invalid_client_with_a_challenge() {
        for h in [
            headers(&["Basic !!!"]),
            headers(&["Bearer abc"]),
            headers(&[
                "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW",
                "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW",
            ]),
        ] {
            let e = refused(identify(&h, body(None, None)));
            assert!(matches!(
                e,
                TokenError::InvalidClient {
                    used_basic_auth: true,
                    failure: ClientAuthFailure::MalformedBasic
                }
            ));
        }
    }

    #[test]
    fn body_methods_are_told_apart() {
        let post = identify(&HeaderMap::new(), body(Some("app"), Some("s"))).unwrap();
        assert!(matches!(post, Presented::Post { .. }));
        let public = identify(&HeaderMap::new(), body(Some("app"), None)).unwrap();
        assert!(matches!(public, Presented::Public { .. }));
        let e = refused(identify(&HeaderMap::new(), body(None, Some("s"))));
        assert_eq!(e.code(), "invalid_request");
        let e = refused(identify(&HeaderMap::new(), body(None, None)));
        assert!(matches!(
            e,
            TokenError::InvalidClient {
                used_basic_auth: false,
                failure: ClientAuthFailure::NoCredentials
            }
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = creds("id", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
