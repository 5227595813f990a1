//! Persons of units and the year records of persons and units (docs/design.md § The annual
//! title cycle): the subjects the title rules are evaluated on.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the person and year-record routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::create_person)
        .service(handlers::list_persons)
        .service(handlers::get_person)
        .service(handlers::update_person)
        .service(handlers::get_person_year)
        .service(handlers::put_person_year)
        .service(handlers::get_organization_year)
        .service(handlers::put_organization_year);
}
