//! The annual title cycle, part 2 (docs/design.md § The annual title cycle): council sessions
//! and their secret-ballot counts, award decisions with every check, rewards, revocation, the
//! awards of a subject and their aggregates.

pub mod dto;
pub mod export;
pub mod handlers;
pub mod repo;
pub mod service;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes of sessions, decisions and awards.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::create_session)
        .service(handlers::list_sessions)
        .service(handlers::get_session)
        .service(handlers::create_ballot)
        .service(handlers::create_decision)
        .service(handlers::list_decisions)
        .service(handlers::get_decision)
        .service(handlers::export_decision_csv)
        .service(handlers::export_decision_xlsx)
        .service(handlers::revoke_decision)
        .service(handlers::person_awards)
        .service(handlers::organization_awards)
        .service(handlers::award_stats);
}
