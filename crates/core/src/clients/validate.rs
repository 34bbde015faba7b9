//! The rules every client record obeys, whoever creates it (CLI, admin API or dynamic
//! registration): redirect URIs per application type (RFC 6749 §3.1.2, RFC 8252 §7, OIDC
//! Registration §2), consistent grant types and authentication method (RFC 7591 §2,
//! RFC 6749 §4.4), `private_key_jwt` keys (RFC 7523 §2.2) and well-formed metadata URIs.
//! Each failure is a [`MetadataError`] naming the field, in fixed text.

use url::Url;

use crate::client_keys::{self, ClientKeysError};
use crate::clients::{DEFAULT_CLIENT_SCOPE, MetadataError, NewClient};
use crate::model::{ClientMetadata, ClientType, GrantType, SigningAlg, TokenEndpointAuthMethod};
use crate::redirect_uri::{RedirectUri, RedirectUriError};
use crate::scope::ScopeSet;

/// At most this many redirect (or post-logout redirect) URIs per client.
const MAX_URIS: usize = 20;
/// At most this many contacts.
const MAX_CONTACTS: usize = 20;
/// Longest URI accepted in metadata.
const MAX_URI_LEN: usize = 2000;

/// OIDC Registration §2 `application_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplicationType {
    /// The default: a server-side or browser-based app.
    Web,
    /// An app on the user's device (RFC 8252).
    Native,
}

/// A client that passed every rule, before ids and secrets are attached.
pub(crate) struct Validated {
    pub(crate) name: String,
    pub(crate) client_type: ClientType,
    pub(crate) auth_method: TokenEndpointAuthMethod,
    pub(crate) redirect_uris: Vec<RedirectUri>,
    pub(crate) post_logout_redirect_uris: Vec<RedirectUri>,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) allowed_scope: ScopeSet,
    pub(crate) metadata: ClientMetadata,
}

fn invalid(field: &'static str, problem: &'static str) -> MetadataError {
    MetadataError::Metadata { field, problem }
}

/// Checks `new` against every rule.
pub(crate) fn validate(new: &NewClient) -> Result<Validated, MetadataError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(invalid(
            "client_name",
            "must be 1-200 characters without control characters",
        ));
    }
    let app_type = match new.metadata.application_type.as_deref() {
        None | Some("web") => ApplicationType::Web,
        Some("native") => ApplicationType::Native,
        Some(_) => return Err(invalid("application_type", "must be web or native")),
    };
    let redirect_uris =
        parse_uris(&new.redirect_uris, app_type).map_err(MetadataError::RedirectUri)?;
    let post_logout_redirect_uris = parse_uris(&new.post_logout_redirect_uris, app_type)
        .map_err(|problem| invalid("post_logout_redirect_uris", problem))?;
    let grant_types = grant_types(&new.grant_types)?;
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(MetadataError::RedirectUri(
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    let auth_method = auth_method(new)?;
    let client_type = if auth_method == TokenEndpointAuthMethod::None {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials) {
        // RFC 6749 §4.4: only confidential clients may act for themselves.
        return Err(invalid(
            "grant_types",
            "a public client (token_endpoint_auth_method none) cannot use the client_credentials grant",
        ));
    }
    check_keys(&new.metadata, auth_method)?;
    check_metadata(&new.metadata)?;
    let allowed_scope = ScopeSet::parse(new.scope.as_deref().unwrap_or(DEFAULT_CLIENT_SCOPE))
        .map_err(|_| invalid("scope", "must be space-separated RFC 6749 scope tokens"))?;
    Ok(Validated {
        name,
        client_type,
        auth_method,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        allowed_scope,
        metadata: new.metadata.clone(),
    })
}

/// The problem text of a redirect URI the general rules refuse.
fn redirect_problem(e: &RedirectUriError) -> &'static str {
    match e {
        RedirectUriError::NotAbsolute => "redirect URI is not an absolute URI",
        RedirectUriError::Fragment => "redirect URI must not contain a fragment",
        RedirectUriError::InsecureHttp => "redirect URI uses http on a host that is not loopback",
        RedirectUriError::Wildcard => "redirect URI must not contain a wildcard",
        RedirectUriError::Userinfo => "redirect URI must not contain user information",
    }
}

