//! Diesel rows and forms of the organization tree.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::organizations;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub seq: i64,
    pub parent_id: Option<Uuid>,
    pub kind: String,
    pub name: String,
    pub code: Option<String>,
    pub active: bool,
    pub path: String,
    pub depth: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub version: i32,
}

#[derive(Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization<'a> {
    pub id: Uuid,
    pub seq: i64,
    pub parent_id: Option<Uuid>,
    pub kind: &'a str,
    pub name: &'a str,
    pub code: Option<&'a str>,
    pub path: &'a str,
    pub depth: i32,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub code: Option<Option<String>>,
    pub kind: Option<String>,
}

/// The path segment of an organization with sequence number `seq`.
pub fn path_label(seq: i64) -> String {
    format!("{seq}.")
}
