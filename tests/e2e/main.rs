//! The one end-to-end test binary: the store conformance suite on both backends, the real
//! server on port 0 driven over HTTP, and the real `portcullis` binary.

// Test steps outside `#[test]` functions (the shared cases) are still test code: a failed
// step is a failed test.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod authorize;
mod cli;
mod discovery;
mod ops;
mod store_conformance;

/// Instantiates each `async fn case(app: &TestApp)` as one test per backend, each on its
/// own fresh database. A Postgres case reports SKIPPED when Postgres is unreachable outside
/// CI (and fails under `CI=true`).
macro_rules! server_tests {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let app = portcullis_e2e::app::TestApp::spawn(
                        portcullis_e2e::db::Backend::Sqlite,
                        concat!("sqlite::", stringify!($case)),
                    )
                    .await
                    .unwrap()
                    .unwrap();
                    crate::$module::$case(&app).await;
                    app.stop().await.unwrap();
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(app) = portcullis_e2e::app::TestApp::spawn(
                        portcullis_e2e::db::Backend::Postgres,
                        concat!("postgres::", stringify!($case)),
                    )
                    .await
                    .unwrap()
                    else {
                        return;
                    };
                    crate::$module::$case(&app).await;
                    app.stop().await.unwrap();
                }
            )*
        }
    };
}

server_tests!(
    discovery::relying_party_library_discovers_the_issuer_and_its_keys,
    discovery::published_keys_verify_what_the_server_signs,
    discovery::jwks_is_public_only_cacheable_and_cors_open,
    discovery::both_metadata_documents_are_identical_and_cacheable,
    discovery::advertised_endpoints_exist_and_unbuilt_ones_are_not_advertised,
    ops::health_and_readiness_answer_when_the_store_is_up,
    ops::unknown_paths_get_404_with_nosniff,
    ops::oversized_request_bodies_are_refused,
    authorize::unknown_client_or_unregistered_redirect_shows_a_page_and_never_redirects,
    authorize::errors_after_validation_redirect_with_state_and_iss,
    authorize::post_authorize_validates_the_same_way,
);
