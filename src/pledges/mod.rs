//! Pledges (đăng ký thi đua): a unit registers content or a title for a campaign year, a higher
//! unit approves it, the unit reports progress, a higher unit assesses the result.

pub mod dto;
pub mod export;
pub mod handlers;
pub mod model;
pub mod repo;
pub mod service;
pub mod state;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the pledge routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::list_pledges)
        // Before `/pledges/{id}`, which would otherwise take `export.csv` for an id.
        .service(handlers::export_pledges_csv)
        .service(handlers::export_pledges_xlsx)
        .service(handlers::create_pledge)
        .service(handlers::get_pledge)
        .service(handlers::update_pledge)
        .service(handlers::delete_pledge)
        .service(handlers::submit_pledge)
        .service(handlers::approve_pledge)
        .service(handlers::return_pledge)
        .service(handlers::withdraw_pledge)
        .service(handlers::assess_pledge)
        .service(handlers::report_progress)
        .service(handlers::list_progress);
}
