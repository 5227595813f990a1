//! Aggregates of a past year after restructurings (docs/design.md § Restructuring with
//! lineage):
//!
//! - a year is reported on the structure as it stood at the end of that year (today for the
//!   current year), so a past report reads the same after any later restructuring;
//! - a unit answers for its predecessors: asked about a year before it existed, or the year it
//!   absorbed them, it covers their subtrees as they then stood.
//!
//! Records never move for this: a record carries the path of its unit at the end of its year
//! (restructurings move only the records of the year they take effect and later, see
//! `restructurings::repo::place_subtree`), so the subtree of a unit *as it stood on a day* is a
//! path prefix over the records of that year, and the tallies answer it as they answer today's.
//! What changes is which prefixes (the roots) and which units (the children, the expected
//! ones) a request means; this module finds them.

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::repo::UnitRow;
use super::tallies::{TallyRow, path_upper};
use crate::db::schema::restructurings;
use crate::organizations::model::OrganizationRow;
use crate::text::like_escape;

/// One subtree a request covers: a unit and its path on `day` (the end of the year, or the
/// unit's last day when it ended within the year).
#[derive(Debug, Clone)]
pub struct RootAt {
    pub id: Uuid,
    pub name: String,
    pub path: String,
    pub day: NaiveDate,
}

/// The structure a past year is reported on.
#[derive(Debug, Clone)]
pub struct Structure {
    pub roots: Vec<RootAt>,
}

/// Whether `year` must be read on a structure other than today's: a past year with a
/// restructuring in force after it began.
pub async fn is_historical(
    conn: &mut AsyncPgConnection,
    year: Option<i32>,
    today: NaiveDate,
) -> QueryResult<bool> {
    if year.is_none_or(|year| !(1..today.year()).contains(&year)) {
        return Ok(false);
    }
    Ok(historical_after(
        year,
        latest_restructuring(conn).await?,
        today,
    ))
}

/// The day the latest restructuring took effect (None: there was none).
pub async fn latest_restructuring(conn: &mut AsyncPgConnection) -> QueryResult<Option<NaiveDate>> {
    restructurings::table
        .select(diesel::dsl::max(restructurings::effective_on))
        .first(conn)
        .await
}

/// [`is_historical`] given the latest restructuring's day (several years asked at once).
pub fn historical_after(year: Option<i32>, latest: Option<NaiveDate>, today: NaiveDate) -> bool {
    // Years PostgreSQL cannot hold as dates (before 1 AD here) have no restructuring either.
    let Some(year) = year.filter(|year| (1..today.year()).contains(year)) else {
        return false;
    };
    let Some(start) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return false;
    };
    latest.is_some_and(|latest| latest > start)
}

/// How every [`kept_version`] starts: a kept answer under it was read on a past structure.
pub const KEPT_PREFIX: &str = "h:";

diesel::define_sql_function! {
    /// `r.kept_version()` (src/db/replaceable.sql).
    #[sql_name = "r.kept_version"]
    fn kept_version_of() -> Text;
}

/// What a kept answer depends on (a past-year overview, and every aggregate kept by
/// `stats::handlers::kept_or_computed`): the tallies' version (every count, pending delta, and
/// unit's name, place or state) and the restructurings applied (lineage, placements and
/// validity change only through them). Prefixed with [`KEPT_PREFIX`] so that it never equals a
/// version of today's overviews, which share the cache. A function call the connection
/// prepares once: every kept answer reads it.
pub async fn kept_version(conn: &mut AsyncPgConnection) -> QueryResult<String> {
    let version: String = diesel::select(kept_version_of()).get_result(conn).await?;
    debug_assert!(version.starts_with(KEPT_PREFIX), "{version}");
    Ok(version)
}

