//! Parsing a token request (RFC 6749 §3.2): a form-encoded `POST` body, read into pairs
//! by hand so a repeated parameter is refused and an empty one counts as absent (§3.2),
//! then `grant_type` first (missing → `invalid_request`, unknown →
//! `unsupported_grant_type`) and a typed request per grant (§4.1.3, §4.4.2, §6; RFC 7636
//! §4.5) whose missing fields are `invalid_request`. Unknown parameters are ignored (§3.2).
//!
//! Revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1) requests are read by the
//! same rules into one typed request: the `token`, and a `token_type_hint` that only
//! orders the lookups.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use portcullis_core::media_type;
use portcullis_core::scope::ScopeSet;

use crate::error::TokenError;

/// The parameters `/token` reads; any of them sent twice makes the request ambiguous
/// (§3.2: parameters MUST NOT be included more than once).
const TOKEN_PARAMETERS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// The parameters `/revoke` and `/introspect` read (RFC 7009 §2.1, RFC 7662 §2.1), with
/// the same rule against repeats.
const EXISTING_TOKEN_PARAMETERS: &[&str] = &[
    "token",
    "token_type_hint",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// A token request, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TokenRequest {
    /// Client credentials carried in the body, if any (§2.3.1).
    pub(crate) body_credentials: BodyCredentials,
    /// What the client asks for.
    pub(crate) grant: GrantRequest,
}

/// `client_id` and `client_secret` as sent in the body.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct BodyCredentials {
    /// `client_id`: a public client's identification, or half of `client_secret_post`.
    pub(crate) client_id: Option<String>,
    /// `client_secret` (`client_secret_post`).
    pub(crate) client_secret: Option<String>,
    /// `client_assertion` (`private_key_jwt`, RFC 7523 §2.2).
    pub(crate) client_assertion: Option<String>,
    /// `client_assertion_type` (RFC 7521 §4.2).
    pub(crate) client_assertion_type: Option<String>,
}

/// One request per grant type we serve.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GrantRequest {
    /// `grant_type=authorization_code` (§4.1.3).
    AuthorizationCode(AuthorizationCodeRequest),
    /// `grant_type=refresh_token` (§6).
    RefreshToken(RefreshTokenRequest),
    /// `grant_type=client_credentials` (§4.4.2).
    ClientCredentials(ClientCredentialsRequest),
}

/// The code exchange (§4.1.3; RFC 7636 §4.5).
#[derive(PartialEq, Eq)]
pub(crate) struct AuthorizationCodeRequest {
    /// The code.
    pub(crate) code: String,
    /// Required: OpenID Connect always sends one in the authorization request and our
    /// codes always record it, so it must be repeated here (§4.1.3).
    pub(crate) redirect_uri: String,
    /// The PKCE verifier; optional in the syntax, required when the code has a challenge.
    pub(crate) code_verifier: Option<String>,
}

/// A refresh (§6).
#[derive(PartialEq, Eq)]
pub(crate) struct RefreshTokenRequest {
    /// The refresh token.
    pub(crate) refresh_token: String,
    /// A narrower scope, if asked for; absent means the token's whole scope.
    pub(crate) scope: Option<ScopeSet>,
}

/// The client credentials grant (§4.4.2).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ClientCredentialsRequest {
    /// The scope asked for; absent means the client's default.
    pub(crate) scope: Option<ScopeSet>,
}

/// The kinds of token `/revoke` and `/introspect` know, as named by `token_type_hint`
/// (RFC 7009 §2.1, RFC 7662 §2.1). A hint only: the server looks the other way too when
/// the hinted one finds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

impl TokenKind {
    /// The order to look a token up in: the hinted kind first (RFC 7009 §2.1, RFC 7662
    /// §2.1), the other one after, since a hint may be wrong. Without a hint, access
    /// tokens first: checking a JWT needs no I/O, and anything else fails it at once.
    pub(crate) fn lookup_order(hint: Option<TokenKind>) -> [TokenKind; 2] {
        match hint {
            Some(TokenKind::RefreshToken) => [TokenKind::RefreshToken, TokenKind::AccessToken],
            Some(TokenKind::AccessToken) | None => {
                [TokenKind::AccessToken, TokenKind::RefreshToken]
            }
        }
    }
}

