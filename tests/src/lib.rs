//! The end-to-end harness: fresh databases per test (`db`), the real server on port 0
//! (`app`) and the real `portcullis` binary (`bin`).

pub mod app;
pub mod bin;
pub mod browser;
pub mod db;
pub mod fixtures;
