//! Nominations of exemplars (điển hình tiên tiến): a unit puts forward an individual or a
//! collective, reviewers of higher units vote and recognize it, a higher unit commends it, and
//! recognized nominations become exemplars that every unit may follow in its pledges.

pub mod dto;
pub mod export;
pub mod handlers;
pub mod model;
pub mod repo;
pub mod service;
pub mod state;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the nomination and exemplar routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::list_nominations)
        // Before `/nominations/{id}`, which would otherwise take `export.csv` for an id.
        .service(handlers::export_nominations_csv)
        .service(handlers::export_nominations_xlsx)
        .service(handlers::create_nomination)
        .service(handlers::get_nomination)
        .service(handlers::update_nomination)
        .service(handlers::delete_nomination)
        .service(handlers::submit_nomination)
        .service(handlers::start_review)
        .service(handlers::recognize_nomination)
        .service(handlers::commend_nomination)
        .service(handlers::reject_nomination)
        .service(handlers::withdraw_nomination)
        .service(handlers::create_review)
        .service(handlers::list_reviews)
        .service(handlers::list_exemplars)
        .service(handlers::get_exemplar);
}
