//! The one end-to-end test binary: the store conformance suite on both backends, the real
//! server on port 0 driven over HTTP, and the real `portcullis` binary.

// Test steps outside `#[test]` functions (the shared cases) are still test code: a failed
// step is a failed test.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

/// Instantiates each listed `async fn case(backend: Backend)` of the calling module once
/// per backend, as `<module>::sqlite::<case>` and `<module>::postgres::<case>`: for cases
/// that start their own, specially configured servers (each on a fresh database; a case
/// returns early when `TestApp::spawn_with` reports Postgres skipped).
macro_rules! backend_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(portcullis_e2e::db::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(portcullis_e2e::db::Backend::Postgres).await;
                }
            )*
        }
    };
}

mod account;
mod admin;
mod admin_cli;
mod admin_sessions;
mod authorize;
mod backchannel;
mod browser_account;
mod browser_ui;
mod cli;
mod client_addr;
mod discovery;
mod id_token_hint;
mod lifecycle;
mod login_throttle;
mod logout;
mod malformed;
mod ops;
mod page_policy;
mod password_queue;
mod private_key_jwt;
mod public_consent;
mod races;
mod registration;
mod signin;
mod slow_clients;
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
    private_key_jwt::private_key_jwt_authenticates_with_rs256_es256_and_eddsa_keys_everywhere,
    private_key_jwt::assertions_with_a_wrong_key_expiry_audience_issuer_or_jti_are_refused,
    private_key_jwt::jwks_uri_keys_are_fetched_once_cached_and_bounded,
    private_key_jwt::discovery_advertises_private_key_jwt_and_its_algorithms,
    admin::every_admin_resource_is_401_without_a_good_token_and_403_without_admin,
    admin::the_admin_scope_is_granted_only_to_users_holding_the_admin_role,
    admin::losing_the_role_or_the_token_takes_effect_at_once,
    admin::an_operators_client_with_the_admin_scope_administers_by_client_credentials,
    admin::the_roles_claim_is_released_only_with_the_roles_scope,
    admin::an_admin_creates_reads_replaces_rekeys_and_deletes_clients,
    admin::an_admin_creates_updates_disables_and_rekeys_users_and_assigns_roles,
    admin::an_admin_lists_and_revokes_a_users_app_grants,
    admin::an_admin_lists_and_rotates_signing_keys_and_reads_the_audit_trail,
    registration::relying_party_library_registers_a_client_that_then_signs_a_user_in,
    registration::raw_json_registration_returns_the_client_information_and_stores_only_hashes,
    registration::every_rejection_rule_answers_its_rfc_7591_code_and_names_the_problem,
    registration::rfc_7592_reads_updates_and_deletes_with_the_registration_access_token,
    registration::a_wrong_registration_access_token_is_401_and_reveals_nothing,
    registration::initial_access_tokens_gate_registration_in_token_mode,
    registration::registration_off_is_neither_served_nor_advertised,
    registration::registration_is_rate_limited_per_address_and_size_limited,
    logout::a_hint_from_this_session_signs_out_at_once_and_returns_state,
    logout::without_a_hint_the_user_confirms_on_a_csrf_protected_page,
    logout::unregistered_or_unproven_post_logout_redirect_uris_are_not_followed,
    logout::an_expired_id_token_hint_still_proves_the_request,
    logout::a_hint_from_another_session_asks_first,
    logout::a_logout_post_without_the_session_cookie_continues_as_a_get,
    backchannel::the_logout_token_verifies_and_names_the_ended_session,
    backchannel::a_client_that_never_answers_does_not_delay_logout,
    backchannel::a_failing_client_is_retried_and_the_outcome_recorded,
    backchannel::a_delivery_is_under_way_until_its_outcome_is_recorded,
    backchannel::sign_out_everywhere_notifies_every_session,
    admin_sessions::an_admin_ends_a_users_sessions_and_each_app_gets_a_logout_token,
    admin_sessions::disabling_a_user_through_the_admin_api_ends_their_sessions,
    account::the_account_page_has_its_own_login_and_shows_the_profile,
    account::revoking_an_app_kills_its_refresh_and_access_tokens,
    account::sign_out_everywhere_ends_every_session,
    account::signing_out_another_session_keeps_this_one,
    account::changing_the_password_ends_the_other_sessions,
    account::account_forms_refuse_forged_and_cross_site_posts,
    races::fifty_concurrent_rotations_of_one_refresh_token_have_one_winner,
    races::fifty_concurrent_refreshes_inside_the_reuse_window_leave_one_live_token,
    discovery::relying_party_library_discovers_the_issuer_and_its_keys,
    discovery::published_keys_verify_what_the_server_signs,
    discovery::jwks_is_public_only_cacheable_and_cors_open,
    discovery::both_metadata_documents_are_identical_and_cacheable,
    discovery::advertised_endpoints_exist_and_unbuilt_ones_are_not_advertised,
    ops::health_and_readiness_answer_when_the_store_is_up,
    ops::unknown_paths_get_404_with_nosniff,
    ops::oversized_request_bodies_are_refused,
    malformed::malformed_browser_posts_get_our_error_page,
    malformed::malformed_token_requests_get_rfc_6749_json,
    malformed::malformed_userinfo_and_registration_requests_get_json,
    malformed::malformed_admin_requests_get_json,
    malformed::malformed_query_strings_get_our_page,
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
    page_policy::forms_post_to_us_and_only_to_the_app_they_end_at,
    id_token_hint::prompt_none_with_a_hint_for_another_user_is_login_required,
    id_token_hint::a_hint_we_did_not_sign_is_invalid_request_and_an_expired_one_is_a_hint,
    public_consent::public_clients_are_asked_every_time_unless_first_party,
    public_consent::only_an_operator_marks_a_client_first_party,
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
    token::a_retry_inside_the_reuse_grace_window_rotates_again_and_later_reuse_revokes,
    token::a_retry_after_the_successor_was_used_is_reuse,
    token::refresh_may_narrow_the_scope_but_never_widen_it,
    token::refresh_by_another_client_is_invalid_grant_and_spends_nothing,
    token::disabled_user_gets_no_new_tokens,
    token::concurrent_redemptions_of_one_code_succeed_exactly_once,
    token::a_refused_presenter_leaves_the_code_to_its_owner,
    token::only_a_replay_that_passes_the_checks_revokes_the_grant,
    lifecycle::client_credentials_issues_a_token_for_the_client_itself,
    lifecycle::client_credentials_is_refused_to_public_clients_and_clients_without_the_grant,
    lifecycle::client_credentials_scope_may_narrow_but_never_widen_or_name_a_user_scope,
    lifecycle::revoking_a_refresh_token_revokes_its_grant_and_sibling_access_token,
    lifecycle::revoking_an_access_token_stops_it_at_once_while_its_refresh_token_works,
    lifecycle::a_revocation_on_one_replica_stops_the_token_at_once_on_another,
    lifecycle::a_token_type_hint_that_lies_is_not_trusted,
    lifecycle::revoking_unknown_or_garbage_tokens_answers_200,
    lifecycle::another_clients_tokens_are_neither_revoked_nor_disturbed,
    lifecycle::introspection_of_active_tokens_returns_the_rfc_7662_members,
    lifecycle::introspection_by_another_client_reveals_nothing,
    lifecycle::expired_malformed_and_foreign_tokens_introspect_inactive,
    lifecycle::a_rotated_refresh_token_introspects_inactive,
    lifecycle::introspection_is_inactive_once_the_user_is_disabled,
    lifecycle::revoke_and_introspect_require_client_authentication,
);
