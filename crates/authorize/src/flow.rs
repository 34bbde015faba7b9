//! The decision after a request is valid: does the user need to log in, consent, or can a
//! code be issued now (OIDC Core §3.1.2.3-4: `prompt`, `max_age`, remembered consent).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::ids::GrantId;
use portcullis_core::model::{AuthorizationCode, Grant, Session, User};
use portcullis_core::secret::{PlainSecret, SecretKind};
use portcullis_core::store::StoreError;
use url::Url;

use crate::AuthorizeState;
use crate::login::login_csrf_binding;
use crate::pages::{ConsentPage, LoginPage, client_links, describe_scopes};
use crate::request::{AuthorizationRequest, Proven, RedirectError, Rejection};

/// A redirect back to the client with `error`, `error_description`, `state` and `iss`
/// (RFC 6749 §4.1.2.1, RFC 9207).
pub(crate) fn redirect_error(
    state: &AuthorizeState,
    proven: &Proven,
    error: RedirectError,
) -> Response {
    tracing::info!(client_id = %proven.client.client_id, error = error.code, "authorization error sent to the client");
    redirect_with(
        state,
        proven,
        &[
            ("error", error.code),
            ("error_description", error.description),
        ],
    )
}

fn redirect_with(state: &AuthorizeState, proven: &Proven, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(&proven.redirect_uri) else {
        return crate::request::Unredirectable::UnregisteredRedirectUri.into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = &proven.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &state.issuer);
    }
    Redirect::to(url.as_str()).into_response()
}

/// Delivers a refusal: our page before the redirect URI is proven, a redirect after.
pub(crate) fn reject(state: &AuthorizeState, rejection: Rejection) -> Response {
    match rejection {
        Rejection::Page(page) => page.into_response(),
        Rejection::Redirect(proven, error) => redirect_error(state, &proven, error),
    }
}

/// A store failure after the redirect URI is proven: tell the client, log the detail.
pub(crate) fn unavailable(state: &AuthorizeState, proven: &Proven, e: &StoreError) -> Response {
    tracing::error!(error = ?e, client_id = %proven.client.client_id, "authorize: store failure");
    redirect_error(
        state,
        proven,
        RedirectError::new(
            "temporarily_unavailable",
            "the server could not complete the request; try again",
        ),
    )
}

/// Decides what this browser sees for a valid request.
pub(crate) async fn decide(
    state: &AuthorizeState,
    headers: &HeaderMap,
    req: &AuthorizationRequest,
    session: Option<Session>,
) -> Response {
    let now = state.clock.now();
    let proven = &req.proven;
    // OIDC Core §3.1.2.1 max_age; 0 means "authenticate now" even within the same second.
    let too_old = |s: &Session| {
        req.max_age
            .is_some_and(|max| max == 0 || now.unix() - s.auth_time.unix() > max)
    };
    let session =
        session.filter(|s| !(req.prompt.login || req.prompt.select_account || too_old(s)));
    let user = match &session {
        Some(s) => match state.store.find_user(s.user_id).await {
            Ok(u) => u.filter(|u| !u.disabled),
            Err(e) => return unavailable(state, proven, &e),
        },
        None => None,
    };
    let (Some(session), Some(user)) = (session, user) else {
        if req.prompt.none {
            return redirect_error(
                state,
                proven,
                RedirectError::new("login_required", "the user is not logged in"),
            );
        }
        return login_page(state, headers, req, None, StatusCode::OK);
    };
    let consent = match state
        .store
        .find_consent(user.user_id, &proven.client.client_id)
        .await
    {
        Ok(c) => c,
        Err(e) => return unavailable(state, proven, &e),
    };
    let consented = consent.is_some_and(|c| req.scope.is_subset_of(&c.scope));
    if req.prompt.consent || !consented {
        if req.prompt.none {
            return redirect_error(
                state,
                proven,
                RedirectError::new(
                    "consent_required",
                    "the user has not consented to this request",
                ),
            );
        }
        return consent_page(state, req, &session, &user);
    }
    issue_code(state, req, &session).await
}

/// The login page, with a CSRF token bound to a fresh (or the existing) CSRF cookie.
pub(crate) fn login_page(
    state: &AuthorizeState,
    headers: &HeaderMap,
    req: &AuthorizationRequest,
    error: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let Ok((binding, set_cookie)) = login_csrf_binding(state, headers) else {
        return redirect_error(
            state,
            &req.proven,
            RedirectError::new("server_error", "the server could not complete the request"),
        );
    };
    let page = LoginPage {
        client_name: Some(req.proven.client.name.clone()),
        action: "/login",
        error,
        csrf_token: state.csrf.token(CsrfPurpose::Login, binding.as_bytes()),
        request: Some(req.raw.encode_without(&[])),
        username: req.login_hint.clone().unwrap_or_default(),
    };
    with_cookie((status, page).into_response(), set_cookie)
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
    let redirect_host = Url::parse(&req.proven.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| req.proven.redirect_uri.clone());
    ConsentPage {
        client_name: client.name.clone(),
        username: user.username.clone(),
        scopes: describe_scopes(&req.scope),
        links: client_links(client),
        redirect_host,
        csrf_token: state
            .csrf
            .token(CsrfPurpose::Consent, &consent_binding(session, &request)),
        request,
    }
    .into_response()
}

/// Issues a code (RFC 6749 §4.1.2): a new grant, the code stored only as its hash and
/// bound to client, redirect URI, PKCE challenge, nonce, scope, session and auth_time, and
/// the redirect with `code`, `state` and `iss`.
pub(crate) async fn issue_code(
    state: &AuthorizeState,
    req: &AuthorizationRequest,
    session: &Session,
) -> Response {
    let now = state.clock.now();
    let proven = &req.proven;
    // Role-gated scopes (`admin`) reach a token only if the user holds the role; the
    // rest of the request is granted as asked (RFC 6749 §3.3 allows granting less).
    let scope = match state.store.find_user(session.user_id).await {
        Ok(Some(user)) => portcullis_core::roles::permitted_scope(&user, &req.scope),
        Ok(None) => {
            return redirect_error(
                state,
                proven,
                RedirectError::new("access_denied", "the user account is not available"),
            );
        }
        Err(e) => return unavailable(state, proven, &e),
    };
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
    let Ok(code) = PlainSecret::generate(SecretKind::AuthorizationCode) else {
        return redirect_error(
            state,
            proven,
            RedirectError::new("server_error", "the server could not complete the request"),
        );
    };
    let record = AuthorizationCode {
        code_hash: code.hash(),
        grant_id: grant.grant_id,
        client_id: grant.client_id.clone(),
        user_id: session.user_id,
        redirect_uri: proven.redirect_uri.clone(),
        scope,
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
        session_id: session.session_id,
        auth_time: session.auth_time,
        created_at: now,
        expires_at: now.plus(state.code_ttl),
        redeemed_at: None,
    };
    if let Err(e) = state.store.create_grant(&grant).await {
        return unavailable(state, proven, &e);
    }
    if let Err(e) = state.store.insert_code(&record).await {
        return unavailable(state, proven, &e);
    }
    tracing::info!(client_id = %proven.client.client_id, user_id = %session.user_id, "issued an authorization code");
    redirect_with(state, proven, &[("code", code.expose())])
}

/// Adds a `Set-Cookie` header to a response.
pub(crate) fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}