/// The roots `unit` answers for in `year` (see the module documentation).
pub async fn structure(
    conn: &mut AsyncPgConnection,
    unit: &OrganizationRow,
    year: i32,
    today: NaiveDate,
) -> QueryResult<Structure> {
    let start = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(today);
    let end = NaiveDate::from_ymd_opt(year, 12, 31)
        .unwrap_or(today)
        .min(today);
    let mut roots: Vec<RootAt> = Vec::new();
    let mut pending: Vec<OrganizationRow> = vec![unit.clone()];
    let mut seen = std::collections::HashSet::new();
    while let Some(unit) = pending.pop() {
        if !seen.insert(unit.id) || seen.len() > 4096 {
            continue;
        }
        let existed = unit.valid_from.is_none_or(|from| from <= end)
            && unit.valid_to.is_none_or(|to| to >= start);
        if existed {
            let day = unit.valid_to.map_or(end, |to| to.min(end));
            if let Some(path) = path_on(conn, &unit, day).await? {
                roots.push(RootAt {
                    id: unit.id,
                    name: unit.name.clone(),
                    path,
                    day,
                });
            }
        }
        for (predecessor, effective_on) in predecessors(conn, unit.id).await? {
            // A link in force after the year began: the unit was created by it (so it answers
            // for what the predecessor did before), or absorbed the predecessor within the year.
            let created_by_it = unit.valid_from == Some(effective_on);
            if effective_on > start && (created_by_it || effective_on <= end) {
                pending.push(predecessor);
            }
        }
    }
    // A root inside another root's subtree on the same structure would count twice.
    roots.sort_by(|a, b| a.path.cmp(&b.path));
    let mut kept: Vec<RootAt> = Vec::with_capacity(roots.len());
    for root in roots {
        if !kept.iter().any(|outer| root.path.starts_with(&outer.path)) {
            kept.push(root);
        }
    }
    Ok(Structure { roots: kept })
}

/// The path of `unit` on `day`.
async fn path_on(
    conn: &mut AsyncPgConnection,
    unit: &OrganizationRow,
    day: NaiveDate,
) -> QueryResult<Option<String>> {
    if unit.placed_on.is_none_or(|placed| placed <= day) {
        return Ok(Some(unit.path.clone()));
    }
    crate::restructurings::repo::path_on(conn, unit.id, day).await
}

/// The direct predecessors of `id`, with the date of each link.
async fn predecessors(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Vec<(OrganizationRow, NaiveDate)>> {
    use crate::db::schema::{organization_links, organizations};
    organization_links::table
        .inner_join(
            organizations::table.on(organizations::id.eq(organization_links::predecessor_id)),
        )
        .filter(organization_links::successor_id.eq(id))
        .select((
            OrganizationRow::as_select(),
            organization_links::effective_on,
        ))
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct LedPredecessor {
    #[diesel(sql_type = SqlUuid)]
    child_id: Uuid,
    #[diesel(sql_type = Text)]
    path: String,
}

/// The ended units each of `children` answers for (its predecessors, transitively), as
/// (child, the predecessor's path): an ended unit keeps the path it ended with, and so do the
/// records it kept (the closed ones of its last year and of the years before).
pub async fn ended_predecessors_of(
    conn: &mut AsyncPgConnection,
    children: &[Uuid],
) -> QueryResult<Vec<(Uuid, String)>> {
    if children.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<LedPredecessor> = diesel::sql_query(
        "WITH RECURSIVE led (child_id, id) AS ( \
           SELECT l.successor_id, l.predecessor_id FROM organization_links l \
           WHERE l.successor_id = ANY($1) \
           UNION \
           SELECT led.child_id, l.predecessor_id FROM led \
           JOIN organization_links l ON l.successor_id = led.id) \
         SELECT DISTINCT led.child_id, o.path FROM led JOIN organizations o ON o.id = led.id \
         WHERE o.valid_to IS NOT NULL",
    )
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(children)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.child_id, row.path))
        .collect())
}

