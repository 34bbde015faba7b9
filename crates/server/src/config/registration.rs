//! The `[registration]` section: who may use dynamic client registration (RFC 7591 §3),
//! what a registered client may ask for, and the limits of the public endpoint.

use portcullis_core::model::GrantType;
use portcullis_core::registration::{RegistrationMode, RegistrationPolicy};
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::SecretHash;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Dynamic client registration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// `off` (not served, not advertised), `open` (anyone) or `token` (holders of an
    /// initial access token only).
    pub mode: RegistrationMode,
    /// Initial access tokens accepted in `token` mode, besides those created with
    /// `portcullis registration create-token`. Secrets: set them from the environment
    /// (`PORTCULLIS_REGISTRATION__INITIAL_ACCESS_TOKENS='["…"]'`); only their SHA-256 is
    /// kept in memory.
    // Never serialised: secrets do not leave the process.
    #[serde(default, skip_serializing)]
    pub initial_access_tokens: Vec<SecretString>,
    /// The most a registered client may be allowed (space-separated scopes).
    pub allowed_scope: String,
    /// The scope a registration that names none gets.
    pub default_scope: String,
    /// Grant types a registered client may use.
    pub allowed_grant_types: Vec<String>,
    /// Largest registration request body, in bytes.
    pub max_body_bytes: usize,
    /// Registration requests one address may make at once.
    pub rate_limit_burst: u32,
    /// Registration requests one address earns per minute after the burst.
    pub rate_limit_per_minute: u32,
}

impl std::fmt::Debug for RegistrationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationConfig")
            .field("mode", &self.mode)
            .field(
                "initial_access_tokens",
                &format_args!("<{} redacted>", self.initial_access_tokens.len()),
            )
            .field("allowed_scope", &self.allowed_scope)
            .finish_non_exhaustive()
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            // Registration is a public write endpoint: the operator opts in.
            mode: RegistrationMode::Off,
            initial_access_tokens: Vec::new(),
            allowed_scope: "openid profile email offline_access roles".into(),
            default_scope: "openid profile email".into(),
            allowed_grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            max_body_bytes: 16 * 1024,
            rate_limit_burst: 20,
            rate_limit_per_minute: 10,
        }
    }
}

fn invalid(key: &'static str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

impl RegistrationConfig {
    /// The policy registrants are held to, checked.
    pub fn policy(
        &self,
        allow_loopback_http_jwks_uri: bool,
    ) -> Result<RegistrationPolicy, ConfigError> {
        let scope = |key, raw: &str| {
            ScopeSet::parse(raw).map_err(|_| invalid(key, "must be space-separated scope tokens"))
        };
        let allowed_scope = scope(
            "PORTCULLIS_REGISTRATION__ALLOWED_SCOPE",
            &self.allowed_scope,
        )?;
        let default_scope = scope(
            "PORTCULLIS_REGISTRATION__DEFAULT_SCOPE",
            &self.default_scope,
        )?;
        if !default_scope.is_subset_of(&allowed_scope) {
            return Err(invalid(
                "PORTCULLIS_REGISTRATION__DEFAULT_SCOPE",
                "must be within registration.allowed_scope",
            ));
        }
        if allowed_scope.contains(portcullis_core::roles::ADMIN_SCOPE) {
            return Err(invalid(
                "PORTCULLIS_REGISTRATION__ALLOWED_SCOPE",
                "must not include the admin scope: registrants are not administrators",
            ));
        }
        let allowed_grant_types = self
            .allowed_grant_types
            .iter()
            .map(|g| GrantType::parse(g))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                invalid(
                    "PORTCULLIS_REGISTRATION__ALLOWED_GRANT_TYPES",
                    "must list authorization_code, refresh_token or client_credentials",
                )
            })?;
        Ok(RegistrationPolicy {
            allowed_scope,
            default_scope,
            allowed_grant_types,
            allow_loopback_http_jwks_uri,
        })
    }

    /// Checks the values beyond their types.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy(false)?;
        if !(1024..=64 * 1024).contains(&self.max_body_bytes) {
            return Err(invalid(
                "PORTCULLIS_REGISTRATION__MAX_BODY_BYTES",
                "must be between 1024 and 65536",
            ));
        }
        if self.rate_limit_burst == 0 {
            return Err(invalid(
                "PORTCULLIS_REGISTRATION__RATE_LIMIT_BURST",
                "must be at least 1",
            ));
        }
        if self
            .initial_access_tokens
            .iter()
            .any(|t| t.expose_secret().len() < 32)
        {
            return Err(invalid(
                "PORTCULLIS_REGISTRATION__INITIAL_ACCESS_TOKENS",
                "every token must be at least 32 characters of random text",
            ));
        }
        Ok(())
    }

    /// SHA-256 of each configured initial access token.
    pub fn initial_access_token_hashes(&self) -> Vec<SecretHash> {
        self.initial_access_tokens
            .iter()
            .map(|t| SecretHash::of(t.expose_secret()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_and_valid() {
        let c = RegistrationConfig::default();
        c.validate().unwrap();
        assert_eq!(c.mode, RegistrationMode::Off);
    }

    #[test]
    fn the_admin_scope_can_never_be_offered_to_registrants() {
        let c = RegistrationConfig {
            allowed_scope: "openid admin".into(),
            default_scope: "openid".into(),
            ..RegistrationConfig::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("PORTCULLIS_REGISTRATION__ALLOWED_SCOPE:"),
            "{err}"
        );
    }

    #[test]
    fn short_initial_access_tokens_are_refused_and_debug_redacts_them() {
        let c = RegistrationConfig {
            initial_access_tokens: vec![SecretString::from("short")],
            ..RegistrationConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(!format!("{c:?}").contains("short"));
    }
}
