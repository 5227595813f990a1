//! Rows of council sessions, ballots, award decisions and awards.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Date, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::RevocationReason;
use crate::titles::rules::SubjectType;

#[derive(Debug, Clone, QueryableByName)]
pub struct SessionRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = Integer)]
    pub year: i32,
    #[diesel(sql_type = Date)]
    pub held_on: NaiveDate,
    #[diesel(sql_type = Integer)]
    pub members_total: i32,
    #[diesel(sql_type = Integer)]
    pub members_present: i32,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub path: String,
}

const SESSION_COLUMNS: &str = "s.id, s.organization_id, s.year, s.held_on, s.members_total, \
    s.members_present, s.created_at, o.path";

pub async fn insert_session(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    request: &super::dto::CreateSession,
    created_by: Option<Uuid>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO council_sessions (id, organization_id, year, held_on, members_total, \
         members_present, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(request.organization_id)
    .bind::<Integer, _>(request.year)
    .bind::<Date, _>(request.held_on)
    .bind::<Integer, _>(request.members_total)
    .bind::<Integer, _>(request.members_present)
    .bind::<Nullable<SqlUuid>, _>(created_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn session(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<SessionRow>> {
    diesel::sql_query(format!(
        "SELECT {SESSION_COLUMNS} FROM council_sessions s JOIN organizations o ON o.id = s.organization_id \
         WHERE s.id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .optional()
}

/// Sessions under the subtrees `patterns` (LIKE patterns; `None`: all), newest first.
pub async fn sessions(
    conn: &mut AsyncPgConnection,
    patterns: Option<Vec<String>>,
    within: Option<String>,
    year: Option<i32>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<SessionRow>> {
    let (after_at, after_id) = after.unzip();
    diesel::sql_query(format!(
        "SELECT {SESSION_COLUMNS} FROM council_sessions s JOIN organizations o ON o.id = s.organization_id \
         WHERE ($1::text[] IS NULL OR o.path LIKE ANY ($1)) AND ($2::text IS NULL OR o.path LIKE $2) \
           AND ($3::int IS NULL OR s.year = $3) \
           AND ($4::timestamptz IS NULL OR (s.created_at, s.id) < ($4, $5)) \
         ORDER BY s.created_at DESC, s.id DESC LIMIT $6"
    ))
    .bind::<Nullable<Array<Text>>, _>(patterns)
    .bind::<Nullable<Text>, _>(within)
    .bind::<Nullable<Integer>, _>(year)
    .bind::<Nullable<Timestamptz>, _>(after_at)
    .bind::<Nullable<SqlUuid>, _>(after_id)
    .bind::<BigInt, _>(limit + 1)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct BallotRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub person_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub organization_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub subject_name: String,
    #[diesel(sql_type = Text)]
    pub title_code: String,
    #[diesel(sql_type = Integer)]
    pub approve: i32,
    #[diesel(sql_type = Integer)]
    pub disapprove: i32,
    #[diesel(sql_type = Integer)]
    pub invalid: i32,
}

impl BallotRow {
    pub fn subject(&self) -> (SubjectType, Uuid) {
        match (self.person_id, self.organization_id) {
            (Some(person), _) => (SubjectType::Person, person),
            (None, organization) => (SubjectType::Organization, organization.unwrap_or_default()),
        }
    }
}

pub async fn ballots(conn: &mut AsyncPgConnection, session: Uuid) -> QueryResult<Vec<BallotRow>> {
    diesel::sql_query(
        "SELECT b.id, b.person_id, b.organization_id, coalesce(p.full_name, o.name) AS subject_name, \
                b.title_code, b.approve, b.disapprove, b.invalid \
         FROM ballots b LEFT JOIN persons p ON p.id = b.person_id \
         LEFT JOIN organizations o ON o.id = b.organization_id \
         WHERE b.session_id = $1 ORDER BY b.created_at, b.id",
    )
    .bind::<SqlUuid, _>(session)
    .load(conn)
    .await
}

pub struct NewBallot<'a> {
    pub session: Uuid,
    pub subject: (SubjectType, Uuid),
    pub title_code: &'a str,
    pub approve: i32,
    pub disapprove: i32,
    pub invalid: i32,
    pub created_by: Option<Uuid>,
}

pub async fn insert_ballot(conn: &mut AsyncPgConnection, ballot: NewBallot<'_>) -> QueryResult<()> {
    let (person, organization) = split(ballot.subject);
    diesel::sql_query(
        "INSERT INTO ballots (id, session_id, person_id, organization_id, title_code, approve, \
         disapprove, invalid, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(ballot.session)
    .bind::<Nullable<SqlUuid>, _>(person)
    .bind::<Nullable<SqlUuid>, _>(organization)
    .bind::<Text, _>(ballot.title_code)
    .bind::<Integer, _>(ballot.approve)
    .bind::<Integer, _>(ballot.disapprove)
    .bind::<Integer, _>(ballot.invalid)
    .bind::<Nullable<SqlUuid>, _>(ballot.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

fn split(subject: (SubjectType, Uuid)) -> (Option<Uuid>, Option<Uuid>) {
    match subject {
        (SubjectType::Person, id) => (Some(id), None),
        (SubjectType::Organization, id) => (None, Some(id)),
    }
}

/// Serializes the decisions of one issuer and year until the transaction ends: quotas and
/// "once a year" are checked against the decisions before, never beside.
pub async fn lock_issuer_year(
    conn: &mut AsyncPgConnection,
    issuer: Uuid,
    year: i32,
) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 7346))",
    )
    .bind::<SqlUuid, _>(issuer)
    .bind::<Integer, _>(year)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct CountRow {
    #[diesel(sql_type = Text)]
    pub title_code: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Unrevoked awards the issuer conferred in `year`, by title.
pub async fn issued_by_title(
    conn: &mut AsyncPgConnection,
    issuer: Uuid,
    year: i32,
) -> QueryResult<Vec<CountRow>> {
    diesel::sql_query(
        "SELECT title_code, count(*) AS count FROM awards \
         WHERE issuer_organization_id = $1 AND year = $2 AND revoked_at IS NULL GROUP BY title_code",
    )
    .bind::<SqlUuid, _>(issuer)
    .bind::<Integer, _>(year)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct HeldRow {
    #[diesel(sql_type = SqlUuid)]
    pub subject_id: Uuid,
    #[diesel(sql_type = Text)]
    pub title_code: String,
}

/// Which of `subjects` already hold a title of `year` (unrevoked).
pub async fn held(
    conn: &mut AsyncPgConnection,
    subjects: &[Uuid],
    year: i32,
) -> QueryResult<Vec<HeldRow>> {
    diesel::sql_query(
        "SELECT subject_id, title_code FROM awards WHERE subject_id = ANY ($1) AND year = $2 \
         AND revoked_at IS NULL",
    )
    .bind::<Array<SqlUuid>, _>(subjects)
    .bind::<Integer, _>(year)
    .load(conn)
    .await
}

pub struct NewDecision<'a> {
    pub id: Uuid,
    pub request: &'a super::dto::CreateDecision,
    pub year: i32,
    pub rule_set_id: Uuid,
    pub base_salary: i64,
    pub reward_total: i64,
    pub created_by: Option<Uuid>,
}

pub async fn insert_decision(
    conn: &mut AsyncPgConnection,
    new: &NewDecision<'_>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO award_decisions (id, issuer_organization_id, decision_no, year, decided_on, \
         signer_name, council_session_id, rule_set_id, base_salary, reward_total, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind::<SqlUuid, _>(new.id)
    .bind::<SqlUuid, _>(new.request.issuer_organization_id)
    .bind::<Text, _>(new.request.decision_no.trim())
    .bind::<Integer, _>(new.year)
    .bind::<Date, _>(new.request.decided_on)
    .bind::<Text, _>(new.request.signer_name.trim())
    .bind::<Nullable<SqlUuid>, _>(new.request.council_session_id)
    .bind::<SqlUuid, _>(new.rule_set_id)
    .bind::<BigInt, _>(new.base_salary)
    .bind::<BigInt, _>(new.reward_total)
    .bind::<Nullable<SqlUuid>, _>(new.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// One award of a decision: its subject, title and reward.
pub struct NewAward<'a> {
    pub subject: (SubjectType, Uuid),
    pub title_code: &'a str,
    pub reward_amount: i64,
}

/// Stores the awards of `decision` in one statement, in the order given: one round trip for the
/// decision's awards, and one upsert of their award tallies (their statement trigger), so the
/// rows shared with other writers (the common ancestors) are locked once, after every unit and
/// person the awards name was read (FOR SHARE, `r.place_at_subject`), and the transaction takes
/// no lock on the tree after them.
pub async fn insert_awards(
    conn: &mut AsyncPgConnection,
    decision: &NewDecision<'_>,
    awards: &[NewAward<'_>],
) -> QueryResult<()> {
    let ids: Vec<Uuid> = awards.iter().map(|_| Uuid::now_v7()).collect();
    let (persons, organizations): (Vec<Option<Uuid>>, Vec<Option<Uuid>>) =
        awards.iter().map(|award| split(award.subject)).unzip();
    let titles: Vec<&str> = awards.iter().map(|award| award.title_code).collect();
    let rewards: Vec<i64> = awards.iter().map(|award| award.reward_amount).collect();
    diesel::sql_query(
        "INSERT INTO awards (id, person_id, organization_id, title_code, year, rule_set_id, \
         issuer_organization_id, decision_no, decided_on, reward_amount, decision_id, created_by) \
         SELECT a.id, a.person_id, a.organization_id, a.title_code, $6, $7, $8, $9, $10, \
                a.reward_amount, $11, $12 \
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[]) \
              WITH ORDINALITY AS a (id, person_id, organization_id, title_code, reward_amount, n) \
         ORDER BY a.n",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Nullable<SqlUuid>>, _>(persons)
    .bind::<Array<Nullable<SqlUuid>>, _>(organizations)
    .bind::<Array<Text>, _>(titles)
    .bind::<Array<BigInt>, _>(rewards)
    .bind::<Integer, _>(decision.year)
    .bind::<SqlUuid, _>(decision.rule_set_id)
    .bind::<SqlUuid, _>(decision.request.issuer_organization_id)
    .bind::<Text, _>(decision.request.decision_no.trim())
    .bind::<Date, _>(decision.request.decided_on)
    .bind::<SqlUuid, _>(decision.id)
    .bind::<Nullable<SqlUuid>, _>(decision.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct DecisionRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub issuer_organization_id: Uuid,
    #[diesel(sql_type = Text)]
    pub decision_no: String,
    #[diesel(sql_type = Integer)]
    pub year: i32,
    #[diesel(sql_type = Date)]
    pub decided_on: NaiveDate,
    #[diesel(sql_type = Text)]
    pub signer_name: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub council_session_id: Option<Uuid>,
    #[diesel(sql_type = SqlUuid)]
    pub rule_set_id: Uuid,
    #[diesel(sql_type = Text)]
    pub rule_set_code: String,
    #[diesel(sql_type = BigInt)]
    pub base_salary: i64,
    #[diesel(sql_type = BigInt)]
    pub reward_total: i64,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub path: String,
}

const DECISION_COLUMNS: &str = "d.id, d.issuer_organization_id, d.decision_no, d.year, d.decided_on, \
    d.signer_name, d.council_session_id, d.rule_set_id, r.code AS rule_set_code, d.base_salary, d.reward_total, \
    d.created_at, o.path";

pub async fn decision(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<DecisionRow>> {
    diesel::sql_query(format!(
        "SELECT {DECISION_COLUMNS} FROM award_decisions d JOIN rule_sets r ON r.id = d.rule_set_id \
         JOIN organizations o ON o.id = d.issuer_organization_id WHERE d.id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .optional()
}

pub async fn decisions(
    conn: &mut AsyncPgConnection,
    patterns: Option<Vec<String>>,
    within: Option<String>,
    year: Option<i32>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<DecisionRow>> {
    let (after_at, after_id) = after.unzip();
    diesel::sql_query(format!(
        "SELECT {DECISION_COLUMNS} FROM award_decisions d JOIN rule_sets r ON r.id = d.rule_set_id \
         JOIN organizations o ON o.id = d.issuer_organization_id \
         WHERE ($1::text[] IS NULL OR o.path LIKE ANY ($1)) AND ($2::text IS NULL OR o.path LIKE $2) \
           AND ($3::int IS NULL OR d.year = $3) \
           AND ($4::timestamptz IS NULL OR (d.created_at, d.id) < ($4, $5)) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $6"
    ))
    .bind::<Nullable<Array<Text>>, _>(patterns)
    .bind::<Nullable<Text>, _>(within)
    .bind::<Nullable<Integer>, _>(year)
    .bind::<Nullable<Timestamptz>, _>(after_at)
    .bind::<Nullable<SqlUuid>, _>(after_id)
    .bind::<BigInt, _>(limit + 1)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct AwardRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub person_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub organization_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub subject_name: String,
    #[diesel(sql_type = Text)]
    pub title_code: String,
    #[diesel(sql_type = Integer)]
    pub year: i32,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub decision_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub decision_no: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    pub decided_on: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub issuer_organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub reward_amount: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub revocation_reason: Option<RevocationReason>,
    #[diesel(sql_type = Nullable<Text>)]
    pub revocation_note: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub recovery_amount: Option<i64>,
}

const AWARD_COLUMNS: &str = "a.id, a.person_id, a.organization_id, \
    coalesce(p.full_name, o.name) AS subject_name, a.title_code, a.year, a.decision_id, \
    a.decision_no, a.decided_on, a.issuer_organization_id, a.reward_amount, a.revoked_at, \
    a.revocation_reason, a.revocation_note, a.recovery_amount";
const AWARD_FROM: &str = "awards a LEFT JOIN persons p ON p.id = a.person_id \
    LEFT JOIN organizations o ON o.id = a.organization_id";

/// The awards of the decisions `ids`, in the order conferred.
pub async fn awards_of_decisions(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<AwardRow>> {
    diesel::sql_query(format!(
        "SELECT {AWARD_COLUMNS} FROM {AWARD_FROM} WHERE a.decision_id = ANY ($1) ORDER BY a.id"
    ))
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await
}

/// The awards of one subject, newest year first.
pub async fn awards_of_subject(
    conn: &mut AsyncPgConnection,
    subject: Uuid,
) -> QueryResult<Vec<AwardRow>> {
    diesel::sql_query(format!(
        "SELECT {AWARD_COLUMNS} FROM {AWARD_FROM} WHERE a.subject_id = $1 ORDER BY a.year DESC, a.id"
    ))
    .bind::<SqlUuid, _>(subject)
    .load(conn)
    .await
}

/// Revokes the held awards `ids` of `decision` (all when `None`); returns how many.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    decision: Uuid,
    ids: Option<&[Uuid]>,
    reason: RevocationReason,
    note: &str,
    revoked_by: Option<Uuid>,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE awards SET revoked_at = now(), revocation_reason = $3, revocation_note = $4, \
         recovery_amount = coalesce(reward_amount, 0), revoked_by = $5 \
         WHERE decision_id = $1 AND revoked_at IS NULL AND ($2::uuid[] IS NULL OR id = ANY ($2))",
    )
    .bind::<SqlUuid, _>(decision)
    .bind::<Nullable<Array<SqlUuid>>, _>(ids)
    .bind::<Text, _>(reason)
    .bind::<Text, _>(note)
    .bind::<Nullable<SqlUuid>, _>(revoked_by)
    .execute(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct StatRow {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub awards: i64,
    #[diesel(sql_type = BigInt)]
    pub reward_total: i64,
    #[diesel(sql_type = BigInt)]
    pub revoked: i64,
    #[diesel(sql_type = BigInt)]
    pub recovery_total: i64,
}

/// Awards placed inside the subtrees of the paths `roots` in `year` (every year when `None`),
/// grouped by `key_sql`, an expression over `t`, a row of `award_tallies` (its `title_code`
/// or `subject_type`).
///
/// Each root is one key range of the tallies (migration 2026-12-07-000400): a few rows per
/// title and year, however many awards lie below. Summing the awards themselves read all
/// 200 000 of the 10M data set at the root (188 ms). Nested roots are kept once.
pub async fn award_stats(
    conn: &mut AsyncPgConnection,
    roots: &[String],
    year: Option<i32>,
    key_sql: &str,
) -> QueryResult<Vec<StatRow>> {
    let roots = crate::auth::authorize::outermost_subtrees(roots.to_vec());
    diesel::sql_query(format!(
        "SELECT {key_sql} AS key, {STAT_SUMS} FROM award_tallies t \
         WHERE t.ancestor_path = ANY ($1) AND ($2::int IS NULL OR t.year = $2) \
         GROUP BY 1 HAVING {STAT_KEPT} ORDER BY 1"
    ))
    .bind::<Array<Text>, _>(roots)
    .bind::<Nullable<Integer>, _>(year)
    .load(conn)
    .await
}

/// The same grouped by the child holding the award: `subtrees` pairs each child's key with the
/// path of one subtree it answers for (its own, and those of ended units whose awards would
/// otherwise count under `self`), each inside `roots` and none inside another; what lies in
/// `roots` outside all of them is `self`, the total less the children's. The children's rows
/// and the total are read in one statement, so they agree (one snapshot).
pub async fn award_stats_by_child(
    conn: &mut AsyncPgConnection,
    roots: &[String],
    year: Option<i32>,
    subtrees: &[(String, String)],
) -> QueryResult<Vec<StatRow>> {
    let (children, paths): (Vec<&str>, Vec<&str>) = subtrees
        .iter()
        .map(|(child, path)| (child.as_str(), path.as_str()))
        .unzip();
    let roots = crate::auth::authorize::outermost_subtrees(roots.to_vec());
    // The total is keyed `self` (children are keyed by their ids), then less the children.
    let rows: Vec<StatRow> = diesel::sql_query(format!(
        "SELECT s.child AS key, {STAT_SUMS} \
         FROM unnest($1::text[], $2::text[]) AS s (child, path) \
         JOIN award_tallies t ON t.ancestor_path = s.path \
         WHERE $3::int IS NULL OR t.year = $3 \
         GROUP BY 1 HAVING {STAT_KEPT} \
         UNION ALL \
         SELECT 'self', {STAT_SUMS} FROM award_tallies t \
         WHERE t.ancestor_path = ANY ($4) AND ($3::int IS NULL OR t.year = $3) \
         HAVING {STAT_KEPT}"
    ))
    .bind::<Array<Text>, _>(children)
    .bind::<Array<Text>, _>(paths)
    .bind::<Nullable<Integer>, _>(year)
    .bind::<Array<Text>, _>(roots)
    .load(conn)
    .await?;
    let (total, mut rows): (Vec<StatRow>, Vec<StatRow>) =
        rows.into_iter().partition(|row| row.key == SELF);
    if let Some(mut own) = total.into_iter().next() {
        for row in &rows {
            own.awards -= row.awards;
            own.reward_total -= row.reward_total;
            own.revoked -= row.revoked;
            own.recovery_total -= row.recovery_total;
        }
        if own.awards != 0 || own.revoked != 0 {
            rows.push(own);
        }
    }
    Ok(rows)
}

/// The key of the unit's own awards in a grouping by child.
const SELF: &str = "self";

/// What `/stats/awards` sums per group, from the tallies' rows `t`.
const STAT_SUMS: &str = "sum(t.awards)::bigint AS awards, sum(t.reward_total)::bigint AS reward_total, \
    sum(t.revoked)::bigint AS revoked, sum(t.recovery_total)::bigint AS recovery_total";

/// A group is answered when it holds an award, in force or revoked (a tally row whose awards
/// all moved away stays, at zero).
const STAT_KEPT: &str = "sum(t.awards) <> 0 OR sum(t.revoked) <> 0";

#[derive(QueryableByName)]
struct AwardYear {
    #[diesel(sql_type = Integer)]
    year: i32,
}

/// The years that have awards, oldest first: a probe of `awards_path_idx` (year first) per
/// year, where `SELECT DISTINCT year` read the whole index (200 000 entries at 10M).
pub async fn award_years(conn: &mut AsyncPgConnection) -> QueryResult<Vec<i32>> {
    let years: Vec<AwardYear> = diesel::sql_query(
        "WITH RECURSIVE y (year) AS ( \
           SELECT min(year) FROM awards \
           UNION ALL \
           SELECT (SELECT min(a.year) FROM awards a WHERE a.year > y.year) FROM y WHERE y.year IS NOT NULL) \
         SELECT year FROM y WHERE year IS NOT NULL ORDER BY year",
    )
    .load(conn)
    .await?;
    Ok(years.into_iter().map(|row| row.year).collect())
}

/// What a commendation that cites an award checks (`nominations::service::check_citation`).
#[derive(Debug, Clone, QueryableByName)]
pub struct Citation {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub decision_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub issuer_organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub decision_no: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    pub decided_on: Option<NaiveDate>,
    #[diesel(sql_type = Integer)]
    pub year: i32,
    #[diesel(sql_type = Bool)]
    pub revoked: bool,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub organization_id: Option<Uuid>,
    /// A person's award whose name is the nomination's nominee name (case, diacritics and
    /// spacing ignored, as nominations compare names).
    #[diesel(sql_type = Bool)]
    pub person_named_as_nominee: bool,
    /// Another nomination that already cites the award.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub cited_by: Option<Uuid>,
}

/// The award `award` as the nomination `nomination` would cite it, share-locked.
pub async fn citation(
    conn: &mut AsyncPgConnection,
    award: Uuid,
    nomination: Uuid,
) -> QueryResult<Option<Citation>> {
    diesel::sql_query(
        "SELECT a.decision_id, a.issuer_organization_id, a.decision_no, a.decided_on, a.year, \
                a.revoked_at IS NOT NULL AS revoked, a.organization_id, \
                coalesce(search_fold(regexp_replace(btrim(p.full_name), '\\s+', ' ', 'g')) = n.nominee_key, false) \
                    AS person_named_as_nominee, \
                (SELECT c.id FROM nominations c WHERE c.award_id = a.id AND c.id <> n.id LIMIT 1) AS cited_by \
         FROM awards a LEFT JOIN persons p ON p.id = a.person_id CROSS JOIN nominations n \
         WHERE a.id = $1 AND n.id = $2 \
         FOR SHARE OF a",
    )
    .bind::<SqlUuid, _>(award)
    .bind::<SqlUuid, _>(nomination)
    .get_result(conn)
    .await
    .optional()
}

/// An award of a decision's list with the name of its subject's unit.
#[derive(Debug, Clone, QueryableByName)]
pub struct ListedAward {
    #[diesel(embed)]
    pub award: AwardRow,
    /// A person's unit (a collective is its own).
    #[diesel(sql_type = Nullable<Text>)]
    pub unit_name: Option<String>,
}

/// At most `limit` awards of `decision` after the award `after`, in the order conferred.
pub async fn decision_awards_page(
    conn: &mut AsyncPgConnection,
    decision: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<ListedAward>> {
    diesel::sql_query(format!(
        "SELECT {AWARD_COLUMNS}, u.name AS unit_name FROM {AWARD_FROM} \
         LEFT JOIN organizations u ON u.id = p.organization_id \
         WHERE a.decision_id = $1 AND ($2::uuid IS NULL OR a.id > $2) ORDER BY a.id LIMIT $3"
    ))
    .bind::<SqlUuid, _>(decision)
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}
