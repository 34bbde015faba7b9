//! The end-to-end harness: fresh databases per test (`db`), the real server on port 0
//! (`app`), the real `portcullis` binary (`bin`), and whole sign-in flows (`flows`).

pub mod app;
pub mod bin;
pub mod browser;
pub mod db;
pub mod fixtures;
pub mod flows;
