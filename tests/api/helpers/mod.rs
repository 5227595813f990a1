//! Test support: a database per test, the real app on a random port, the SECURITY.md fixture.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod db;
pub mod fixture;
pub mod process;

pub use app::{TestApp, status_and_json};
pub use fixture::Fixture;
