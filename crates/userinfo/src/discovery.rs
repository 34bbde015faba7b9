//! OpenID Connect Discovery 1.0 §3 and RFC 8414 §2 metadata. Every endpoint listed is one
//! we serve, and every `*_supported` list says only what the server really does; the
//! server passes in which endpoints are mounted, so nothing unbuilt is advertised.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use crate::{UserinfoState, public_cache_control};

/// What the discovery document is built from.
#[derive(Debug, Clone)]
pub struct DiscoveryInput {
    /// The issuer, exactly as configured (no trailing-slash normalisation: OIDC
    /// Discovery §4.3 compares it byte for byte).
    pub issuer: String,
    /// Path of the authorization endpoint, when mounted.
    pub authorization_path: Option<&'static str>,
    /// Path of the token endpoint, when mounted.
    pub token_path: Option<&'static str>,
    /// Path of the userinfo endpoint, when mounted.
    pub userinfo_path: Option<&'static str>,
    /// Path of the JWKS.
    pub jwks_path: &'static str,
    /// Path of the RFC 7009 revocation endpoint, when mounted.
    pub revocation_path: Option<&'static str>,
    /// Path of the RFC 7662 introspection endpoint, when mounted.
    pub introspection_path: Option<&'static str>,
    /// Path of the end-session endpoint (RP-Initiated Logout 1.0 §2.1), when mounted.
    pub end_session_path: Option<&'static str>,
    /// Whether logout tokens are sent to clients' `backchannel_logout_uri` (Back-Channel
    /// Logout 1.0 §2.1), always with `sid`.
    pub backchannel_logout: bool,
    /// Grant types the token endpoint accepts.
    pub grant_types: Vec<&'static str>,
    /// Client authentication methods the token endpoint accepts.
    pub token_endpoint_auth_methods: Vec<&'static str>,
    /// Client authentication methods the revocation endpoint accepts.
    pub revocation_endpoint_auth_methods: Vec<&'static str>,
    /// Path of the RFC 7591 registration endpoint, when registration is on.
    pub registration_path: Option<&'static str>,
    /// Algorithms accepted for `private_key_jwt` client assertions (RFC 8414 §2); empty
    /// when that method is not offered.
    pub token_endpoint_auth_signing_algs: Vec<&'static str>,
    /// Client authentication methods the introspection endpoint accepts.
    pub introspection_endpoint_auth_methods: Vec<&'static str>,
    /// Scopes we understand.
    pub scopes: Vec<&'static str>,
    /// Claims we can release.
    pub claims: Vec<&'static str>,
}

/// The metadata members we publish. `None` members are omitted.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_session_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    // Both default to false when omitted (Back-Channel Logout 1.0 §2.1).
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
    scopes_supported: Vec<&'static str>,
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    claims_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    prompt_values_supported: Vec<&'static str>,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    // Defaults to true when omitted (OIDC Discovery §3), so say no explicitly.
    request_uri_parameter_supported: bool,
    authorization_response_iss_parameter_supported: bool,
}

/// Both discovery documents, serialised once.
#[derive(Debug)]
pub struct DiscoveryDocument {
    metadata: Metadata,
    json: String,
}

