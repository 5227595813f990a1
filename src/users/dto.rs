//! Wire types of the administration endpoints: users, their memberships, partner clients.
//! A password hash or a client secret hash never appears in any of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::principal::{Role, Scope};

/// One role of a user, in one organization and its whole subtree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserMembershipDto {
    pub organization_id: Uuid,
    #[schema(example = "Xã Mỹ Hòa")]
    pub organization_name: String,
    pub role: Role,
}

/// A user account with its memberships.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    #[schema(example = "myhoa.canbo")]
    pub username: String,
    #[schema(example = "Nguyễn Thị Hoà")]
    pub display_name: String,
    /// Disabled users cannot log in or refresh tokens.
    pub disabled: bool,
    /// Highest units first.
    pub memberships: Vec<UserMembershipDto>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// A page of users, sorted by username (case-insensitive).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserDto>,
    pub next_cursor: Option<String>,
}

/// A role to hold in an organization.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipRequest {
    pub organization_id: Uuid,
    pub role: Role,
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 3–64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit; unique
    /// ignoring case.
    #[schema(
        example = "myhoa.canbo",
        min_length = 3,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )]
    pub username: String,
    #[schema(example = "Nguyễn Thị Hoà", min_length = 1, max_length = 200)]
    pub display_name: String,
    #[schema(min_length = 8, max_length = 128, format = Password)]
    pub password: String,
    /// Required (at least one, inside the caller's subtree) unless the caller is an
    /// administrator.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub memberships: Vec<MembershipRequest>,
}

/// Changes to a user (JSON merge patch).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// Administrators and managers covering all of the user's memberships; nobody disables
    /// their own account.
    pub disabled: Option<bool>,
    /// A new password; revokes every refresh token of the user.
    #[schema(min_length = 8, max_length = 128, format = Password)]
    pub password: Option<String>,
    /// Required when you change your own password.
    #[schema(format = Password, max_length = 128)]
    pub current_password: Option<String>,
}

/// The complete new set of a user's memberships.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceMemberships {
    #[schema(max_items = 100)]
    pub memberships: Vec<MembershipRequest>,
}

/// Filters of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Users with a membership in this organization.
    pub organization_id: Option<Uuid>,
    /// With `organization_id`: also memberships anywhere below it.
    pub subtree: Option<bool>,
    /// Search in username and display name: every word, in any order, ignoring case and
    /// Vietnamese diacritics.
    pub q: Option<String>,
    pub disabled: Option<bool>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// A partner system that obtains tokens with the client credentials grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClientDto {
    /// The `client_id` of the client credentials grant.
    pub id: Uuid,
    #[schema(example = "Cổng dịch vụ công tỉnh")]
    pub name: String,
    /// The client acts as a member of this organization (and its subtree).
    pub organization_id: Uuid,
    pub organization_name: String,
    pub scopes: Vec<Scope>,
    pub created_by: Option<Uuid>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Set once the client is deleted: it can no longer obtain tokens.
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new client, with its secret: shown only in this response, never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedClientDto {
    #[serde(flatten)]
    pub client: ClientDto,
    /// The `client_secret` of the client credentials grant; store it now.
    pub client_secret: String,
}

/// A page of clients, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientDto>,
    pub next_cursor: Option<String>,
}

/// A new partner client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub organization_id: Uuid,
    /// At least one of `read`, `progress:write` (each at most once: as many items as scopes).
    #[schema(min_items = 1, max_items = 2)]
    pub scopes: Vec<Scope>,
}

/// Filters of the client list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientFilter {
    pub organization_id: Option<Uuid>,
    /// `false`: only clients that can still obtain tokens; `true`: only deleted ones.
    pub revoked: Option<bool>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}
