//! Wire types of the nomination, review and exemplar endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{NominationRow, ReviewRow};
pub use super::state::{CommendationForm, NomineeType, ReviewDecision};
use super::state::{NominationAction, NominationStatus};
use crate::pledges::state::ExemplarRelation;

/// The commendation decision of a commended nomination.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommendationDto {
    pub form: CommendationForm,
    pub issuer_organization_id: Uuid,
    pub decision_no: String,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub decided_on: NaiveDate,
    /// The award of an award decision this commendation is (`GET /award-decisions/{id}`
    /// lists it): one award backs at most one nomination.
    pub award_id: Option<Uuid>,
}

/// A nomination of an exemplar (điển hình tiên tiến) by one unit for one campaign year.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NominationDto {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub nominating_organization_id: Uuid,
    pub year: i32,
    pub nominee_type: NomineeType,
    pub nominee_name: String,
    pub nominee_organization_id: Option<Uuid>,
    pub nominee_position: Option<String>,
    pub member_count: Option<i32>,
    /// A field code of the campaign.
    pub field: String,
    pub achievements: Option<String>,
    /// Links to evidence; stored, never fetched by the service.
    pub evidence_urls: Vec<String>,
    pub status: NominationStatus,
    /// Reason of the rejection or withdrawal.
    pub status_reason: Option<String>,
    /// Actions the state machine allows now (the caller's role may still forbid them).
    pub allowed_actions: Vec<NominationAction>,
    /// Present once commended.
    pub commendation: Option<CommendationDto>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub review_started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub recognized_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub commended_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl From<NominationRow> for NominationDto {
    fn from(row: NominationRow) -> Self {
        let status = row.status;
        let commendation = match (
            row.commendation_form,
            row.issuer_organization_id,
            row.decision_no,
            row.decided_on,
        ) {
            (Some(form), Some(issuer_organization_id), Some(decision_no), Some(decided_on)) => {
                Some(CommendationDto {
                    form,
                    issuer_organization_id,
                    decision_no,
                    decided_on,
                    award_id: row.award_id,
                })
            }
            _ => None,
        };
        Self {
            allowed_actions: crate::workflow::allowed_actions::<super::state::NominationWorkflow>(
                status,
            ),
            id: row.id,
            campaign_id: row.campaign_id,
            nominating_organization_id: row.nominating_organization_id,
            year: row.year,
            nominee_type: row.nominee_type,
            nominee_name: row.nominee_name,
            nominee_organization_id: row.nominee_organization_id,
            nominee_position: row.nominee_position,
            member_count: row.member_count,
            field: row.field,
            achievements: row.achievements,
            evidence_urls: row.evidence_urls.into_iter().flatten().collect(),
            status,
            status_reason: row.status_reason,
            commendation,
            submitted_at: row.submitted_at,
            review_started_at: row.review_started_at,
            recognized_at: row.recognized_at,
            commended_at: row.commended_at,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// A new nomination; it starts as `draft`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNomination {
    pub campaign_id: Uuid,
    /// The unit that nominates (its managers write the nomination).
    pub nominating_organization_id: Uuid,
    #[schema(example = 2022, minimum = 1900, maximum = 2100)]
    pub year: i32,
    pub nominee_type: NomineeType,
    #[schema(
        min_length = 1,
        max_length = 300,
        example = "Câu lạc bộ Gương điển hình học tập và làm theo Bác"
    )]
    pub nominee_name: String,
    /// An organization inside the nominating unit's subtree: the collective itself, or an
    /// individual's workplace.
    pub nominee_organization_id: Option<Uuid>,
    #[schema(max_length = 200)]
    pub nominee_position: Option<String>,
    /// Members of a collective (≥ 1); a collective needs it or `nominee_organization_id`.
    #[schema(minimum = 1, maximum = 10000000, example = 39)]
    pub member_count: Option<i32>,
    /// A field code of the campaign.
    #[schema(pattern = "^[a-z0-9_]{1,64}$", max_length = 64)]
    pub field: String,
    #[schema(max_length = 20000)]
    pub achievements: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::shared::evidence_urls)]
    pub evidence_urls: Vec<String>,
}

/// Changes to a draft nomination (JSON merge patch; `null` clears).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNomination {
    pub nominee_type: Option<NomineeType>,
    #[schema(min_length = 1, max_length = 300)]
    pub nominee_name: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub nominee_organization_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub nominee_position: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 10000000)]
    pub member_count: Option<Option<i32>>,
    #[schema(pattern = "^[a-z0-9_]{1,64}$", max_length = 64)]
    pub field: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 20000)]
    pub achievements: Option<Option<String>>,
    #[schema(schema_with = crate::openapi::shared::evidence_urls_or_null)]
    pub evidence_urls: Option<Vec<String>>,
}

