//! Wire types of the organization endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::OrganizationRow;

crate::text_enum! {
    /// The kinds of node in the one typed tree (state, party and front units alike).
    pub enum OrganizationKind {
        Province = "province",
        District = "district",
        Commune = "commune",
        Ward = "ward",
        Hamlet = "hamlet",
        Agency = "agency",
        PartyCommittee = "party_committee",
        PartyCell = "party_cell",
        Association = "association",
        School = "school",
        Enterprise = "enterprise",
        Other = "other",
    }
}

/// An ancestor of an organization, root first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AncestorDto {
    pub id: Uuid,
    pub name: String,
}

/// A unit an organization continues or is continued by (its direct lineage).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkedUnitDto {
    pub id: Uuid,
    pub name: String,
}

/// A node of the organization tree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganizationDto {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub kind: OrganizationKind,
    #[schema(example = "Xã Mỹ Hòa")]
    pub name: String,
    /// Official code, unique among the units valid on the same day (codes are reused).
    pub code: Option<String>,
    /// Inactive units (deactivated, or ended by a restructuring) keep their history but are no
    /// longer expected to register.
    pub active: bool,
    /// First day of validity; null: since before anything the service records.
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub valid_from: Option<NaiveDate>,
    /// Last day of validity, inclusive; null while current.
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub valid_to: Option<NaiveDate>,
    /// The units this one continues (direct; `GET /organizations/{id}/lineage` goes further).
    pub predecessors: Vec<LinkedUnitDto>,
    /// The units that continue this one.
    pub successors: Vec<LinkedUnitDto>,
    /// 0 for a root.
    pub depth: i32,
    /// Root first; only on single-organization responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ancestors: Option<Vec<AncestorDto>>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub deactivated_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl OrganizationDto {
    pub fn from_row(row: OrganizationRow, ancestors: Option<Vec<AncestorDto>>) -> Self {
        Self {
            id: row.id,
            parent_id: row.parent_id,
            kind: row.kind,
            name: row.name,
            code: row.code,
            active: row.active,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
            predecessors: Vec::new(),
            successors: Vec::new(),
            depth: row.depth,
            ancestors,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deactivated_at: row.deactivated_at,
            version: row.version,
        }
    }
}

/// A page of organizations sorted by Vietnamese collation of their names.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationPage {
    pub items: Vec<OrganizationDto>,
    pub next_cursor: Option<String>,
}

/// A new organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// Parent unit; omitted only for a new root (administrators).
    pub parent_id: Option<Uuid>,
    pub kind: OrganizationKind,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(min_length = 1, max_length = 64)]
    pub code: Option<String>,
}

/// Changes to an organization (JSON merge patch of name, code, kind).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `null` removes the code.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64)]
    pub code: Option<Option<String>>,
    pub kind: Option<OrganizationKind>,
}

/// The new parent of a subtree.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveOrganization {
    pub parent_id: Uuid,
}

/// Filters of the organization directory.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    /// Direct children of this organization.
    pub parent_id: Option<Uuid>,
    pub kind: Option<OrganizationKind>,
    /// Search in name and code: every word, in any order, ignoring case and Vietnamese
    /// diacritics ("hoa my" finds "Mỹ Hòa").
    pub q: Option<String>,
    /// `false`: only inactive units (deactivated, or ended by a restructuring, on any day unless
    /// `valid_on` is given); `true`: only active ones.
    pub active: Option<bool>,
    /// Only the units valid on this day (YYYY-MM-DD): the tree as it stood then. Default:
    /// today (except with `active=false`).
    pub valid_on: Option<NaiveDate>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// One unit of a lineage, with the restructuring that linked it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineageEntry {
    pub id: Uuid,
    pub name: String,
    pub code: Option<String>,
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub valid_from: Option<NaiveDate>,
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub valid_to: Option<NaiveDate>,
    pub restructuring_id: Uuid,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub effective_on: NaiveDate,
    pub legal_basis: String,
    pub change: LinkChange,
    pub share: LinkShare,
    /// How many links away from the organization asked about (1: direct).
    pub distance: i32,
}

crate::text_enum! {
    /// What a lineage link records.
    pub enum LinkChange {
        Merge = "merge",
        Split = "split",
        Rename = "rename",
        Transfer = "transfer",
    }
}

crate::text_enum! {
    /// Whether the predecessor went wholly or partly into the successor.
    pub enum LinkShare {
        Full = "full",
        Partial = "partial",
    }
}

/// The units an organization continues and is continued by, transitively.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineageDto {
    pub organization_id: Uuid,
    pub name: String,
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub valid_from: Option<NaiveDate>,
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub valid_to: Option<NaiveDate>,
    /// Nearest first.
    pub predecessors: Vec<LineageEntry>,
    /// Nearest first.
    pub successors: Vec<LineageEntry>,
}

/// Paging of `/organizations/{id}/children`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}
