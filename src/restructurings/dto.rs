//! Wire types of `/restructurings` (docs/api.md § Restructurings).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::organizations::dto::OrganizationKind;

/// Most steps one restructuring may hold (a province's reform is a few hundred).
pub const MAX_STEPS: usize = 2000;
/// Most units one merge may end, or one split may create.
pub const MAX_UNITS_PER_STEP: usize = 200;

/// An atomic, effective-dated change of many units: all steps or none.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestructuringRequest {
    /// First day of the new structure; units it ends get `valid_to` = the day before. On or
    /// before today (a restructuring is applied once in force, possibly later).
    pub effective_on: NaiveDate,
    /// The decision, e.g. "Nghị quyết 1687/NQ-UBTVQH15".
    #[schema(min_length = 1, max_length = 500)]
    pub legal_basis: String,
    /// `true`: answer the preview and write nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[schema(min_items = 1, max_items = 2000)]
    pub steps: Vec<Step>,
}

/// A unit a step names: an existing one, or one created earlier in the same request.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UnitRef {
    Existing {
        id: Uuid,
    },
    Created {
        #[serde(rename = "ref")]
        #[schema(min_length = 1, max_length = 200)]
        reference: String,
    },
}

/// A unit a step creates (`create`, or the `into` of a merge).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    /// The name later steps of the request use for this unit (`{"ref": …}`).
    #[serde(rename = "ref")]
    #[schema(min_length = 1, max_length = 200)]
    pub reference: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: OrganizationKind,
    #[schema(min_length = 1, max_length = 64)]
    pub code: Option<String>,
    /// None: a new root.
    pub parent: Option<UnitRef>,
}

/// Where a merge goes: an existing (or earlier created) unit, or a unit it creates.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MergeTarget {
    New(NewUnit),
    Unit(UnitRef),
}

/// One step of a restructuring.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// A new unit, valid from `effective_on`.
    Create {
        #[serde(rename = "ref")]
        #[schema(min_length = 1, max_length = 200)]
        reference: String,
        #[schema(min_length = 1, max_length = 200)]
        name: String,
        kind: OrganizationKind,
        #[schema(min_length = 1, max_length = 64)]
        code: Option<String>,
        parent: Option<UnitRef>,
    },
    /// The `from` units end and continue as `into` (wholly): their open work of the year,
    /// their members and their continuing children go to it.
    Merge {
        #[schema(min_items = 1, max_items = 200)]
        from: Vec<UnitRef>,
        into: MergeTarget,
    },
    /// `from` ends and continues partly in each of `into`; open work, members and continuing
    /// children go to `primary` (one of `into`).
    Split {
        from: UnitRef,
        #[schema(min_items = 1, max_items = 200)]
        into: Vec<UnitRef>,
        primary: UnitRef,
    },
    /// `unit` is placed under `parent` from `effective_on` (its subtree with it); earlier years
    /// keep reading it under its former parent.
    Move { unit: UnitRef, parent: UnitRef },
    /// A new name and/or code.
    Rename {
        unit: UnitRef,
        #[schema(min_length = 1, max_length = 200)]
        name: Option<String>,
        /// `null` removes the code.
        #[serde(default, deserialize_with = "crate::extract::double_option")]
        #[schema(value_type = Option<String>, min_length = 1, max_length = 64)]
        code: Option<Option<String>>,
    },
    /// `unit` ends; with a `successor`, its work, members and continuing children go there;
    /// without one it must have no continuing children.
    Dissolve {
        unit: UnitRef,
        successor: Option<UnitRef>,
    },
}

/// A unit as the preview names it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewUnit {
    pub id: Uuid,
    pub name: String,
    pub code: Option<String>,
    pub kind: OrganizationKind,
    pub parent_id: Option<Uuid>,
}

/// A unit the restructuring ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndedUnit {
    pub id: Uuid,
    pub name: String,
    pub code: Option<String>,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub valid_to: NaiveDate,
    /// Where its work went (None: dissolved without one).
    pub successors: Vec<Uuid>,
}

/// A unit placed under another parent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MovedUnit {
    pub id: Uuid,
    pub name: String,
    pub from_parent_id: Option<Uuid>,
    pub to_parent_id: Uuid,
    /// The step that moved it: `move`, or the merge, split or dissolve that re-parented a
    /// continuing child.
    pub reason: String,
}

/// A unit renamed or recoded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenamedUnit {
    pub id: Uuid,
    pub old_name: String,
    pub new_name: String,
    pub old_code: Option<String>,
    pub new_code: Option<String>,
}

/// What was carried from ended units to their successors.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Carried {
    /// Pledges of the year of `effective_on` still open, and every pledge of later years.
    pub pledges: i64,
    /// Nominations likewise (open: draft, submitted, under review).
    pub nominations: i64,
    pub memberships: i64,
    pub clients: i64,
    /// Persons (the staff of the title cycle), with their records and awards.
    #[serde(default)]
    pub persons: i64,
    /// Continuing children placed under a successor.
    pub children_reparented: i64,
}

/// What a restructuring does (dry run) or did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Preview {
    pub created: Vec<PreviewUnit>,
    pub ended: Vec<EndedUnit>,
    pub moved: Vec<MovedUnit>,
    pub renamed: Vec<RenamedUnit>,
    pub carried: Carried,
}

/// A restructuring as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RestructuringDto {
    /// Null on a dry run.
    pub id: Option<Uuid>,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub effective_on: NaiveDate,
    pub legal_basis: String,
    pub dry_run: bool,
    #[schema(value_type = Vec<Object>)]
    pub steps: serde_json::Value,
    pub preview: Preview,
    pub created_by: Option<Uuid>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub created_at: Option<DateTime<Utc>>,
}

/// A page of restructurings, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestructuringPage {
    pub items: Vec<RestructuringDto>,
    pub next_cursor: Option<String>,
}

/// Paging of `GET /restructurings`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RestructuringFilter {
    /// Only those touching this unit's subtree.
    pub organization_id: Option<Uuid>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}
