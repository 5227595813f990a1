//! Restructurings: atomic, effective-dated, audited changes of many units with lineage
//! (docs/design.md § Restructuring with lineage).

pub mod dto;
pub mod handlers;
pub mod import;
pub mod repo;
pub mod service;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the restructuring routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::create_restructuring)
        .service(handlers::list_restructurings)
        .service(handlers::get_restructuring);
}
