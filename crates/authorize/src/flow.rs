//! The decision after a request is valid: does the user need to log in, consent, or can a
//! code be issued now (OIDC Core §3.1.2.3-4: `prompt`, `max_age`, `id_token_hint` with
//! `prompt=none`, remembered consent, which public clients only get when the operator
//! marked them first party: RFC 8252 §8.6).

use std::borrow::Cow;

use anyhow::Context as _;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::ids::GrantId;
use portcullis_core::model::{AuthorizationCode, Grant, Session, User};
use portcullis_core::secret::{PlainSecret, SecretKind};
use url::Url;

use crate::AuthorizeState;
use crate::csp::allow_form_target;
use crate::error::{AuthorizeError, FlowError};
use crate::login::login_csrf_binding;
use crate::pages::{ConsentPage, LoginPage, client_links, describe_scopes};
use crate::request::AuthorizationRequest;

/// Decides what this browser sees for a valid request.
pub(crate) async fn decide(
    state: &AuthorizeState,
    headers: &HeaderMap,
    req: &AuthorizationRequest,
    session: Option<Session>,
) -> Result<Response, FlowError> {
    let now = state.clock.now();
    let proven = &req.proven;
    let to = &proven.return_to;
    // OIDC Core §3.1.2.1 max_age; 0 means "authenticate now" even within the same second.
    let too_old = |s: &Session| {
        req.max_age
            .is_some_and(|max| max == 0 || now.unix() - s.auth_time.unix() > max)
    };
    let session =
        session.filter(|s| !(req.prompt.login || req.prompt.select_account || too_old(s)));
    let user = match &session {
        Some(s) => state
            .store
            .find_user(s.user_id)
            .await
            .context("load the user of the browser session")
            .map_err(|e| to.unavailable(e))?
            .filter(|u| !u.disabled),
        None => None,
    };
    let (Some(session), Some(user)) = (session, user) else {
        if req.prompt.none {
            return Err(to.refuse(AuthorizeError::LoginRequired));
        }
        return login_page(state, headers, req, None, StatusCode::OK);
    };
    // OIDC Core §3.1.2.1: without UI, a code for someone other than the user the app's
    // `id_token_hint` names is not an answer; the app must send the user to log in.
    // With UI the hint is only a hint: the user signed in here decides.
    if req.prompt.none
        && req
            .id_token_hint
            .as_ref()
            .is_some_and(|hint| hint.sub != user.user_id.to_string())
    {
        return Err(to.refuse(AuthorizeError::LoginRequired));
    }
    // A public client's remembered consent proves nothing about who is asking now (see
    // `Client::remembered_consent_applies`): the user is asked every time, unless the
    // operator vouches for the client.
    let consented = proven.client.remembered_consent_applies()
        && state
            .store
            .find_consent(user.user_id, &proven.client.client_id)
            .await
            .context("load the remembered consent")
            .map_err(|e| to.unavailable(e))?
            .is_some_and(|c| req.scope.is_subset_of(&c.scope));
    if req.prompt.consent || !consented {
        if req.prompt.none {
            return Err(to.refuse(AuthorizeError::ConsentRequired));
        }
        return Ok(consent_page(state, req, &session, &user));
    }
    issue_code(state, req, &session).await
}

/// The login page, with a CSRF token bound to a fresh (or the existing) CSRF cookie.
pub(crate) fn login_page(
    state: &AuthorizeState,
    headers: &HeaderMap,
    req: &AuthorizationRequest,
    error: Option<Cow<'static, str>>,
    status: StatusCode,
) -> Result<Response, FlowError> {
    let (binding, set_cookie) = login_csrf_binding(state, headers)
        .context("plant the login CSRF cookie")
        .map_err(|e| req.proven.return_to.server_error(e))?;
    let page = LoginPage {
        client_name: Some(req.proven.client.name.clone()),
        action: "/login",
        error,
        csrf_token: state.csrf.token(CsrfPurpose::Login, binding.as_bytes()),
        request: Some(req.raw.encode_without(&[])),
        username: req.login_hint.clone().unwrap_or_default(),
    };
    // A successful login ends, through `/authorize`, at the app's redirect URI.
    let response = allow_form_target(
        (status, page).into_response(),
        &req.proven.return_to.redirect_uri,
    );
    Ok(with_cookie(response, set_cookie))
}