fn parse_uris(raw: &[String], app: ApplicationType) -> Result<Vec<RedirectUri>, &'static str> {
    if raw.len() > MAX_URIS {
        return Err("at most 20 redirect URIs may be registered");
    }
    raw.iter()
        .map(|u| {
            if u.len() > MAX_URI_LEN {
                return Err("redirect URI is longer than 2000 characters");
            }
            let uri = RedirectUri::parse(u).map_err(|e| redirect_problem(&e))?;
            check_for_application_type(u, app)?;
            Ok(uri)
        })
        .collect()
}

/// OIDC Registration §2 and RFC 8252 §7: web clients redirect to https (http only on a
/// loopback host, for development); native clients to a loopback http URI (§7.3), a
/// claimed https URI (§7.2) or a private-use scheme in reverse-domain form (§7.1).
fn check_for_application_type(raw: &str, app: ApplicationType) -> Result<(), &'static str> {
    let url = Url::parse(raw).map_err(|_| "redirect URI is not an absolute URI")?;
    match (app, url.scheme()) {
        (_, "https" | "http") => Ok(()),
        (ApplicationType::Web, _) => {
            Err("a web client's redirect URI must use https (or http on a loopback host)")
        }
        (ApplicationType::Native, scheme) if scheme.contains('.') => Ok(()),
        (ApplicationType::Native, _) => Err(
            "a native client's private-use URI scheme must be a reverse domain name such as com.example.app",
        ),
    }
}

