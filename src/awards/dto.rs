//! Wire types of council sessions, ballots, award decisions, revocation and awards.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::titles::rules::{Ratio, SubjectType, VoteBase};

crate::text_enum! {
    /// Why an award is revoked (Law 06/2022/QH15, chapter VII).
    pub enum RevocationReason {
        /// Gian lận.
        Fraud = "fraud",
        /// Giả mạo hồ sơ.
        FalseDocuments = "false_documents",
        /// Thẩm định, xét duyệt trái pháp luật.
        UnlawfulAppraisal = "unlawful_appraisal",
        /// Không đạt tiêu chuẩn.
        CriteriaNotMet = "criteria_not_met",
    }
}

/// Opens the record of a council session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// The unit whose council met.
    pub organization_id: Uuid,
    /// The year whose titles it considered.
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub held_on: NaiveDate,
    #[schema(minimum = 1, maximum = 1000)]
    pub members_total: i32,
    #[schema(minimum = 0, maximum = 1000)]
    pub members_present: i32,
}

/// The counts of a secret ballot on one candidate for one title.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBallot {
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    #[schema(min_length = 1, max_length = 64)]
    pub title_code: String,
    #[schema(minimum = 0, maximum = 1000)]
    pub approve: i32,
    #[schema(minimum = 0, maximum = 1000)]
    pub disapprove: i32,
    /// Spoilt or blank ballots (default 0); approve + disapprove + invalid = members present.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub invalid: i32,
}

/// One candidate's result, computed from the rule set in force on the session's day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BallotDto {
    pub id: Uuid,
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub title_code: String,
    pub approve: i32,
    pub disapprove: i32,
    pub invalid: i32,
    /// Approvals over the base the rule counts (all members or those present).
    pub share: f64,
    pub threshold: Ratio,
    pub of: VoteBase,
    pub quorum: Ratio,
    pub quorum_met: bool,
    pub passed: bool,
    /// In words: "7 of 9 members (77.8%) approve; at least 80% of all members required".
    pub detail: String,
}

/// A council session with its ballots.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionDto {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub year: i32,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub held_on: NaiveDate,
    pub members_total: i32,
    pub members_present: i32,
    /// The rule set in force on `held_on` (`null`: none).
    pub rule_set_code: Option<String>,
    pub ballots: Vec<BallotDto>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// Filters of `GET /council-sessions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionFilter {
    /// Sessions of this unit's subtree.
    pub organization_id: Option<Uuid>,
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

/// A page of council sessions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<SessionDto>,
    pub next_cursor: Option<String>,
}

/// One title conferred by a decision.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardRequest {
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    #[schema(min_length = 1, max_length = 64)]
    pub title_code: String,
}

/// A decision of the head of the issuing unit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDecision {
    pub issuer_organization_id: Uuid,
    /// "125/QĐ-UBND"; unique per issuer and year.
    #[schema(min_length = 1, max_length = 100)]
    pub decision_no: String,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub decided_on: NaiveDate,
    /// The year of the titles (default: the year of `decided_on`; a decision of January may
    /// confer the titles of the year before).
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    #[schema(min_length = 1, max_length = 200)]
    pub signer_name: String,
    /// The session whose votes the titles that need one passed.
    pub council_session_id: Option<Uuid>,
    #[schema(min_items = 1, max_items = 500)]
    pub awards: Vec<AwardRequest>,
}

/// An award: a title conferred on a subject for a year.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AwardDto {
    pub id: Uuid,
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub title_code: String,
    pub year: i32,
    /// `null` for an award recorded from a paper decision of before the service.
    pub decision_id: Option<Uuid>,
    pub decision_no: Option<String>,
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub decided_on: Option<NaiveDate>,
    pub issuer_organization_id: Option<Uuid>,
    /// VND: the title's multiple × the base salary in force on `decided_on`.
    pub reward_amount: Option<i64>,
    /// `awarded` or `revoked`.
    pub state: String,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<RevocationReason>,
    pub revocation_note: Option<String>,
    /// VND to recover after a revocation.
    pub recovery_amount: Option<i64>,
}

/// A decision with its awards.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionDto {
    pub id: Uuid,
    pub issuer_organization_id: Uuid,
    pub decision_no: String,
    pub year: i32,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub decided_on: NaiveDate,
    pub signer_name: String,
    pub council_session_id: Option<Uuid>,
    pub rule_set_code: String,
    /// The base salary in force on `decided_on` (VND).
    pub base_salary: i64,
    /// The rewards of the decision's awards (VND, revoked ones included).
    pub reward_total: i64,
    /// The amounts to recover after revocations (VND).
    pub recovery_total: i64,
    pub awards: Vec<AwardDto>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// Filters of `GET /award-decisions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionFilter {
    /// Decisions issued by this unit's subtree.
    pub organization_id: Option<Uuid>,
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

/// A page of decisions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionPage {
    pub items: Vec<DecisionDto>,
    pub next_cursor: Option<String>,
}

/// Revokes awards of a decision.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeAwards {
    pub reason: RevocationReason,
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
    /// The awards to revoke (default: every award of the decision still held).
    #[schema(max_items = 500)]
    pub award_ids: Option<Vec<Uuid>>,
}

/// The awards of a subject, newest year first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AwardList {
    pub items: Vec<AwardDto>,
}

/// `GET /stats/awards`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AwardStatsParams {
    pub organization_id: Uuid,
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    /// `title` (default), `child` or `subject_type`.
    pub group_by: Option<AwardGrouping>,
}

crate::text_enum! {
    /// How `/stats/awards` groups.
    pub enum AwardGrouping {
        Title = "title",
        Child = "child",
        SubjectType = "subject_type",
    }
}

/// One group of `/stats/awards`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AwardGroup {
    /// The title code, the child unit's id (`self` for the unit's own subjects) or the
    /// subject type.
    pub key: String,
    /// The child unit's name when grouped by child.
    pub name: Option<String>,
    /// Awards held (unrevoked).
    pub awards: i64,
    /// Their rewards (VND).
    pub reward_total: i64,
    /// Revoked awards, and the amounts to recover (VND).
    pub revoked: i64,
    pub recovery_total: i64,
}

/// Counts and reward totals of the awards over a subtree.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AwardStats {
    pub organization_id: Uuid,
    pub year: Option<i32>,
    pub group_by: AwardGrouping,
    pub awards: i64,
    pub reward_total: i64,
    pub groups: Vec<AwardGroup>,
}
