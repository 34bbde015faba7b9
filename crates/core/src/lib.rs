//! Portcullis domain: wire-independent types, protocol policies, the clock, the signing
//! keyring and the store traits every backend implements. No I/O here except crypto.

pub mod audit;
pub mod claims;
pub mod client_addr;
pub mod client_keys;
pub mod clients;
pub mod clock;
pub mod csrf;
pub mod grants;
pub mod ids;
pub mod keyring;
pub mod login_throttle;
pub mod logout;
pub mod media_type;
pub mod model;
pub mod password;
pub mod pkce;
pub mod redirect_uri;
pub mod registration;
pub mod roles;
pub mod scope;
pub mod secret;
pub mod sessions;
pub mod sign_in;
pub mod store;
pub mod tokens;
pub mod users;

pub use clock::{Clock, SystemClock, Timestamp};
/// Re-exported: [`client_addr::ClientAddr::group`] answers in its types.
pub use ipnet;
