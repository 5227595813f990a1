//! Integration tests: the real application over HTTP against a real PostgreSQL, one database
//! per test cloned from a migrated template.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod audit;
mod auth;
mod awards;
mod campaigns;
mod changes;
mod errors;
mod first_hour;
mod folds;
mod generate;
mod hardening;
mod import_units;
mod input;
mod instances;
mod logs;
mod metrics;
mod migrations;
mod names;
mod nominations;
mod openapi;
mod organizations;
mod pledges;
mod restructurings;
mod revocation;
mod sql_schema;
mod stats;
mod titles;
mod users;
mod webhook_receiver;
mod webhooks;
mod workflow;
