//! Webhooks (docs/design.md § 5.2): subscriptions to the change feed, delivered by a worker
//! from an outbox in PostgreSQL, signed as Standard Webhooks, to allowed targets only.

pub mod delivery;
pub mod dto;
pub mod handlers;
pub mod repo;
pub mod signature;
pub mod target;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers `/webhooks`.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::list_webhooks)
        .service(handlers::create_webhook)
        .service(handlers::get_webhook)
        .service(handlers::delete_webhook)
        .service(handlers::list_deliveries);
}
