//! Aggregate queries over a subtree's pledges and nominations. Each query is one statement
//! bounded by the materialized-path prefix of the subtree (an index range), never a tree walk.
//! Status rules are the predicates of the replaceable schema (`r.pledge_is_registered`, …,
//! `src/db/replaceable.sql`), inlined by the planner, never lists spelled out here.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::text::like_escape;

/// The subtree, campaign and year an aggregate covers.
#[derive(Debug, Clone)]
pub struct Window {
    pub root_path: String,
    pub campaign_id: Option<Uuid>,
    pub year: Option<i32>,
    pub today: NaiveDate,
}

impl Window {
    fn prefix(&self) -> String {
        format!("{}%", like_escape(&self.root_path))
    }
}

/// Group counts of pledges.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct PledgeCounts {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub registered: i64,
    #[diesel(sql_type = BigInt)]
    pub assessed: i64,
    #[diesel(sql_type = BigInt)]
    pub achieved: i64,
    #[diesel(sql_type = BigInt)]
    pub overdue: i64,
}

/// SQL expression of a pledge grouping (over `pledges p` joined to `organizations o`).
/// `$5` is the root path, so `child` is the path of the direct child holding the pledge.
pub fn pledge_key_sql(grouping: &str) -> &'static str {
    match grouping {
        "result" => "coalesce(p.result, 'none')",
        "field" => "p.field",
        "kind" => "p.kind",
        "organization_kind" => "o.kind",
        "month" => "to_char(p.deadline, 'YYYY-MM')",
        "child" => {
            "CASE WHEN p.organization_path = $5 THEN 'self' ELSE \
             $5 || split_part(substr(p.organization_path, length($5) + 1), '.', 1) || '.' END"
        }
        _ => "p.status",
    }
}

/// Pledge counts grouped by `grouping` (see [`pledge_key_sql`]).
pub async fn pledge_counts(
    conn: &mut AsyncPgConnection,
    window: &Window,
    grouping: &str,
) -> QueryResult<Vec<PledgeCounts>> {
    let join = if grouping == "organization_kind" {
        "JOIN organizations o ON o.id = p.organization_id"
    } else {
        ""
    };
    let statement = format!(
        "SELECT {key} AS key, count(*) AS total, \
           count(*) FILTER (WHERE r.pledge_is_registered(p.status)) AS registered, \
           count(*) FILTER (WHERE p.status = 'assessed') AS assessed, \
           count(*) FILTER (WHERE r.pledge_is_achieved(p.result)) AS achieved, \
           count(*) FILTER (WHERE p.deadline < $4 AND r.pledge_is_open(p.status)) AS overdue \
         FROM pledges p {join} \
         WHERE p.organization_path LIKE $1 AND ($2::uuid IS NULL OR p.campaign_id = $2) \
           AND ($3::int IS NULL OR p.year = $3) AND length($5) > 0 \
         GROUP BY 1 ORDER BY 1",
        key = pledge_key_sql(grouping),
    );
    diesel::sql_query(statement)
        .bind::<Text, _>(window.prefix())
        .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
        .bind::<Nullable<Integer>, _>(window.year)
        .bind::<Date, _>(window.today)
        .bind::<Text, _>(&window.root_path)
        .load(conn)
        .await
}

/// An organization as aggregates list it.
#[derive(Debug, Clone, QueryableByName)]
pub struct UnitRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub path: String,
}

/// Where a page of `/stats/coverage` units starts: after this (registered, unit name, unit id).
pub type CoveragePosition = (bool, String, Uuid);

/// The totals of today's coverage and, unless the page is empty, one unit of its page.
#[derive(Debug, Clone, QueryableByName)]
pub struct CoveragePageRow {
    #[diesel(sql_type = BigInt)]
    pub expected: i64,
    #[diesel(sql_type = BigInt)]
    pub registered: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub kind: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub pledge_count: Option<i64>,
}

