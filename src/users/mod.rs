//! Users, their memberships (roles in organizations) and partner clients: administration.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;
pub mod service;

use utoipa_actix_web::service_config::ServiceConfig;

/// What a username may look like: ASCII, so case-folding is the same everywhere.
pub const USERNAME_RULE: &str = "username must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit";

pub fn valid_username(username: &str) -> bool {
    (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && username
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Registers the administration routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(handlers::list_users)
        .service(handlers::create_user)
        .service(handlers::get_user)
        .service(handlers::update_user)
        .service(handlers::replace_memberships)
        .service(handlers::list_clients)
        .service(handlers::create_client)
        .service(handlers::get_client)
        .service(handlers::delete_client);
}
