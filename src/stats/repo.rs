//! Aggregate queries over a subtree's pledges and nominations. Each query is one statement
//! bounded by the materialized-path prefix of the subtree (an index range), never a tree walk.
//! Status rules are the predicates of the replaceable schema (`r.pledge_is_registered`, …,
//! `src/db/replaceable.sql`), inlined by the planner, never lists spelled out here.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Uuid as SqlUuid};
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
/// children, or all active descendants of `kind`), each with its registered pledges in the
/// window (`r.unit_tally`: one tally row and its queued deltas a unit, whatever the number of
/// pledges), the totals over all of them, and `limit` of them after `after`, those that did not
/// register first, then by name and id. Always at least one row, which carries the totals.
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
           SELECT o.id, o.name, o.kind FROM organizations o WHERE {expected}), \
         counted AS MATERIALIZED ( \
           SELECT u.id, u.name, u.kind, c.registered AS pledge_count, c.registered > 0 AS registered \
           FROM units u JOIN r.unit_tally(ARRAY(SELECT id FROM units), $5, $6) c \
             ON c.organization_id = u.id), \
         totals AS (SELECT count(*) AS expected, \
           count(*) FILTER (WHERE registered) AS registered FROM counted) \
         SELECT t.expected, t.registered, page.id, page.name, page.kind, page.pledge_count \
         FROM totals t LEFT JOIN LATERAL ( \
           SELECT * FROM counted u \
           WHERE $7::bool IS NULL OR (u.registered, u.name COLLATE \"vi-x-icu\", u.id) \
             > ($7, $8 COLLATE \"vi-x-icu\", $9::uuid) \
           ORDER BY u.registered, u.name COLLATE \"vi-x-icu\", u.id LIMIT $10) page ON true \
         ORDER BY page.registered, page.name COLLATE \"vi-x-icu\", page.id",
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

/// Registered pledges (submitted, approved, assessed) of each of `units` themselves, from
/// their tallies (`r.unit_tally`); units without any are left out.
pub async fn registered_counts(
    conn: &mut AsyncPgConnection,
    window: &Window,
    units: &[Uuid],
) -> QueryResult<Vec<UnitCount>> {
    diesel::sql_query(
        "SELECT organization_id, registered AS count FROM r.unit_tally($1, $2, $3) \
         WHERE registered <> 0",
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

/// Where a page of `/stats/titles` units starts: after this (unit name, title, unit id); the
/// page is in the order (unit name, unit id, title).
pub type TitlePosition = (String, String, Uuid);

/// One unit and title of a `/stats/titles` page.
#[derive(Debug, Clone, QueryableByName)]
pub struct TitlePageRow {
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub title_name: String,
    #[diesel(sql_type = BigInt)]
    pub registered: i64,
    #[diesel(sql_type = BigInt)]
    pub achieved: i64,
}

/// How a page of `/stats/titles` finds its units.
///
/// The two walks over units read each unit's title pledges by their paths from
/// `pledges_titles_idx` alone (the unit's path today and its earlier places, from
/// `organization_placements`: a pledge keeps the path its unit had in its year, and a unit's
/// places are all the paths it ever had), so a unit costs its own title pledges, not all its
/// pledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitleWalk {
    /// Every title pledge of the subtrees (`pledges_titles_idx`), grouped by unit and title,
    /// then sorted: reads the subtrees' title pledges, whatever the page.
    Pledges,
    /// The units that stand or stood in the subtrees (their paths today and their earlier
    /// places), sorted by name, each with its own title pledges in the subtrees, until the page
    /// is full: sorts the subtrees' units and reads the title pledges of a page of them.
    Units,
    /// Every unit in name order (the name index), each with its own title pledges in the
    /// subtrees, until the page is full: reads about `limit` × (units everywhere ÷ units in
    /// the subtrees) units, whatever the number of pledges.
    Names,
}

impl TitleWalk {
    /// The walk that reads fewer rows for a page of `limit` when the subtrees hold
    /// `subtree_units` of `all_units` units and `title_pledges` registered title pledges.
    ///
    /// The walk of the pledges reads every title pledge of the subtrees (a province of the
    /// 10M data set: 73 000, 466 ms); the walk of the units sorts the subtrees' units and reads
    /// the title pledges of the page's units; the walk of the names skips the sort but visits
    /// about `limit` × all ÷ subtree units. So: the pledges when they are no more than the
    /// units (or a page), the names when subtree units² > `limit` × all units (near the root:
    /// the root of 10 000 units visits 51), the units otherwise (a province of 294 of 10 000
    /// units: 294 sorted, a dozen read). With no unit counted yet (a new tree whose tallies are
    /// not folded), the pledges.
    pub fn cheaper(limit: i64, subtree_units: i64, all_units: i64, title_pledges: i64) -> Self {
        if subtree_units <= 0 || title_pledges <= limit.max(subtree_units) {
            return Self::Pledges;
        }
        let all_units = all_units.max(subtree_units);
        if subtree_units.saturating_mul(subtree_units) > limit.saturating_mul(all_units) {
            Self::Names
        } else {
            Self::Units
        }
    }
}

/// The organizations in the subtrees (their tallies; deltas not folded yet left out: this
/// only chooses a plan) and in the whole tree (the planner's estimate).
#[derive(Debug, Clone, QueryableByName)]
pub struct UnitCounts {
    #[diesel(sql_type = BigInt)]
    pub subtree: i64,
    #[diesel(sql_type = BigInt)]
    pub everywhere: i64,
}

pub async fn unit_counts(
    conn: &mut AsyncPgConnection,
    windows: &[Window],
) -> QueryResult<UnitCounts> {
    let roots: Vec<&str> = windows
        .iter()
        .map(|window| window.root_path.as_str())
        .collect();
    diesel::sql_query(
        "SELECT (SELECT coalesce(sum(t.count), 0) FROM tallies AS t \
                 WHERE t.ancestor_path = ANY ($1) AND t.entity = 'o')::bigint AS subtree, \
                (SELECT greatest(c.reltuples, 0) FROM pg_class AS c \
                 WHERE c.oid = 'organizations'::regclass)::bigint AS everywhere",
    )
    .bind::<Array<Text>, _>(roots)
    .get_result(conn)
    .await
}

/// A page of title pledges per unit and title: `limit` groups after `after`, by unit name
/// (Vietnamese order), unit id and title, read by `walk`. The subtrees are ORed so that each
/// keeps its path index range.
pub async fn titles_page(
    conn: &mut AsyncPgConnection,
    filter: &TitleFilter<'_>,
    after: Option<&TitlePosition>,
    limit: i64,
    walk: TitleWalk,
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
    let pledge_filter = format!(
        "p.kind = 'title' AND r.pledge_is_registered(p.status) \
         AND (${campaign}::uuid IS NULL OR p.campaign_id = ${campaign}) \
         AND (${year}::int IS NULL OR p.year = ${year}) \
         AND (${title}::text IS NULL OR p.title_name = ${title})"
    );
    let counts = "coalesce(p.title_name, p.title) AS title_name, count(*) AS registered, \
                  count(*) FILTER (WHERE r.pledge_is_achieved(p.result)) AS achieved";
    let statement = match walk {
        // Grouped before the units are joined: one look-up per unit, not per pledge.
        TitleWalk::Pledges => format!(
            "SELECT o.id AS organization_id, o.name, o.kind, g.title_name, g.registered, g.achieved \
             FROM ( \
               SELECT p.organization_id, {counts} \
               FROM pledges p \
               WHERE ({subtrees}) AND {pledge_filter} \
               GROUP BY 1, 2) g \
             JOIN organizations o ON o.id = g.organization_id \
             WHERE (${kind}::text IS NULL OR o.kind = ${kind}) \
               AND (${after_name}::text IS NULL \
                    OR (o.name COLLATE \"vi-x-icu\", o.id, g.title_name) \
                       > (${after_name} COLLATE \"vi-x-icu\", ${after_id}::uuid, ${after_title}::text)) \
             ORDER BY o.name COLLATE \"vi-x-icu\", o.id, g.title_name \
             LIMIT ${limit_at}"
        ),
        // The subtrees bound the pledges, not the units: a pledge of a year before its unit
        // moved keeps the path it had (organizations::repo), so a unit's path today does not
        // say whether its pledges lie in the subtrees. The unit bound `>=` lets the units
        // start at the cursor's unit; the row comparison then skips the titles of that unit
        // already given.
        TitleWalk::Units | TitleWalk::Names => {
            let units = if walk == TitleWalk::Names {
                "organizations o".to_owned()
            } else {
                let unit_subtrees = (1..=count)
                    .map(|n| format!("u.path LIKE ${n}"))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let placed_subtrees = unit_subtrees.replace("u.path", "pl.path");
                // Sorted here, so that the page stops after its units (the rows of one unit
                // are then sorted by title alone).
                format!(
                    "(SELECT * FROM ( \
                        SELECT u.id, u.name, u.kind, u.path FROM organizations u \
                        WHERE {unit_subtrees} \
                        UNION \
                        SELECT u.id, u.name, u.kind, u.path FROM organization_placements pl \
                        JOIN organizations u ON u.id = pl.organization_id WHERE {placed_subtrees}) s \
                      ORDER BY s.name COLLATE \"vi-x-icu\", s.id) o"
                )
            };
            format!(
                "SELECT o.id AS organization_id, o.name, o.kind, g.title_name, g.registered, g.achieved \
                 FROM {units} \
                 CROSS JOIN LATERAL ( \
                   SELECT {counts} FROM pledges p \
                   WHERE p.organization_path = ANY (ARRAY[o.path] || ARRAY( \
                           SELECT pl.path FROM organization_placements pl WHERE pl.organization_id = o.id)) \
                     AND p.organization_id = o.id AND ({subtrees}) AND {pledge_filter} \
                   GROUP BY 1) g \
                 WHERE (${kind}::text IS NULL OR o.kind = ${kind}) \
                   AND (${after_name}::text IS NULL \
                        OR (o.name COLLATE \"vi-x-icu\", o.id) >= (${after_name} COLLATE \"vi-x-icu\", ${after_id}::uuid)) \
                   AND (${after_name}::text IS NULL \
                        OR (o.name COLLATE \"vi-x-icu\", o.id, g.title_name) \
                           > (${after_name} COLLATE \"vi-x-icu\", ${after_id}::uuid, ${after_title}::text)) \
                 ORDER BY o.name COLLATE \"vi-x-icu\", o.id, g.title_name \
                 LIMIT ${limit_at}"
            )
        }
    };
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
