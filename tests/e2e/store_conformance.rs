//! The store conformance suite: every case is written once against the
//! `portcullis_core::store` traits and instantiated for each backend, as
//! `store_conformance::sqlite::<case>` and `store_conformance::postgres::<case>`, each on
//! its own fresh database that is removed afterwards, even when the case panics.

// Test code throughout (this also lets clippy's `allow-*-in-tests` settings apply).
#![cfg(test)]

mod atomicity;
mod audit;
mod clients;
mod codes;
mod consents;
mod fixtures;
mod grants;
mod health;
mod login_throttle;
mod purge;
mod refresh_tokens;
mod registration;
mod revocation;
mod sessions;
mod signing_keys;
mod users;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use portcullis_core::store::Store;
use portcullis_e2e::db::{Backend, Faults, TestDb};

/// Runs one case on a fresh database of `backend`, then removes the database whatever
/// the outcome, and only then lets a panic of the case continue.
async fn run<F, Fut>(backend: Backend, test_name: &str, case: F)
where
    F: FnOnce(Arc<dyn Store>, Faults) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::create(backend, test_name)
        .await
        .unwrap_or_else(|error| {
            panic!("could not create the {backend:?} test database: {error:#}")
        });
    let Some(db) = db else {
        // Postgres is unreachable outside CI; `TestDb` has reported the skip.
        return;
    };
    let outcome = AssertUnwindSafe(async {
        let store = db
            .open_store()
            .await
            .unwrap_or_else(|error| panic!("could not open the {backend:?} store: {error:#}"));
        assert_eq!(
            store.backend(),
            backend.name(),
            "the store names its backend"
        );
        case(store, db.faults()).await;
    })
    .catch_unwind()
    .await;
    let cleaned = db.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    if let Err(error) = cleaned {
        panic!("could not remove the {backend:?} test database: {error:#}");
    }
}

/// Instantiates every listed case (`module::case`) once per backend. A case that injects
/// faults is listed as `module::case(faults)` and takes the database's [`Faults`] too.
macro_rules! conformance_suite {
    ($($module:ident :: $case:ident $(($faults:ident))?),+ $(,)?) => {
        conformance_suite!(@backend sqlite, Sqlite, $($module::$case $(($faults))?),+);
        conformance_suite!(@backend postgres, Postgres, $($module::$case $(($faults))?),+);
    };
    (@backend $backend:ident, $variant:ident, $($module:ident :: $case:ident $(($faults:ident))?),+) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::run(
                        portcullis_e2e::db::Backend::$variant,
                        concat!("store_conformance::", stringify!($backend), "::", stringify!($case)),
                        |store, _faults| super::$module::$case(store $(, { let $faults = _faults; $faults })?),
                    )
                    .await;
                }
            )+
        }
    };
}

