//! Diesel rows and forms of nominations and their reviews.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::state::{CommendationForm, NominationStatus, NomineeType, ReviewDecision};
use crate::db::schema::{nomination_reviews, nominations};

/// Every column but the generated `nominee_key` and `search_text`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = nominations)]
pub struct NominationRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub nominating_organization_id: Uuid,
    pub organization_path: String,
    pub root_organization_id: Uuid,
    pub year: i32,
    pub nominee_type: NomineeType,
    pub nominee_name: String,
    pub nominee_organization_id: Option<Uuid>,
    pub nominee_position: Option<String>,
    pub member_count: Option<i32>,
    pub field: String,
    pub achievements: Option<String>,
    pub evidence_urls: Vec<Option<String>>,
    pub status: NominationStatus,
    pub status_reason: Option<String>,
    pub commendation_form: Option<CommendationForm>,
    pub issuer_organization_id: Option<Uuid>,
    pub decision_no: Option<String>,
    pub decided_on: Option<NaiveDate>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub submitted_by: Option<Uuid>,
    pub review_started_at: Option<DateTime<Utc>>,
    pub recognized_at: Option<DateTime<Utc>>,
    pub commended_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
    pub award_id: Option<Uuid>,
}

#[derive(Insertable)]
#[diesel(table_name = nominations)]
pub struct NewNomination<'a> {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub nominating_organization_id: Uuid,
    pub organization_path: &'a str,
    pub root_organization_id: Uuid,
    pub year: i32,
    pub nominee_type: NomineeType,
    pub nominee_name: &'a str,
    pub nominee_organization_id: Option<Uuid>,
    pub nominee_position: Option<&'a str>,
    pub member_count: Option<i32>,
    pub field: &'a str,
    pub achievements: Option<&'a str>,
    pub evidence_urls: &'a [String],
    pub created_by: Uuid,
}

/// Content of a draft after a merge patch (every content column is rewritten).
#[derive(AsChangeset)]
#[diesel(table_name = nominations, treat_none_as_null = true)]
pub struct NominationChanges {
    pub nominee_type: NomineeType,
    pub nominee_name: String,
    pub nominee_organization_id: Option<Uuid>,
    pub nominee_position: Option<String>,
    pub member_count: Option<i32>,
    pub field: String,
    pub achievements: Option<String>,
    pub evidence_urls: Vec<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = nomination_reviews)]
pub struct ReviewRow {
    pub id: Uuid,
    pub nomination_id: Uuid,
    pub reviewer_id: Uuid,
    pub decision: ReviewDecision,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}