/// The commendation decision (khen thưởng) of a recognized nomination.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommendBody {
    pub form: CommendationForm,
    /// The issuing organization: an ancestor of the nominating unit.
    pub issuer_organization_id: Uuid,
    #[schema(min_length = 1, max_length = 100, example = "123/QĐ-UBND")]
    pub decision_no: String,
    pub decided_on: NaiveDate,
    /// The award, in an award decision of this service, that commends the nominee: issued by
    /// `issuer_organization_id` under `decision_no` on `decided_on`, to this nominee (the
    /// person of that name, or `nominee_organization_id`), for this year, not revoked and not
    /// cited by another nomination, so one achievement is not rewarded twice.
    pub award_id: Option<Uuid>,
}

/// A page of nominations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NominationPage {
    pub items: Vec<NominationDto>,
    pub next_cursor: Option<String>,
}

/// Filters of the nomination list; only nominations inside the caller's subtree are returned.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NominationFilter {
    pub campaign_id: Option<Uuid>,
    /// The nominations of this unit (with `subtree=true`: of its whole subtree).
    pub organization_id: Option<Uuid>,
    /// With `organization_id`: include every unit below it.
    pub subtree: Option<bool>,
    pub year: Option<i32>,
    pub status: Option<NominationStatus>,
    pub nominee_type: Option<NomineeType>,
    pub field: Option<String>,
    /// Search in nominee name, position and achievements: every word, in any order, ignoring
    /// case and diacritics.
    pub q: Option<String>,
    /// Only nominations changed after this instant (delta sync).
    pub updated_since: Option<DateTime<Utc>>,
    /// `created_at` or `updated_at`, optionally suffixed `_desc` (or prefixed `-`).
    /// Default `created_at`.
    #[param(
        pattern = "^(-?(created_at|updated_at)|(created_at|updated_at)_(asc|desc))$",
        max_length = 20
    )]
    pub sort: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// A reviewer's vote on a nomination under review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReview {
    pub decision: ReviewDecision,
    #[schema(max_length = 5000)]
    pub comment: Option<String>,
}

/// A review (one per reviewer and nomination; never edited).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewDto {
    pub id: Uuid,
    pub nomination_id: Uuid,
    pub reviewer_id: Uuid,
    pub decision: ReviewDecision,
    pub comment: Option<String>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
}

impl From<ReviewRow> for ReviewDto {
    fn from(row: ReviewRow) -> Self {
        Self {
            id: row.id,
            nomination_id: row.nomination_id,
            reviewer_id: row.reviewer_id,
            decision: row.decision,
            comment: row.comment,
            created_at: row.created_at,
        }
    }
}

/// Votes so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tally {
    pub endorse: i64,
    pub oppose: i64,
    pub abstain: i64,
}

impl Tally {
    /// Recognition needs at least one endorsement and more endorsements than oppositions.
    pub fn allows_recognition(self) -> bool {
        self.endorse >= 1 && self.endorse > self.oppose
    }
}

/// Every review of a nomination, oldest first, and their tally.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewList {
    pub items: Vec<ReviewDto>,
    pub tally: Tally,
}

/// A unit whose pledge names an exemplar.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FollowingUnit {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub relation: ExemplarRelation,
}

/// A recognized or commended nomination and the units that follow it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExemplarDto {
    #[serde(flatten)]
    pub nomination: NominationDto,
    /// Pledges (not withdrawn) naming this exemplar.
    pub followers: i64,
    /// The units of those pledges and how they relate (at most 50).
    pub following_units: Vec<FollowingUnit>,
}

/// A page of exemplars, most recently recognized first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExemplarPage {
    pub items: Vec<ExemplarDto>,
    pub next_cursor: Option<String>,
}

/// Filters of the exemplar list (every authenticated caller sees every exemplar).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExemplarFilter {
    pub campaign_id: Option<Uuid>,
    /// Exemplars nominated by this unit or any unit below it.
    pub organization_id: Option<Uuid>,
    pub field: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn recognition_needs_an_endorsement_and_a_majority_over_oppositions() {
        let cases = [
            ((0, 0, 0), false),
            ((0, 0, 3), false),
            ((1, 0, 0), true),
            ((1, 1, 0), false),
            ((2, 1, 5), true),
            ((2, 2, 0), false),
        ];
        for ((endorse, oppose, abstain), expected) in cases {
            let tally = Tally {
                endorse,
                oppose,
                abstain,
            };
            assert_eq!(tally.allows_recognition(), expected, "{tally:?}");
        }
    }
}
