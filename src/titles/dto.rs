//! Wire types of rule sets, base salaries, title registrations and eligibility.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::rules::{Check, SubjectType, TitleRule};

/// A version of the rules of one legal text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleSetDto {
    pub id: Uuid,
    /// The legal text's code (`nd-152-2025`).
    pub code: String,
    /// 1 for the first publication; each correction is the next version.
    pub version: i32,
    pub name: String,
    pub legal_basis: Vec<String>,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub effective_from: NaiveDate,
    /// Last day in force, inclusive; `null` while in force.
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub effective_to: Option<NaiveDate>,
    pub titles: Vec<TitleRule>,
    pub notes: Option<String>,
    /// False once a later version of the same code superseded it.
    pub current: bool,
    /// The version this one corrects.
    pub supersedes: Option<Uuid>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// Filters of `GET /rule-sets`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RuleSetFilter {
    /// Only the rule set in force on this day.
    pub on: Option<NaiveDate>,
    /// Also list superseded versions (default false).
    pub include_superseded: Option<bool>,
}

/// The rule sets, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleSetList {
    pub items: Vec<RuleSetDto>,
}

/// Which rule set decided, for the record of an answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleSetRef {
    pub id: Uuid,
    pub code: String,
    pub version: i32,
    pub name: String,
    pub legal_basis: Vec<String>,
}

/// The base salary (lương cơ sở) from a day on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BaseSalaryDto {
    #[serde(serialize_with = "crate::json_dates::date")]
    pub effective_from: NaiveDate,
    /// VND per month.
    pub amount: i64,
    pub legal_basis: String,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A new base salary.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBaseSalary {
    #[serde(serialize_with = "crate::json_dates::date")]
    pub effective_from: NaiveDate,
    /// VND per month.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub amount: i64,
    #[schema(min_length = 1, max_length = 300)]
    pub legal_basis: String,
}

/// The base salaries, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BaseSalaryList {
    pub items: Vec<BaseSalaryDto>,
}

/// Registers a subject for a title of a year.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegistration {
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    #[schema(min_length = 1, max_length = 64)]
    pub title_code: String,
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
}

/// A registration of a title for a year.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegistrationDto {
    pub id: Uuid,
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    pub title_code: String,
    pub year: i32,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// Filters of `GET /title-registrations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistrationFilter {
    /// Registrations of this unit's persons and of the unit itself (with `subtree=true`, of
    /// its whole subtree).
    pub organization_id: Option<Uuid>,
    pub subtree: Option<bool>,
    /// Registrations of one subject.
    pub subject_id: Option<Uuid>,
    #[param(max_length = 64)]
    pub title_code: Option<String>,
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

/// A page of registrations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegistrationPage {
    pub items: Vec<RegistrationDto>,
    pub next_cursor: Option<String>,
}

/// `GET /eligibility`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EligibilityParams {
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    #[param(min_length = 1, max_length = 64)]
    pub title_code: String,
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// Judge by the rule set in force on this day (default: 31 December of `year`).
    pub on: Option<NaiveDate>,
}

/// Whether a subject may be proposed for a title of a year, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EligibilityDto {
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    pub subject_name: String,
    /// The subject's unit (a person's; an organization's own id).
    pub organization_id: Uuid,
    pub title_code: String,
    pub title_name: String,
    pub year: i32,
    /// The day whose rule set decided.
    #[serde(serialize_with = "crate::json_dates::date")]
    pub on: NaiveDate,
    /// Registered and every check passed.
    pub eligible: bool,
    /// Only registered subjects are considered.
    pub registered: bool,
    pub rule_set: RuleSetRef,
    /// One per condition of the title, in the rule set's order.
    pub checks: Vec<Check>,
}

/// `GET /eligibility/candidates`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandidateParams {
    /// The subtree: persons of its units and the units themselves.
    pub organization_id: Uuid,
    #[param(min_length = 1, max_length = 64)]
    pub title_code: String,
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// Judge by the rule set in force on this day (default: 31 December of `year`).
    pub on: Option<NaiveDate>,
    /// `true` (default): the eligible; `false`: the registered who are not, with what fails.
    pub eligible: Option<bool>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

/// A page of candidates. A page may hold fewer than `limit` items while `next_cursor` is
/// set: a request reads a bounded number of registrations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CandidatePage {
    pub title_code: String,
    pub title_name: String,
    pub year: i32,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub on: NaiveDate,
    pub rule_set: RuleSetRef,
    pub items: Vec<EligibilityDto>,
    pub next_cursor: Option<String>,
}
