//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), parsed and validated
//! in the order that keeps us from being an open redirector: client and redirect URI first
//! (failures are [`Unredirectable`]: our own page), everything else after (failures are
//! [`AuthorizeError`]s sent back to the proven redirect URI).

use std::collections::HashMap;

use anyhow::Context as _;
use portcullis_core::ids::ClientId;
use portcullis_core::logout::{IdTokenHint, verify_id_token_hint};
use portcullis_core::model::{Client, ClientType, GrantType};
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::scope::ScopeSet;

use crate::AuthorizeState;
use crate::error::{AuthorizeError, FlowError, ReturnTo, Unredirectable};

/// The raw parameters, each present at most once (RFC 6749 §3.1).
#[derive(Debug, Clone)]
pub(crate) struct RawParams(HashMap<String, String>);

impl RawParams {
    pub(crate) fn parse(raw: &str) -> Result<Self, Unredirectable> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw).map_err(|_| Unredirectable::Malformed)?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            // RFC 6749 §3.1: parameters MUST NOT be included more than once; which copy
            // to trust is undecidable, so the request is refused.
            if map.insert(k, v).is_some() {
                return Err(Unredirectable::Repeated);
            }
        }
        Ok(RawParams(map))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Re-encodes the request for the hidden field of our forms and for the redirect back
    /// to `/authorize` after login, without `drop`ped parameters.
    pub(crate) fn encode_without(&self, drop: &[&str]) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .0
            .iter()
            .filter(|(k, _)| !drop.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.sort_unstable();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The same request with `prompt` values `login` and `select_account` and `max_age`
    /// removed: what continues after a fresh login (which satisfied them), so the
    /// continuation cannot loop back to the login page.
    pub(crate) fn after_login(&self) -> String {
        let mut copy = self.clone();
        copy.0.remove("max_age");
        if let Some(prompt) = copy.0.remove("prompt") {
            let kept: Vec<&str> = prompt
                .split(' ')
                .filter(|p| !p.is_empty() && *p != "login" && *p != "select_account")
                .collect();
            if !kept.is_empty() {
                copy.0.insert("prompt".into(), kept.join(" "));
            }
        }
        copy.encode_without(&[])
    }
}

/// The client and redirect URI, proven: from here on errors may redirect.
#[derive(Debug, Clone)]
pub(crate) struct Proven {
    pub(crate) client: Client,
    /// Where answers to this request go.
    pub(crate) return_to: ReturnTo,
}

/// Step one: client and exact redirect URI (RFC 9700 §4.1.3; loopback any port, RFC 8252
/// §7.3).
async fn prove_client(
    state: &AuthorizeState,
    params: &RawParams,
) -> Result<Proven, Unredirectable> {
    let client_id = params
        .get("client_id")
        .filter(|c| !c.is_empty())
        .map(|c| ClientId(c.to_owned()))
        .ok_or(Unredirectable::MissingClient)?;
    let lookup = state
        .store
        .find_client(&client_id)
        .await
        .with_context(|| format!("look up client {client_id}"));
    let client = match lookup {
        Ok(Some(client)) => client,
        Ok(None) => return Err(Unredirectable::UnknownClient),
        Err(cause) => return Err(Unredirectable::Unavailable { client_id, cause }),
    };
    // OIDC Core §3.1.2.1 makes redirect_uri REQUIRED: there is nothing to compare exactly
    // without it.
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or(Unredirectable::MissingRedirectUri)?;
    if !client.redirect_uris.iter().any(|r| r.matches(redirect_uri)) {
        return Err(Unredirectable::UnregisteredRedirectUri);
    }
    Ok(Proven {
        return_to: ReturnTo {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            state: params.get("state").map(str::to_owned),
            issuer: state.issuer.clone(),
        },
        client,
    })
}

/// `prompt` values (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prompt {
    pub(crate) none: bool,
    pub(crate) login: bool,
    pub(crate) consent: bool,
    pub(crate) select_account: bool,
}

/// A fully validated authorization request.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationRequest {
    pub(crate) proven: Proven,
    pub(crate) scope: ScopeSet,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<CodeChallenge>,
    pub(crate) prompt: Prompt,
    pub(crate) max_age: Option<i64>,
    pub(crate) login_hint: Option<String>,
    /// The user an `id_token_hint` names (OIDC Core §3.1.2.1), verified as one of our ID
    /// tokens.
    pub(crate) id_token_hint: Option<IdTokenHint>,
    pub(crate) raw: RawParams,
}

/// Parses and validates a whole request: client and redirect URI first, then the rest.
pub(crate) async fn load_request(
    state: &AuthorizeState,
    raw: &str,
) -> Result<AuthorizationRequest, FlowError> {
    let params = RawParams::parse(raw)?;
    let proven = prove_client(state, &params).await?;
    let parts = validate_rest(&proven, &params).map_err(|e| proven.return_to.refuse(e))?;
    let id_token_hint = id_token_hint(state, &params).map_err(|e| proven.return_to.refuse(e))?;
    Ok(AuthorizationRequest {
        proven,
        scope: parts.scope,
        nonce: parts.nonce,
        code_challenge: parts.code_challenge,
        prompt: parts.prompt,
        max_age: parts.max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        id_token_hint,
        raw: params,
    })
}

