//! Aggregates over an organization's subtree for a campaign and year: coverage, pledge and
//! nomination counts, titles, overdue work and the leaderboard of child units.

pub mod cache;
pub mod dto;
pub mod handlers;
pub mod history;
pub mod repo;
pub mod tallies;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the aggregate routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::stats_overview)
        .service(handlers::stats_coverage)
        .service(handlers::stats_pledges)
        .service(handlers::stats_titles)
        .service(handlers::stats_nominations)
        .service(handlers::stats_leaderboard);
}