/// Coverage on today's structure in one statement: the expected units (direct active
/// children, or all active descendants of `kind`) with their registered pledges, the totals over all of them, and `limit`
/// of them after `after`, those that did not register first, then by name and id. Always at
/// least one row, which carries the totals.
pub async fn coverage_page(
    conn: &mut AsyncPgConnection,
    root_id: Uuid,
    window: &Window,
    kind: Option<&str>,
    after: Option<&CoveragePosition>,
    limit: i64,
) -> QueryResult<Vec<CoveragePageRow>> {
    let expected = match kind {
        None => "o.parent_id = $1 AND o.active",
        Some(_) => "o.path LIKE $3 AND o.path <> $4 AND o.kind = $2 AND o.active",
    };
    let statement = format!(
        "WITH units AS MATERIALIZED ( \
           SELECT o.id, o.name, o.kind, \
             (SELECT count(*) FROM pledges p WHERE p.organization_id = o.id \
                AND r.pledge_is_registered(p.status) \
                AND ($5::uuid IS NULL OR p.campaign_id = $5) \
                AND ($6::int IS NULL OR p.year = $6)) AS pledge_count \
           FROM organizations o WHERE {expected}), \
         totals AS (SELECT count(*) AS expected, \
           count(*) FILTER (WHERE pledge_count > 0) AS registered FROM units) \
         SELECT t.expected, t.registered, page.id, page.name, page.kind, page.pledge_count \
         FROM totals t LEFT JOIN LATERAL ( \
           SELECT * FROM units u \
           WHERE $7::bool IS NULL OR (u.pledge_count > 0, u.name COLLATE \"vi-x-icu\", u.id) \
             > ($7, $8 COLLATE \"vi-x-icu\", $9::uuid) \
           ORDER BY u.pledge_count > 0, u.name COLLATE \"vi-x-icu\", u.id LIMIT $10) page ON true \
         ORDER BY page.pledge_count > 0, page.name COLLATE \"vi-x-icu\", page.id"
    );
    diesel::sql_query(statement)
        .bind::<SqlUuid, _>(root_id)
        .bind::<Nullable<Text>, _>(kind)
        .bind::<Text, _>(window.prefix())
        .bind::<Text, _>(&window.root_path)
        .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
        .bind::<Nullable<Integer>, _>(window.year)
        .bind::<Nullable<diesel::sql_types::Bool>, _>(after.map(|position| position.0))
        .bind::<Nullable<Text>, _>(after.map(|position| position.1.clone()))
        .bind::<Nullable<SqlUuid>, _>(after.map(|position| position.2))
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await
}

