//! The organization tree: a directory every caller reads, subtree encoding by materialized
//! path, moves that keep ids and history, and deactivation.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;
pub mod service;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the organization routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::list_organizations)
        .service(handlers::create_organization)
        .service(handlers::get_organization)
        .service(handlers::update_organization)
        .service(handlers::list_children)
        .service(handlers::get_lineage)
        .service(handlers::move_organization)
        .service(handlers::deactivate_organization);
}
