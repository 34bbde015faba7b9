//! Every query and row mapping of the `portcullis_core::store` traits, written once and
//! compiled once per backend: `crate::sqlite` and `crate::postgres` each include this
//! module (`#[path]`), and `backend` below is whichever of them included it. From it the
//! shared code takes the backend's sqlx types (`Db`, `DbRow`, `DbConnection`), its store
//! type (`DbStore`, with `reader()`, `writer()` and `begin_write()`), and the few items
//! where SQLite and Postgres truly differ (see the crate docs).

use super as backend;

mod audit;
mod clients;
mod codes;
mod convert;
pub(super) mod error;
mod grants;
mod health;
mod keys;
mod login_throttle;
mod purge;
pub(super) mod refresh_tokens;
mod registration;
mod sessions;
mod users;
