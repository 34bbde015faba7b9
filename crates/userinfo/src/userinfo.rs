//! `GET` and `POST /userinfo` (OIDC Core §5.3): the claims about the user an access token
//! was issued for, released by its scopes (§5.4), with `sub` equal to the ID token's.
//!
//! The token arrives as an RFC 6750 bearer token: in the `Authorization` header (§2.1)
//! or, for `POST`, as `access_token` in a form-encoded body (§2.2). Query-string tokens
//! (§2.3) are not accepted, since they end up in logs and `Referer` headers (§5.3); a
//! request using more than one method is refused (§2). Errors follow RFC 6750 §3.
//!
//! A signature alone does not make a token good here: revoking it (RFC 7009), revoking
//! its grant, or disabling its user takes effect at once, not at `exp`. All three are
//! read in one store round trip.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::claims::user_claims;
use portcullis_core::media_type;
use portcullis_core::scope::ScopeSet;
use portcullis_core::tokens::access_token_audience;
use portcullis_core::tokens::liveness::{NotLive, TokenHolder, live_access_token};

use crate::UserinfoState;
use crate::error::{REQUIRED_SCOPE, UserinfoError};

/// `GET /userinfo`: the token comes from the `Authorization` header only (a `GET` body
/// has no defined semantics, RFC 6750 §2.2).
#[tracing::instrument(name = "userinfo", skip_all, fields(client_id, user_id))]
pub(crate) async fn get_userinfo(
    State(state): State<UserinfoState>,
    headers: HeaderMap,
) -> Response {
    let result = match bearer_from_header(&headers) {
        Ok(Some(token)) => answer(&state, token).await,
        Ok(None) => Err(UserinfoError::MissingToken),
        Err(e) => Err(e),
    };
    finish(result)
}

/// `POST /userinfo`: the token comes from the `Authorization` header or the form body,
/// never both.
#[tracing::instrument(name = "userinfo", skip_all, fields(client_id, user_id))]
pub(crate) async fn post_userinfo(
    State(state): State<UserinfoState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = match presented_token(&headers, body) {
        Ok(token) => answer(&state, &token).await,
        Err(e) => Err(e),
    };
    finish(result)
}

