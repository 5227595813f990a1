//! thidua: an HTTP/JSON service that runs public-sector emulation movements (phong trào thi đua).
//!
//! The modules are listed roughly bottom-up: infrastructure first, then resources, then the
//! application that wires them together.

/// The append-only audit log: writing events inside transactions and reading them back.
pub mod audit;
/// Access tokens, passwords, the `Principal` extractor and the authorization rules.
pub mod auth;
/// Council sessions, award decisions, rewards and revocation (the title cycle, part 2).
pub mod awards;
/// Campaigns (movements) and their fields.
pub mod campaigns;
/// The change feed: every change a caller may see, in commit order, from a trigger-written outbox.
pub mod changes;
/// Command-line interface of the `thidua` binary.
pub mod cli;
/// The one definition of "today".
pub mod clock;
/// Strong ETags and the `If-Match` / `If-None-Match` preconditions.
pub mod conditional;
/// Typed configuration read from the environment once, at start-up.
pub mod config;
/// The one idempotent, audited creation of the resources that are not workflows.
pub mod creation;
/// Connection pool, embedded migrations and the generated diesel schema.
pub mod db;
/// Loading the Ba Tri demonstration data.
pub mod demo;
/// The one mapping from every failure to an RFC 9457 problem+json response.
pub mod error;
/// The one streaming export (CSV and XLSX) of every list.
pub mod export;
/// Request bodies, path and query extraction with problem+json errors.
pub mod extract;
/// `thidua generate`: the deterministic national-scale benchmark data set.
pub mod generate;
/// Liveness, readiness and other operational endpoints.
pub mod health;
/// `Idempotency-Key` on POST: claimed and answered inside the write's transaction.
pub mod idempotency;
/// Timestamps and dates in JSON as chrono writes them, without its per-character cost.
pub mod json_dates;
/// The one list of a workflow resource: shared filters, keyset page, JSON page and exports.
pub mod listing;
/// Prometheus metrics: requests by route pattern, database pools, business counts; `/metrics`.
pub mod metrics;
/// Request id, security headers and the conversion of framework errors to problem+json.
pub mod middleware;
/// Nominations of exemplars: reviews, recognition, commendation, and the exemplars pledges follow.
pub mod nominations;
/// The OpenAPI 3.1 document and the route inventory derived from it.
pub mod openapi;
/// The organization tree: directory, subtree encoding, moves and deactivation.
pub mod organizations;
/// Opaque keyset cursors and `limit` validation shared by every list.
pub mod pagination;
/// Query and path parameters checked against the OpenAPI document (unknown ones, bad values).
pub mod params;
/// Persons of units and the year records of persons and units (subjects of the title cycle).
pub mod persons;
/// Pledges (đăng ký thi đua): state machine, progress reports, exports.
pub mod pledges;
/// The `/problems/{code}` pages that problem `type` URIs point to.
pub mod problems;
/// Request rate limits per client IP and per principal (429 `rate_limited`), per instance.
pub mod ratelimit;
/// Restructurings of the tree with lineage (the 2025 two-tier reform).
pub mod restructurings;
/// Building the actix application and server.
pub mod startup;
/// Shared application state handed to every handler.
pub mod state;
/// Aggregates leaders read over their whole subtree.
pub mod stats;
/// Logging and tracing set-up.
pub mod telemetry;
/// Text rules shared by every resource: NFC storage, search folding, bounded lengths.
pub mod text;
/// Domain enums stored as text: wire names, OpenAPI schema and diesel mapping in one place.
pub mod text_enum;
/// The annual title cycle: rule sets as data, base salaries, registrations, eligibility.
pub mod titles;
/// Users, their memberships and partner clients (administration).
pub mod users;
/// Webhooks: signed deliveries of the change feed to allowed targets, from an outbox.
pub mod webhooks;
/// The one transition runner of every workflow, and its `invalid_transition` problem.
pub mod workflow;
