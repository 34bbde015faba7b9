//! Operations endpoints: `/healthz` (the process is up) and `/readyz` (the store answers).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use portcullis_core::store::Store;

/// What the ops handlers need.
#[derive(Clone)]
pub(crate) struct OpsState {
    pub(crate) store: Arc<dyn Store>,
}

pub(crate) fn router<S>() -> Router<S>
where
    OpsState: axum::extract::FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/readyz", get(get_readyz))
}

async fn get_healthz() -> &'static str {
    "ok"
}

async fn get_readyz(State(state): State<OpsState>) -> (StatusCode, &'static str) {
    match state.store.check_ready().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = ?e, backend = state.store.backend(), "readiness check: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}
