//! Rows of rule sets, base salaries, title registrations and awards, and the batched reads
//! the evaluator's facts come from.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::rules::{Discipline, Rating, SubjectType};
use crate::db::schema::{base_salaries, rule_sets, title_registrations};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rule_sets)]
pub struct RuleSetRow {
    pub id: Uuid,
    pub code: String,
    pub version: i32,
    pub name: String,
    pub legal_basis: Vec<Option<String>>,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub titles: serde_json::Value,
    pub notes: Option<String>,
    pub current: bool,
    pub supersedes: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Current rule sets (with `superseded`, every version), oldest first; `on`: the one in force
/// that day.
pub async fn rule_sets(
    conn: &mut AsyncPgConnection,
    on: Option<NaiveDate>,
    superseded: bool,
) -> QueryResult<Vec<RuleSetRow>> {
    let mut statement = rule_sets::table
        .select(RuleSetRow::as_select())
        .order((
            rule_sets::effective_from,
            rule_sets::code,
            rule_sets::version,
        ))
        .into_boxed();
    if !superseded {
        statement = statement.filter(rule_sets::current);
    }
    if let Some(day) = on {
        statement = statement.filter(rule_sets::effective_from.le(day)).filter(
            rule_sets::effective_to
                .is_null()
                .or(rule_sets::effective_to.ge(day)),
        );
    }
    statement.load(conn).await
}

/// The current rule set in force on `day`.
pub async fn rule_set_on(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
) -> QueryResult<Option<RuleSetRow>> {
    Ok(rule_sets(conn, Some(day), false).await?.into_iter().next())
}

pub async fn rule_set(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<RuleSetRow>> {
    rule_sets::table
        .find(id)
        .select(RuleSetRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The current version of `code`, locked.
pub async fn current_version_for_update(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> QueryResult<Option<RuleSetRow>> {
    rule_sets::table
        .filter(rule_sets::code.eq(code))
        .filter(rule_sets::current)
        .select(RuleSetRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The newest version number of `code` (0: none).
pub async fn newest_version(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<i32> {
    let newest: Option<i32> = rule_sets::table
        .filter(rule_sets::code.eq(code))
        .select(diesel::dsl::max(rule_sets::version))
        .first(conn)
        .await?;
    Ok(newest.unwrap_or(0))
}

/// Whether an award was conferred under the rule set `id`.
pub async fn rule_set_used(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    use crate::db::schema::awards;
    diesel::select(diesel::dsl::exists(
        awards::table.filter(awards::rule_set_id.eq(id)),
    ))
    .get_result(conn)
    .await
}

pub async fn supersede(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(rule_sets::table.find(id))
        .set(rule_sets::current.eq(false))
        .execute(conn)
        .await?;
    Ok(())
}

pub struct NewRuleSet<'a> {
    pub id: Uuid,
    pub version: i32,
    pub content: &'a super::rules::RuleSetContent,
    pub supersedes: Option<Uuid>,
    pub created_by: Option<Uuid>,
}

pub async fn insert_rule_set(
    conn: &mut AsyncPgConnection,
    new: NewRuleSet<'_>,
) -> QueryResult<RuleSetRow> {
    let content = new.content;
    diesel::insert_into(rule_sets::table)
        .values((
            rule_sets::id.eq(new.id),
            rule_sets::code.eq(&content.code),
            rule_sets::version.eq(new.version),
            rule_sets::name.eq(content.name.trim()),
            rule_sets::legal_basis.eq(&content.legal_basis),
            rule_sets::effective_from.eq(content.effective_from),
            rule_sets::effective_to.eq(content.effective_to),
            rule_sets::titles.eq(serde_json::to_value(&content.titles).unwrap_or_default()),
            rule_sets::notes.eq(content.notes.as_deref()),
            rule_sets::supersedes.eq(new.supersedes),
            rule_sets::created_by.eq(new.created_by),
        ))
        .returning(RuleSetRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = base_salaries)]
pub struct BaseSalaryRow {
    pub effective_from: NaiveDate,
    pub amount: i64,
    pub legal_basis: String,
    pub created_at: DateTime<Utc>,
}

pub async fn base_salaries(conn: &mut AsyncPgConnection) -> QueryResult<Vec<BaseSalaryRow>> {
    base_salaries::table
        .select(BaseSalaryRow::as_select())
        .order(base_salaries::effective_from)
        .load(conn)
        .await
}

pub async fn insert_base_salary(
    conn: &mut AsyncPgConnection,
    effective_from: NaiveDate,
    amount: i64,
    legal_basis: &str,
    created_by: Option<Uuid>,
) -> QueryResult<BaseSalaryRow> {
    diesel::insert_into(base_salaries::table)
        .values((
            base_salaries::effective_from.eq(effective_from),
            base_salaries::amount.eq(amount),
            base_salaries::legal_basis.eq(legal_basis),
            base_salaries::created_by.eq(created_by),
        ))
        .returning(BaseSalaryRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = title_registrations)]
pub struct RegistrationRow {
    pub id: Uuid,
    pub person_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub title_code: String,
    pub year: i32,
    pub created_at: DateTime<Utc>,
}

impl RegistrationRow {
    pub fn subject(&self) -> (SubjectType, Uuid) {
        match (self.person_id, self.organization_id) {
            (Some(person), _) => (SubjectType::Person, person),
            (None, organization) => (SubjectType::Organization, organization.unwrap_or_default()),
        }
    }
}

pub async fn insert_registration(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    subject: (SubjectType, Uuid),
    title_code: &str,
    year: i32,
    created_by: Option<Uuid>,
) -> QueryResult<RegistrationRow> {
    let (person_id, organization_id) = match subject {
        (SubjectType::Person, id) => (Some(id), None),
        (SubjectType::Organization, id) => (None, Some(id)),
    };
    diesel::insert_into(title_registrations::table)
        .values((
            title_registrations::id.eq(id),
            title_registrations::person_id.eq(person_id),
            title_registrations::organization_id.eq(organization_id),
            title_registrations::title_code.eq(title_code),
            title_registrations::year.eq(year),
            title_registrations::created_by.eq(created_by),
        ))
        .returning(RegistrationRow::as_returning())
        .get_result(conn)
        .await
}

/// What `GET /title-registrations` and the candidates select.
#[derive(Debug, Default)]
pub struct RegistrationQuery {
    /// `None`: everything; else the subtrees (materialized paths) the caller sees.
    pub visible: Option<Vec<String>>,
    /// Subjects of this unit only (its persons and itself).
    pub organization_id: Option<Uuid>,
    /// Subjects of this subtree.
    pub within: Option<String>,
    pub subject_id: Option<Uuid>,
    pub title_code: Option<String>,
    pub year: Option<i32>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Registrations in id order, `limit + 1` rows; a subject's unit is a person's unit or the
/// organization itself.
pub async fn registrations(
    conn: &mut AsyncPgConnection,
    query: &RegistrationQuery,
) -> QueryResult<Vec<RegistrationRow>> {
    let mut statement = title_registrations::table
        .select(RegistrationRow::as_select())
        .order(title_registrations::id)
        .limit(query.limit + 1)
        .into_boxed();
    if let Some(title_code) = &query.title_code {
        statement = statement.filter(title_registrations::title_code.eq(title_code.clone()));
    }
    if let Some(year) = query.year {
        statement = statement.filter(title_registrations::year.eq(year));
    }
    if let Some(subject_id) = query.subject_id {
        statement = statement.filter(title_registrations::subject_id.eq(subject_id));
    }
    if let Some(visible) = &query.visible {
        let patterns: Vec<String> = visible
            .iter()
            .map(|path| format!("{}%", crate::text::like_escape(path)))
            .collect();
        statement = statement.filter(
            sql::<Bool>("title_registrations.organization_path LIKE ANY (")
                .bind::<Array<Text>, _>(patterns)
                .sql(")"),
        );
    }
    if let Some(within) = &query.within {
        // The subtree's head index (migration 2026-12-07-000200) gives a title's registrations
        // of a year in id order: a batch reads its own rows, not the subtree's.
        statement = statement.filter(crate::listing::subtree_condition(
            "title_registrations",
            within,
        ));
    }
    if let Some(organization_id) = query.organization_id {
        statement = statement.filter(
            title_registrations::organization_id
                .eq(organization_id)
                .or(sql::<Bool>(
                "title_registrations.person_id IN (SELECT id FROM persons WHERE organization_id = ",
            )
            .bind::<SqlUuid, _>(organization_id)
            .sql(")")),
        );
    }
    if let Some(after) = query.after {
        statement = statement.filter(title_registrations::id.gt(after));
    }
    statement.load(conn).await
}

/// A subject's name and unit.
#[derive(Debug, Clone, QueryableByName)]
pub struct SubjectRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    /// A person's unit; an organization's own id.
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
}

/// The subjects `ids` (persons or organizations), with their unit's path.
///
/// This and the fact readers below take a shared connection, so that `service::load` can send
/// them together (diesel-async pipelines futures polled together on one connection).
pub async fn subjects(
    conn: &AsyncPgConnection,
    subject_type: SubjectType,
    ids: &[Uuid],
) -> QueryResult<Vec<SubjectRow>> {
    let statement = match subject_type {
        SubjectType::Person => {
            "SELECT p.id, p.full_name AS name, p.organization_id, o.path, o.kind \
             FROM persons p JOIN organizations o ON o.id = p.organization_id WHERE p.id = ANY ($1)"
        }
        SubjectType::Organization => {
            "SELECT o.id, o.name, o.id AS organization_id, o.path, o.kind \
             FROM organizations o WHERE o.id = ANY ($1)"
        }
    };
    diesel::sql_query(statement)
        .bind::<Array<SqlUuid>, _>(ids)
        .load(&mut &*conn)
        .await
}

/// The members of the units `ids`: their persons.
pub async fn members(conn: &AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<SubjectRow>> {
    diesel::sql_query(
        "SELECT p.id, p.full_name AS name, p.organization_id, o.path, o.kind \
         FROM persons p JOIN organizations o ON o.id = p.organization_id \
         WHERE p.organization_id = ANY ($1) ORDER BY p.organization_id, p.id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(&mut &*conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct RecordFact {
    #[diesel(sql_type = SqlUuid)]
    pub subject_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub completion_rating: Option<Rating>,
    #[diesel(sql_type = Nullable<Text>)]
    pub initiative: Option<String>,
    #[diesel(sql_type = Text)]
    pub discipline: Discipline,
}

/// The records of `year` of the subjects `ids`.
pub async fn records(
    conn: &AsyncPgConnection,
    ids: &[Uuid],
    year: i32,
) -> QueryResult<Vec<RecordFact>> {
    diesel::sql_query(
        "SELECT subject_id, completion_rating, initiative, discipline FROM year_records \
         WHERE subject_id = ANY ($1) AND year = $2",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Integer, _>(year)
    .load(&mut &*conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct TitleFact {
    #[diesel(sql_type = SqlUuid)]
    pub subject_id: Uuid,
    #[diesel(sql_type = Text)]
    pub title_code: String,
    #[diesel(sql_type = Integer)]
    pub year: i32,
}

/// The titles the subjects `ids` registered in `year`.
pub async fn registered(
    conn: &AsyncPgConnection,
    ids: &[Uuid],
    year: i32,
) -> QueryResult<Vec<TitleFact>> {
    diesel::sql_query(
        "SELECT subject_id, title_code, year FROM title_registrations \
         WHERE subject_id = ANY ($1) AND year = $2",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Integer, _>(year)
    .load(&mut &*conn)
    .await
}

/// The unrevoked awards of the subjects `ids` in `first..=last`.
pub async fn awarded(
    conn: &AsyncPgConnection,
    ids: &[Uuid],
    first: i32,
    last: i32,
) -> QueryResult<Vec<TitleFact>> {
    diesel::sql_query(
        "SELECT subject_id, title_code, year FROM awards \
         WHERE subject_id = ANY ($1) AND year BETWEEN $2 AND $3 AND revoked_at IS NULL",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Integer, _>(first)
    .bind::<Integer, _>(last)
    .load(&mut &*conn)
    .await
}

/// An award recorded from a decision made outside the service (a paper decision of an
/// earlier year), for the years before the service decided them.
pub struct RecordedAward<'a> {
    pub subject: (SubjectType, Uuid),
    pub title_code: &'a str,
    pub year: i32,
    pub issuer_organization_id: Option<Uuid>,
    pub decision_no: Option<&'a str>,
    pub decided_on: Option<NaiveDate>,
    pub created_by: Option<Uuid>,
}

pub async fn record_award(
    conn: &mut AsyncPgConnection,
    award: RecordedAward<'_>,
) -> QueryResult<Uuid> {
    use crate::db::schema::awards;
    let (person_id, organization_id) = match award.subject {
        (SubjectType::Person, id) => (Some(id), None),
        (SubjectType::Organization, id) => (None, Some(id)),
    };
    let id = Uuid::now_v7();
    diesel::insert_into(awards::table)
        .values((
            awards::id.eq(id),
            awards::person_id.eq(person_id),
            awards::organization_id.eq(organization_id),
            awards::title_code.eq(award.title_code),
            awards::year.eq(award.year),
            awards::issuer_organization_id.eq(award.issuer_organization_id),
            awards::decision_no.eq(award.decision_no),
            awards::decided_on.eq(award.decided_on),
            awards::created_by.eq(award.created_by),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}
