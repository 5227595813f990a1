//! Queries of nominations, reviews and exemplars.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{FollowingUnit, NominationFilter, NomineeType, Tally};
use super::model::{NominationRow, ReviewRow};
use super::state::NominationStatus;
use crate::db::schema::{nomination_reviews, nominations};
use crate::listing;
use crate::pledges::state::ExemplarRelation;

/// Most following units listed per exemplar.
pub const FOLLOWING_UNITS_MAX: i64 = 50;

crate::db::row_by_id!(nominations, NominationRow);

/// The nominee that a new or changed nomination names, for duplicate detection.
pub struct Nominee<'a> {
    pub nominating_organization_id: Uuid,
    pub campaign_id: Uuid,
    pub year: i32,
    pub nominee_type: NomineeType,
    pub nominee_name: &'a str,
    pub nominee_organization_id: Option<Uuid>,
    /// The nomination being edited, which does not duplicate itself.
    pub except: Option<Uuid>,
}

/// A live (neither rejected nor withdrawn) nomination of the same nominee by the same unit
/// for the same campaign year: same folded name, or (collectives) same organization. The
/// folding is the one of the generated `nominee_key` column, so both agree exactly.
pub async fn live_duplicate(
    conn: &mut AsyncPgConnection,
    nominee: &Nominee<'_>,
) -> QueryResult<Option<Uuid>> {
    let mut statement = nominations::table
        .filter(nominations::nominating_organization_id.eq(nominee.nominating_organization_id))
        .filter(nominations::campaign_id.eq(nominee.campaign_id))
        .filter(nominations::year.eq(nominee.year))
        .filter(
            nominations::status.ne_all([NominationStatus::Rejected, NominationStatus::Withdrawn]),
        )
        .select(nominations::id)
        .into_boxed();
    let same_name = sql::<Bool>("nominee_key = search_fold(regexp_replace(btrim(")
        .bind::<Text, _>(nominee.nominee_name.to_owned())
        .sql("), '\\s+', ' ', 'g'))");
    statement = match (nominee.nominee_type, nominee.nominee_organization_id) {
        (NomineeType::Collective, Some(organization_id)) => statement.filter(
            same_name.or(nominations::nominee_type
                .eq(NomineeType::Collective)
                .and(nominations::nominee_organization_id.eq(organization_id))),
        ),
        _ => statement.filter(same_name),
    };
    if let Some(except) = nominee.except {
        statement = statement.filter(nominations::id.ne(except));
    }
    statement.first(conn).await.optional()
}

/// The documented sort keys.
pub const SORT_KEYS: [&str; 2] = ["created_at", "updated_at"];

/// A validated list query.
pub type ListQuery = listing::Query<NominationFilter>;

listing::scoped_filter!(NominationFilter, SORT_KEYS);

/// One page (`limit + 1` rows, for the cursor) of the nominations `query` selects.
pub async fn list(
    conn: &mut AsyncPgConnection,
    query: &ListQuery,
) -> QueryResult<Vec<NominationRow>> {
    // A deferred join, as for pledges: the page's ids come from the path index, then only
    // those rows are read.
    let mut statement = nominations::table.select(nominations::id).into_boxed();
    for condition in query
        .scope
        .conditions("nominations", "nominating_organization_id")
    {
        statement = statement.filter(condition);
    }
    if let Some(year) = query.filter.year {
        statement = statement.filter(nominations::year.eq(year));
    }
    if let Some(status) = query.filter.status {
        statement = statement.filter(nominations::status.eq(status));
    }
    if let Some(nominee_type) = query.filter.nominee_type {
        statement = statement.filter(nominations::nominee_type.eq(nominee_type));
    }
    if let Some(field) = &query.filter.field {
        statement = statement.filter(nominations::field.eq(field.clone()));
    }
    for word in crate::text::search_words(query.filter.q.as_deref().unwrap_or_default()) {
        statement = statement.filter(
            sql::<Bool>("nominations.search_text LIKE '%' || search_fold(")
                .bind::<Text, _>(word)
                .sql(") || '%'"),
        );
    }
    if let Some(since) = query.filter.updated_since {
        statement = statement.filter(nominations::updated_at.gt(since));
    }
    let order = query.scope.order("nominations");
    let page = statement.order(order.clone()).limit(query.scope.limit + 1);
    nominations::table
        .select(NominationRow::as_select())
        .filter(nominations::id.eq_any(page))
        .order(order)
        .load(conn)
        .await
}

/// Every review of a nomination, oldest first (one per reviewer, so few).
pub async fn reviews_of(
    conn: &mut AsyncPgConnection,
    nomination_id: Uuid,
) -> QueryResult<Vec<ReviewRow>> {
    nomination_reviews::table
        .filter(nomination_reviews::nomination_id.eq(nomination_id))
        .select(ReviewRow::as_select())
        .order((
            nomination_reviews::created_at.asc(),
            nomination_reviews::id.asc(),
        ))
        .load(conn)
        .await
}

pub async fn has_reviewed(
    conn: &mut AsyncPgConnection,
    nomination_id: Uuid,
    reviewer_id: Uuid,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        nomination_reviews::table
            .filter(nomination_reviews::nomination_id.eq(nomination_id))
            .filter(nomination_reviews::reviewer_id.eq(reviewer_id)),
    ))
    .get_result(conn)
    .await
}

