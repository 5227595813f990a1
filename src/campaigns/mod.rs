//! Campaigns (movements): code, directive, owner, years and their fields.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the campaign routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::list_campaigns)
        .service(handlers::create_campaign)
        .service(handlers::get_campaign)
        .service(handlers::update_campaign);
}
