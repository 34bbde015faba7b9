//! RFC 7591 §2 client metadata as JSON, read member by member so a wrong type is reported
//! with the member's name, then checked for the combinations §2.1 requires to agree
//! (`grant_types` and `response_types`) and against the registration policy. Members we
//! do not know are ignored (§2: "MUST ignore any client metadata ... it does not
//! understand").

use serde_json::{Map, Value};

use crate::client_keys;
use crate::clients::{MetadataError, NewClient};
use crate::model::{ClientMetadata, GrantType, TokenEndpointAuthMethod};
use crate::registration::{RegistrationError, RegistrationPolicy};
use crate::scope::ScopeSet;

/// The name a registration without `client_name` is shown under.
const UNNAMED: &str = "Unnamed client";

/// A parsed registration (or RFC 7592 update) request.
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    /// The client to create or the complete replacement.
    pub new: NewClient,
    /// `client_id`, which an RFC 7592 update must repeat.
    pub client_id: Option<String>,
    /// `client_secret`, which an RFC 7592 update may repeat.
    pub client_secret: Option<String>,
}

fn invalid(field: &'static str, problem: &'static str) -> RegistrationError {
    RegistrationError::Metadata(MetadataError::Metadata { field, problem })
}

struct Members(Map<String, Value>);

impl Members {
    fn string(&mut self, field: &'static str) -> Result<Option<String>, RegistrationError> {
        match self.0.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(field, "must be a string")),
        }
    }

    fn strings(&mut self, field: &'static str) -> Result<Option<Vec<String>>, RegistrationError> {
        match self.0.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid(field, "must be an array of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(field, "must be an array of strings")),
        }
    }

    fn value(&mut self, field: &'static str) -> Option<Value> {
        self.0.remove(field).filter(|v| !v.is_null())
    }
}

/// Parses a JSON body of client metadata. With a `policy` (dynamic registration) the
/// request must stay within it; without one (the operator's admin API) only the rules of
/// every client apply.
pub fn parse_registration_request(
    body: &[u8],
    policy: Option<&RegistrationPolicy>,
) -> Result<RegistrationRequest, RegistrationError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid("body", "must be a JSON object of client metadata"));
    };
    let mut m = Members(map);
    if m.value("software_statement").is_some() {
        return Err(RegistrationError::SoftwareStatement);
    }
    let redirect_uris = m.strings("redirect_uris")?.unwrap_or_default();
    let grant_types = m
        .strings("grant_types")?
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
    let has_code_grant = grant_types
        .iter()
        .any(|g| g == GrantType::AuthorizationCode.as_str());
    let response_types = m.strings("response_types")?.unwrap_or_else(|| {
        // RFC 7591 §2 defaults to `code`; a client without the code grant gets none, so
        // a client_credentials-only registration need not spell out `[]`.
        if has_code_grant {
            vec!["code".to_owned()]
        } else {
            vec![]
        }
    });
    check_response_types(&response_types, has_code_grant)?;
    let auth_method = match m.string("token_endpoint_auth_method")? {
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(s) => TokenEndpointAuthMethod::parse(&s).ok_or(invalid(
            "token_endpoint_auth_method",
            "must be client_secret_basic, client_secret_post, private_key_jwt or none",
        ))?,
    };
    let jwks = m.value("jwks");
    if jwks.as_ref().is_some_and(|j| !j.is_object()) {
        return Err(invalid("jwks", "must be a JWK set object"));
    }
    let metadata = ClientMetadata {
        client_uri: m.string("client_uri")?,
        logo_uri: m.string("logo_uri")?,
        policy_uri: m.string("policy_uri")?,
        tos_uri: m.string("tos_uri")?,
        contacts: m.strings("contacts")?.unwrap_or_default(),
        jwks,
        jwks_uri: m.string("jwks_uri")?,
        id_token_signed_response_alg: m.string("id_token_signed_response_alg")?,
        application_type: m.string("application_type")?,
        backchannel_logout_uri: m.string("backchannel_logout_uri")?,
        backchannel_logout_session_required: match m.value("backchannel_logout_session_required") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                return Err(invalid(
                    "backchannel_logout_session_required",
                    "must be a boolean",
                ));
            }
        },
    };
    let scope = m.string("scope")?;
    let mut new = NewClient {
        name: m
            .string("client_name")?
            .unwrap_or_else(|| UNNAMED.to_owned()),
        redirect_uris,
        post_logout_redirect_uris: m.strings("post_logout_redirect_uris")?.unwrap_or_default(),
        public: auth_method == TokenEndpointAuthMethod::None,
        auth_method: Some(auth_method),
        grant_types,
        scope,
        metadata,
        registration_token_hash: None,
        // An operator's word, never a registrant's (RFC 7591 §5: self-asserted metadata
        // proves nothing about who runs the client).
        first_party: None,
    };
    if new.grant_types.is_empty() {
        return Err(invalid("grant_types", "must name at least one grant type"));
    }
    // The rules of every client first, so an inconsistent request is told what is
    // inconsistent rather than what the policy would not allow anyway.
    crate::clients::validate::validate(&new)?;
    if let Some(policy) = policy {
        apply_policy(&mut new, policy)?;
    }
    Ok(RegistrationRequest {
        new,
        client_id: m.string("client_id")?,
        client_secret: m.string("client_secret")?,
    })
}