pub async fn tally(conn: &mut AsyncPgConnection, nomination_id: Uuid) -> QueryResult<Tally> {
    let counts: Vec<(String, i64)> = nomination_reviews::table
        .filter(nomination_reviews::nomination_id.eq(nomination_id))
        .group_by(nomination_reviews::decision)
        .select((nomination_reviews::decision, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    let mut tally = Tally::default();
    for (decision, count) in counts {
        match decision.as_str() {
            "endorse" => tally.endorse = count,
            "oppose" => tally.oppose = count,
            _ => tally.abstain = count,
        }
    }
    Ok(tally)
}

/// Position of the last exemplar of a page.
pub type ExemplarPosition = (DateTime<Utc>, Uuid);

/// A validated exemplar query.
#[derive(Debug, Clone)]
pub struct ExemplarQuery {
    pub campaign_id: Option<Uuid>,
    pub subtree_path: Option<String>,
    pub field: Option<String>,
    pub after: Option<ExemplarPosition>,
    pub limit: i64,
}

/// Recognized and commended nominations, most recently recognized first (`limit + 1` rows).
/// Not restricted to a subtree: exemplars exist to be learned from.
pub async fn exemplars(
    conn: &mut AsyncPgConnection,
    query: &ExemplarQuery,
) -> QueryResult<Vec<NominationRow>> {
    let mut statement = nominations::table
        .select(NominationRow::as_select())
        // The domain predicate, not its values as a bound array: the partial indexes of
        // exemplars (migration 000500) spell the same list, and only an inlined predicate
        // proves them usable in a generic plan of the prepared statement (239 ms → 0.3 ms at
        // the root of the 1M benchmark set under plan_cache_mode = force_generic_plan).
        .filter(sql::<Bool>("r.nomination_is_exemplar(nominations.status)"))
        .into_boxed();
    if let Some(campaign_id) = query.campaign_id {
        statement = statement.filter(nominations::campaign_id.eq(campaign_id));
    }
    if let Some(path) = &query.subtree_path {
        // The partial indexes `(path_head(organization_path, n), recognized_at DESC, id DESC)`
        // give a subtree's exemplars in order (migration 000500).
        statement = statement.filter(listing::subtree_condition("nominations", path));
    }
    if let Some(field) = &query.field {
        statement = statement.filter(nominations::field.eq(field.clone()));
    }
    if let Some((at, id)) = query.after {
        statement = statement.filter(
            sql::<Bool>("(nominations.recognized_at, nominations.id) < (")
                .bind::<Timestamptz, _>(at)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    statement
        .order((nominations::recognized_at.desc(), nominations::id.desc()))
        .limit(query.limit + 1)
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct FollowerCount {
    #[diesel(sql_type = SqlUuid)]
    exemplar_id: Uuid,
    #[diesel(sql_type = BigInt)]
    followers: i64,
}

#[derive(QueryableByName)]
struct FollowerUnit {
    #[diesel(sql_type = SqlUuid)]
    exemplar_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
    #[diesel(sql_type = Text)]
    organization_name: String,
    #[diesel(sql_type = Text)]
    relation: ExemplarRelation,
}

/// Followers of each exemplar in `ids`: the number of pledges (not withdrawn) naming it and
/// their distinct (unit, relation) pairs, at most [`FOLLOWING_UNITS_MAX`] each.
pub async fn followers(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<std::collections::HashMap<Uuid, (i64, Vec<FollowingUnit>)>> {
    let mut result: std::collections::HashMap<Uuid, (i64, Vec<FollowingUnit>)> =
        ids.iter().map(|id| (*id, (0, Vec::new()))).collect();
    if ids.is_empty() {
        return Ok(result);
    }
    let counts: Vec<FollowerCount> = diesel::sql_query(
        "SELECT exemplar_id, count(*) AS followers FROM pledges \
         WHERE exemplar_id = ANY($1) AND status <> 'withdrawn' GROUP BY exemplar_id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await?;
    for count in counts {
        if let Some(entry) = result.get_mut(&count.exemplar_id) {
            entry.0 = count.followers;
        }
    }
    let units: Vec<FollowerUnit> = diesel::sql_query(
        "SELECT exemplar_id, organization_id, organization_name, relation FROM ( \
             SELECT f.*, row_number() OVER (PARTITION BY f.exemplar_id \
                 ORDER BY f.organization_name, f.organization_id, f.relation) AS n \
             FROM (SELECT DISTINCT p.exemplar_id, p.organization_id, o.name AS organization_name, \
                          p.exemplar_relation AS relation \
                   FROM pledges p JOIN organizations o ON o.id = p.organization_id \
                   WHERE p.exemplar_id = ANY($1) AND p.status <> 'withdrawn') f \
         ) ranked WHERE n <= $2 ORDER BY exemplar_id, n",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Integer, _>(i32::try_from(FOLLOWING_UNITS_MAX).unwrap_or(50))
    .load(conn)
    .await?;
    for unit in units {
        if let Some(entry) = result.get_mut(&unit.exemplar_id) {
            entry.1.push(FollowingUnit {
                organization_id: unit.organization_id,
                organization_name: unit.organization_name,
                relation: unit.relation,
            });
        }
    }
    Ok(result)
}