/// The CSRF binding of consent forms: the session (a token cannot be used by another
/// browser) and the exact request (nor for another request).
pub(crate) fn consent_binding(session: &Session, request: &str) -> Vec<u8> {
    let mut b = session.session_id.0.as_bytes().to_vec();
    b.extend_from_slice(request.as_bytes());
    b
}

fn consent_page(
    state: &AuthorizeState,
    req: &AuthorizationRequest,
    session: &Session,
    user: &User,
) -> Response {
    let request = req.raw.encode_without(&["prompt"]);
    let client = &req.proven.client;
    let redirect_uri = &req.proven.return_to.redirect_uri;
    let redirect_host = Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| redirect_uri.clone());
    let page = ConsentPage {
        client_name: client.name.clone(),
        username: user.username.clone(),
        scopes: describe_scopes(&req.scope),
        links: client_links(client),
        redirect_host,
        csrf_token: state
            .csrf
            .token(CsrfPurpose::Consent, &consent_binding(session, &request)),
        request,
    };
    // Either answer (Allow or Deny) redirects to the app.
    allow_form_target(page.into_response(), redirect_uri)
}

/// Issues a code (RFC 6749 §4.1.2): a new grant, the code stored only as its hash and
/// bound to client, redirect URI, PKCE challenge, nonce, scope, session and auth_time, and
/// the redirect with `code`, `state` and `iss`.
pub(crate) async fn issue_code(
    state: &AuthorizeState,
    req: &AuthorizationRequest,
    session: &Session,
) -> Result<Response, FlowError> {
    let now = state.clock.now();
    let proven = &req.proven;
    let to = &proven.return_to;
    // Role-gated scopes (`admin`) reach a token only if the user holds the role; the
    // rest of the request is granted as asked (RFC 6749 §3.3 allows granting less).
    let user = state
        .store
        .find_user(session.user_id)
        .await
        .context("load the user to issue a code for")
        .map_err(|e| to.unavailable(e))?
        .ok_or_else(|| {
            to.refuse(AuthorizeError::AccessDenied(
                "the user account is not available",
            ))
        })?;
    let scope = portcullis_core::roles::permitted_scope(&user, &req.scope);
    let grant = Grant {
        grant_id: GrantId::random(),
        user_id: session.user_id,
        client_id: proven.client.client_id.clone(),
        scope: scope.clone(),
        session_id: Some(session.session_id),
        auth_time: session.auth_time,
        created_at: now,
        last_used_at: now,
        revoked_at: None,
    };
    let code = PlainSecret::generate(SecretKind::AuthorizationCode)
        .context("generate an authorization code")
        .map_err(|e| to.server_error(e))?;
    let record = AuthorizationCode {
        code_hash: code.hash(),
        grant_id: grant.grant_id,
        client_id: grant.client_id.clone(),
        user_id: session.user_id,
        redirect_uri: to.redirect_uri.clone(),
        scope,
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
        session_id: session.session_id,
        auth_time: session.auth_time,
        created_at: now,
        expires_at: now.plus(state.code_ttl),
        redeemed_at: None,
    };
    state
        .store
        .create_grant_with_code(&grant, &record)
        .await
        .context("store the grant and its authorization code")
        .map_err(|e| to.unavailable(e))?;
    tracing::info!(client_id = %proven.client.client_id, user_id = %session.user_id, "issued an authorization code");
    Ok(to.redirect(&[("code", code.expose())]))
}

/// Adds a `Set-Cookie` header to a response.
pub(crate) fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}
