//! Test support: a database per test, the real app on a random port, the docs/security.md fixture.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod ctx;
pub mod db;
pub mod fixture;
pub mod process;

pub use app::{TestApp, status_and_json};
pub use fixture::Fixture;
