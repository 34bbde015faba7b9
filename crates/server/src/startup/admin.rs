//! The admin crate's state from `Config`: the registration policy and limits, and key
//! rotation timing shared with `portcullis keys rotate`.

use std::sync::Arc;

use portcullis_admin::{AdminState, RateLimiter, RegistrationSettings};
use portcullis_core::Clock;
use portcullis_core::keyring::Keyring;
use portcullis_core::password::PasswordHasher;
use portcullis_core::sessions::SessionEndNotifier;
use portcullis_core::store::Store;

use crate::config::Config;

/// Builds the admin crate's state.
pub(super) fn admin_state(
    config: &Config,
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    issuer: Arc<str>,
    hasher: PasswordHasher,
    notifier: Arc<dyn SessionEndNotifier>,
) -> anyhow::Result<AdminState> {
    let r = &config.registration;
    Ok(AdminState {
        store,
        keyring,
        clock,
        issuer,
        hasher,
        notifier,
        registration: Arc::new(RegistrationSettings {
            mode: r.mode,
            // A jwks_uri on plain-http loopback only makes sense on a development issuer.
            policy: r.policy(config.is_loopback_http_issuer())?,
            initial_access_tokens: r.initial_access_token_hashes(),
            max_body_bytes: r.max_body_bytes,
            limiter: RateLimiter::new(r.rate_limit_burst, r.rate_limit_per_minute),
        }),
        key_rotation: config.rotation_policy(),
    })
}
