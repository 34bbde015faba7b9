//! `POST /consent`: the user's Allow or Deny. Allow remembers the granted scopes for this
//! user and client (later requests for the same or fewer skip the page) and issues a code;
//! Deny sends `access_denied` (RFC 6749 §4.1.2.1).

use anyhow::Context as _;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::model::Consent;
use serde::Deserialize;

use crate::AuthorizeState;
use crate::error::{AuthorizeError, FlowError};
use crate::flow::{consent_binding, issue_code};
use crate::form::{FormBody, FormRejection, read_form};
use crate::request::load_request;
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
    FormBody(body): FormBody,
) -> Result<Response, FlowError> {
    let form: ConsentForm = read_form(&headers, &body)?;
    let req = load_request(&state, &form.request).await?;
    let to = &req.proven.return_to;
    let session = current_session(&state, &headers)
        .await
        .context("look up the browser session")
        .map_err(|e| to.unavailable(e))?;
    let Some(session) = session else {
        // Logged out (or expired) meanwhile: start over, which shows the login page.
        return Ok(
            Redirect::to(&format!("{}?{}", crate::AUTHORIZE_PATH, form.request)).into_response(),
        );
    };
    if !state.csrf.verify(
        CsrfPurpose::Consent,
        &consent_binding(&session, &form.request),
        &form.csrf_token,
    ) {
        return Err(FlowError::StaleForm);
    }
    match form.decision.as_str() {
        "deny" => Err(to.refuse(AuthorizeError::AccessDenied("the user denied the request"))),
        "allow" => {
            let now = state.clock.now();
            let client_id = &req.proven.client.client_id;
            let previous = state
                .store
                .find_consent(session.user_id, client_id)
                .await
                .context("load the remembered consent")
                .map_err(|e| to.unavailable(e))?;
            let consent = Consent {
                user_id: session.user_id,
                client_id: client_id.clone(),
                scope: previous
                    .as_ref()
                    .map_or_else(|| req.scope.clone(), |p| p.scope.union(&req.scope)),
                granted_at: previous.as_ref().map_or(now, |p| p.granted_at),
                updated_at: now,
            };
            state
                .store
                .save_consent(&consent)
                .await
                .context("save the consent")
                .map_err(|e| to.unavailable(e))?;
            tracing::info!(client_id = %client_id, user_id = %session.user_id, scope = %req.scope, "consent granted");
            issue_code(&state, &req, &session).await
        }
        // The same page as any other form that cannot be read.
        _ => Err(FormRejection::Malformed.into()),
    }
}
