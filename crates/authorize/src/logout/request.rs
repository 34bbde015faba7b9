//! Parsing and checking an end-session request (OpenID RP-Initiated Logout 1.0 §2, §3):
//! `id_token_hint` must be one of our ID tokens (expired is fine), `client_id` must agree
//! with its audience when both are sent, and `post_logout_redirect_uri` is only followed
//! when it exactly matches one the identified client registered and every check passed
//! (§3: after any failure the OP must not redirect). `ui_locales` and `logout_hint` are
//! accepted and have no effect (we have one language and sign out the browser's session).

use anyhow::Context as _;
use portcullis_core::ids::ClientId;
use portcullis_core::logout::{IdTokenHint, verify_id_token_hint};
use url::Url;

use super::error::LogoutError;
use crate::AuthorizeState;
use crate::request::RawParams;

/// A checked end-session request.
#[derive(Debug, Clone)]
pub(crate) struct LogoutRequest {
    /// The `id_token_hint`, when one was sent and verified.
    pub(crate) hint: Option<IdTokenHint>,
    /// The name of the app the hint proves sent the request.
    pub(crate) client_name: Option<String>,
    /// Where the browser goes afterwards (with `state`): only when every check passed.
    pub(crate) redirect: Option<Url>,
    /// The parameters, re-encoded for the confirmation form.
    pub(crate) encoded: String,
}

/// Parses and checks an end-session request.
pub(crate) async fn load_logout_request(
    state: &AuthorizeState,
    raw: &str,
) -> Result<LogoutRequest, LogoutError> {
    let params = RawParams::parse(raw).map_err(|_| LogoutError::Malformed)?;
    let non_empty = |name: &str| params.get(name).filter(|v| !v.is_empty());
    let mut failed = false;
    let hint = match non_empty("id_token_hint") {
        None => None,
        Some(token) => match verify_id_token_hint(&state.keyring.current(), &state.issuer, token) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::info!(reason = %e, "logout: id_token_hint not accepted ({e})");
                failed = true;
                None
            }
        },
    };
    let claimed = non_empty("client_id");
    // §2: when both are sent, the client id must be the one the ID token was issued to.
    if let (Some(h), Some(c)) = (&hint, claimed)
        && h.client_id != c
    {
        tracing::info!(client_id = %c, "logout: client_id does not match the id_token_hint");
        failed = true;
    }
    let client_id = hint.as_ref().map(|h| h.client_id.as_str()).or(claimed);
    let client = match client_id {
        None => None,
        Some(id) => state
            .store
            .find_client(&ClientId(id.to_owned()))
            .await
            .with_context(|| format!("look up client {id}"))
            .map_err(LogoutError::CheckUnavailable)?,
    };
    let redirect = match non_empty("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client.as_ref().is_some_and(|c| {
                c.post_logout_redirect_uris
                    .iter()
                    .any(|r| r.as_str() == uri)
            });
            if failed || !registered {
                tracing::info!(
                    client_id = client_id.unwrap_or("-"),
                    "logout: post_logout_redirect_uri not followed (unregistered or unproven)"
                );
                None
            } else {
                Url::parse(uri).ok().map(|mut url| {
                    if let Some(s) = params.get("state") {
                        url.query_pairs_mut().append_pair("state", s);
                    }
                    url
                })
            }
        }
    };
    let client_name = client.filter(|_| hint.is_some() && !failed).map(|c| c.name);
    Ok(LogoutRequest {
        hint: hint.filter(|_| !failed),
        client_name,
        redirect,
        encoded: params.encode_without(&[]),
    })
}
