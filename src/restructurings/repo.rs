//! Rows of restructurings, lineage links and placements, and the bulk updates a restructuring
//! makes to the tree and to the records that follow it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Integer, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{Preview, RestructuringRequest};
use crate::db::schema::{organization_links, organizations, restructurings};
use crate::organizations::dto::{LinkChange, LinkShare};
use crate::organizations::model::OrganizationRow;
use crate::organizations::repo as organization_repo;
use crate::text::like_escape;

/// A stored restructuring.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = restructurings)]
pub struct RestructuringRow {
    pub id: Uuid,
    pub effective_on: NaiveDate,
    pub legal_basis: String,
    pub steps: serde_json::Value,
    pub preview: serde_json::Value,
    pub touched_paths: Vec<Option<String>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Records the request (the preview is written by [`finish`]).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    request: &RestructuringRequest,
    created_by: Option<Uuid>,
) -> QueryResult<()> {
    let steps = serde_json::to_value(&request.steps).unwrap_or_default();
    diesel::insert_into(restructurings::table)
        .values((
            restructurings::id.eq(id),
            restructurings::effective_on.eq(request.effective_on),
            restructurings::legal_basis.eq(request.legal_basis.trim()),
            restructurings::steps.eq(steps),
            restructurings::preview.eq(serde_json::json!({})),
            restructurings::touched_paths.eq(Vec::<String>::new()),
            restructurings::created_by.eq(created_by),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn finish(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    preview: &Preview,
    touched_paths: &[String],
) -> QueryResult<()> {
    diesel::update(restructurings::table.find(id))
        .set((
            restructurings::preview.eq(serde_json::to_value(preview).unwrap_or_default()),
            restructurings::touched_paths.eq(touched_paths),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<RestructuringRow>> {
    restructurings::table
        .find(id)
        .select(RestructuringRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Newest first, keyset on (created_at, id); `visible` None: all, else those touching one of
/// the subtrees (materialized paths).
pub async fn list(
    conn: &mut AsyncPgConnection,
    visible: Option<&[String]>,
    within: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<RestructuringRow>> {
    let mut statement = restructurings::table
        .select(RestructuringRow::as_select())
        .order((restructurings::created_at.desc(), restructurings::id.desc()))
        .limit(limit + 1)
        .into_boxed();
    let touching = |roots: &[String]| {
        let patterns: Vec<String> = roots
            .iter()
            .map(|root| format!("{}%", like_escape(root)))
            .collect();
        diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM unnest(touched_paths) AS t(path) WHERE t.path LIKE ANY (",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(patterns)
        .sql("))")
    };
    if let Some(roots) = visible {
        statement = statement.filter(touching(roots));
    }
    if let Some(within) = within {
        statement = statement.filter(touching(&[within.to_owned()]));
    }
    if let Some((created_at, id)) = after {
        statement = statement.filter(
            restructurings::created_at
                .lt(created_at)
                .or(restructurings::created_at
                    .eq(created_at)
                    .and(restructurings::id.lt(id))),
        );
    }
    statement.load(conn).await
}

/// The names of the units that continue `id` ("Xã Mỹ Chánh Hòa (uuid)").
pub async fn successor_names(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Vec<String>> {
    let rows: Vec<(Uuid, String)> = organization_links::table
        .inner_join(organizations::table.on(organizations::id.eq(organization_links::successor_id)))
        .filter(organization_links::predecessor_id.eq(id))
        .select((organizations::id, organizations::name))
        .order(organizations::name)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| format!("\u{201c}{name}\u{201d} ({id})"))
        .collect())
}

/// The paths of every unit that continues `id`, through any number of restructurings.
pub async fn successor_paths(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct PathRow {
        #[diesel(sql_type = Text)]
        path: String,
    }
    let rows: Vec<PathRow> = diesel::sql_query(
        "WITH RECURSIVE later(id) AS ( \
           SELECT successor_id FROM organization_links WHERE predecessor_id = $1 \
           UNION SELECT l.successor_id FROM organization_links l JOIN later ON l.predecessor_id = later.id) \
         SELECT o.path FROM later JOIN organizations o ON o.id = later.id",
    )
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|row| row.path).collect())
}

/// The unit (other than `except`) holding `code` on some day from `from` on.
pub async fn code_holder(
    conn: &mut AsyncPgConnection,
    code: &str,
    from: NaiveDate,
    except: Option<Uuid>,
) -> QueryResult<Option<(Uuid, String)>> {
    let mut statement = organizations::table
        .filter(organizations::code.eq(code))
        .filter(
            organizations::valid_to
                .is_null()
                .or(organizations::valid_to.ge(from)),
        )
        .select((organizations::id, organizations::name))
        .into_boxed();
    if let Some(except) = except {
        statement = statement.filter(organizations::id.ne(except));
    }
    statement.first(conn).await.optional()
}

pub async fn end_unit(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    last_day: NaiveDate,
) -> QueryResult<()> {
    diesel::update(organizations::table.find(id))
        .set((
            organizations::valid_to.eq(last_day),
            organizations::active.eq(false),
            organizations::deactivated_at.eq(diesel::dsl::now),
            organizations::updated_at.eq(diesel::dsl::now),
            organizations::version.eq(organizations::version + 1),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn rename(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    name: &str,
    code: Option<&str>,
) -> QueryResult<()> {
    diesel::update(organizations::table.find(id))
        .set((
            organizations::name.eq(name),
            organizations::name_key.eq(crate::text::comparison_key(name)),
            organizations::code.eq(code),
            organizations::updated_at.eq(diesel::dsl::now),
            organizations::version.eq(organizations::version + 1),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_link(
    conn: &mut AsyncPgConnection,
    predecessor: Uuid,
    successor: Uuid,
    restructuring: Uuid,
    effective_on: NaiveDate,
    change: LinkChange,
    share: LinkShare,
) -> QueryResult<()> {
    diesel::insert_into(organization_links::table)
        .values((
            organization_links::predecessor_id.eq(predecessor),
            organization_links::successor_id.eq(successor),
            organization_links::restructuring_id.eq(restructuring),
            organization_links::effective_on.eq(effective_on),
            organization_links::change.eq(change.as_str()),
            organization_links::share.eq(share.as_str()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The children of `parent` that continue (not ended, not deactivated), locked, by name.
pub async fn continuing_children(
    conn: &mut AsyncPgConnection,
    parent: Uuid,
) -> QueryResult<Vec<OrganizationRow>> {
    organizations::table
        .filter(organizations::parent_id.eq(parent))
        .filter(organizations::valid_to.is_null())
        .filter(organizations::active.eq(true))
        .order((organizations::name, organizations::id))
        .select(OrganizationRow::as_select())
        .for_update()
        .load(conn)
        .await
}

pub async fn continuing_child(
    conn: &mut AsyncPgConnection,
    parent: Uuid,
) -> QueryResult<Option<(Uuid, String)>> {
    organizations::table
        .filter(organizations::parent_id.eq(parent))
        .filter(organizations::valid_to.is_null())
        .filter(organizations::active.eq(true))
        .select((organizations::id, organizations::name))
        .first(conn)
        .await
        .optional()
}

/// The latest `placed_on` in the subtree at `path`.
pub async fn latest_placement_in(
    conn: &mut AsyncPgConnection,
    path: &str,
) -> QueryResult<Option<NaiveDate>> {
    organizations::table
        .filter(organizations::path.like(format!("{}%", like_escape(path))))
        .select(diesel::dsl::max(organizations::placed_on))
        .first(conn)
        .await
}

/// What [`carry_work`] moved.
#[derive(Debug, Default)]
pub struct CarriedCounts {
    pub pledges: i64,
    pub nominations: i64,
    pub memberships: i64,
    pub clients: i64,
    pub persons: i64,
}

/// Gives the ended unit `from`'s open work of `year`, all its work of later years, its
/// memberships, its partner clients and its persons to `to`.
pub async fn carry_work(
    conn: &mut AsyncPgConnection,
    from: Uuid,
    to: &OrganizationRow,
    year: i32,
) -> QueryResult<CarriedCounts> {
    let root = organization_repo::root_of(conn, &to.path).await?;
    let pledges = diesel::sql_query(
        "UPDATE pledges SET organization_id = $2, organization_path = $3, root_organization_id = $4, \
         updated_at = now(), version = version + 1 \
         WHERE organization_id = $1 AND (year > $5 OR (year = $5 AND r.pledge_is_open(status)))",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to.id)
    .bind::<Text, _>(&to.path)
    .bind::<SqlUuid, _>(root)
    .bind::<Integer, _>(year)
    .execute(conn)
    .await?;
    let nominations = diesel::sql_query(
        "UPDATE nominations SET nominating_organization_id = $2, organization_path = $3, \
         root_organization_id = $4, updated_at = now(), version = version + 1 \
         WHERE nominating_organization_id = $1 \
           AND (year > $5 OR (year = $5 AND r.nomination_is_open(status)))",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to.id)
    .bind::<Text, _>(&to.path)
    .bind::<SqlUuid, _>(root)
    .bind::<Integer, _>(year)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO memberships (user_id, organization_id, role, created_at) \
         SELECT user_id, $2, role, created_at FROM memberships WHERE organization_id = $1 \
         ON CONFLICT (user_id, organization_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to.id)
    .execute(conn)
    .await?;
    let memberships = diesel::sql_query("DELETE FROM memberships WHERE organization_id = $1")
        .bind::<SqlUuid, _>(from)
        .execute(conn)
        .await?;
    let clients = diesel::sql_query(
        "UPDATE clients SET organization_id = $2 WHERE organization_id = $1 AND revoked_at IS NULL",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to.id)
    .execute(conn)
    .await?;
    let persons = diesel::sql_query(
        "UPDATE persons SET organization_id = $2, updated_at = now(), version = version + 1 \
         WHERE organization_id = $1",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to.id)
    .execute(conn)
    .await?;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(CarriedCounts {
        pledges: count(pledges),
        nominations: count(nominations),
        memberships: count(memberships),
        clients: count(clients),
        persons: count(persons),
    })
}

/// Places `unit` with its subtree under `parent` from `effective_on`: the former place of every
/// node is kept in `organization_placements`, and the records of the year of `effective_on`
/// and later follow the subtree (earlier years keep the paths they were made under). Returns
/// the unit's new path.
pub async fn place_subtree(
    conn: &mut AsyncPgConnection,
    unit: &OrganizationRow,
    parent: &OrganizationRow,
    effective_on: NaiveDate,
    restructuring: Uuid,
) -> QueryResult<String> {
    let pattern = format!("{}%", like_escape(&unit.path));
    // A node placed twice by one restructuring keeps the place it had before it.
    diesel::sql_query(
        "INSERT INTO organization_placements \
             (organization_id, parent_id, path, depth, placed_on, ended_on, restructuring_id) \
         SELECT id, parent_id, path, depth, placed_on, $2::date - 1, $3 \
         FROM organizations WHERE path LIKE $1 \
         ON CONFLICT (organization_id, ended_on) DO NOTHING",
    )
    .bind::<Text, _>(&pattern)
    .bind::<Date, _>(effective_on)
    .bind::<SqlUuid, _>(restructuring)
    .execute(conn)
    .await?;
    let (new_path, _) =
        organization_repo::place_under(conn, unit, parent, Some(effective_on.year())).await?;
    diesel::update(
        organizations::table
            .filter(organizations::path.like(format!("{}%", like_escape(&new_path)))),
    )
    .set(organizations::placed_on.eq(effective_on))
    .execute(conn)
    .await?;
    Ok(new_path)
}

/// The path of `id` as it stood on `day`, or None when it was not placed then.
pub async fn path_on(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    day: NaiveDate,
) -> QueryResult<Option<String>> {
    #[derive(QueryableByName)]
    struct PathRow {
        #[diesel(sql_type = Text)]
        path: String,
    }
    let row: Option<PathRow> = diesel::sql_query("SELECT path FROM r.placement_on($1, $2)")
        .bind::<SqlUuid, _>(id)
        .bind::<Date, _>(day)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(|row| row.path))
}