impl DiscoveryDocument {
    /// Builds the document. Endpoint URLs are the issuer with the path appended.
    pub fn build(input: &DiscoveryInput) -> Result<Self, serde_json::Error> {
        let base = input.issuer.trim_end_matches('/');
        let url = |path: &str| format!("{base}{path}");
        let metadata = Metadata {
            issuer: input.issuer.clone(),
            authorization_endpoint: input.authorization_path.map(url),
            token_endpoint: input.token_path.map(url),
            userinfo_endpoint: input.userinfo_path.map(url),
            jwks_uri: url(input.jwks_path),
            revocation_endpoint: input.revocation_path.map(url),
            introspection_endpoint: input.introspection_path.map(url),
            end_session_endpoint: input.end_session_path.map(url),
            registration_endpoint: input.registration_path.map(url),
            backchannel_logout_supported: input.backchannel_logout,
            // Every logout token we send carries `sid`, as every ID token does.
            backchannel_logout_session_supported: input.backchannel_logout,
            scopes_supported: input.scopes.clone(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: input.grant_types.clone(),
            subject_types_supported: vec!["public"],
            // RS256 first: OIDC Discovery §3 requires it and it is the ID token default.
            id_token_signing_alg_values_supported: vec!["RS256", "ES256"],
            token_endpoint_auth_methods_supported: input.token_endpoint_auth_methods.clone(),
            token_endpoint_auth_signing_alg_values_supported: input
                .token_endpoint_auth_signing_algs
                .clone(),
            // An auth method list without its endpoint would advertise nothing real.
            revocation_endpoint_auth_methods_supported: if input.revocation_path.is_some() {
                input.revocation_endpoint_auth_methods.clone()
            } else {
                Vec::new()
            },
            introspection_endpoint_auth_methods_supported: if input.introspection_path.is_some() {
                input.introspection_endpoint_auth_methods.clone()
            } else {
                Vec::new()
            },
            claims_supported: input.claims.clone(),
            // RFC 9700 §2.1.1: only S256; `plain` is refused.
            code_challenge_methods_supported: vec!["S256"],
            prompt_values_supported: vec!["none", "login", "consent", "select_account"],
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            authorization_response_iss_parameter_supported: true,
        };
        let json = serde_json::to_string(&metadata)?;
        Ok(DiscoveryDocument { metadata, json })
    }

    /// The serialised document.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The issuer it was built for.
    pub fn issuer(&self) -> &str {
        &self.metadata.issuer
    }
}

fn serve(state: &UserinfoState) -> impl IntoResponse + use<> {
    (
        [
            (
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                public_cache_control(state.max_age_secs),
            ),
        ],
        state.discovery.json().to_owned(),
    )
}

/// `GET /.well-known/openid-configuration` (OIDC Discovery §4).
pub(crate) async fn get_openid_configuration(
    State(state): State<UserinfoState>,
) -> impl IntoResponse {
    serve(&state)
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3): the same metadata; RFC
/// 8414 §2 defines the same member names, and OIDC members are allowed there.
pub(crate) async fn get_oauth_authorization_server(
    State(state): State<UserinfoState>,
) -> impl IntoResponse {
    serve(&state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(issuer: &str) -> DiscoveryInput {
        DiscoveryInput {
            issuer: issuer.into(),
            authorization_path: Some("/authorize"),
            token_path: None,
            userinfo_path: None,
            jwks_path: "/jwks.json",
            revocation_path: None,
            introspection_path: None,
            end_session_path: None,
            backchannel_logout: false,
            grant_types: vec!["authorization_code"],
            token_endpoint_auth_methods: vec![],
            revocation_endpoint_auth_methods: vec!["client_secret_basic"],
            introspection_endpoint_auth_methods: vec!["client_secret_basic"],
            registration_path: None,
            token_endpoint_auth_signing_algs: vec![],
            scopes: vec!["openid"],
            claims: vec!["sub", "iss"],
        }
    }

    #[test]
    fn issuer_is_kept_byte_for_byte_and_endpoints_hang_off_it() {
        let doc = DiscoveryDocument::build(&input("https://id.example/tenant/")).unwrap();
        let v: serde_json::Value = serde_json::from_str(doc.json()).unwrap();
        assert_eq!(v["issuer"], "https://id.example/tenant/");
        assert_eq!(v["jwks_uri"], "https://id.example/tenant/jwks.json");
        assert_eq!(
            v["authorization_endpoint"],
            "https://id.example/tenant/authorize"
        );
    }

    #[test]
    fn revocation_and_introspection_are_advertised_with_their_auth_methods() {
        let mut input = input("https://id.example");
        input.revocation_path = Some("/revoke");
        input.introspection_path = Some("/introspect");
        let doc = DiscoveryDocument::build(&input).unwrap();
        let v: serde_json::Value = serde_json::from_str(doc.json()).unwrap();
        assert_eq!(v["revocation_endpoint"], "https://id.example/revoke");
        assert_eq!(v["introspection_endpoint"], "https://id.example/introspect");
        assert_eq!(
            v["revocation_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic"])
        );
        assert_eq!(
            v["introspection_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic"])
        );
    }

    #[test]
    fn logout_support_is_advertised_when_mounted() {
        let mut input = input("https://id.example");
        input.end_session_path = Some("/logout");
        input.backchannel_logout = true;
        let doc = DiscoveryDocument::build(&input).unwrap();
        let v: serde_json::Value = serde_json::from_str(doc.json()).unwrap();
        assert_eq!(v["end_session_endpoint"], "https://id.example/logout");
        assert_eq!(v["backchannel_logout_supported"], true);
        assert_eq!(v["backchannel_logout_session_supported"], true);
    }

    #[test]
    fn unmounted_endpoints_are_not_advertised() {
        let doc = DiscoveryDocument::build(&input("http://127.0.0.1:8080")).unwrap();
        let v: serde_json::Value = serde_json::from_str(doc.json()).unwrap();
        assert!(v.get("token_endpoint").is_none());
        assert!(v.get("userinfo_endpoint").is_none());
        assert!(v.get("token_endpoint_auth_methods_supported").is_none());
        for member in [
            "revocation_endpoint",
            "introspection_endpoint",
            "revocation_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
            "end_session_endpoint",
            "registration_endpoint",
            "token_endpoint_auth_signing_alg_values_supported",
        ] {
            assert!(
                v.get(member).is_none(),
                "{member} advertised but not mounted"
            );
        }
        assert_eq!(
            v["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(v["authorization_response_iss_parameter_supported"], true);
        assert_eq!(v["request_uri_parameter_supported"], false);
    }
}
