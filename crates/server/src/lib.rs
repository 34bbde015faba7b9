//! The `portcullis` binary's library: configuration, store selection, the application
//! (router assembly, start-up, background jobs, graceful shutdown) and the operator CLI.

pub mod cli;
pub mod config;
mod jobs;
mod ops;
pub mod startup;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use portcullis_authorize::Backchannel;
pub use startup::Application;
