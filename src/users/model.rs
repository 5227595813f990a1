//! Diesel rows and forms of users, memberships and partner clients.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::auth::principal::Role;

use crate::db::schema::{clients, memberships, users};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
}

/// Changes of an account; `None` members are left as they are.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = memberships)]
pub struct NewMembership {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub role: Role,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: Uuid,
    pub name: String,
    pub secret_hash: String,
    pub organization_id: Uuid,
    pub scopes: Vec<Option<String>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = clients)]
pub struct NewClient<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub organization_id: Uuid,
    pub scopes: Vec<&'a str>,
    pub created_by: Option<Uuid>,
}