/// Which child takes the records of which ended predecessor in a `group_by=child` answer:
/// `led` are (child path, predecessor path) pairs of [`ended_predecessors_of`]. A predecessor
/// is taken when its records would otherwise fall under `self`: its path lies strictly inside
/// one of the request's `roots` and inside none of `children`; and when it leads to exactly one
/// child (a unit split between several children keeps its own closed records under `self`, as
/// no single one answers for them). A predecessor nested in another taken one goes with it.
/// Returns (predecessor path, child path), by predecessor path.
pub fn taken_predecessors(
    roots: &[String],
    children: &[String],
    led: &[(String, String)],
) -> Vec<(String, String)> {
    let mut by_path: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        std::collections::BTreeMap::new();
    for (child, predecessor) in led {
        by_path
            .entry(predecessor.as_str())
            .or_default()
            .insert(child.as_str());
    }
    let mut taken: Vec<(String, String)> = Vec::new();
    for (predecessor, leading) in by_path {
        let inside_a_root = roots
            .iter()
            .any(|root| predecessor.starts_with(root.as_str()) && predecessor != root);
        let inside_a_child = children
            .iter()
            .any(|child| predecessor.starts_with(child.as_str()));
        let nested = taken
            .iter()
            .any(|(outer, _)| predecessor.starts_with(outer.as_str()));
        if leading.len() == 1
            && inside_a_root
            && !inside_a_child
            && !nested
            && let Some(child) = leading.into_iter().next()
        {
            taken.push((predecessor.to_owned(), child.to_owned()));
        }
    }
    taken
}

/// A unit of the tree on a day, with whether it counted then (valid, not deactivated).
#[derive(Debug, Clone, QueryableByName)]
pub struct UnitAt {
    #[diesel(embed)]
    pub unit: UnitRow,
    #[diesel(sql_type = Bool)]
    pub counted: bool,
}

/// The direct children of `root` as they stood on its day, valid then, by name.
///
/// Each child's unit is probed by id (`OFFSET 0` keeps the lateral subquery from being
/// flattened into a join): as a plain join the planner hashed every organization for a
/// province's hundred children (6.4 ms against 1.6 at 10 000 units).
pub async fn children_at(conn: &mut AsyncPgConnection, root: &RootAt) -> QueryResult<Vec<UnitAt>> {
    diesel::sql_query(
        "SELECT o.id, o.name, o.kind, p.path, \
                (o.active OR o.valid_to IS NOT NULL) AS counted \
         FROM r.placements_on($2) AS p \
         CROSS JOIN LATERAL (SELECT * FROM organizations AS u WHERE u.id = p.organization_id OFFSET 0) AS o \
         WHERE p.parent_id = $1 AND r.unit_valid_on(o.valid_from, o.valid_to, $2) \
         ORDER BY o.name COLLATE \"vi-x-icu\", o.id",
    )
    .bind::<SqlUuid, _>(root.id)
    .bind::<Date, _>(root.day)
    .load(conn)
    .await
}

/// The places `p` (of `r.placements_on`) in the subtree [$1, $2) as a range the path indexes
/// can read: the function's `path` column has the default collation, so a
/// `LIKE` (or a range without the explicit collation) on it cannot use the C-collated indexes
/// (an untouched province's past-year aggregates read every unit: 4.3 ms against 1.5).
const PLACED_IN_SUBTREE: &str = "p.path ~>=~ ($1 COLLATE \"C\") AND p.path ~<~ ($2 COLLATE \"C\")";

/// The units of `kind` strictly below `root` as it stood on its day, valid then.
pub async fn descendants_at(
    conn: &mut AsyncPgConnection,
    root: &RootAt,
    kind: &str,
) -> QueryResult<Vec<UnitAt>> {
    diesel::sql_query(format!(
        "SELECT o.id, o.name, o.kind, p.path, \
                (o.active OR o.valid_to IS NOT NULL) AS counted \
         FROM r.placements_on($3) AS p JOIN organizations AS o ON o.id = p.organization_id \
         WHERE {PLACED_IN_SUBTREE} AND p.path <> $1 AND o.kind = $4 \
           AND r.unit_valid_on(o.valid_from, o.valid_to, $3) \
         ORDER BY o.name COLLATE \"vi-x-icu\", o.id",
    ))
    .bind::<Text, _>(&root.path)
    .bind::<Text, _>(path_upper(&root.path))
    .bind::<Date, _>(root.day)
    .bind::<Text, _>(kind)
    .load(conn)
    .await
}

