//! Wire types of the aggregate endpoints.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Scope of every aggregate: a subtree, a campaign, a year.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Scope {
    /// Root of the subtree (default: the caller's own unit).
    pub organization_id: Option<Uuid>,
    /// Only this campaign (default: all).
    pub campaign_id: Option<Uuid>,
    /// Only this campaign year (default: all).
    pub year: Option<i32>,
}

/// `kind` of `/stats/coverage`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageParams {
    /// Expected units are all active descendants of this kind (default: direct active children).
    pub kind: Option<crate::organizations::dto::OrganizationKind>,
    /// Units per page, 1–200 (default 50); the totals always cover every expected unit.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Grouping of `/stats/pledges`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PledgeGrouping {
    Status,
    Result,
    Field,
    Kind,
    Child,
    OrganizationKind,
    /// Month of the deadline, `YYYY-MM`.
    Month,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PledgeGroupParams {
    /// What to group by (default `status`).
    #[param(inline)]
    pub group_by: Option<PledgeGrouping>,
}

/// Grouping of `/stats/nominations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NominationGrouping {
    Status,
    NomineeType,
    Field,
    Child,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NominationGroupParams {
    /// What to group by (default `status`).
    #[param(inline)]
    pub group_by: Option<NominationGrouping>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TitleParams {
    /// Only pledges of units of this kind (e.g. `party_cell`).
    pub organization_kind: Option<crate::organizations::dto::OrganizationKind>,
    /// Only this title (exact, after NFC), e.g. "Chi bộ trong sạch, vững mạnh toàn diện".
    pub title_name: Option<String>,
    /// Units per page, 1–200 (default 50); the totals always cover the whole subtree.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardParams {
    /// How many child units (1–200, default 50).
    pub limit: Option<i64>,
}

/// The subtree an answer is about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScopeDto {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub campaign_id: Option<Uuid>,
    pub year: Option<i32>,
}

/// One expected unit and whether it registered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoverageUnit {
    pub organization_id: Uuid,
    pub name: String,
    pub kind: String,
    pub registered: bool,
    /// Its pledges that count as registered (submitted, approved or assessed).
    pub pledge_count: i64,
}

/// How many expected units registered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoverageDto {
    pub scope: ScopeDto,
    pub expected: i64,
    pub registered: i64,
    /// registered ÷ expected (null when nothing is expected).
    pub ratio: Option<f64>,
    /// A page of the expected units, those that did not register first, then by name.
    pub units: Vec<CoverageUnit>,
    /// Cursor of the next page of `units`; null on the last.
    pub next_cursor: Option<String>,
}

/// Counts of one group of pledges.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PledgeGroup {
    pub key: String,
    pub label: String,
    pub total: i64,
    /// Submitted, approved or assessed.
    pub registered: i64,
    pub assessed: i64,
    /// Assessed `achieved` or `exceeded`.
    pub achieved: i64,
    pub overdue: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PledgeGroupsDto {
    pub scope: ScopeDto,
    pub group_by: String,
    pub total: i64,
    pub groups: Vec<PledgeGroup>,
}

/// Title pledges of one unit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TitleUnit {
    pub organization_id: Uuid,
    pub name: String,
    pub kind: String,
    pub title_name: String,
    pub registered: i64,
    pub achieved: i64,
}

/// Titles registered versus achieved ("4/5 party cells").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TitlesDto {
    pub scope: ScopeDto,
    /// Title pledges submitted and not withdrawn.
    pub registered: i64,
    /// Title pledges assessed `achieved` or `exceeded`.
    pub achieved: i64,
    pub ratio: Option<f64>,
    /// A page of units and titles, by unit name (Vietnamese order), unit and title.
    pub units: Vec<TitleUnit>,
    /// Cursor of the next page of `units`; null on the last.
    pub next_cursor: Option<String>,
}

/// Counts of one group of nominations.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NominationGroup {
    pub key: String,
    pub label: String,
    pub total: i64,
    /// Recognized or commended.
    pub exemplars: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NominationGroupsDto {
    pub scope: ScopeDto,
    pub group_by: String,
    pub total: i64,
    pub groups: Vec<NominationGroup>,
}

/// One child unit in the ranking.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardEntry {
    pub rank: i64,
    pub organization_id: Uuid,
    pub name: String,
    pub kind: String,
    /// Registered pledges in the child's subtree.
    pub registered: i64,
    pub achieved: i64,
    /// achieved ÷ registered (0 when nothing registered).
    pub achievement_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardDto {
    pub scope: ScopeDto,
    pub entries: Vec<LeaderboardEntry>,
}

/// A count by key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyCount {
    pub key: String,
    pub count: i64,
}

/// Overdue pledges of one unit (with its subtree, for a child unit).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OverdueUnit {
    pub organization_id: Uuid,
    pub name: String,
    pub overdue: i64,
}

/// Everything a leader reads first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OverviewDto {
    pub scope: ScopeDto,
    /// Active organizations in the subtree, the root included.
    pub organizations: i64,
    pub coverage: CoverageSummary,
    pub pledges_total: i64,
    pub pledges_by_status: Vec<KeyCount>,
    pub pledges_by_result: Vec<KeyCount>,
    pub overdue: i64,
    /// Where the overdue pledges are, one level down: each direct child unit with the overdue
    /// pledges of its whole subtree, and the organization itself with its own, most first
    /// (at most 10; units without overdue pledges are left out). Drill down by asking the
    /// overview of a listed child.
    pub overdue_by_unit: Vec<OverdueUnit>,
    pub titles_registered: i64,
    pub titles_achieved: i64,
    pub nominations_total: i64,
    pub nominations_by_status: Vec<KeyCount>,
    pub nominations_by_nominee_type: Vec<KeyCount>,
    /// Recognized or commended nominations.
    pub exemplars: i64,
}

/// Coverage in brief.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoverageSummary {
    pub expected: i64,
    pub registered: i64,
    pub ratio: Option<f64>,
    /// Names of expected units that have not registered (at most 50).
    pub not_registered: Vec<String>,
}