fn grant_types(raw: &[String]) -> Result<Vec<GrantType>, MetadataError> {
    let mut grants = if raw.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        raw.iter()
            .map(|g| {
                GrantType::parse(g).ok_or(invalid(
                    "grant_types",
                    "only authorization_code, refresh_token and client_credentials are supported",
                ))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    grants.sort();
    grants.dedup();
    // A refresh token is only ever issued by a code exchange here (RFC 6749 §4.4.3: never
    // for client_credentials), so refresh_token alone could never be used.
    if grants.contains(&GrantType::RefreshToken) && !grants.contains(&GrantType::AuthorizationCode)
    {
        return Err(invalid(
            "grant_types",
            "refresh_token is only issued with the authorization_code grant",
        ));
    }
    Ok(grants)
}

fn auth_method(new: &NewClient) -> Result<TokenEndpointAuthMethod, MetadataError> {
    match (new.public, new.auth_method) {
        (true, None | Some(TokenEndpointAuthMethod::None)) => Ok(TokenEndpointAuthMethod::None),
        (true, Some(_)) => Err(invalid(
            "token_endpoint_auth_method",
            "a public client authenticates with none",
        )),
        (false, Some(method)) => Ok(method),
        (false, None) => Ok(TokenEndpointAuthMethod::ClientSecretBasic),
    }
}

fn keys_problem(field: &'static str, e: ClientKeysError) -> MetadataError {
    invalid(field, e.problem())
}

fn check_keys(
    metadata: &ClientMetadata,
    method: TokenEndpointAuthMethod,
) -> Result<(), MetadataError> {
    match (&metadata.jwks, &metadata.jwks_uri) {
        (Some(_), Some(_)) => {
            // RFC 7591 §2: "MUST NOT both be present in the same request or response".
            return Err(invalid(
                "jwks",
                "jwks and jwks_uri must not both be present",
            ));
        }
        (Some(jwks), None) => {
            client_keys::parse_jwk_set(jwks).map_err(|e| keys_problem("jwks", e))?;
        }
        (None, Some(uri)) => {
            // Loopback http is the registration policy's call (development only); the
            // operator may register it, and the fetcher enforces the policy again.
            client_keys::validate_jwks_uri(uri, true).map_err(|e| keys_problem("jwks_uri", e))?;
        }
        (None, None) if method == TokenEndpointAuthMethod::PrivateKeyJwt => {
            return Err(invalid(
                "token_endpoint_auth_method",
                "private_key_jwt needs the client's public keys in jwks or jwks_uri",
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

/// An absolute https URL (http only on a loopback host), as metadata URIs must be: they
/// end up as links on the consent page.
fn check_web_url(field: &'static str, raw: Option<&str>) -> Result<(), MetadataError> {
    let Some(raw) = raw else { return Ok(()) };
    let ok = raw.len() <= MAX_URI_LEN
        && Url::parse(raw).is_ok_and(|u| {
            u.username().is_empty()
                && u.password().is_none()
                && (u.scheme() == "https" && u.host().is_some()
                    || u.scheme() == "http" && client_keys::is_loopback(&u))
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "must be an https URL"))
    }
}

fn check_metadata(m: &ClientMetadata) -> Result<(), MetadataError> {
    check_web_url("client_uri", m.client_uri.as_deref())?;
    check_web_url("logo_uri", m.logo_uri.as_deref())?;
    check_web_url("policy_uri", m.policy_uri.as_deref())?;
    check_web_url("tos_uri", m.tos_uri.as_deref())?;
    check_web_url(
        "backchannel_logout_uri",
        m.backchannel_logout_uri.as_deref(),
    )?;
    if m.contacts.len() > MAX_CONTACTS
        || m.contacts.iter().any(|c| {
            !(3..=254).contains(&c.len())
                || !c.contains('@')
                || c.chars().any(|ch| ch.is_whitespace() || ch.is_control())
        })
    {
        return Err(invalid("contacts", "must be at most 20 email addresses"));
    }
    if let Some(alg) = &m.id_token_signed_response_alg
        && SigningAlg::parse(alg).is_none()
    {
        return Err(invalid(
            "id_token_signed_response_alg",
            "must be RS256 or ES256, the algorithms this server signs with",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewClient {
        NewClient {
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..NewClient::default()
        }
    }

    fn problem(new: &NewClient) -> MetadataError {
        match validate(new) {
            Ok(_) => panic!("expected a refusal"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_make_a_confidential_code_client() {
        let v = validate(&base()).unwrap();
        assert_eq!(v.client_type, ClientType::Confidential);
        assert_eq!(v.auth_method, TokenEndpointAuthMethod::ClientSecretBasic);
        assert_eq!(
            v.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
    }

    #[test]
    fn web_and_native_redirect_rules_differ() {
        let mut web = base();
        web.redirect_uris = vec!["com.example.app:/cb".into()];
        assert!(matches!(problem(&web), MetadataError::RedirectUri(p) if p.contains("web client")));
        let mut native = web.clone();
        native.metadata.application_type = Some("native".into());
        assert!(validate(&native).is_ok());
        native.redirect_uris = vec!["myapp:/cb".into()];
        assert!(
            matches!(problem(&native), MetadataError::RedirectUri(p) if p.contains("reverse domain"))
        );
        native.redirect_uris = vec!["http://127.0.0.1/cb".into()];
        assert!(validate(&native).is_ok());
    }

    #[test]
    fn inconsistent_combinations_are_refused() {
        let mut public_cc = base();
        public_cc.public = true;
        public_cc.grant_types = vec!["authorization_code".into(), "client_credentials".into()];
        assert!(
            matches!(problem(&public_cc), MetadataError::Metadata { field: "grant_types", problem } if problem.contains("public client"))
        );
        let mut pkjwt = base();
        pkjwt.auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
        assert!(matches!(
            problem(&pkjwt),
            MetadataError::Metadata {
                field: "token_endpoint_auth_method",
                ..
            }
        ));
        let mut lone_refresh = base();
        lone_refresh.grant_types = vec!["refresh_token".into()];
        assert!(matches!(
            problem(&lone_refresh),
            MetadataError::Metadata {
                field: "grant_types",
                ..
            }
        ));
        let mut alg = base();
        alg.metadata.id_token_signed_response_alg = Some("none".into());
        assert!(matches!(
            problem(&alg),
            MetadataError::Metadata {
                field: "id_token_signed_response_alg",
                ..
            }
        ));
        let mut logo = base();
        logo.metadata.logo_uri = Some("javascript:alert(1)".into());
        assert!(matches!(
            problem(&logo),
            MetadataError::Metadata {
                field: "logo_uri",
                ..
            }
        ));
    }
}