/// RFC 7591 §2.1: `code` is the only response type we serve, and it goes with the
/// `authorization_code` grant both ways.
fn check_response_types(
    response_types: &[String],
    has_code_grant: bool,
) -> Result<(), RegistrationError> {
    if response_types.iter().any(|r| r != "code") {
        return Err(invalid(
            "response_types",
            "only the code response type is supported",
        ));
    }
    let has_code = !response_types.is_empty();
    if has_code && !has_code_grant {
        return Err(invalid(
            "response_types",
            "the code response type needs the authorization_code grant in grant_types",
        ));
    }
    if has_code_grant && !has_code {
        return Err(invalid(
            "grant_types",
            "the authorization_code grant needs the code response type in response_types",
        ));
    }
    Ok(())
}

/// The scope a user grants for a refresh token to be issued (OIDC Core §11).
const OFFLINE_ACCESS: &str = "offline_access";
/// The scope that makes a request an OpenID Connect one.
const OPENID: &str = "openid";

/// `scope` with offline_access added.
fn with_offline_access(scope: ScopeSet) -> ScopeSet {
    match ScopeSet::parse(OFFLINE_ACCESS) {
        Ok(offline) => scope.union(&offline),
        // A constant, well-formed token: cannot happen.
        Err(_) => scope,
    }
}

