//! Diesel rows of persons and year records.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::dto::Gender;
use crate::db::schema::{persons, year_records};
use crate::titles::rules::{Discipline, Rating};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = persons)]
pub struct PersonRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub full_name: String,
    pub position: Option<String>,
    pub gender: Option<Gender>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = year_records)]
pub struct YearRecordRow {
    pub person_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub year: i32,
    pub completion_rating: Option<Rating>,
    pub initiative: Option<String>,
    pub discipline: Discipline,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}