/// Direct children of a unit, active or not (for labels and leaderboards).
pub async fn children(conn: &mut AsyncPgConnection, root_id: Uuid) -> QueryResult<Vec<UnitRow>> {
    diesel::sql_query(
        "SELECT id, name, kind, path FROM organizations WHERE parent_id = $1 \
         ORDER BY name COLLATE \"vi-x-icu\", id",
    )
    .bind::<SqlUuid, _>(root_id)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct UnitCount {
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Registered pledges (submitted, approved, assessed) of each of `units` themselves.
pub async fn registered_counts(
    conn: &mut AsyncPgConnection,
    window: &Window,
    units: &[Uuid],
) -> QueryResult<Vec<UnitCount>> {
    diesel::sql_query(
        "SELECT organization_id, count(*) AS count FROM pledges \
         WHERE organization_id = ANY($1) AND r.pledge_is_registered(status) \
           AND ($2::uuid IS NULL OR campaign_id = $2) AND ($3::int IS NULL OR year = $3) \
         GROUP BY organization_id",
    )
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(units)
    .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
    .bind::<Nullable<Integer>, _>(window.year)
    .load(conn)
    .await
}

/// What `/stats/titles` counts: the registered title pledges of one or more subtrees (a past
/// year over a restructured subtree reads several), with the request's filters. The windows
/// differ only in their root: campaign and year are the request's, read from the first.
pub struct TitleFilter<'a> {
    pub windows: &'a [Window],
    pub organization_kind: Option<&'a str>,
    pub title_name: Option<&'a str>,
}

/// Where a page of `/stats/titles` units starts: after this (unit name, title, unit id).
pub type TitlePosition = (String, String, Uuid);

/// The totals of `/stats/titles` and, unless the page is empty, one unit and title of its page.
#[derive(Debug, Clone, QueryableByName)]
pub struct TitlePageRow {
    #[diesel(sql_type = BigInt)]
    pub total_registered: i64,
    #[diesel(sql_type = BigInt)]
    pub total_achieved: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub title_name: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub registered: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub achieved: Option<i64>,
}

/// Title pledges per unit and title in one statement: the totals over the whole filter and
/// `limit` groups after `after`, by unit name (Vietnamese order), title and unit id. Always at
/// least one row, which carries the totals. The subtrees are ORed so that each keeps its path
/// index range.
pub async fn titles_page(
    conn: &mut AsyncPgConnection,
    filter: &TitleFilter<'_>,
    after: Option<&TitlePosition>,
    limit: i64,
) -> QueryResult<Vec<TitlePageRow>> {
    let count = filter.windows.len().max(1);
    let subtrees = (1..=count)
        .map(|n| format!("p.organization_path LIKE ${n}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let [
        campaign,
        year,
        kind,
        title,
        after_name,
        after_title,
        after_id,
        limit_at,
    ] = std::array::from_fn(|offset| count + 1 + offset);
    let statement = format!(
        "WITH groups AS MATERIALIZED ( \
           SELECT p.organization_id, o.name, o.kind, \
             coalesce(p.title_name, p.title) AS title_name, count(*) AS registered, \
             count(*) FILTER (WHERE r.pledge_is_achieved(p.result)) AS achieved \
           FROM pledges p JOIN organizations o ON o.id = p.organization_id \
           WHERE ({subtrees}) AND p.kind = 'title' AND r.pledge_is_registered(p.status) \
             AND (${campaign}::uuid IS NULL OR p.campaign_id = ${campaign}) \
             AND (${year}::int IS NULL OR p.year = ${year}) \
             AND (${kind}::text IS NULL OR o.kind = ${kind}) \
             AND (${title}::text IS NULL OR p.title_name = ${title}) \
           GROUP BY 1, 2, 3, 4), \
         totals AS (SELECT coalesce(sum(registered), 0)::bigint AS registered, \
           coalesce(sum(achieved), 0)::bigint AS achieved FROM groups) \
         SELECT t.registered AS total_registered, t.achieved AS total_achieved, \
           page.organization_id, page.name, page.kind, page.title_name, page.registered, \
           page.achieved \
         FROM totals t LEFT JOIN LATERAL ( \
           SELECT * FROM groups g \
           WHERE ${after_name}::text IS NULL \
             OR (g.name COLLATE \"vi-x-icu\", g.title_name, g.organization_id) \
                > (${after_name} COLLATE \"vi-x-icu\", ${after_title}::text, ${after_id}::uuid) \
           ORDER BY g.name COLLATE \"vi-x-icu\", g.title_name, g.organization_id \
           LIMIT ${limit_at}) page ON true \
         ORDER BY page.name COLLATE \"vi-x-icu\", page.title_name, page.organization_id"
    );
    let mut query = diesel::sql_query(statement).into_boxed();
    for window in filter.windows {
        query = query.bind::<Text, _>(window.prefix());
    }
    if filter.windows.is_empty() {
        // No subtree: a prefix no path has.
        query = query.bind::<Text, _>(String::new());
    }
    let first = filter.windows.first();
    query
        .bind::<Nullable<SqlUuid>, _>(first.and_then(|window| window.campaign_id))
        .bind::<Nullable<Integer>, _>(first.and_then(|window| window.year))
        .bind::<Nullable<Text>, _>(filter.organization_kind.map(str::to_owned))
        .bind::<Nullable<Text>, _>(filter.title_name.map(str::to_owned))
        .bind::<Nullable<Text>, _>(after.map(|position| position.0.clone()))
        .bind::<Nullable<Text>, _>(after.map(|position| position.1.clone()))
        .bind::<Nullable<SqlUuid>, _>(after.map(|position| position.2))
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await
}

#[derive(Debug, Clone, Default, QueryableByName)]
pub struct NominationCounts {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub exemplars: i64,
}

/// Nomination counts grouped by status, nominee type, field or child unit.
pub async fn nomination_counts(
    conn: &mut AsyncPgConnection,
    window: &Window,
    grouping: &str,
) -> QueryResult<Vec<NominationCounts>> {
    let key = match grouping {
        "nominee_type" => "n.nominee_type",
        "field" => "n.field",
        "child" => {
            "CASE WHEN n.organization_path = $4 THEN 'self' ELSE \
             $4 || split_part(substr(n.organization_path, length($4) + 1), '.', 1) || '.' END"
        }
        _ => "n.status",
    };
    let statement = format!(
        "SELECT {key} AS key, count(*) AS total, \
           count(*) FILTER (WHERE r.nomination_is_exemplar(n.status)) AS exemplars \
         FROM nominations n \
         WHERE n.organization_path LIKE $1 AND ($2::uuid IS NULL OR n.campaign_id = $2) \
           AND ($3::int IS NULL OR n.year = $3) AND length($4) > 0 \
         GROUP BY 1 ORDER BY 1"
    );
    diesel::sql_query(statement)
        .bind::<Text, _>(window.prefix())
        .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
        .bind::<Nullable<Integer>, _>(window.year)
        .bind::<Text, _>(&window.root_path)
        .load(conn)
        .await
}

/// Field codes and names of a campaign, for labels.
pub async fn field_names(
    conn: &mut AsyncPgConnection,
    campaign_id: Uuid,
) -> QueryResult<Vec<(String, String)>> {
    use crate::db::schema::campaigns;
    let fields: Option<serde_json::Value> = campaigns::table
        .find(campaign_id)
        .select(campaigns::fields)
        .first(conn)
        .await
        .optional()?;
    Ok(fields
        .and_then(|fields| fields.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|field| {
            Some((
                field.get("code")?.as_str()?.to_owned(),
                field.get("name")?.as_str()?.to_owned(),
            ))
        })
        .collect())
}
