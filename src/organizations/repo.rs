//! Queries of the organization tree. Subtrees are answered through the materialized `path`
//! (btree `text_pattern_ops` index, prefix `LIKE`), never by walking the tree.

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{AncestorDto, LinkChange, LinkShare, OrganizationKind};
use super::model::{NewOrganization, OrganizationChanges, OrganizationRow, path_label};
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

crate::db::row_by_id!(organizations, OrganizationRow);

/// The path of an organization, for authorization checks.
pub async fn path_of(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<String>> {
    organizations::table
        .find(id)
        .select(organizations::path)
        .first(conn)
        .await
        .optional()
}

/// The names of the organizations `ids` (for exports and other tables of rows).
pub async fn names_of(
    conn: &mut AsyncPgConnection,
    ids: Vec<Uuid>,
) -> QueryResult<std::collections::HashMap<Uuid, String>> {
    let names: Vec<(Uuid, String)> = organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::name))
        .load(conn)
        .await?;
    Ok(names.into_iter().collect())
}

/// Why the inactive unit `id` takes no new work, in words: ended by a restructuring (naming
/// its successors) or deactivated.
pub async fn inactive_detail(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<String> {
    let valid_to: Option<chrono::NaiveDate> = organizations::table
        .find(id)
        .select(organizations::valid_to)
        .first(conn)
        .await
        .optional()?
        .flatten();
    let Some(valid_to) = valid_to else {
        return Ok("the organization is inactive".to_owned());
    };
    let successors: Vec<String> = direct_links(conn, &[id])
        .await?
        .into_iter()
        .filter(|link| link.predecessor_id == id)
        .map(|link| {
            format!(
                "\u{201c}{}\u{201d} ({})",
                link.successor_name, link.successor_id
            )
        })
        .collect();
    Ok(if successors.is_empty() {
        format!("the organization ended on {valid_to} and takes no new work")
    } else {
        format!(
            "the organization ended on {valid_to} and takes no new work; its successor is {}",
            successors.join(", ")
        )
    })
}

/// The direct lineage links touching `ids`: (predecessor, successor) pairs with both names.
pub async fn direct_links(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<DirectLink>> {
    diesel::sql_query(
        "SELECT l.predecessor_id, p.name AS predecessor_name, l.successor_id, s.name AS successor_name \
         FROM organization_links AS l \
         JOIN organizations AS p ON p.id = l.predecessor_id \
         JOIN organizations AS s ON s.id = l.successor_id \
         WHERE l.predecessor_id = ANY ($1) OR l.successor_id = ANY ($1) \
         ORDER BY l.effective_on, p.name, s.name",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
    .load(conn)
    .await
}

/// One lineage link with the names of both ends.
#[derive(Debug, QueryableByName)]
pub struct DirectLink {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub predecessor_id: Uuid,
    #[diesel(sql_type = Text)]
    pub predecessor_name: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub successor_id: Uuid,
    #[diesel(sql_type = Text)]
    pub successor_name: String,
}

/// One unit of a transitive lineage.
#[derive(Debug, QueryableByName)]
pub struct LineageRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub code: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    pub valid_from: Option<chrono::NaiveDate>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    pub valid_to: Option<chrono::NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub restructuring_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub effective_on: chrono::NaiveDate,
    #[diesel(sql_type = Text)]
    pub legal_basis: String,
    #[diesel(sql_type = Text)]
    pub change: LinkChange,
    #[diesel(sql_type = Text)]
    pub share: LinkShare,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub distance: i32,
}

/// Every predecessor (`backwards`) or successor of `id`, transitively, nearest first. Links
/// form no cycle (a link always goes from an ended unit to one valid after it), and the walk is
/// bounded anyway.
pub async fn lineage(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    backwards: bool,
) -> QueryResult<Vec<LineageRow>> {
    let (near, far) = if backwards {
        ("successor_id", "predecessor_id")
    } else {
        ("predecessor_id", "successor_id")
    };
    diesel::sql_query(format!(
        "WITH RECURSIVE walk (unit, restructuring_id, effective_on, change, share, distance) AS ( \
             SELECT l.{far}, l.restructuring_id, l.effective_on, l.change, l.share, 1 \
             FROM organization_links AS l WHERE l.{near} = $1 \
             UNION \
             SELECT l.{far}, l.restructuring_id, l.effective_on, l.change, l.share, w.distance + 1 \
             FROM walk AS w JOIN organization_links AS l ON l.{near} = w.unit \
             WHERE w.distance < 64) \
         SELECT o.id, o.name, o.code, o.valid_from, o.valid_to, w.restructuring_id, w.effective_on, \
                r.legal_basis, w.change, w.share, w.distance \
         FROM walk AS w JOIN organizations AS o ON o.id = w.unit \
         JOIN restructurings AS r ON r.id = w.restructuring_id \
         ORDER BY w.distance, o.name COLLATE \"vi-x-icu\", o.id"
    ))
    .bind::<diesel::sql_types::Uuid, _>(id)
    .load(conn)
    .await
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
    pub valid_on: Option<chrono::NaiveDate>,
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
    if let Some(day) = query.valid_on {
        statement = statement
            .filter(
                organizations::valid_from
                    .is_null()
                    .or(organizations::valid_from.le(day)),
            )
            .filter(
                organizations::valid_to
                    .is_null()
                    .or(organizations::valid_to.ge(day)),
            );
    }
    for word in crate::text::search_words(query.q.unwrap_or_default()) {
        statement = statement.filter(
            sql::<Bool>("search_text LIKE '%' || search_fold(")
                .bind::<Text, _>(word)
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

/// The active unit under `parent_id` (None: among the roots) whose name reads like `name`,
/// other than `except`: (id, name). Sibling units must have names people can tell apart.
pub async fn sibling_named(
    conn: &mut AsyncPgConnection,
    parent_id: Option<Uuid>,
    name: &str,
    except: Option<Uuid>,
) -> QueryResult<Option<(Uuid, String)>> {
    let mut statement = organizations::table
        .filter(organizations::name_key.eq(crate::text::comparison_key(name)))
        // With validity dates: "valid on the same day" instead of active.
        .filter(organizations::active.eq(true))
        .select((organizations::id, organizations::name))
        .into_boxed();
    statement = match parent_id {
        Some(parent_id) => statement.filter(organizations::parent_id.eq(parent_id)),
        None => statement.filter(organizations::parent_id.is_null()),
    };
    if let Some(except) = except {
        statement = statement.filter(organizations::id.ne(except));
    }
    statement.first(conn).await.optional()
}

/// Inserts a node under `parent` (None: a new root), valid since before anything recorded.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    parent: Option<&OrganizationRow>,
    kind: OrganizationKind,
    name: &str,
    code: Option<&str>,
) -> QueryResult<OrganizationRow> {
    insert_valid_from(conn, parent, kind, name, code, None).await
}

/// Inserts a node under `parent` (None: a new root), valid from `valid_from`.
pub async fn insert_valid_from(
    conn: &mut AsyncPgConnection,
    parent: Option<&OrganizationRow>,
    kind: OrganizationKind,
    name: &str,
    code: Option<&str>,
    valid_from: Option<chrono::NaiveDate>,
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
    let name_key = crate::text::comparison_key(name);
    diesel::insert_into(organizations::table)
        .values(NewOrganization {
            id: Uuid::now_v7(),
            seq,
            parent_id: parent.map(|parent| parent.id),
            kind,
            name,
            name_key: &name_key,
            code,
            path: &path,
            depth: parent.map_or(0, |parent| parent.depth + 1),
            valid_from,
        })
        .returning(OrganizationRow::as_returning())
        .get_result(conn)
        .await
}

/// Re-roots the subtree at `node` under `new_parent`, rewriting every path below it and the
/// paths of every record made in it (a correction: history follows the unit).
pub async fn move_subtree(
    conn: &mut AsyncPgConnection,
    node: &OrganizationRow,
    new_parent: &OrganizationRow,
) -> QueryResult<usize> {
    place_under(conn, node, new_parent, None)
        .await
        .map(|(_, moved)| moved)
}

/// Re-roots the subtree at `node` under `new_parent`; the records made in it follow, all of
/// them or (`records_from_year`) those of that year and later. Returns the node's new path and
/// the number of units moved.
pub async fn place_under(
    conn: &mut AsyncPgConnection,
    node: &OrganizationRow,
    new_parent: &OrganizationRow,
    records_from_year: Option<i32>,
) -> QueryResult<(String, usize)> {
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
             root_organization_id = $4 WHERE organization_path LIKE $3 AND year >= $5"
        ))
        .bind::<Text, _>(&node.path)
        .bind::<Text, _>(&new_path)
        .bind::<Text, _>(format!("{}%", like_escape(&node.path)))
        .bind::<diesel::sql_types::Uuid, _>(new_root)
        .bind::<diesel::sql_types::Integer, _>(records_from_year.unwrap_or(i32::MIN))
        .execute(conn)
        .await?;
    }
    diesel::sql_query(
        "UPDATE awards SET organization_path = $2 || substr(organization_path, length($1) + 1) \
         WHERE organization_path LIKE $3 AND year >= $4",
    )
    .bind::<Text, _>(&node.path)
    .bind::<Text, _>(&new_path)
    .bind::<Text, _>(format!("{}%", like_escape(&node.path)))
    .bind::<diesel::sql_types::Integer, _>(records_from_year.unwrap_or(i32::MIN))
    .execute(conn)
    .await?;
    Ok((new_path, moved))
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

/// Writes `changes` to organization `id` with the next version.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &OrganizationChanges,
) -> QueryResult<OrganizationRow> {
    diesel::update(organizations::table.find(id))
        .set((
            changes,
            organizations::version.eq(organizations::version + 1),
            organizations::updated_at.eq(diesel::dsl::now),
        ))
        .returning(OrganizationRow::as_returning())
        .get_result(conn)
        .await
}

/// Marks organization `id` inactive from now, with the next version.
pub async fn deactivate(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<OrganizationRow> {
    diesel::update(organizations::table.find(id))
        .set((
            organizations::active.eq(false),
            organizations::deactivated_at.eq(diesel::dsl::now),
            organizations::updated_at.eq(diesel::dsl::now),
            organizations::version.eq(organizations::version + 1),
        ))
        .returning(OrganizationRow::as_returning())
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
