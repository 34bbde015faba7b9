//! `GET /jwks.json`: the public signing keys (RFC 7517 §5), served from the keyring's
//! pre-serialised document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::{UserinfoState, public_cache_control};

/// Serves the current JWKS.
pub(crate) async fn get_jwks(State(state): State<UserinfoState>) -> impl IntoResponse {
    let keys = state.keyring.current();
    (
        [
            (
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/jwk-set+json"),
            ),
            (
                header::CACHE_CONTROL,
                public_cache_control(state.max_age_secs),
            ),
        ],
        keys.jwks_json().to_owned(),
    )
}
