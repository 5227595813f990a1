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

/// Expected units: direct active children, or all active descendants of `kind`.
pub async fn expected_units(
    conn: &mut AsyncPgConnection,
    root_id: Uuid,
    root_path: &str,
    kind: Option<&str>,
) -> QueryResult<Vec<UnitRow>> {
    match kind {
        None => {
            diesel::sql_query(
                "SELECT id, name, kind, path FROM organizations \
                 WHERE parent_id = $1 AND active ORDER BY name COLLATE \"vi-x-icu\", id",
            )
            .bind::<SqlUuid, _>(root_id)
            .load(conn)
            .await
        }
        Some(kind) => {
            diesel::sql_query(
                "SELECT id, name, kind, path FROM organizations \
                 WHERE path LIKE $1 AND path <> $2 AND kind = $3 AND active \
                 ORDER BY name COLLATE \"vi-x-icu\", id",
            )
            .bind::<Text, _>(format!("{}%", like_escape(root_path)))
            .bind::<Text, _>(root_path)
            .bind::<Text, _>(kind)
            .load(conn)
            .await
        }
    }
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

#[derive(Debug, Clone, QueryableByName)]
pub struct TitleRow {
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

/// Title pledges per unit and title.
pub async fn titles(
    conn: &mut AsyncPgConnection,
    window: &Window,
    organization_kind: Option<&str>,
    title_name: Option<&str>,
) -> QueryResult<Vec<TitleRow>> {
    diesel::sql_query(
        "SELECT p.organization_id, o.name, o.kind, coalesce(p.title_name, p.title) AS title_name, \
           count(*) FILTER (WHERE r.pledge_is_registered(p.status)) AS registered, \
           count(*) FILTER (WHERE r.pledge_is_achieved(p.result)) AS achieved \
         FROM pledges p JOIN organizations o ON o.id = p.organization_id \
         WHERE p.organization_path LIKE $1 AND p.kind = 'title' \
           AND ($2::uuid IS NULL OR p.campaign_id = $2) AND ($3::int IS NULL OR p.year = $3) \
           AND ($4::text IS NULL OR o.kind = $4) AND ($5::text IS NULL OR p.title_name = $5) \
           AND r.pledge_is_registered(p.status) \
         GROUP BY 1, 2, 3, 4 ORDER BY o.name COLLATE \"vi-x-icu\", 4",
    )
    .bind::<Text, _>(window.prefix())
    .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
    .bind::<Nullable<Integer>, _>(window.year)
    .bind::<Nullable<Text>, _>(organization_kind)
    .bind::<Nullable<Text>, _>(title_name)
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
