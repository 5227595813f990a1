//! The change feed, `GET /changes` (docs/design.md § The change feed): every create, update,
//! transition and delete of the fed entities, in commit order, from an outbox that row
//! triggers write inside each writing transaction and a single sequencer numbers.

pub mod dto;
pub mod handlers;
pub mod repo;
pub mod view;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the change feed.
pub fn routes(config: &mut ServiceConfig) {
    config.service(handlers::list_changes);
}
