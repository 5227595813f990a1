//! Queries of the organization tree. Subtrees are answered through the materialized `path`
//! (btree `text_pattern_ops` index, prefix `LIKE`), never by walking the tree.

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{AncestorDto, OrganizationKind};
use super::model::{NewOrganization, OrganizationRow, path_label};
use crate::db::schema::organizations;
use crate::text::like_escape;

/// SQL condition: `column` (an organization id) names an organization inside one of `roots`.
/// Paths are inlined as literals, which is safe because a path is only digits and dots (checked
/// here; anything else yields a condition that matches nothing).
pub fn organization_in_subtrees(
    column: &str,
    roots: &[String],
) -> diesel::expression::SqlLiteral<Bool> {
    let alternatives: Vec<String> = roots
        .iter()
        .filter(|root| !root.is_empty() && root.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(|root| format!("o.path LIKE '{root}%'"))
        .collect();
    if alternatives.is_empty() {
        return sql::<Bool>("false");
    }
    sql::<Bool>(&format!(
        "{column} IN (SELECT o.id FROM organizations o WHERE {})",
        alternatives.join(" OR ")
    ))
}

/// SQL condition: the materialized path in `column` lies inside one of `roots` (inlined as
/// literals; only digits and dots are accepted, anything else matches nothing).
pub fn path_in_subtrees(column: &str, roots: &[String]) -> diesel::expression::SqlLiteral<Bool> {
    let alternatives: Vec<String> = roots
        .iter()
        .filter(|root| !root.is_empty() && root.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(|root| format!("{column} LIKE '{root}%'"))
        .collect();
    if alternatives.is_empty() {
        return sql::<Bool>("false");
    }
    sql::<Bool>(&format!("({})", alternatives.join(" OR ")))
}

/// `organizations.path` lies inside one of `roots` (each a materialized path).
pub fn subtree_condition(
    roots: &[String],
) -> Box<dyn BoxableExpression<organizations::table, Pg, SqlType = Nullable<Bool>>> {
    let mut condition: Box<
        dyn BoxableExpression<organizations::table, Pg, SqlType = Nullable<Bool>>,
    > = Box::new(sql::<Nullable<Bool>>("false"));
    for root in roots {
        condition =
            Box::new(condition.or(organizations::path.like(format!("{}%", like_escape(root)))));
    }
    condition
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<OrganizationRow>> {
    organizations::table
        .find(id)
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Locks the row for the rest of the transaction.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<OrganizationRow>> {
    organizations::table
        .find(id)
        .select(OrganizationRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The path of an organization, for authorization checks.
pub async fn path_of(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<String>> {
    organizations::table
        .find(id)
        .select(organizations::path)
        .first(conn)
        .await
        .optional()
}

/// The strict ancestors of the node at `path`, root first (one indexed query).
pub async fn ancestors(conn: &mut AsyncPgConnection, path: &str) -> QueryResult<Vec<AncestorDto>> {
    let prefixes = ancestor_paths(path);
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Uuid, String)> = organizations::table
        .filter(organizations::path.eq_any(prefixes))
        .order(organizations::depth.asc())
        .select((organizations::id, organizations::name))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| AncestorDto { id, name })
        .collect())
}

/// "1.7.42." → ["1.", "1.7."]
pub fn ancestor_paths(path: &str) -> Vec<String> {
    path.match_indices('.')
        .map(|(index, _)| path[..=index].to_owned())
        .filter(|prefix| prefix.len() < path.len())
        .collect()
}

/// Filters of a directory listing, already validated.
pub struct ListQuery<'a> {
    pub parent_id: Option<Uuid>,
    pub kind: Option<OrganizationKind>,
    pub q: Option<&'a str>,
    pub active: Option<bool>,
    pub after: Option<(String, Uuid)>,
    pub limit: i64,
}

/// Lists organizations in Vietnamese collation order of their names (keyset by name, id).
pub async fn list(
    conn: &mut AsyncPgConnection,
    query: ListQuery<'_>,
) -> QueryResult<Vec<OrganizationRow>> {
    let mut statement = organizations::table
        .select(OrganizationRow::as_select())
        .order((sql::<Text>("name COLLATE \"vi-x-icu\""), organizations::id))
        .limit(query.limit + 1)
        .into_boxed();
    if let Some(parent_id) = query.parent_id {
        statement = statement.filter(organizations::parent_id.eq(parent_id));
    }
    if let Some(kind) = query.kind {
        statement = statement.filter(organizations::kind.eq(kind.as_str()));
    }
    if let Some(active) = query.active {
        statement = statement.filter(organizations::active.eq(active));
    }
    if let Some(q) = query.q.map(str::trim).filter(|q| !q.is_empty()) {
        statement = statement.filter(
            sql::<Bool>("search_text LIKE '%' || search_fold(")
                .bind::<Text, _>(like_escape(q))
                .sql(") || '%'"),
        );
    }
    if let Some((name, id)) = query.after {
        statement = statement.filter(
            sql::<Bool>("(name COLLATE \"vi-x-icu\", id) > (")
                .bind::<Text, _>(name)
                .sql(" COLLATE \"vi-x-icu\", ")
                .bind::<diesel::sql_types::Uuid, _>(id)
                .sql(")"),
        );
    }
    statement.load(conn).await
}

/// Inserts a node under `parent` (None: a new root).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    parent: Option<&OrganizationRow>,
    kind: OrganizationKind,
    name: &str,
    code: Option<&str>,
) -> QueryResult<OrganizationRow> {
    let seq: i64 = diesel::select(sql::<diesel::sql_types::BigInt>(
        "nextval(pg_get_serial_sequence('organizations', 'seq'))",
    ))
    .get_result(conn)
    .await?;
    let path = format!(
        "{}{}",
        parent.map_or("", |parent| parent.path.as_str()),
        path_label(seq)
    );
    diesel::insert_into(organizations::table)
        .values(NewOrganization {
            id: Uuid::now_v7(),
            seq,
            parent_id: parent.map(|parent| parent.id),
            kind: kind.as_str(),
            name,
            code,
            path: &path,
            depth: parent.map_or(0, |parent| parent.depth + 1),
        })
        .returning(OrganizationRow::as_returning())
        .get_result(conn)
        .await
}

/// Re-roots the subtree at `node` under `new_parent`, rewriting every path below it.
pub async fn move_subtree(
    conn: &mut AsyncPgConnection,
    node: &OrganizationRow,
    new_parent: &OrganizationRow,
) -> QueryResult<usize> {
    let new_path = format!("{}{}", new_parent.path, path_label(node.seq));
    let depth_change = new_parent.depth + 1 - node.depth;
    diesel::update(organizations::table.find(node.id))
        .set(organizations::parent_id.eq(new_parent.id))
        .execute(conn)
        .await?;
    let new_root = root_of(conn, &new_path).await?;
    let moved = rewrite_subtree_paths(conn, &node.path, &new_path, depth_change).await?;
    // Rows that carry the tree position of their unit follow it, so subtree lists and
    // aggregates see them in the new place at once.
    for table in ["pledges", "nominations"] {
        diesel::sql_query(format!(
            "UPDATE {table} SET organization_path = $2 || substr(organization_path, length($1) + 1), \
             root_organization_id = $4 WHERE organization_path LIKE $3"
        ))
        .bind::<Text, _>(&node.path)
        .bind::<Text, _>(&new_path)
        .bind::<Text, _>(format!("{}%", like_escape(&node.path)))
        .bind::<diesel::sql_types::Uuid, _>(new_root)
        .execute(conn)
        .await?;
    }
    Ok(moved)
}

/// Upper bound of rewrite passes of one move (each pass catches inserts that raced the last).
const MOVE_PASSES: usize = 16;

/// Replaces the prefix `old_path` of every path in the subtree with `new_path`.
///
/// A child inserted under the subtree by a transaction that commits while the UPDATE waits for
/// its parent's row lock is not in that statement's snapshot and would keep the old prefix (and
/// so stay inside the old ancestors' subtrees for authorization). Each pass takes a new
/// snapshot; once one finds nothing, every row of the subtree is locked by this transaction, so
/// later inserts wait for it and read the new paths.
async fn rewrite_subtree_paths(
    conn: &mut AsyncPgConnection,
    old_path: &str,
    new_path: &str,
    depth_change: i32,
) -> QueryResult<usize> {
    let mut rewritten = 0;
    for _ in 0..MOVE_PASSES {
        let count = diesel::sql_query(
            "UPDATE organizations SET path = $2 || substr(path, length($1) + 1), \
             depth = depth + $3, version = version + 1, updated_at = now() \
             WHERE path LIKE $4",
        )
        .bind::<Text, _>(old_path)
        .bind::<Text, _>(new_path)
        .bind::<diesel::sql_types::Integer, _>(depth_change)
        .bind::<Text, _>(format!("{}%", like_escape(old_path)))
        .execute(conn)
        .await?;
        rewritten += count;
        // Moving under the same parent keeps the path: one pass bumps the versions.
        if count == 0 || new_path == old_path {
            return Ok(rewritten);
        }
    }
    // Inserts kept racing the move: roll back rather than commit a half-moved subtree.
    Err(diesel::result::Error::RollbackTransaction)
}

/// The id of the top-level organization of the node at `path` (the distribution key).
pub async fn root_of(conn: &mut AsyncPgConnection, path: &str) -> QueryResult<Uuid> {
    let root_path = path
        .split_once('.')
        .map_or(path.to_owned(), |(first, _)| format!("{first}."));
    organizations::table
        .filter(organizations::path.eq(root_path))
        .select(organizations::id)
        .first(conn)
        .await
}

/// Bumps the version of every strict descendant (their `ancestors` changed).
pub async fn touch_descendants(conn: &mut AsyncPgConnection, path: &str) -> QueryResult<usize> {
    diesel::update(
        organizations::table
            .filter(organizations::path.like(format!("{}%", like_escape(path))))
            .filter(organizations::path.ne(path)),
    )
    .set(organizations::version.eq(organizations::version + 1))
    .execute(conn)
    .await
}

/// Whether the node has active children (a unit is deactivated only once they moved away).
pub async fn has_active_children(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        organizations::table
            .filter(organizations::parent_id.eq(id))
            .filter(organizations::active.eq(true)),
    ))
    .get_result(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestor_paths_are_the_strict_prefixes() {
        assert_eq!(
            ancestor_paths("1.7.42."),
            vec!["1.".to_owned(), "1.7.".to_owned()]
        );
        assert!(ancestor_paths("1.").is_empty());
    }
}
