//! Diesel rows and forms of the organization tree.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::dto::OrganizationKind;
use crate::db::schema::organizations;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub seq: i64,
    pub parent_id: Option<Uuid>,
    pub kind: OrganizationKind,
    pub name: String,
    pub code: Option<String>,
    pub active: bool,
    pub path: String,
    pub depth: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub version: i32,
    /// First day of validity (None: since before anything recorded).
    pub valid_from: Option<NaiveDate>,
    /// Last day of validity, inclusive (None while current).
    pub valid_to: Option<NaiveDate>,
    /// First day of the current place in the tree (None: since the unit exists).
    pub placed_on: Option<NaiveDate>,
}

impl OrganizationRow {
    /// Whether the unit exists on `day`.
    pub fn valid_on(&self, day: NaiveDate) -> bool {
        self.valid_from.is_none_or(|from| from <= day) && self.valid_to.is_none_or(|to| to >= day)
    }

    /// Whether a restructuring has ended the unit.
    pub fn has_ended(&self) -> bool {
        self.valid_to.is_some()
    }
}

#[derive(Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization<'a> {
    pub id: Uuid,
    pub seq: i64,
    pub parent_id: Option<Uuid>,
    pub kind: OrganizationKind,
    pub name: &'a str,
    /// `crate::text::comparison_key` of `name`: sibling units may not share it.
    pub name_key: &'a str,
    pub code: Option<&'a str>,
    pub path: &'a str,
    pub depth: i32,
    pub valid_from: Option<NaiveDate>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    /// Set with `name`, always.
    pub name_key: Option<String>,
    pub code: Option<Option<String>>,
    pub kind: Option<OrganizationKind>,
}

/// The path segment of an organization with sequence number `seq`.
pub fn path_label(seq: i64) -> String {
    format!("{seq}.")
}