/// A `/revoke` or `/introspect` request: a token the client holds.
#[derive(PartialEq, Eq)]
pub(crate) struct ExistingTokenRequest {
    /// Client credentials carried in the body, if any.
    pub(crate) body_credentials: BodyCredentials,
    /// The token, as presented.
    pub(crate) token: String,
    /// The hint, when it names a type we issue; other values are ignored, as RFC 7009
    /// §2.1 allows (no `unsupported_token_type`).
    pub(crate) hint: Option<TokenKind>,
}

// Secrets, codes, verifiers and tokens never reach a log, even through `{:?}`.
impl std::fmt::Debug for BodyCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "client_assertion",
                &self.client_assertion.as_ref().map(|_| "<redacted>"),
            )
            .field("client_assertion_type", &self.client_assertion_type)
            .finish()
    }
}

impl std::fmt::Debug for AuthorizationCodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCodeRequest")
            .field("redirect_uri", &self.redirect_uri)
            .field(
                "code_verifier",
                &self.code_verifier.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ExistingTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExistingTokenRequest")
            .field("body_credentials", &self.body_credentials)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RefreshTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenRequest")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Whether the body is declared `application/x-www-form-urlencoded` (§3.2), parameters
/// such as `charset` allowed.
pub(crate) fn is_form_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| media_type::is(v, media_type::FORM_URLENCODED))
}

/// The body's parameters, each at most once, empty ones dropped.
#[derive(Debug)]
struct Params(BTreeMap<String, String>);

impl Params {
    /// Reads the pairs of `body`; any of `known` sent twice is refused.
    fn parse(body: &[u8], known: &[&str]) -> Result<Self, TokenError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| TokenError::InvalidRequest("the body is not form-urlencoded"))?;
        let mut map = BTreeMap::new();
        let mut seen = Vec::new();
        for (name, value) in pairs {
            if known.contains(&name.as_str()) {
                if seen.contains(&name) {
                    return Err(TokenError::InvalidRequest(
                        "a request parameter is repeated",
                    ));
                }
                seen.push(name.clone());
            }
            // §3.2: a parameter sent without a value is treated as omitted.
            if !value.is_empty() {
                map.insert(name, value);
            }
        }
        Ok(Params(map))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    fn require(&mut self, name: &str, missing: &'static str) -> Result<String, TokenError> {
        self.take(name).ok_or(TokenError::InvalidRequest(missing))
    }

    /// `scope`, when sent and not blank; malformed is `invalid_scope` (§5.2).
    fn scope(&mut self) -> Result<Option<ScopeSet>, TokenError> {
        let Some(raw) = self.take("scope") else {
            return Ok(None);
        };
        let scope = ScopeSet::parse(&raw).map_err(|_| TokenError::InvalidScope)?;
        // Only spaces: as good as omitted.
        Ok((!scope.is_empty()).then_some(scope))
    }

    fn body_credentials(&mut self) -> BodyCredentials {
        BodyCredentials {
            client_id: self.take("client_id"),
            client_secret: self.take("client_secret"),
            client_assertion: self.take("client_assertion"),
            client_assertion_type: self.take("client_assertion_type"),
        }
    }
}

/// Parses a form-encoded token request body.
pub(crate) fn parse_token_request(body: &[u8]) -> Result<TokenRequest, TokenError> {
    let mut params = Params::parse(body, TOKEN_PARAMETERS)?;
    let grant_type = params.require("grant_type", "grant_type is missing")?;
    let grant = match grant_type.as_str() {
        "authorization_code" => GrantRequest::AuthorizationCode(AuthorizationCodeRequest {
            code: params.require("code", "code is missing")?,
            redirect_uri: params.require("redirect_uri", "redirect_uri is missing")?,
            code_verifier: params.take("code_verifier"),
        }),
        "refresh_token" => GrantRequest::RefreshToken(RefreshTokenRequest {
            refresh_token: params.require("refresh_token", "refresh_token is missing")?,
            scope: params.scope()?,
        }),
        "client_credentials" => GrantRequest::ClientCredentials(ClientCredentialsRequest {
            scope: params.scope()?,
        }),
        _ => return Err(TokenError::UnsupportedGrantType),
    };
    Ok(TokenRequest {
        body_credentials: params.body_credentials(),
        grant,
    })
}

