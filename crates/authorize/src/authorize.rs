//! `GET`/`POST /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2.1). Validation order is a
//! security property: until `client_id` and `redirect_uri` are proven, every error is our
//! own HTML page and never a redirect (RFC 6749 §4.1.2.1, §10.15: no open redirector).
//! After that, errors go back to the client with `error`, `error_description`, `state`
//! and `iss` (RFC 9207).

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::ids::ClientId;
use portcullis_core::model::Client;
use url::Url;

use crate::AuthorizeState;
use crate::pages::ErrorPage;

/// The request parameters, each present at most once (RFC 6749 §3.1).
struct AuthorizeParams(HashMap<String, String>);

/// Why the request cannot even be answered by redirect.
enum Unredirectable {
    Malformed,
    Repeated,
    MissingClient,
    UnknownClient,
    MissingRedirectUri,
    UnregisteredRedirectUri,
    Unavailable,
}

impl IntoResponse for Unredirectable {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Unredirectable::Malformed => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request is malformed.",
            ),
            Unredirectable::Repeated => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request repeats a parameter.",
            ),
            Unredirectable::MissingClient => (
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The sign-in request does not say which application sent it.",
            ),
            Unredirectable::UnknownClient => (
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The application that sent you here is not registered.",
            ),
            Unredirectable::MissingRedirectUri => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request does not say where to return.",
            ),
            Unredirectable::UnregisteredRedirectUri => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The sign-in request asks to return to an address the application has not registered.",
            ),
            Unredirectable::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Sign-in is temporarily unavailable. Please try again shortly.",
            ),
        };
        (status, ErrorPage { title, message }).into_response()
    }
}

fn parse_params(raw: &str) -> Result<AuthorizeParams, Unredirectable> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|_| Unredirectable::Malformed)?;
    let mut map = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than
        // once." Which copy to trust is undecidable, so the whole request is refused.
        if map.insert(k, v).is_some() {
            return Err(Unredirectable::Repeated);
        }
    }
    Ok(AuthorizeParams(map))
}

/// The proven client and redirect URI: from here on errors may redirect.
struct Validated {
    client: Client,
    redirect_uri: String,
}

async fn validate_client(
    state: &AuthorizeState,
    params: &AuthorizeParams,
) -> Result<Validated, Unredirectable> {
    let client_id = params
        .0
        .get("client_id")
        .filter(|c| !c.is_empty())
        .ok_or(Unredirectable::MissingClient)?;
    let client = match state.store.find_client(&ClientId(client_id.clone())).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(Unredirectable::UnknownClient),
        Err(e) => {
            tracing::error!(error = ?e, client_id = %client_id, "authorize: client lookup failed");
            return Err(Unredirectable::Unavailable);
        }
    };
    // OIDC Core §3.1.2.1 makes redirect_uri REQUIRED; without it there is nothing to
    // match exactly (RFC 9700 §4.1.3).
    let redirect_uri = params
        .0
        .get("redirect_uri")
        .ok_or(Unredirectable::MissingRedirectUri)?;
    if !client.redirect_uris.iter().any(|r| r.matches(redirect_uri)) {
        return Err(Unredirectable::UnregisteredRedirectUri);
    }
    Ok(Validated {
        redirect_uri: redirect_uri.clone(),
        client,
    })
}

/// An error sent back to the client's redirect URI (RFC 6749 §4.1.2.1, RFC 9207).
fn redirect_error(
    state: &AuthorizeState,
    validated: &Validated,
    params: &AuthorizeParams,
    error: &'static str,
    description: &'static str,
) -> Response {
    let Ok(mut url) = Url::parse(&validated.redirect_uri) else {
        return Unredirectable::UnregisteredRedirectUri.into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", description);
        if let Some(s) = params.0.get("state") {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &state.issuer);
    }
    Redirect::to(url.as_str()).into_response()
}

async fn authorize(state: AuthorizeState, raw: &str) -> Response {
    let params = match parse_params(raw) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let validated = match validate_client(&state, &params).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    tracing::info!(client_id = %validated.client.client_id, "authorize request for a registered client and redirect URI");
    match params.0.get("response_type").map(String::as_str) {
        Some("code") => {}
        Some(_) => {
            return redirect_error(
                &state,
                &validated,
                &params,
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        None => {
            return redirect_error(
                &state,
                &validated,
                &params,
                "invalid_request",
                "response_type is required",
            );
        }
    }
    // Interactive sign-in (login, consent, code issuance) is not served by this build;
    // answer with the standard error so the client can tell its user.
    redirect_error(
        &state,
        &validated,
        &params,
        "temporarily_unavailable",
        "interactive sign-in is not available on this server yet",
    )
}

/// `GET /authorize`.
pub(crate) async fn get_authorize(
    State(state): State<AuthorizeState>,
    RawQuery(query): RawQuery,
) -> Response {
    authorize(state, query.as_deref().unwrap_or("")).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded body).
pub(crate) async fn post_authorize(State(state): State<AuthorizeState>, body: String) -> Response {
    authorize(state, &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(matches!(
            parse_params("client_id=a&client_id=b"),
            Err(Unredirectable::Repeated)
        ));
        let ok = parse_params("client_id=a&state=x%20y").ok().unwrap();
        assert_eq!(ok.0["state"], "x y");
    }
}