/// The organization rows of the counts (`entity` 'o') of `root`'s subtree on its day: units
/// valid then, by kind, `active` unless deactivated. The units are looked up by id from the
/// places found (joined, the planner hashed every organization: 5.7 ms against 1.1 for a
/// province of 318 units among 10 000).
pub async fn unit_counts_at(
    conn: &mut AsyncPgConnection,
    root: &RootAt,
) -> QueryResult<Vec<TallyRow>> {
    diesel::sql_query(format!(
        "SELECT 'o'::text AS entity, o.kind, \
                CASE WHEN o.active OR o.valid_to IS NOT NULL THEN 'active' ELSE 'inactive' END AS status, \
                'none'::text AS result, count(*)::bigint AS count, 0::bigint AS overdue \
         FROM organizations AS o \
         WHERE o.id = ANY (ARRAY(SELECT p.organization_id FROM r.placements_on($3) AS p \
                                 WHERE {PLACED_IN_SUBTREE})) \
           AND r.unit_valid_on(o.valid_from, o.valid_to, $3) \
         GROUP BY 2, 3",
    ))
    .bind::<Text, _>(&root.path)
    .bind::<Text, _>(path_upper(&root.path))
    .bind::<Date, _>(root.day)
    .load(conn)
    .await
}

/// The root of a request on today's structure.
pub fn current_root(unit: &OrganizationRow, today: NaiveDate) -> RootAt {
    RootAt {
        id: unit.id,
        name: unit.name.clone(),
        path: unit.path.clone(),
        day: today,
    }
}

/// Whether any unit has a predecessor or an earlier place: until then every aggregate over all
/// years is today's tree, and the overview's fast path needs no look at lineage. Once true it
/// stays true; while false it is asked again at most every [`LINEAGE_RECHECK`] (another
/// instance's first restructuring shows here within that bound; this instance's at once).
#[derive(Debug, Default)]
pub struct LineageFlag {
    seen: std::sync::atomic::AtomicBool,
    checked: std::sync::Mutex<Option<std::time::Instant>>,
    /// [`spans_lineage`] by unit, each answer reused for [`LINEAGE_RECHECK`].
    spans: std::sync::Mutex<std::collections::HashMap<Uuid, (std::time::Instant, bool)>>,
}

/// Units whose [`spans_lineage`] answer is kept at most.
const SPANS_KEPT: usize = 20_000;

pub const LINEAGE_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

