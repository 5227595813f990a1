//! Authentication and authorization: access tokens and their revocation, passwords,
//! refresh-token rotation, login throttling, the `Principal` extractor and the rules of who may
//! do what.

pub mod authorize;
pub mod dto;
pub mod handlers;
pub mod password;
pub mod policy;
pub mod principal;
pub mod revocation;
pub mod service;
pub mod throttle;
pub mod tokens;

pub use principal::{Principal, Role, Scope};
