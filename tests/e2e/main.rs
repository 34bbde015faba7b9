//! The one end-to-end test binary: the store conformance suite on both backends, the real
//! server on port 0 driven over HTTP, and the real `portcullis` binary.

// Test steps outside `#[test]` functions (the shared cases) are still test code: a failed
// step is a failed test.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod authorize;
mod browser_ui;
mod cli;
mod discovery;
mod ops;
mod signin;
mod store_conformance;
mod token;
mod userinfo;

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
    signin::relying_party_library_completes_sign_in_and_reads_userinfo,
    signin::prompt_none_without_a_session_is_login_required,
    signin::prompt_none_without_consent_is_consent_required,
    signin::denying_consent_redirects_access_denied,
    signin::consent_is_remembered_and_new_scopes_ask_again,
    signin::max_age_zero_and_prompt_login_force_a_fresh_login_and_rotate_the_session,
    signin::plain_oauth_without_openid_gets_no_id_token,
    signin::wrong_or_missing_csrf_tokens_are_refused,
    signin::failed_logins_say_the_same_thing_for_every_reason,
    signin::request_rules_after_the_redirect_uri_is_proven,
    signin::login_hint_prefills_the_username,
    userinfo::profile_and_email_scopes_release_exactly_their_claims,
    userinfo::openid_scope_alone_releases_only_sub,
    userinfo::post_with_the_token_in_a_form_body_works,
    userinfo::post_with_the_token_in_the_header_works,
    userinfo::success_is_never_cached,
    userinfo::no_token_gets_a_bare_bearer_challenge,
    userinfo::a_token_in_the_query_string_is_not_accepted,
    userinfo::garbage_token_is_invalid,
    userinfo::expired_token_is_invalid,
    userinfo::token_signed_by_a_foreign_key_is_invalid,
    userinfo::id_token_is_not_an_access_token,
    userinfo::token_of_another_issuer_is_invalid,
    userinfo::revoked_token_id_is_invalid_before_expiry,
    userinfo::revoked_grant_invalidates_its_access_tokens,
    userinfo::disabled_user_invalidates_their_access_tokens,
    userinfo::token_without_openid_scope_is_forbidden,
    userinfo::token_in_both_header_and_body_is_a_bad_request,
    userinfo::cors_preflight_allows_the_authorization_header,
    userinfo::cors_responses_expose_the_bearer_challenge,
    token::code_exchange_issues_verified_tokens_with_the_oidc_claims,
    token::refresh_tokens_are_issued_only_as_oidc_core_section_11_allows,
    token::client_secret_basic_form_urlencodes_id_and_secret,
    token::client_secret_post_authenticates,
    token::public_client_redeems_with_pkce_and_no_secret,
    token::public_client_without_pkce_is_refused,
    token::failed_client_authentication_is_401_with_a_challenge_after_basic,
    token::unknown_client_is_401,
    token::two_authentication_methods_are_invalid_request,
    token::pkce_failures_are_invalid_grant,
    token::redirect_uri_must_match_byte_for_byte,
    token::replayed_code_is_refused_and_revokes_what_it_issued,
    token::expired_code_is_invalid_grant,
    token::code_of_another_client_is_invalid_grant,
    token::unknown_grant_types_are_unsupported_grant_type,
    token::a_grant_the_client_is_not_registered_for_is_unauthorized_client,
    token::malformed_requests_are_invalid_request,
    token::refresh_rotates_and_reuse_revokes_the_grant,
    token::refresh_may_narrow_the_scope_but_never_widen_it,
    token::refresh_by_another_client_is_invalid_grant_and_spends_nothing,
    token::disabled_user_gets_no_new_tokens,
    token::concurrent_redemptions_of_one_code_succeed_exactly_once,
);
