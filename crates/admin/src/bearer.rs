//! RFC 6750 §2.1 bearer tokens from the `Authorization` header (the only place this crate
//! reads them: query-string tokens leak into logs, §5.3).

use axum::http::{HeaderMap, header};

use crate::error::{AdminError, TokenKind};

/// RFC 6750 §2.1 `b64token`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The bearer token of the request, if it has one. The scheme is case-insensitive (RFC
/// 9110 §11.1); another scheme counts as no bearer token (RFC 6750 §3.1); a malformed
/// header or token is `invalid_token`.
pub(crate) fn bearer_token(
    headers: &HeaderMap,
    kind: TokenKind,
) -> Result<Option<&str>, AdminError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = |reason| AdminError::InvalidToken { kind, reason };
    if values.next().is_some() {
        return Err(invalid("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| invalid("Authorization header is not ASCII"))?
        .trim_matches([' ', '\t']);
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = credentials.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(invalid("not a b64token"));
    }
    Ok(Some(token))
}

/// The bearer token, which must be there.
pub(crate) fn required_bearer_token(
    headers: &HeaderMap,
    kind: TokenKind,
) -> Result<&str, AdminError> {
    bearer_token(headers, kind)?.ok_or(AdminError::MissingToken(kind))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header_only() {
        assert_eq!(
            bearer_token(&headers("bearer abc.def"), TokenKind::Access).unwrap(),
            Some("abc.def")
        );
        assert_eq!(
            bearer_token(&headers("Basic abc"), TokenKind::Access).unwrap(),
            None
        );
        assert_eq!(
            bearer_token(&HeaderMap::new(), TokenKind::Access).unwrap(),
            None
        );
        assert!(bearer_token(&headers("Bearer a b"), TokenKind::Access).is_err());
        assert!(matches!(
            required_bearer_token(&HeaderMap::new(), TokenKind::Registration),
            Err(AdminError::MissingToken(TokenKind::Registration))
        ));
    }
}