impl LineageFlag {
    /// Marks that lineage exists (a restructuring or a move was applied here): every kept
    /// answer of [`Self::spans`] is asked again.
    pub fn set(&self) {
        self.seen.store(true, std::sync::atomic::Ordering::Relaxed);
        self.spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// [`spans_lineage`], kept for [`LINEAGE_RECHECK`] (another instance's restructuring shows
    /// within that bound, this instance's at once).
    pub async fn spans(
        &self,
        conn: &mut AsyncPgConnection,
        unit: &OrganizationRow,
    ) -> QueryResult<bool> {
        let lock = || {
            self.spans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((at, spans)) = lock().get(&unit.id).copied()
            && at.elapsed() < LINEAGE_RECHECK
        {
            return Ok(spans);
        }
        let spans = spans_lineage(conn, unit).await?;
        let mut kept = lock();
        if kept.len() >= SPANS_KEPT {
            kept.clear();
        }
        kept.insert(unit.id, (std::time::Instant::now(), spans));
        Ok(spans)
    }

    pub async fn any(&self, conn: &mut AsyncPgConnection) -> QueryResult<bool> {
        if std::sync::atomic::AtomicBool::load(&self.seen, std::sync::atomic::Ordering::Relaxed) {
            return Ok(true);
        }
        let due = {
            let mut checked = self
                .checked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = checked.is_none_or(|at| at.elapsed() >= LINEAGE_RECHECK);
            if due {
                *checked = Some(std::time::Instant::now());
            }
            due
        };
        if !due {
            return Ok(false);
        }
        let any: bool = diesel::select(
            diesel::dsl::exists(
                crate::db::schema::organization_links::table
                    .select(crate::db::schema::organization_links::predecessor_id),
            )
            .or(diesel::dsl::exists(
                crate::db::schema::organization_placements::table
                    .select(crate::db::schema::organization_placements::organization_id),
            )),
        )
        .get_result(conn)
        .await?;
        if any {
            self.set();
        }
        Ok(any)
    }
}

/// Whether a unit of `unit`'s subtree took over another or stood elsewhere before: then an
/// aggregate over all years is the sum of every year read on its own structure.
pub async fn spans_lineage(
    conn: &mut AsyncPgConnection,
    unit: &OrganizationRow,
) -> QueryResult<bool> {
    let pattern = format!("{}%", like_escape(&unit.path));
    diesel::select(diesel::dsl::sql::<Bool>(
        "EXISTS (SELECT 1 FROM organization_links l JOIN organizations o ON o.id = l.successor_id \
           WHERE o.path LIKE ",
    )
    .bind::<Text, _>(pattern.clone())
    .sql(") OR EXISTS (SELECT 1 FROM organization_placements p JOIN organizations o \
           ON o.id = p.organization_id WHERE o.path LIKE ")
    .bind::<Text, _>(pattern)
    .sql(")"))
    .get_result(conn)
    .await
}

/// The years records can hold: those of the campaigns (of `campaign`, when named), up to the
/// current year.
pub async fn record_years(
    conn: &mut AsyncPgConnection,
    campaign: Option<Uuid>,
    today: NaiveDate,
) -> QueryResult<std::ops::RangeInclusive<i32>> {
    use crate::db::schema::campaigns;
    let mut query = campaigns::table
        .select((
            diesel::dsl::min(campaigns::starts_on),
            diesel::dsl::max(campaigns::ends_on),
        ))
        .into_boxed();
    if let Some(campaign) = campaign {
        query = query.filter(campaigns::id.eq(campaign));
    }
    let (first, last): (Option<NaiveDate>, Option<NaiveDate>) = query.first(conn).await?;
    let first = first.map_or(today.year(), |day| day.year());
    let last = last
        .map_or(today.year(), |day| day.year())
        .min(today.year());
    Ok(first..=last.max(first))
}

#[cfg(test)]
mod historical_tests {
    use super::*;

    #[test]
    fn an_ended_predecessor_goes_to_the_one_child_it_leads_to_when_it_would_be_self() {
        let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let pair = |child: &str, predecessor: &str| (child.to_owned(), predecessor.to_owned());
        let roots = owned(&["r."]);
        let children = owned(&["r.x.", "r.y."]);
        let led = vec![
            // Merged into x: taken by x, with the unit nested in it.
            pair("r.x.", "r.a."),
            pair("r.x.", "r.a.n."),
            // Split between x and y: no single child answers for it.
            pair("r.x.", "r.b."),
            pair("r.y.", "r.b."),
            // Still inside y's subtree on the day read: y's records already.
            pair("r.x.", "r.y.c."),
            // Outside the request, or the root itself: never taken.
            pair("r.x.", "s.d."),
            pair("r.y.", "r."),
        ];
        assert_eq!(
            taken_predecessors(&roots, &children, &led),
            vec![("r.a.".to_owned(), "r.x.".to_owned())]
        );
    }

    fn day(year: i32, month: u32, date: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, date).unwrap_or_default()
    }

    #[test]
    fn a_past_year_is_historical_only_with_a_restructuring_in_force_after_it_began() {
        let today = day(2026, 12, 2);
        let reform = Some(day(2025, 7, 1));
        assert!(historical_after(Some(2024), reform, today));
        assert!(historical_after(Some(2025), reform, today));
        assert!(
            !historical_after(Some(2026), reform, today),
            "the current year"
        );
        assert!(
            !historical_after(Some(2024), None, today),
            "no restructuring"
        );
        assert!(!historical_after(Some(2026), Some(day(2026, 3, 1)), today));
        assert!(!historical_after(None, reform, today));
        assert!(!historical_after(Some(-8220), reform, today));
        assert!(
            !historical_after(Some(2025), Some(day(2025, 1, 1)), today),
            "in force from its start"
        );
    }
}
