//! `POST /consent`: the user's Allow or Deny. Allow remembers the granted scopes for this
//! user and client (later requests for the same or fewer skip the page) and issues a code;
//! Deny sends `access_denied` (RFC 6749 §4.1.2.1).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::model::Consent;
use serde::Deserialize;

use crate::AuthorizeState;
use crate::flow::{consent_binding, issue_code, redirect_error, reject, unavailable};
use crate::form::read_form;
use crate::pages::{error_page, stale_form};
use crate::request::{RedirectError, load_request};
use crate::session::current_session;

#[derive(Deserialize)]
struct ConsentForm {
    csrf_token: String,
    request: String,
    decision: String,
}

/// `POST /consent`.
pub(crate) async fn post_consent(
    State(state): State<AuthorizeState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: ConsentForm = match read_form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let req = match load_request(state.store.as_ref(), &form.request).await {
        Ok(r) => r,
        Err(rejection) => return reject(&state, rejection),
    };
    let session = match current_session(&state, &headers).await {
        Ok(Some(s)) => s,
        // Logged out (or expired) meanwhile: start over, which shows the login page.
        Ok(None) => {
            return Redirect::to(&format!("{}?{}", crate::AUTHORIZE_PATH, form.request))
                .into_response();
        }
        Err(e) => return unavailable(&state, &req.proven, &e),
    };
    if !state.csrf.verify(
        CsrfPurpose::Consent,
        &consent_binding(&session, &form.request),
        &form.csrf_token,
    ) {
        return stale_form();
    }
    match form.decision.as_str() {
        "deny" => redirect_error(
            &state,
            &req.proven,
            RedirectError::new("access_denied", "the user denied the request"),
        ),
        "allow" => {
            let now = state.clock.now();
            let client_id = &req.proven.client.client_id;
            let previous = match state.store.find_consent(session.user_id, client_id).await {
                Ok(c) => c,
                Err(e) => return unavailable(&state, &req.proven, &e),
            };
            let consent = Consent {
                user_id: session.user_id,
                client_id: client_id.clone(),
                scope: previous
                    .as_ref()
                    .map_or_else(|| req.scope.clone(), |p| p.scope.union(&req.scope)),
                granted_at: previous.as_ref().map_or(now, |p| p.granted_at),
                updated_at: now,
            };
            if let Err(e) = state.store.save_consent(&consent).await {
                return unavailable(&state, &req.proven, &e);
            }
            tracing::info!(client_id = %client_id, user_id = %session.user_id, scope = %req.scope, "consent granted");
            issue_code(&state, &req, &session).await
        }
        _ => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid form",
            "The form was incomplete. Go back and try again.",
        ),
    }
}