/// Parses a form-encoded `/revoke` or `/introspect` body.
pub(crate) fn parse_existing_token_request(
    body: &[u8],
) -> Result<ExistingTokenRequest, TokenError> {
    let mut params = Params::parse(body, EXISTING_TOKEN_PARAMETERS)?;
    let token = params.require("token", "token is missing")?;
    let hint = match params.take("token_type_hint").as_deref() {
        Some("access_token") => Some(TokenKind::AccessToken),
        Some("refresh_token") => Some(TokenKind::RefreshToken),
        _ => None,
    };
    Ok(ExistingTokenRequest {
        body_credentials: params.body_credentials(),
        token,
        hint,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn error_code(body: &str) -> &'static str {
        match parse_token_request(body.as_bytes()) {
            Ok(r) => panic!("expected an error, parsed {r:?}"),
            Err(e) => e.code(),
        }
    }

    #[test]
    fn a_code_exchange_parses_into_its_typed_request() {
        let parsed = parse_token_request(
            b"grant_type=authorization_code&code=pcc_abc&redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1\
              &code_verifier=v&client_id=app&unknown=ignored",
        )
        .unwrap();
        assert_eq!(
            parsed,
            TokenRequest {
                body_credentials: BodyCredentials {
                    client_id: Some("app".into()),
                    ..BodyCredentials::default()
                },
                grant: GrantRequest::AuthorizationCode(AuthorizationCodeRequest {
                    code: "pcc_abc".into(),
                    redirect_uri: "https://a.example/cb?x=1".into(),
                    code_verifier: Some("v".into()),
                }),
            }
        );
    }

    #[test]
    fn a_refresh_parses_its_optional_scope() {
        let parsed =
            parse_token_request(b"grant_type=refresh_token&refresh_token=pcr_x&scope=openid+email")
                .unwrap();
        let GrantRequest::RefreshToken(refresh) = parsed.grant else {
            panic!("not a refresh request");
        };
        assert_eq!(refresh.refresh_token, "pcr_x");
        assert_eq!(
            refresh.scope,
            Some(ScopeSet::parse("email openid").unwrap())
        );
        let parsed =
            parse_token_request(b"grant_type=refresh_token&refresh_token=pcr_x&scope=").unwrap();
        let GrantRequest::RefreshToken(refresh) = parsed.grant else {
            panic!("not a refresh request");
        };
        assert_eq!(refresh.scope, None, "an empty scope counts as omitted");
    }

    #[test]
    fn client_credentials_parses_its_optional_scope() {
        let parsed =
            parse_token_request(b"grant_type=client_credentials&scope=api.read+api.write").unwrap();
        assert_eq!(
            parsed.grant,
            GrantRequest::ClientCredentials(ClientCredentialsRequest {
                scope: Some(ScopeSet::parse("api.read api.write").unwrap()),
            })
        );
        let parsed = parse_token_request(b"grant_type=client_credentials").unwrap();
        assert_eq!(
            parsed.grant,
            GrantRequest::ClientCredentials(ClientCredentialsRequest { scope: None })
        );
    }

    #[test]
    fn revocation_and_introspection_requests_parse_token_and_hint() {
        let parsed = parse_existing_token_request(
            b"token=pcr_x&token_type_hint=refresh_token&client_id=app&client_secret=s",
        )
        .unwrap();
        assert_eq!(parsed.token, "pcr_x");
        assert_eq!(parsed.hint, Some(TokenKind::RefreshToken));
        assert_eq!(parsed.body_credentials.client_id.as_deref(), Some("app"));
        let parsed =
            parse_existing_token_request(b"token=a.b.c&token_type_hint=access_token").unwrap();
        assert_eq!(parsed.hint, Some(TokenKind::AccessToken));
        // RFC 7009 §2.1: a hint we do not know is ignored, not an error.
        let parsed = parse_existing_token_request(b"token=a.b.c&token_type_hint=id_token").unwrap();
        assert_eq!(parsed.hint, None);
    }

    #[test]
    fn revocation_and_introspection_need_exactly_one_token() {
        for body in [
            "",
            "token=",
            "token_type_hint=access_token",
            "token=a&token=b",
        ] {
            let code = match parse_existing_token_request(body.as_bytes()) {
                Ok(r) => panic!("expected an error for {body:?}, parsed {r:?}"),
                Err(e) => e.code(),
            };
            assert_eq!(code, "invalid_request", "{body:?}");
        }
        assert!(
            !format!(
                "{:?}",
                parse_existing_token_request(b"token=pcr_secret").unwrap()
            )
            .contains("pcr_secret")
        );
    }

    #[test]
    fn a_repeated_parameter_is_invalid_request() {
        assert_eq!(
            error_code("grant_type=authorization_code&code=a&code=b&redirect_uri=x"),
            "invalid_request"
        );
        assert_eq!(
            error_code("grant_type=refresh_token&grant_type=refresh_token&refresh_token=r"),
            "invalid_request"
        );
        // Repeated with an empty value is still repeated.
        assert_eq!(
            error_code("grant_type=refresh_token&refresh_token=r&client_id=&client_id=a"),
            "invalid_request"
        );
    }

    #[test]
    fn unknown_parameters_may_repeat_because_they_are_ignored() {
        assert!(parse_token_request(b"grant_type=refresh_token&refresh_token=r&x=1&x=2").is_ok());
    }

    #[test]
    fn a_missing_or_empty_grant_type_is_invalid_request() {
        assert_eq!(error_code("code=a&redirect_uri=x"), "invalid_request");
        assert_eq!(error_code("grant_type=&code=a"), "invalid_request");
        assert_eq!(error_code(""), "invalid_request");
    }

    #[test]
    fn an_unknown_grant_type_is_unsupported_grant_type() {
        assert_eq!(
            error_code("grant_type=password&username=a"),
            "unsupported_grant_type"
        );
        assert_eq!(
            error_code("grant_type=urn:ietf:params:oauth:grant-type:device_code"),
            "unsupported_grant_type"
        );
        assert_eq!(
            error_code("grant_type=Authorization_Code&code=a"),
            "unsupported_grant_type"
        );
    }

    #[test]
    fn missing_grant_fields_are_invalid_request() {
        assert_eq!(
            error_code("grant_type=authorization_code&redirect_uri=x"),
            "invalid_request"
        );
        assert_eq!(
            error_code("grant_type=authorization_code&code=a"),
            "invalid_request"
        );
        assert_eq!(error_code("grant_type=refresh_token"), "invalid_request");
    }

    #[test]
    fn a_malformed_scope_is_invalid_scope() {
        assert_eq!(
            error_code("grant_type=refresh_token&refresh_token=r&scope=open%22id"),
            "invalid_scope"
        );
    }

    #[test]
    fn only_form_encoded_bodies_are_accepted() {
        let mut headers = HeaderMap::new();
        assert!(!is_form_encoded(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(!is_form_encoded(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        );
        assert!(is_form_encoded(&headers));
    }

    #[test]
    fn debug_output_never_shows_codes_or_tokens() {
        let parsed = parse_token_request(
            b"grant_type=authorization_code&code=pcc_secret&redirect_uri=x&code_verifier=vvv\
              &client_id=a&client_secret=pcs_secret",
        )
        .unwrap();
        let shown = format!("{parsed:?}");
        for hidden in ["pcc_secret", "vvv", "pcs_secret"] {
            assert!(!shown.contains(hidden), "{shown}");
        }
        let parsed =
            parse_token_request(b"grant_type=refresh_token&refresh_token=pcr_secret").unwrap();
        assert!(!format!("{parsed:?}").contains("pcr_secret"));
    }
}
