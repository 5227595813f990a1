//! Integration tests: the real application over HTTP against a real PostgreSQL, one database
//! per test cloned from a migrated template.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod audit;
mod auth;
mod campaigns;
mod errors;
mod hardening;
mod instances;
mod metrics;
mod nominations;
mod openapi;
mod organizations;
mod pledges;
mod stats;
mod users;
