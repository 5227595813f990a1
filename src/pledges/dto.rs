//! Wire types of the pledge endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{PledgeRow, ProgressRow};
pub use super::state::{ExemplarRelation, PledgeKind};
use super::state::{PledgeAction, PledgeResult, PledgeStatus};

/// A pledge (đăng ký thi đua) of one organization for one campaign year.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PledgeDto {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub organization_id: Uuid,
    pub year: i32,
    pub kind: PledgeKind,
    /// A field code of the campaign.
    pub field: String,
    pub title: String,
    pub description: Option<String>,
    pub target_value: Option<f64>,
    pub target_unit: Option<String>,
    /// For `kind: title`: the title registered, e.g. "Chi bộ trong sạch, vững mạnh toàn diện".
    pub title_name: Option<String>,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub deadline: NaiveDate,
    pub exemplar_id: Option<Uuid>,
    pub exemplar_relation: Option<ExemplarRelation>,
    pub status: PledgeStatus,
    pub result: Option<PledgeResult>,
    pub assessment_note: Option<String>,
    /// Reason of the latest return or withdrawal.
    pub status_reason: Option<String>,
    /// Actions the state machine allows now (the caller's role may still forbid them).
    pub allowed_actions: Vec<PledgeAction>,
    pub progress_percent: Option<f64>,
    pub current_value: Option<f64>,
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub last_reported_on: Option<NaiveDate>,
    /// The deadline has passed and the pledge is neither assessed nor withdrawn.
    pub overdue: bool,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub approved_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub assessed_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl PledgeDto {
    pub fn from_row(row: PledgeRow, today: NaiveDate) -> Self {
        Self {
            overdue: is_overdue(row.status, row.deadline, today),
            allowed_actions: crate::workflow::allowed_actions::<super::state::PledgeWorkflow>(
                row.status,
            ),
            id: row.id,
            campaign_id: row.campaign_id,
            organization_id: row.organization_id,
            year: row.year,
            kind: row.kind,
            field: row.field,
            title: row.title,
            description: row.description,
            target_value: row.target_value,
            target_unit: row.target_unit,
            title_name: row.title_name,
            deadline: row.deadline,
            exemplar_id: row.exemplar_id,
            exemplar_relation: row.exemplar_relation,
            status: row.status,
            result: row.result,
            assessment_note: row.assessment_note,
            status_reason: row.status_reason,
            progress_percent: row.progress_percent,
            current_value: row.current_value,
            last_reported_on: row.last_reported_on,
            submitted_at: row.submitted_at,
            approved_at: row.approved_at,
            assessed_at: row.assessed_at,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

pub fn is_overdue(status: PledgeStatus, deadline: NaiveDate, today: NaiveDate) -> bool {
    deadline < today && status.is_open()
}

/// A new pledge; it starts as `draft`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePledge {
    pub campaign_id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = 2022, minimum = 1900, maximum = 2100)]
    pub year: i32,
    pub kind: PledgeKind,
    /// A field code of the campaign.
    #[schema(pattern = "^[a-z0-9_]{1,64}$", max_length = 64)]
    pub field: String,
    /// Required for `kind: target`; defaults to `title_name` for `kind: title`.
    #[schema(max_length = 300)]
    pub title: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(minimum = 0)]
    pub target_value: Option<f64>,
    #[schema(max_length = 50)]
    pub target_unit: Option<String>,
    /// Required for `kind: title`.
    #[schema(max_length = 300)]
    pub title_name: Option<String>,
    pub deadline: NaiveDate,
    /// A recognized or commended nomination (an exemplar) this pledge follows.
    pub exemplar_id: Option<Uuid>,
    /// Required with `exemplar_id`.
    pub exemplar_relation: Option<ExemplarRelation>,
}

/// Changes to a pledge in `draft` or `returned` (JSON merge patch; `null` clears).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePledge {
    pub kind: Option<PledgeKind>,
    #[schema(pattern = "^[a-z0-9_]{1,64}$", max_length = 64)]
    pub field: Option<String>,
    #[schema(max_length = 300)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub target_value: Option<Option<f64>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub target_unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 300)]
    pub title_name: Option<Option<String>>,
    pub deadline: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub exemplar_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<ExemplarRelation>)]
    pub exemplar_relation: Option<Option<ExemplarRelation>>,
}

/// The outcome of an assessment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessBody {
    pub result: PledgeResult,
    #[schema(max_length = 5000)]
    pub note: Option<String>,
}

/// A page of pledges.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PledgePage {
    pub items: Vec<PledgeDto>,
    pub next_cursor: Option<String>,
}

/// Filters of the pledge list; only pledges the caller may see are returned.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PledgeFilter {
    pub campaign_id: Option<Uuid>,
    /// The pledges of this organization (with `subtree=true`: of its whole subtree).
    pub organization_id: Option<Uuid>,
    /// With `organization_id`: include every unit below it.
    pub subtree: Option<bool>,
    pub year: Option<i32>,
    pub status: Option<PledgeStatus>,
    pub result: Option<PledgeResult>,
    pub kind: Option<PledgeKind>,
    pub field: Option<String>,
    /// Deadline passed and neither assessed nor withdrawn.
    pub overdue: Option<bool>,
    pub exemplar_id: Option<Uuid>,
    /// Search in title, title name and description: every word, in any order, ignoring case
    /// and diacritics ("dang vien ket nap" finds "Kết nạp 2 đảng viên mới").
    pub q: Option<String>,
    /// Only pledges changed after this instant (delta sync).
    pub updated_since: Option<DateTime<Utc>>,
    /// `deadline`, `updated_at` or `created_at`, optionally suffixed `_desc` (or prefixed `-`).
    /// Default `created_at`.
    #[param(
        pattern = "^(-?(created_at|updated_at|deadline)|(created_at|updated_at|deadline)_(asc|desc))$",
        max_length = 20
    )]
    pub sort: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// A progress report (append-only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProgressDto {
    pub id: Uuid,
    pub pledge_id: Uuid,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub reported_on: NaiveDate,
    pub percent: Option<f64>,
    pub value: Option<f64>,
    pub note: Option<String>,
    /// Links to evidence; stored, never fetched by the service.
    pub evidence_urls: Vec<String>,
    pub reported_by: Uuid,
    /// `user` or `client`.
    pub reporter_kind: String,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
}

impl From<ProgressRow> for ProgressDto {
    fn from(row: ProgressRow) -> Self {
        Self {
            id: row.id,
            pledge_id: row.pledge_id,
            reported_on: row.reported_on,
            percent: row.percent,
            value: row.value,
            note: row.note,
            evidence_urls: row.evidence_urls.into_iter().flatten().collect(),
            reported_by: row.reported_by,
            reporter_kind: row.reporter_kind,
            created_at: row.created_at,
        }
    }
}

/// A new progress report: `percent` and/or `value`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProgress {
    pub reported_on: NaiveDate,
    #[schema(minimum = 0, maximum = 100)]
    pub percent: Option<f64>,
    pub value: Option<f64>,
    #[schema(max_length = 5000)]
    pub note: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::shared::evidence_urls)]
    pub evidence_urls: Vec<String>,
}

/// A page of progress reports, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProgressPage {
    pub items: Vec<ProgressDto>,
    pub next_cursor: Option<String>,
}

/// Paging of progress reports.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressParams {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}