/// The single token of a `POST`: from the header, the body, or neither, never both.
fn presented_token(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<String, UserinfoError> {
    let from_header = bearer_from_header(headers)?;
    let body =
        body.map_err(|_| UserinfoError::InvalidRequest("The request body could not be read."))?;
    let from_body = bearer_from_form(headers, &body)?;
    match (from_header, from_body) {
        (Some(token), None) => Ok(token.to_owned()),
        (None, Some(token)) => Ok(token),
        // RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token
        // in each request", even when both copies are equal.
        (Some(_), Some(_)) => Err(UserinfoError::InvalidRequest(
            "The access token must be sent in exactly one way.",
        )),
        (None, None) => Err(UserinfoError::MissingToken),
    }
}

/// Logs the outcome once (never the token) and turns it into the response.
fn finish(result: Result<Response, UserinfoError>) -> Response {
    match result {
        Ok(response) => response,
        Err(e) => {
            match &e {
                UserinfoError::Internal(cause) => {
                    tracing::error!(error = %format_args!("{cause:#}"), "userinfo failed: {cause:#}");
                }
                UserinfoError::InvalidToken { reason } => {
                    tracing::info!(reason, "userinfo refused an access token: {reason}");
                }
                UserinfoError::InsufficientScope => {
                    tracing::info!("userinfo refused an access token without the openid scope");
                }
                UserinfoError::InvalidRequest(description) => {
                    tracing::debug!(description, "userinfo refused a malformed request");
                }
                UserinfoError::MissingToken => {
                    tracing::debug!("userinfo request without an access token");
                }
            }
            e.into_response()
        }
    }
}

/// Verifies the token, checks it is still live, and answers with the user's claims.
async fn answer(state: &UserinfoState, token: &str) -> Result<Response, UserinfoError> {
    let live = live_access_token(
        state.store.as_ref(),
        &state.keyring.current(),
        &state.issuer,
        &access_token_audience(&state.issuer),
        token,
        state.clock.now(),
    )
    .await
    .map_err(|not_live| match not_live {
        NotLive::Store(error) => UserinfoError::Internal(
            anyhow::Error::new(error).context("check the revocation, grant and user of a token"),
        ),
        not_live => UserinfoError::InvalidToken {
            reason: not_live.reason(),
        },
    })?;
    let span = tracing::Span::current();
    span.record("client_id", live.claims.client_id.as_str());
    span.record("user_id", live.claims.sub.as_str());
    // Tokens without a grant (client_credentials) have no user to describe.
    let TokenHolder::User { user, .. } = live.holder else {
        return Err(UserinfoError::InvalidToken {
            reason: "token has no grant",
        });
    };
    let scope = ScopeSet::parse(&live.claims.scope).map_err(|_| UserinfoError::InvalidToken {
        reason: "scope claim is malformed",
    })?;
    // Checked after liveness: a revoked token is `invalid_token` whatever its scope.
    if !scope.contains(REQUIRED_SCOPE) {
        return Err(UserinfoError::InsufficientScope);
    }

    let body = user_claims(&user, &scope);
    Ok((
        // OIDC Core §5.3.2 responses hold personal data: no cache may keep them.
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response())
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1), if it holds one.
///
/// The scheme is case-insensitive (RFC 9110 §11.1). Another scheme (say `Basic`) is not an
/// error but no bearer token: RFC 6750 §3.1 treats an unsupported method like none at all.
fn bearer_from_header(headers: &HeaderMap) -> Result<Option<&str>, UserinfoError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(UserinfoError::InvalidRequest(
            "The request has more than one Authorization header.",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| UserinfoError::InvalidRequest("The Authorization header is malformed."))?
        .trim_matches([' ', '\t']);
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    // RFC 9110 §11.4: one or more spaces separate the scheme from its credentials.
    let token = credentials.trim_start_matches(' ');
    if token.is_empty() {
        return Err(UserinfoError::InvalidRequest(
            "The Authorization header has no bearer token.",
        ));
    }
    // RFC 6750 §3.1 counts a malformed token as `invalid_token`.
    if !is_b64token(token) {
        return Err(UserinfoError::InvalidToken {
            reason: "header token is not a b64token",
        });
    }
    Ok(Some(token))
}

/// The `access_token` of a form-encoded body (RFC 6750 §2.2), if it holds one. Bodies of
/// other media types carry no token.
fn bearer_from_form(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, UserinfoError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| media_type::is(v, media_type::FORM_URLENCODED));
    if !is_form {
        return Ok(None);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| UserinfoError::InvalidRequest("The request body is malformed."))?;
    let mut tokens = pairs
        .into_iter()
        .filter(|(name, _)| name == "access_token")
        .map(|(_, value)| value);
    let Some(token) = tokens.next() else {
        return Ok(None);
    };
    // RFC 6749 §3.1 (which RFC 6750 builds on): parameters must not repeat.
    if tokens.next().is_some() {
        return Err(UserinfoError::InvalidRequest(
            "The access_token parameter is repeated.",
        ));
    }
    if token.is_empty() {
        return Err(UserinfoError::InvalidRequest(
            "The access_token parameter is empty.",
        ));
    }
    if !is_b64token(&token) {
        return Err(UserinfoError::InvalidToken {
            reason: "body token is not a b64token",
        });
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn form_headers(extra: &[(&'static str, &str)]) -> HeaderMap {
        let mut pairs = vec![("content-type", "application/x-www-form-urlencoded")];
        pairs.extend_from_slice(extra);
        headers(&pairs)
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let h = headers(&[("authorization", &format!("{scheme} abc.def-ghi_~+/=="))]);
            assert_eq!(bearer_from_header(&h).unwrap(), Some("abc.def-ghi_~+/=="));
        }
    }

    #[test]
    fn extra_spaces_around_the_token_are_tolerated() {
        let h = headers(&[("authorization", "Bearer   abc  ")]);
        assert_eq!(bearer_from_header(&h).unwrap(), Some("abc"));
    }

    #[test]
    fn no_header_or_another_scheme_is_no_bearer_token() {
        assert_eq!(bearer_from_header(&HeaderMap::new()).unwrap(), None);
        let h = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(bearer_from_header(&h).unwrap(), None);
        let h = headers(&[("authorization", "Bearerabc")]);
        assert_eq!(bearer_from_header(&h).unwrap(), None);
    }

    #[test]
    fn bearer_without_a_token_is_a_malformed_request() {
        for value in ["Bearer", "Bearer ", "bearer    "] {
            let h = headers(&[("authorization", value)]);
            assert!(
                matches!(
                    bearer_from_header(&h),
                    Err(UserinfoError::InvalidRequest(_))
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_token_outside_the_b64token_grammar_is_invalid() {
        for value in [
            "Bearer a b",
            "Bearer a,b",
            "Bearer ==",
            "Bearer a=b",
            "Bearer \"a\"",
        ] {
            let h = headers(&[("authorization", value)]);
            assert!(
                matches!(
                    bearer_from_header(&h),
                    Err(UserinfoError::InvalidToken { .. })
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn two_authorization_headers_are_a_malformed_request() {
        let h = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert!(matches!(
            bearer_from_header(&h),
            Err(UserinfoError::InvalidRequest(_))
        ));
    }

    #[test]
    fn non_ascii_authorization_header_is_a_malformed_request() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xe2\x82\xac").unwrap(),
        );
        assert!(matches!(
            bearer_from_header(&h),
            Err(UserinfoError::InvalidRequest(_))
        ));
    }

    #[test]
    fn form_body_token_is_read_only_from_form_bodies() {
        let body = b"access_token=abc.def&other=1";
        assert_eq!(
            bearer_from_form(&form_headers(&[]), body)
                .unwrap()
                .as_deref(),
            Some("abc.def")
        );
        let h = headers(&[(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )]);
        assert_eq!(
            bearer_from_form(&h, body).unwrap().as_deref(),
            Some("abc.def")
        );
        let json = headers(&[("content-type", "application/json")]);
        assert_eq!(bearer_from_form(&json, body).unwrap(), None);
        assert_eq!(bearer_from_form(&HeaderMap::new(), body).unwrap(), None);
        assert_eq!(bearer_from_form(&form_headers(&[]), b"").unwrap(), None);
    }

    #[test]
    fn repeated_or_empty_body_token_is_a_malformed_request() {
        for body in [&b"access_token=a&access_token=a"[..], b"access_token="] {
            assert!(matches!(
                bearer_from_form(&form_headers(&[]), body),
                Err(UserinfoError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn a_token_in_both_header_and_body_is_refused() {
        let h = form_headers(&[("authorization", "Bearer abc")]);
        let result = presented_token(&h, Ok(Bytes::from_static(b"access_token=abc")));
        assert!(matches!(result, Err(UserinfoError::InvalidRequest(_))));
    }

    #[test]
    fn post_takes_the_token_from_exactly_one_place() {
        let h = form_headers(&[("authorization", "Bearer abc")]);
        assert_eq!(presented_token(&h, Ok(Bytes::new())).unwrap(), "abc");
        let h = form_headers(&[]);
        assert_eq!(
            presented_token(&h, Ok(Bytes::from_static(b"access_token=xyz"))).unwrap(),
            "xyz"
        );
        assert!(matches!(
            presented_token(&h, Ok(Bytes::new())),
            Err(UserinfoError::MissingToken)
        ));
        // A non-bearer Authorization header does not count as a second method.
        let h = form_headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(
            presented_token(&h, Ok(Bytes::from_static(b"access_token=xyz"))).unwrap(),
            "xyz"
        );
    }
}