conformance_suite!(
    users::created_user_is_found_by_id_and_by_username_with_every_field,
    users::username_lookup_is_exact,
    users::duplicate_username_is_a_conflict_on_the_username_constraint,
    users::profile_update_replaces_the_claims_and_the_update_time,
    users::password_change_replaces_the_hash_and_the_update_time,
    users::disabling_and_enabling_a_user_persists,
    users::roles_are_replaced_as_a_whole,
    users::user_changes_on_an_unknown_id_are_not_found,
    users::users_are_listed_ordered_by_username,
    users::users_are_listed_in_byte_order_of_username_whatever_the_case,
    clients::created_clients_are_found_with_every_field,
    clients::clients_are_listed_ordered_by_id,
    clients::duplicate_client_id_is_a_conflict_on_the_primary_key,
    clients::client_update_replaces_every_field_but_the_id_and_creation_time,
    clients::client_update_and_delete_of_an_unknown_id_are_not_found,
    clients::deleting_a_client_removes_its_grants_codes_refresh_tokens_and_consents,
    sessions::live_session_is_found_by_its_secret_hash,
    sessions::ended_session_is_not_live_but_is_still_found_by_id,
    sessions::session_past_its_absolute_expiry_is_not_live,
    sessions::session_past_its_idle_expiry_is_not_live,
    sessions::ending_an_expired_session_reports_it_was_not_live,
    sessions::touching_a_session_extends_its_idle_expiry,
    sessions::touching_an_ended_session_changes_nothing,
    sessions::ending_a_users_sessions_keeps_the_given_one_and_returns_the_ended_ids,
    sessions::live_sessions_are_listed_newest_first_without_ended_or_expired_ones,
    consents::saved_consent_is_found_and_a_second_save_replaces_it,
    consents::consents_are_listed_ordered_by_client_id,
    consents::deleting_a_consent_reports_whether_one_existed,
    grants::created_grant_is_found_by_id,
    grants::touching_a_grant_records_its_last_use,
    grants::revoking_a_grant_reports_whether_it_was_active_and_revokes_its_refresh_tokens,
    grants::revoking_client_grants_revokes_only_that_users_active_grants_for_that_client,
    grants::active_grants_are_listed_newest_first_without_revoked_ones,
    codes::redeemed_code_cannot_be_redeemed_twice,
    codes::redeemed_code_is_the_inserted_record_with_its_redemption_time,
    codes::expired_code_is_invalid,
    codes::unknown_code_is_invalid,
    codes::concurrent_redemptions_of_one_code_have_exactly_one_winner,
    refresh_tokens::inserted_refresh_token_is_found_by_hash,
    refresh_tokens::rotated_refresh_token_has_a_findable_successor,
    refresh_tokens::rotating_a_refresh_token_twice_is_reported_as_reuse,
    refresh_tokens::concurrent_rotations_of_many_chains_each_get_their_own_outcome,
    refresh_tokens::expired_refresh_token_cannot_be_rotated_and_no_successor_is_stored,
    refresh_tokens::idle_expired_refresh_token_cannot_be_rotated_and_no_successor_is_stored,
    refresh_tokens::revoked_refresh_token_cannot_be_rotated_and_no_successor_is_stored,
    refresh_tokens::rotation_whose_successor_cannot_be_stored_leaves_the_old_token_current,
    refresh_tokens::rotation_racing_a_grant_revocation_leaves_no_rotatable_token,
    refresh_tokens::refresh_token_of_a_revoked_grant_cannot_be_rotated,
    refresh_tokens::unknown_refresh_token_cannot_be_rotated_and_no_successor_is_stored,
    refresh_tokens::revoking_a_refresh_token_reports_whether_it_was_live,
    refresh_tokens::concurrent_rotations_of_one_refresh_token_have_exactly_one_winner,
    refresh_tokens::refresh_token_is_found_with_its_grant_and_user,
    refresh_tokens::rotation_records_the_use_of_the_grant,
    refresh_tokens::failed_rotations_do_not_record_a_use_of_the_grant,
    refresh_tokens::a_retried_rotation_inside_the_window_replaces_the_unused_successor,
    refresh_tokens::a_retry_after_a_successor_was_used_is_reuse_and_writes_nothing,
    refresh_tokens::a_retried_rotation_outside_the_window_or_of_a_dead_token_stores_nothing,
    signing_keys::signing_keys_are_bootstrapped_exactly_once,
    signing_keys::failed_bootstrap_leaves_the_keyring_unclaimed,
    signing_keys::concurrent_bootstraps_have_exactly_one_winner,
    signing_keys::rotation_retires_the_older_keys_of_the_same_algorithm_only,
    signing_keys::rotating_in_a_key_whose_kid_exists_is_a_conflict_and_retires_nothing,
    revocation::revoked_token_id_is_reported_revoked_and_revoking_again_is_harmless,
    revocation::access_token_standing_of_a_revoked_token_id_is_revoked,
    revocation::access_token_standing_of_a_live_grant_is_the_grant_with_its_user,
    revocation::access_token_standing_returns_a_revoked_grant_and_a_disabled_user_as_they_stand,
    revocation::access_token_standing_of_an_unknown_grant_is_unknown_grant,
    revocation::access_token_standing_without_a_grant_is_not_revoked_with_nothing_more,
    registration::initial_access_tokens_are_found_by_hash_with_every_field,
    registration::a_token_id_is_spent_exactly_once_even_concurrently,
    audit::audit_events_are_listed_newest_first_up_to_the_limit,
    login_throttle::failures_are_counted_until_the_pair_is_held_and_a_held_attempt_counts_nothing,
    login_throttle::a_success_forgets_the_pair_and_the_account_but_not_the_network,
    login_throttle::an_unchecked_attempt_is_taken_back_from_every_count_it_was_added_to,
    login_throttle::one_network_never_pushes_an_account_over_its_threshold,
    login_throttle::a_network_is_counted_across_accounts,
    login_throttle::counts_are_forgotten_forget_after_their_last_failure,
    login_throttle::clearing_an_account_forgets_its_own_and_its_pairs_counts_only,
    login_throttle::concurrent_attempts_are_let_through_no_more_than_the_policy_allows,
    login_throttle::purge_removes_forgotten_throttle_counts,
    purge::purge_removes_expired_rows_and_keeps_live_ones,
    purge::purge_deletes_at_most_batch_rows_per_table,
    health::a_store_that_reads_and_writes_is_ready,
    health::a_store_that_cannot_write_is_not_ready_until_writes_succeed_again(faults),
    atomicity::a_grant_and_its_code_are_stored_together_or_not_at_all,
    atomicity::a_redemption_stores_its_refresh_token_and_records_the_grants_use,
    atomicity::a_redemption_whose_refresh_token_cannot_be_stored_leaves_the_code_unredeemed,
    atomicity::a_refused_redemption_spends_the_code_and_issues_nothing,
    atomicity::ending_sessions_revokes_their_grants_except_offline_ones,
    atomicity::ending_sessions_whose_grant_revocation_fails_leaves_every_session_live(faults),
    atomicity::revoking_consent_deletes_it_and_revokes_the_apps_grants,
    atomicity::revoking_consent_whose_grant_revocation_fails_keeps_the_consent(faults),
    atomicity::first_admin_is_refused_once_an_administrator_exists,
    atomicity::concurrent_first_admins_have_exactly_one_winner,
    atomicity::a_transaction_the_database_rolled_back_does_not_poison_later_writes(faults),
);
