//! Wire types of `/persons` and of the year records of persons and organizations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{PersonRow, YearRecordRow};
use crate::titles::rules::{Discipline, Rating, SubjectType};

crate::text_enum! {
    /// Recorded only when given (Decree 152/2025 prefers women on ties).
    pub enum Gender {
        Female = "female",
        Male = "male",
    }
}

/// A person of a unit: minimal personal data, visible within the unit's subtree only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonDto {
    pub id: Uuid,
    /// The unit the person works in (their collective).
    pub organization_id: Uuid,
    pub full_name: String,
    pub position: Option<String>,
    pub gender: Option<Gender>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl From<PersonRow> for PersonDto {
    fn from(row: PersonRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            full_name: row.full_name,
            position: row.position,
            gender: row.gender,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// Adds a person to a unit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePerson {
    pub organization_id: Uuid,
    #[schema(min_length = 1, max_length = 200)]
    pub full_name: String,
    #[schema(max_length = 200)]
    pub position: Option<String>,
    pub gender: Option<Gender>,
}

/// Changes a person (JSON merge patch); `organization_id` moves them to another unit of the
/// caller's subtree.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePerson {
    /// May not be `null`.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Uuid)]
    pub organization_id: Option<Option<Uuid>>,
    /// May not be `null`.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub full_name: Option<Option<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub position: Option<Option<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<Gender>)]
    pub gender: Option<Option<Gender>>,
}

/// Filters of `GET /persons`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonFilter {
    /// Persons of this unit (with `subtree=true`, of its whole subtree).
    pub organization_id: Option<Uuid>,
    /// With `organization_id`: include the units below it.
    pub subtree: Option<bool>,
    /// Words of the name or position, in any order, without diacritics or case mattering.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

/// A page of persons.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonPage {
    pub items: Vec<PersonDto>,
    pub next_cursor: Option<String>,
}

/// The record of a person or a unit for one year.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct YearRecordDto {
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    pub year: i32,
    /// The year-end completion rating (`null` until rated).
    pub completion_rating: Option<Rating>,
    /// The recognised initiative (sáng kiến) of the year, if any.
    pub initiative: Option<String>,
    /// The heaviest discipline of the year.
    pub discipline: Discipline,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl From<YearRecordRow> for YearRecordDto {
    fn from(row: YearRecordRow) -> Self {
        let (subject_type, subject_id) = match (row.person_id, row.organization_id) {
            (Some(person), _) => (SubjectType::Person, person),
            (None, Some(organization)) => (SubjectType::Organization, organization),
            (None, None) => (SubjectType::Organization, Uuid::nil()),
        };
        Self {
            subject_type,
            subject_id,
            year: row.year,
            completion_rating: row.completion_rating,
            initiative: row.initiative,
            discipline: row.discipline,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// The whole record of a year (PUT replaces it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutYearRecord {
    /// `null` until rated.
    pub completion_rating: Option<Rating>,
    /// The recognised initiative, in a few words; `null`: none.
    #[schema(max_length = 1000)]
    pub initiative: Option<String>,
    /// Default `none`.
    #[serde(default = "no_discipline")]
    pub discipline: Discipline,
}

fn no_discipline() -> Discipline {
    Discipline::None
}