/// The `id_token_hint`, if sent: it must be an ID token we signed with a published key and
/// our `iss` (OIDC Core §3.1.2.1), or the request is `invalid_request` rather than a hint
/// quietly ignored. An expired one is still a good hint: it names the user the app last
/// saw, which is what §3.1.2.1 uses it for.
fn id_token_hint(
    state: &AuthorizeState,
    params: &RawParams,
) -> Result<Option<IdTokenHint>, AuthorizeError> {
    let Some(token) = params.get("id_token_hint").filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    verify_id_token_hint(&state.keyring.current(), &state.issuer, token)
        .map(Some)
        .map_err(|_| {
            AuthorizeError::InvalidRequest("id_token_hint is not an ID token this server issued")
        })
}

struct Parts {
    scope: ScopeSet,
    nonce: Option<String>,
    code_challenge: Option<CodeChallenge>,
    prompt: Prompt,
    max_age: Option<i64>,
}

fn validate_rest(proven: &Proven, params: &RawParams) -> Result<Parts, AuthorizeError> {
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => return Err(AuthorizeError::UnsupportedResponseType),
        None => {
            return Err(AuthorizeError::InvalidRequest("response_type is required"));
        }
    }
    if !proven
        .client
        .grant_types
        .contains(&GrantType::AuthorizationCode)
    {
        return Err(AuthorizeError::UnauthorizedClient);
    }
    // OIDC Core §6: request objects are optional and not supported here.
    if params.get("request").is_some() {
        return Err(AuthorizeError::RequestNotSupported);
    }
    if params.get("request_uri").is_some() {
        return Err(AuthorizeError::RequestUriNotSupported);
    }
    match params.get("response_mode") {
        None | Some("query") => {}
        Some(_) => {
            return Err(AuthorizeError::InvalidRequest(
                "only response_mode=query is supported",
            ));
        }
    }
    let scope = ScopeSet::parse(params.get("scope").unwrap_or(""))
        .map_err(|_| AuthorizeError::InvalidScope("scope is malformed"))?;
    if scope.is_empty() {
        return Err(AuthorizeError::InvalidScope("scope is required"));
    }
    if !scope.is_subset_of(&proven.client.allowed_scope) {
        return Err(AuthorizeError::InvalidScope(
            "the client may not request one of these scopes",
        ));
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(AuthorizeError::InvalidRequest(
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(challenge), method) => Some(CodeChallenge::parse(challenge, method).map_err(
            |e| match e {
                portcullis_core::pkce::PkceError::UnsupportedMethod => {
                    AuthorizeError::InvalidRequest("code_challenge_method must be S256")
                }
                _ => AuthorizeError::InvalidRequest("code_challenge is malformed"),
            },
        )?),
    };
    // RFC 9700 §2.1.1: public clients must use PKCE.
    if code_challenge.is_none() && proven.client.client_type == ClientType::Public {
        return Err(AuthorizeError::InvalidRequest(
            "PKCE (code_challenge with S256) is required for public clients",
        ));
    }
    let prompt = parse_prompt(params.get("prompt"))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(
            AuthorizeError::InvalidRequest("max_age must be a non-negative integer"),
        )?),
    };
    Ok(Parts {
        scope,
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
    })
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, AuthorizeError> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => prompt.select_account = true,
            _ => return Err(AuthorizeError::InvalidRequest("unknown prompt value")),
        }
    }
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
        return Err(AuthorizeError::InvalidRequest(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(matches!(
            RawParams::parse("client_id=a&client_id=b"),
            Err(Unredirectable::Repeated)
        ));
        let ok = RawParams::parse("client_id=a&state=x%20y").unwrap();
        assert_eq!(ok.get("state"), Some("x y"));
    }

    #[test]
    fn continuation_after_login_drops_what_the_login_satisfied() {
        let p = RawParams::parse("client_id=a&prompt=login%20consent&max_age=0&state=s").unwrap();
        let next = RawParams::parse(&p.after_login()).unwrap();
        assert_eq!(next.get("prompt"), Some("consent"));
        assert_eq!(next.get("max_age"), None);
        assert_eq!(next.get("state"), Some("s"));
        let only_login = RawParams::parse("client_id=a&prompt=login").unwrap();
        assert_eq!(
            RawParams::parse(&only_login.after_login())
                .unwrap()
                .get("prompt"),
            None
        );
    }

    #[test]
    fn prompt_none_stands_alone() {
        assert!(parse_prompt(Some("none")).unwrap().none);
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
        let p = parse_prompt(Some("login consent")).unwrap();
        assert!(p.login && p.consent);
    }
}
