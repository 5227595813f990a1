//! Wire types of `/changes` (docs/api.md § Staying in sync).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{AppError, ProblemCode};

/// The kinds of entity the feed carries (`type` of an item, values of `types=`).
pub const CHANGE_TYPES: &[&str] = &[
    "pledge",
    "pledge_progress",
    "nomination",
    "nomination_review",
    "organization",
    "restructuring",
    "person",
    "year_record",
    "title_registration",
    "rule_set",
    "base_salary",
    "council_session",
    "ballot",
    "award_decision",
    "award",
];

/// Filters of `GET /changes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeFilter {
    /// The `cursor` (or `next_cursor`) of an earlier page; absent: from the oldest event kept.
    pub after: Option<String>,
    /// Comma-separated entity types: pledge, pledge_progress, nomination, nomination_review,
    /// organization, restructuring, person, year_record, title_registration, rule_set,
    /// base_salary, council_session, ballot, award_decision, award. Absent: all.
    #[param(
        max_length = 500,
        pattern = r"^(pledge|pledge_progress|nomination|nomination_review|organization|restructuring|person|year_record|title_registration|rule_set|base_salary|council_session|ballot|award_decision|award)(,(pledge|pledge_progress|nomination|nomination_review|organization|restructuring|person|year_record|title_registration|rule_set|base_salary|council_session|ballot|award_decision|award))*$"
    )]
    pub types: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

impl ChangeFilter {
    /// The requested types, each one of [`CHANGE_TYPES`]; unknown → 400.
    pub fn types(&self) -> Result<Option<Vec<String>>, AppError> {
        let Some(raw) = self.types.as_deref() else {
            return Ok(None);
        };
        if raw.len() > 500 {
            return Err(AppError::bad_request(
                ProblemCode::InvalidQuery,
                "types must be at most 500 characters",
            ));
        }
        raw.split(',')
            .map(|name| {
                if CHANGE_TYPES.contains(&name) {
                    Ok(name.to_owned())
                } else {
                    Err(AppError::bad_request(
                        ProblemCode::InvalidQuery,
                        format!(
                            "types must be a comma-separated list of {}, not {name:?}",
                            CHANGE_TYPES.join(", ")
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// One event of the feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeDto {
    /// Position in the feed: increasing in commit order, never reused.
    pub seq: i64,
    /// The entity type (see `types`).
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The entity's id: a UUID, `{subject_id}:{year}` for a year record, the first day for a
    /// base salary.
    pub id: String,
    /// `created`, `updated`, `transitioned` (status changed), `moved` (changed unit) or
    /// `deleted`.
    pub action: String,
    /// The entity's version after the change (its `ETag`), where it has one.
    pub version: Option<i32>,
    /// The unit the entity belongs to (`null` for reference data, restructurings and
    /// tombstones of entities that left your view).
    pub organization_id: Option<Uuid>,
    /// When the writing transaction started.
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub at: DateTime<Utc>,
    /// Present and `true` when the entity is gone for you: deleted, or moved out of your view.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tombstone: bool,
}

/// A page of the feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePage {
    pub items: Vec<ChangeDto>,
    /// Pass as `after` for the next page; `null` when you have caught up (then keep `cursor`).
    pub next_cursor: Option<String>,
    /// The position after this page, always present: store it and pass it as `after` on the
    /// next sync.
    pub cursor: String,
}