fn apply_policy(new: &mut NewClient, policy: &RegistrationPolicy) -> Result<(), RegistrationError> {
    let wants_refresh_tokens = new
        .grant_types
        .iter()
        .any(|g| GrantType::parse(g) == Some(GrantType::RefreshToken));
    let defaulted = new.scope.is_none();
    let scope = match &new.scope {
        None => policy.default_scope.clone(),
        Some(raw) => ScopeSet::parse(raw)
            .map_err(|_| invalid("scope", "must be space-separated RFC 6749 scope tokens"))?,
    };
    // A client that registers the refresh_token grant and names no scope is a relying
    // party signing users in, whose every request carries `openid`: refresh tokens then
    // come only with offline_access (OIDC Core §11), so its default scope includes it.
    let scope = if defaulted && wants_refresh_tokens {
        with_offline_access(scope)
    } else {
        scope
    };
    if !scope.is_subset_of(&policy.allowed_scope) {
        return Err(invalid(
            if defaulted { "grant_types" } else { "scope" },
            if defaulted && wants_refresh_tokens {
                "the refresh_token grant needs offline_access in scope (OIDC Core §11), \
                 which this server does not grant to dynamically registered clients"
            } else {
                "asks for a scope this server does not grant to dynamically registered clients"
            },
        ));
    }
    // Never accept a grant type the client can never be used for: with neither
    // offline_access nor any scope besides openid, no request it can make yields a
    // refresh token (OpenID requests need offline_access; others need some scope).
    if wants_refresh_tokens
        && !scope.contains(OFFLINE_ACCESS)
        && scope.iter().all(|token| token == OPENID)
    {
        return Err(invalid(
            "grant_types",
            "the refresh_token grant needs offline_access in scope (OIDC Core §11)",
        ));
    }
    new.scope = Some(scope.to_string());
    for g in &new.grant_types {
        // Unknown names fall through to the general rules, which name them as unsupported.
        if GrantType::parse(g).is_some_and(|g| !policy.allowed_grant_types.contains(&g)) {
            return Err(invalid(
                "grant_types",
                "asks for a grant type this server does not allow dynamically registered clients",
            ));
        }
    }
    if let Some(uri) = &new.metadata.jwks_uri {
        client_keys::validate_jwks_uri(uri, policy.allow_loopback_http_jwks_uri)
            .map_err(|e| invalid("jwks_uri", e.problem()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy() -> RegistrationPolicy {
        RegistrationPolicy {
            allowed_scope: ScopeSet::parse("openid profile email").unwrap(),
            default_scope: ScopeSet::parse("openid").unwrap(),
            allowed_grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            allow_loopback_http_jwks_uri: false,
        }
    }

    fn parse(v: Value) -> Result<RegistrationRequest, RegistrationError> {
        parse_registration_request(v.to_string().as_bytes(), Some(&policy()))
    }

    fn refused(v: Value) -> (String, String) {
        let e = parse(v).unwrap_err();
        (e.code().to_owned(), e.to_string())
    }

    #[test]
    fn minimal_registration_gets_rfc_7591_defaults_and_the_policy_scope() {
        let r = parse(json!({"redirect_uris": ["https://a.example/cb"]})).unwrap();
        assert_eq!(r.new.grant_types, ["authorization_code"]);
        assert_eq!(
            r.new.auth_method,
            Some(TokenEndpointAuthMethod::ClientSecretBasic)
        );
        assert_eq!(r.new.scope.as_deref(), Some("openid"));
        assert_eq!(r.new.name, UNNAMED);
    }

    #[test]
    fn wrong_types_name_the_member() {
        let (code, text) = refused(json!({"redirect_uris": "https://a.example/cb"}));
        assert_eq!(code, "invalid_client_metadata");
        assert_eq!(text, "redirect_uris: must be an array of strings");
        let (_, text) = refused(json!([1]));
        assert!(text.starts_with("body:"), "{text}");
    }

    #[test]
    fn response_and_grant_types_must_agree() {
        let (_, text) = refused(json!({"redirect_uris": ["https://a.example/cb"],
            "grant_types": ["client_credentials"], "response_types": ["code"]}));
        assert!(text.starts_with("response_types:"), "{text}");
        let (_, text) = refused(json!({"redirect_uris": ["https://a.example/cb"],
            "response_types": []}));
        assert!(text.starts_with("grant_types:"), "{text}");
        let (_, text) = refused(json!({"redirect_uris": ["https://a.example/cb"],
            "response_types": ["token"]}));
        assert!(text.contains("only the code response type"), "{text}");
    }

    #[test]
    fn the_policy_caps_scope_grant_types_and_jwks_uri() {
        let (_, text) =
            refused(json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid admin"}));
        assert!(text.starts_with("scope:"), "{text}");
        let (_, text) = refused(json!({"grant_types": ["client_credentials"]}));
        assert!(text.starts_with("grant_types:"), "{text}");
        let (_, text) = refused(json!({"redirect_uris": ["https://a.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://127.0.0.1/jwks"}));
        assert!(text.starts_with("jwks_uri:"), "{text}");
        let admin = parse_registration_request(
            json!({"grant_types": ["client_credentials"], "scope": "admin"})
                .to_string()
                .as_bytes(),
            None,
        );
        assert!(admin.is_ok(), "the operator is not capped");
    }

    #[test]
    fn the_refresh_token_grant_comes_with_offline_access_or_is_refused() {
        let offline = RegistrationPolicy {
            allowed_scope: ScopeSet::parse("openid profile email offline_access").unwrap(),
            default_scope: ScopeSet::parse("openid profile email").unwrap(),
            ..policy()
        };
        let register = |v: Value, policy: &RegistrationPolicy| {
            parse_registration_request(v.to_string().as_bytes(), Some(policy))
        };
        let both = json!({"redirect_uris": ["https://a.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"]});
        let with_scope = |scope: &str| {
            let mut v = both.clone();
            v["scope"] = json!(scope);
            v
        };

        let defaulted = register(both.clone(), &offline).unwrap();
        assert_eq!(
            defaulted.new.scope.as_deref(),
            Some("email offline_access openid profile"),
            "the default scope gains offline_access for a refresh_token client"
        );
        let code_only = register(json!({"redirect_uris": ["https://a.example/cb"]}), &offline);
        assert_eq!(
            code_only.unwrap().new.scope.as_deref(),
            Some("email openid profile"),
            "and only for one"
        );
        let e = register(both.clone(), &policy()).unwrap_err();
        assert_eq!(e.code(), "invalid_client_metadata");
        assert!(
            e.to_string().starts_with("grant_types:") && e.to_string().contains("offline_access"),
            "a policy without offline_access refuses the grant it could never serve: {e}"
        );
        let e = register(with_scope("openid"), &offline).unwrap_err();
        assert!(
            e.to_string().starts_with("grant_types:") && e.to_string().contains("offline_access"),
            "openid alone can never yield a refresh token: {e}"
        );
        assert!(
            register(with_scope("openid profile"), &offline).is_ok(),
            "a plain OAuth request for profile can"
        );
        assert!(register(with_scope("openid offline_access"), &offline).is_ok());
    }

    #[test]
    fn software_statements_are_refused_with_their_own_code() {
        let (code, _) = refused(json!({"software_statement": "eyJ..."}));
        assert_eq!(code, "invalid_software_statement");
    }
}
