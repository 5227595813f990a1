//! The annual title cycle (docs/design.md § The annual title cycle): rule sets as data with
//! legal basis and effective dates, base salaries, title registrations, and eligibility
//! judged by the pure evaluator of `rules`.

pub mod dto;
pub mod handlers;
pub mod repo;
pub mod rules;
pub mod service;
pub mod shipped;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes of rule sets, base salaries, registrations and eligibility.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::list_rule_sets)
        .service(handlers::get_rule_set)
        .service(handlers::create_rule_set)
        .service(handlers::list_base_salaries)
        .service(handlers::create_base_salary)
        .service(handlers::create_registration)
        .service(handlers::list_registrations)
        .service(handlers::eligibility)
        .service(handlers::candidates);
}
