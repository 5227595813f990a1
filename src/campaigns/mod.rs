//! Campaigns (movements): code, directive, owner, years and their fields.

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the campaign routes.
pub fn routes(_config: &mut ServiceConfig) {}
