//! Rows of persons and of the year records of persons and organizations.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::Gender;
use super::model::{PersonRow, YearRecordRow};
use crate::db::schema::{organizations, persons, year_records};
use crate::titles::rules::{Discipline, Rating, SubjectType};

/// A person with the materialized path of their unit (for the policy).
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<(PersonRow, String)>> {
    persons::table
        .inner_join(organizations::table)
        .filter(persons::id.eq(id))
        .select((PersonRow::as_select(), organizations::path))
        .first(conn)
        .await
        .optional()
}

/// [`find`], locking the person for the rest of the transaction.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<(PersonRow, String)>> {
    let Some(row) = persons::table
        .find(id)
        .select(PersonRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let path = crate::organizations::repo::path_of(conn, row.organization_id).await?;
    Ok(path.map(|path| (row, path)))
}

pub struct NewPerson<'a> {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub full_name: &'a str,
    pub position: Option<&'a str>,
    pub gender: Option<Gender>,
    pub created_by: Option<Uuid>,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: NewPerson<'_>) -> QueryResult<PersonRow> {
    diesel::insert_into(persons::table)
        .values((
            persons::id.eq(new.id),
            persons::organization_id.eq(new.organization_id),
            persons::full_name.eq(new.full_name),
            persons::position.eq(new.position),
            persons::gender.eq(new.gender),
            persons::created_by.eq(new.created_by),
        ))
        .returning(PersonRow::as_returning())
        .get_result(conn)
        .await
}

/// The members of a merge patch, already checked.
#[derive(Default, AsChangeset)]
#[diesel(table_name = persons)]
pub struct PersonChanges {
    pub organization_id: Option<Uuid>,
    pub full_name: Option<String>,
    pub position: Option<Option<String>>,
    pub gender: Option<Option<Gender>>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &PersonChanges,
) -> QueryResult<PersonRow> {
    diesel::update(persons::table.find(id))
        .set((
            changes,
            persons::version.eq(persons::version + 1),
            persons::updated_at.eq(diesel::dsl::now),
        ))
        .returning(PersonRow::as_returning())
        .get_result(conn)
        .await
}

/// What `GET /persons` selects.
pub struct ListQuery {
    /// `None`: everything (admins); else materialized paths of the subtrees the caller sees.
    pub visible: Option<Vec<String>>,
    /// Only this unit.
    pub organization_id: Option<Uuid>,
    /// Only this subtree (a materialized path).
    pub within: Option<String>,
    pub q: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Persons in id order (creation order), `limit + 1` rows.
///
/// A person carries its unit's path (migration 2026-12-07-000200), so a subtree is one
/// equality on the subtree's head index down to a commune: the page is the first rows of
/// that index, whatever the subtree's size (`listing::subtree_condition`).
pub async fn list(conn: &mut AsyncPgConnection, query: ListQuery) -> QueryResult<Vec<PersonRow>> {
    let mut statement = persons::table
        .select(PersonRow::as_select())
        .order(persons::id)
        .limit(query.limit + 1)
        .into_boxed();
    if let Some(visible) = &query.visible {
        let patterns: Vec<String> = visible
            .iter()
            .map(|path| format!("{}%", crate::text::like_escape(path)))
            .collect();
        statement = statement.filter(
            sql::<Bool>("persons.organization_path LIKE ANY (")
                .bind::<diesel::sql_types::Array<Text>, _>(patterns)
                .sql(")"),
        );
    }
    if let Some(within) = &query.within {
        statement = statement.filter(crate::listing::subtree_condition("persons", within));
    }
    if let Some(organization_id) = query.organization_id {
        statement = statement.filter(persons::organization_id.eq(organization_id));
    }
    for word in crate::text::search_words(query.q.as_deref().unwrap_or_default()) {
        statement = statement.filter(
            sql::<Bool>("persons.search_text LIKE '%' || search_fold(")
                .bind::<Text, _>(word)
                .sql(") || '%'"),
        );
    }
    if let Some(after) = query.after {
        statement = statement.filter(persons::id.gt(after));
    }
    statement.load(conn).await
}

/// The record of `subject` in `year`.
pub async fn year_record(
    conn: &mut AsyncPgConnection,
    subject_id: Uuid,
    year: i32,
) -> QueryResult<Option<YearRecordRow>> {
    year_records::table
        .filter(year_records::subject_id.eq(subject_id))
        .filter(year_records::year.eq(year))
        .select(YearRecordRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The record as it stands after the write.
pub struct RecordWrite<'a> {
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    pub year: i32,
    pub completion_rating: Option<Rating>,
    pub initiative: Option<&'a str>,
    pub discipline: Discipline,
    pub updated_by: Option<Uuid>,
}

/// Inserts or replaces the record of a year.
pub async fn put_year_record(
    conn: &mut AsyncPgConnection,
    write: RecordWrite<'_>,
) -> QueryResult<YearRecordRow> {
    let (person_id, organization_id) = match write.subject_type {
        SubjectType::Person => (Some(write.subject_id), None),
        SubjectType::Organization => (None, Some(write.subject_id)),
    };
    diesel::insert_into(year_records::table)
        .values((
            year_records::person_id.eq(person_id),
            year_records::organization_id.eq(organization_id),
            year_records::year.eq(write.year),
            year_records::completion_rating.eq(write.completion_rating),
            year_records::initiative.eq(write.initiative),
            year_records::discipline.eq(write.discipline),
            year_records::updated_by.eq(write.updated_by),
        ))
        .on_conflict((year_records::subject_id, year_records::year))
        .do_update()
        .set((
            year_records::completion_rating.eq(write.completion_rating),
            year_records::initiative.eq(write.initiative),
            year_records::discipline.eq(write.discipline),
            year_records::updated_by.eq(write.updated_by),
            year_records::updated_at.eq(diesel::dsl::now),
            year_records::version.eq(year_records::version + 1),
        ))
        .returning(YearRecordRow::as_returning())
        .get_result(conn)
        .await
}
