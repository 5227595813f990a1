//! Diesel rows and forms of pledges and progress reports.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::state::{ExemplarRelation, PledgeKind, PledgeResult, PledgeStatus};
use crate::db::schema::{pledge_progress, pledges};

/// Every column but the generated `search_text`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = pledges)]
pub struct PledgeRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub organization_id: Uuid,
    pub organization_path: String,
    pub root_organization_id: Uuid,
    pub year: i32,
    pub kind: PledgeKind,
    pub field: String,
    pub title: String,
    pub description: Option<String>,
    pub target_value: Option<f64>,
    pub target_unit: Option<String>,
    pub title_name: Option<String>,
    pub deadline: NaiveDate,
    pub exemplar_id: Option<Uuid>,
    pub exemplar_relation: Option<ExemplarRelation>,
    pub status: PledgeStatus,
    pub result: Option<PledgeResult>,
    pub assessment_note: Option<String>,
    pub status_reason: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub submitted_by: Option<Uuid>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<Uuid>,
    pub assessed_at: Option<DateTime<Utc>>,
    pub progress_percent: Option<f64>,
    pub current_value: Option<f64>,
    pub last_reported_on: Option<NaiveDate>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

#[derive(Insertable)]
#[diesel(table_name = pledges)]
pub struct NewPledge<'a> {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub organization_id: Uuid,
    pub organization_path: &'a str,
    pub root_organization_id: Uuid,
    pub year: i32,
    pub kind: PledgeKind,
    pub field: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub target_value: Option<f64>,
    pub target_unit: Option<&'a str>,
    pub title_name: Option<&'a str>,
    pub deadline: NaiveDate,
    pub exemplar_id: Option<Uuid>,
    pub exemplar_relation: Option<ExemplarRelation>,
    pub created_by: Uuid,
}

/// Content changes of a merge patch (`None`: unchanged; `Some(None)`: cleared).
#[derive(AsChangeset, Default)]
#[diesel(table_name = pledges)]
pub struct PledgeChanges {
    pub kind: Option<PledgeKind>,
    pub field: Option<String>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub target_value: Option<Option<f64>>,
    pub target_unit: Option<Option<String>>,
    pub title_name: Option<Option<String>>,
    pub deadline: Option<NaiveDate>,
    pub exemplar_id: Option<Option<Uuid>>,
    pub exemplar_relation: Option<Option<ExemplarRelation>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pledge_progress)]
pub struct ProgressRow {
    pub id: Uuid,
    pub pledge_id: Uuid,
    pub reported_on: NaiveDate,
    pub percent: Option<f64>,
    pub value: Option<f64>,
    pub note: Option<String>,
    pub evidence_urls: Vec<Option<String>>,
    pub reported_by: Uuid,
    pub reporter_kind: String,
    pub created_at: DateTime<Utc>,
}
