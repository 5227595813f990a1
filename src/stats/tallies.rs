//! Subtree tallies (tables from migrations `000004_tallies` and `000005_overview_tallies`,
//! functions and triggers in the replaceable schema `r`, `src/db/replaceable.sql`): counts per
//! ancestor and key, kept by row triggers that append deltas and a fold, in bounded batches,
//! that moves the deltas into the tallies.
//!
//! Writers only append (no shared counter row, so no hot root under concurrent inserts);
//! readers sum one subtree root's tally rows plus the deltas under it that are not folded yet,
//! in one statement, so every figure equals a count over the raw rows at that snapshot whether
//! or not the fold has run.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::Deserialize;
use uuid::Uuid;

use super::repo::{NominationCounts, PledgeCounts, Window};
use crate::db::Databases;

/// How often the service folds deltas into the tallies.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// The smallest string greater than every path that starts with `path` (paths end with `.`,
/// and `/` follows `.` in the C collation), so `[path, upper)` is the subtree as a range that
/// a generic plan can still use on a C-collated btree.
pub fn path_upper(path: &str) -> String {
    let stem = path.strip_suffix('.').unwrap_or(path);
    format!("{stem}/")
}

/// The most deltas one call of `r.fold_tallies` moves, in its own transaction. A fold of
/// everything pending did not finish under the statement timeout after a bulk load of 100 000
/// pledges (and the queue only grew while it retried); 5 000 deltas fold in well under a second
/// at national depth, so any backlog drains batch by batch.
pub const FOLD_BATCH: i32 = 5_000;

/// Batches one [`fold`] moves at most before it lets the caller vacuum and tick again
/// (1 000 000 deltas): writers outpacing the fold cannot keep it looping forever.
const MAX_BATCHES_PER_FOLD: u32 = 200;

#[derive(QueryableByName)]
struct Folded {
    #[diesel(sql_type = BigInt)]
    moved: i64,
}

/// Moves at most `max_deltas` committed deltas (the oldest) into the tallies, as one statement
/// and so, outside a transaction, one transaction; returns how many it moved (0 when another
/// instance is folding at this moment). Fewer than `max_deltas`: nothing was left.
pub async fn fold_batch(conn: &mut AsyncPgConnection, max_deltas: i32) -> QueryResult<i64> {
    let folded: Folded = diesel::sql_query("SELECT r.fold_tallies($1) AS moved")
        .bind::<Integer, _>(max_deltas)
        .get_result(conn)
        .await?;
    Ok(folded.moved)
}

/// Recomputes every tally from the rows themselves and empties the queue of deltas
/// (`r.rebuild_tallies()`); returns the tally rows written. Writers of pledges, nominations and
/// organizations wait until it commits: run it on a connection without a statement timeout.
pub async fn rebuild(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    let rebuilt: Folded = diesel::sql_query("SELECT r.rebuild_tallies() AS moved")
        .get_result(conn)
        .await?;
    Ok(rebuilt.moved)
}

/// Recounts the award tallies from the awards (`r.rebuild_award_tallies()`, also part of
/// [`rebuild`]); returns the rows written. For `thidua generate`, which loads awards without
/// their triggers.
pub async fn rebuild_awards(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    let rebuilt: Folded = diesel::sql_query("SELECT r.rebuild_award_tallies() AS moved")
        .get_result(conn)
        .await?;
    Ok(rebuilt.moved)
}

/// The two halves of a rebuild (`r.rebuild_tally_part`): they share no table, so two
/// connections can run them side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyPart {
    /// `tallies` and `deadline_tallies`.
    Plain,
    /// `facet_tallies` and `facet_deadline_tallies`.
    Facets,
}

impl TallyPart {
    pub const ALL: [Self; 2] = [Self::Plain, Self::Facets];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Facets => "facets",
        }
    }
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = Date)]
    horizon: chrono::NaiveDate,
}

/// Starts a rebuild run part by part (`r.rebuild_start()`): empties the queue of deltas and
/// moves the horizon, which it answers. Only for a database nobody else writes while the parts
/// run (`thidua generate`): unlike [`rebuild`], the parts commit apart from this step.
pub async fn rebuild_start(conn: &mut AsyncPgConnection) -> QueryResult<chrono::NaiveDate> {
    let started: Horizon = diesel::sql_query("SELECT r.rebuild_start() AS horizon")
        .get_result(conn)
        .await?;
    Ok(started.horizon)
}

/// Refills the tables of `part` from the rows with the horizon of [`rebuild_start`]; returns
/// the tally rows written.
pub async fn rebuild_part(
    conn: &mut AsyncPgConnection,
    part: TallyPart,
    horizon: chrono::NaiveDate,
) -> QueryResult<i64> {
    let rebuilt: Folded = diesel::sql_query("SELECT r.rebuild_tally_part($1, $2) AS moved")
        .bind::<Text, _>(part.as_str())
        .bind::<Date, _>(horizon)
        .get_result(conn)
        .await?;
    Ok(rebuilt.moved)
}

/// Drains the deltas into the tallies in batches of `max_deltas`, each committed on its own,
/// until a batch comes back short (or [`MAX_BATCHES_PER_FOLD`] batches); returns the deltas
/// moved. Call it outside a transaction, or the batches commit together.
pub async fn fold_in_batches(conn: &mut AsyncPgConnection, max_deltas: i32) -> QueryResult<i64> {
    let mut moved = 0;
    for _ in 0..MAX_BATCHES_PER_FOLD {
        let batch = fold_batch(conn, max_deltas).await?;
        moved += batch;
        if batch < i64::from(max_deltas) {
            break;
        }
    }
    Ok(moved)
}

/// Drains the committed deltas into the tallies in batches of [`FOLD_BATCH`]; returns the
/// deltas moved (0 when another instance is folding at this moment).
pub async fn fold(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    fold_in_batches(conn, FOLD_BATCH).await
}

/// Folds every [`FOLD_INTERVAL`] until the process ends; errors are logged and retried.
/// The deltas' dead rows are vacuumed away every [`VACUUM_EVERY`] folds that moved something,
/// and as soon as a burst of writes is over (the first fold that finds nothing after one that
/// did), so readers' scans of the pending deltas (every overview counts them for
/// `tally_version()`) stay a page or two instead of every row a burst left dead.
pub async fn fold_forever(databases: Databases) {
    let mut ticker = tokio::time::interval(FOLD_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut folds_since_vacuum = 0;
    loop {
        ticker.tick().await;
        let Ok(mut conn) = databases.write().await else {
            continue;
        };
        let vacuum = match fold(&mut conn).await {
            Ok(moved) if moved > 0 => {
                folds_since_vacuum += 1;
                folds_since_vacuum >= VACUUM_EVERY
            }
            Ok(_) => folds_since_vacuum > 0,
            Err(error) => {
                tracing::warn!(%error, "folding tallies failed; retrying");
                false
            }
        };
        if vacuum {
            folds_since_vacuum = 0;
            if let Err(error) = conn
                .batch_execute("VACUUM (SKIP_LOCKED) tally_deltas")
                .await
            {
                // Not the table's owner, say: autovacuum (tuned for it) still runs.
                tracing::debug!(%error, "vacuuming tally_deltas failed");
            }
        }
    }
}

/// Folds between two vacuums of the deltas table.
const VACUUM_EVERY: u32 = 10;

/// One key of the subtree's counts.
#[derive(Debug, Clone, QueryableByName)]
pub struct TallyRow {
    /// `p` pledges, `n` nominations, `o` organizations.
    #[diesel(sql_type = Text)]
    pub entity: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub result: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
    /// How many of them are open pledges past their deadline.
    #[diesel(sql_type = BigInt)]
    pub overdue: i64,
}

/// Every count of the subtree in the window, by entity, kind, status and result, with the
/// overdue ones among them (SQL function `r.subtree_tally`, planned once per connection). Keys
/// may repeat (a tally, its overdue row, its pending deltas): callers add them up, which costs
/// less here than a GROUP BY in the database.
pub async fn subtree_counts(
    conn: &mut AsyncPgConnection,
    window: &Window,
) -> QueryResult<Vec<TallyRow>> {
    diesel::sql_query("SELECT * FROM r.subtree_tally($1, $2, $3, $4, $5)")
        .bind::<Text, _>(&window.root_path)
        .bind::<Text, _>(path_upper(&window.root_path))
        .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
        .bind::<Nullable<Integer>, _>(window.year)
        .bind::<Date, _>(window.today)
        .load(conn)
        .await
}

/// The sums of one subtree (or of several under one key) in the window, as `r.subtree_sums`
/// answers them: what the per-child answers show of a child (`group_by=child`, the leaderboard,
/// a past year's overview), which never need its counts by kind, status or result.
#[derive(Debug, Clone, QueryableByName)]
pub struct SubtreeSums {
    /// The key the caller gave the subtree: a child's materialized path.
    #[diesel(sql_type = Text)]
    pub key: String,
    /// `p` (pledges) or `n` (nominations).
    #[diesel(sql_type = Text)]
    pub entity: String,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    /// Pledges submitted and not withdrawn ([`REGISTERED`]).
    #[diesel(sql_type = BigInt)]
    pub registered: i64,
    #[diesel(sql_type = BigInt)]
    pub assessed: i64,
    /// Pledges whose result is an achievement ([`ACHIEVED`]).
    #[diesel(sql_type = BigInt)]
    pub achieved: i64,
    /// Nominations recognized or commended ([`EXEMPLARS`]).
    #[diesel(sql_type = BigInt)]
    pub exemplars: i64,
    /// Open pledges past their deadline.
    #[diesel(sql_type = BigInt)]
    pub overdue: i64,
}

/// The sums of several subtrees in the window (pledges and nominations), in one statement:
/// `subtrees` are (key, path) pairs, and each row carries its subtree's key (several subtrees
/// may share a key: their sums add up). A few rows a subtree, whatever its size
/// (`r.subtree_sums`, planned once per connection).
pub async fn subtrees_sums(
    conn: &mut AsyncPgConnection,
    subtrees: &[(String, String)],
    window: &Window,
) -> QueryResult<Vec<SubtreeSums>> {
    if subtrees.is_empty() {
        return Ok(Vec::new());
    }
    let (keys, paths): (Vec<&str>, Vec<&str>) = subtrees
        .iter()
        .map(|(key, path)| (key.as_str(), path.as_str()))
        .unzip();
    diesel::sql_query(
        "SELECT key, entity, total, registered, assessed, achieved, exemplars, overdue \
         FROM r.subtree_sums($1, $2, $3, $4, $5)",
    )
    .bind::<Array<Text>, _>(&keys)
    .bind::<Array<Text>, _>(&paths)
    .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
    .bind::<Nullable<Integer>, _>(window.year)
    .bind::<Date, _>(window.today)
    .load(conn)
    .await
}

/// The pledge groupings the facet tallies answer (`r.delta_facets`): the field, the kind of the
/// unit holding the pledge, the month of its deadline.
pub const PLEDGE_FACETS: [&str; 3] = ["field", "organization_kind", "month"];
/// The nomination groupings the facet tallies answer.
pub const NOMINATION_FACETS: [&str; 1] = ["field"];

/// The facet of the title pledges held by units of `organization_kind`: their title names.
pub fn title_facet(organization_kind: &str) -> String {
    format!("title:{organization_kind}")
}

/// Whether the facet tallies answer `grouping` for `entity` (`p` or `n`).
pub fn answers_by_facet(entity: &str, grouping: &str) -> bool {
    match entity {
        "p" => PLEDGE_FACETS.contains(&grouping),
        "n" => NOMINATION_FACETS.contains(&grouping),
        _ => false,
    }
}

/// The grouping that keys tally rows by their `kind`, which in the rows of [`facet_counts`]
/// is the facet's value: [`grouped`] groups them by it.
pub const FACET_VALUE: &str = "facet_value";

/// The counts of the subtree in the window in the facets `facets` of `entity` (`p` or `n`),
/// by value (each row's `kind`), with the overdue pledges among them (SQL function
/// `r.facet_tally`, planned once per connection). Keys may repeat: callers add them up.
pub async fn facet_counts(
    conn: &mut AsyncPgConnection,
    window: &Window,
    entity: &str,
    facets: &[String],
) -> QueryResult<Vec<TallyRow>> {
    diesel::sql_query(
        "SELECT $3 AS entity, value AS kind, status, result, count, overdue \
         FROM r.facet_tally($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind::<Text, _>(&window.root_path)
    .bind::<Text, _>(path_upper(&window.root_path))
    .bind::<Text, _>(entity)
    .bind::<Array<Text>, _>(facets)
    .bind::<Nullable<SqlUuid>, _>(window.campaign_id)
    .bind::<Nullable<Integer>, _>(window.year)
    .bind::<Date, _>(window.today)
    .load(conn)
    .await
}

diesel::define_sql_function! {
    /// The overview of a unit as JSON text, NULL when it does not exist or is not visible
    /// (`r.overview_of` in `src/db/replaceable.sql`).
    #[sql_name = "r.overview_of"]
    fn overview_of(
        root_id: SqlUuid,
        visible: Nullable<Array<Text>>,
        campaign_id: Nullable<SqlUuid>,
        year: Nullable<Integer>,
        today: Date,
        known_version: Nullable<Text>,
    ) -> Nullable<Text>;
}

/// A direct child of the overview's unit.
#[derive(Debug, Clone, Deserialize)]
pub struct ChildRow {
    pub id: Uuid,
    pub name: String,
    pub active: bool,
    /// The child has a pledge of its own in the window that was submitted and not withdrawn.
    pub registered: bool,
    /// Overdue pledges in the child's whole subtree.
    pub overdue: i64,
}

/// What `overview_of` answers about a unit.
#[derive(Debug, Clone)]
pub struct Overview {
    /// `tally_version()` of the snapshot it was computed from.
    pub version: String,
    pub path: String,
    pub name: String,
    pub counts: Vec<TallyRow>,
    /// In name order.
    pub children: Vec<ChildRow>,
}

/// The answer of `overview_of`.
#[derive(Debug, Clone)]
pub enum OverviewAnswer {
    /// The tallies are still at the version the caller named: its overview stands.
    Unchanged,
    Computed(Overview),
    /// No such unit in the visible subtrees.
    NotFound,
}

/// The wire form of `overview_of`: arrays, not objects, to keep the text short.
#[derive(Deserialize)]
struct OverviewJson {
    version: String,
    #[serde(default)]
    unchanged: bool,
    #[serde(default)]
    path: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    counts: Vec<(String, String, String, String, i64, i64)>,
    #[serde(default)]
    children: Vec<ChildRow>,
}

/// The overview of the unit `root_id` for a campaign and year (None: all) in the subtrees
/// `visible` (None: every unit is visible), or [`OverviewAnswer::Unchanged`] when
/// `known_version` is still current. One round trip, through a statement each connection
/// prepares once.
pub async fn overview(
    conn: &mut AsyncPgConnection,
    root_id: Uuid,
    visible: Option<&[String]>,
    campaign_id: Option<Uuid>,
    year: Option<i32>,
    today: chrono::NaiveDate,
    known_version: Option<&str>,
) -> Result<OverviewAnswer, crate::error::AppError> {
    let text: Option<String> = diesel::select(overview_of(
        root_id,
        visible,
        campaign_id,
        year,
        today,
        known_version,
    ))
    .get_result(conn)
    .await?;
    let Some(text) = text else {
        return Ok(OverviewAnswer::NotFound);
    };
    let json: OverviewJson = serde_json::from_str(&text).map_err(|error| {
        crate::error::AppError::internal(
            anyhow::Error::new(error).context("overview_of answered malformed JSON"),
        )
    })?;
    if json.unchanged {
        return Ok(OverviewAnswer::Unchanged);
    }
    Ok(OverviewAnswer::Computed(Overview {
        version: json.version,
        path: json.path,
        name: json.name,
        counts: json
            .counts
            .into_iter()
            .map(|(entity, kind, status, result, count, overdue)| TallyRow {
                entity,
                kind,
                status,
                result,
                count,
                overdue,
            })
            .collect(),
        children: json.children,
    }))
}

/// Pledge statuses that count as registered: submitted and not withdrawn.
pub const REGISTERED: [&str; 3] = ["submitted", "approved", "assessed"];
/// Results that count as achieved.
pub const ACHIEVED: [&str; 2] = ["achieved", "exceeded"];
/// Nomination statuses of exemplars.
pub const EXEMPLARS: [&str; 2] = ["recognized", "commended"];

/// A group's counts, as the groupings add them up: from tally rows (by status and result) and
/// from subtrees' sums (a child's, with `sign` -1 for the root's own rows).
pub trait GroupCounts: Default {
    /// The entity whose rows it counts (`p` or `n`).
    const ENTITY: &'static str;
    fn add_row(&mut self, row: &TallyRow, sign: i64);
    fn add_sums(&mut self, sums: &SubtreeSums, sign: i64);
    fn total(&self) -> i64;
    fn keyed(self, key: String) -> Self;
}

impl GroupCounts for PledgeCounts {
    const ENTITY: &'static str = "p";

    fn add_row(&mut self, row: &TallyRow, sign: i64) {
        let count = sign * row.count;
        self.total += count;
        if REGISTERED.contains(&row.status.as_str()) {
            self.registered += count;
        }
        if row.status == "assessed" {
            self.assessed += count;
        }
        if ACHIEVED.contains(&row.result.as_str()) {
            self.achieved += count;
        }
        self.overdue += sign * row.overdue;
    }

    fn add_sums(&mut self, sums: &SubtreeSums, sign: i64) {
        self.total += sign * sums.total;
        self.registered += sign * sums.registered;
        self.assessed += sign * sums.assessed;
        self.achieved += sign * sums.achieved;
        self.overdue += sign * sums.overdue;
    }

    fn total(&self) -> i64 {
        self.total
    }

    fn keyed(self, key: String) -> Self {
        Self { key, ..self }
    }
}

impl GroupCounts for NominationCounts {
    const ENTITY: &'static str = "n";

    fn add_row(&mut self, row: &TallyRow, sign: i64) {
        self.total += sign * row.count;
        if EXEMPLARS.contains(&row.status.as_str()) {
            self.exemplars += sign * row.count;
        }
    }

    fn add_sums(&mut self, sums: &SubtreeSums, sign: i64) {
        self.total += sign * sums.total;
        self.exemplars += sign * sums.exemplars;
    }

    fn total(&self) -> i64 {
        self.total
    }

    fn keyed(self, key: String) -> Self {
        Self { key, ..self }
    }
}

/// The groups of `grouping` that tallies answer (`status`, `result`, `kind` of pledges;
/// `status`, `nominee_type` of nominations; `child` of both, handled by the caller; the value
/// of facet rows, [`FACET_VALUE`]); None for the others.
pub fn tally_key<'a>(grouping: &str, row: &'a TallyRow) -> Option<&'a str> {
    match (row.entity.as_str(), grouping) {
        (_, "status") => Some(&row.status),
        ("p", "result") => Some(&row.result),
        ("p", "kind") | ("n", "nominee_type") | (_, FACET_VALUE) => Some(&row.kind),
        _ => None,
    }
}

/// The counts of `T`'s entity (pledges: [`PledgeCounts`], nominations: [`NominationCounts`])
/// grouped by the key of [`tally_key`], or for `child` by the child's path, with `self` for the
/// root's own rows (the subtree minus its children).
pub fn grouped<T: GroupCounts>(
    grouping: &str,
    subtree: &[TallyRow],
    children: &[SubtreeSums],
) -> Vec<T> {
    let mut groups: std::collections::BTreeMap<String, T> = std::collections::BTreeMap::new();
    let rows = subtree.iter().filter(|row| row.entity == T::ENTITY);
    if grouping == "child" {
        for row in rows {
            groups.entry("self".to_owned()).or_default().add_row(row, 1);
        }
        for child in children.iter().filter(|child| child.entity == T::ENTITY) {
            groups
                .entry("self".to_owned())
                .or_default()
                .add_sums(child, -1);
            groups
                .entry(child.key.clone())
                .or_default()
                .add_sums(child, 1);
        }
    } else {
        for row in rows {
            if let Some(key) = tally_key(grouping, row) {
                groups.entry(key.to_owned()).or_default().add_row(row, 1);
            }
        }
    }
    groups
        .into_iter()
        .filter(|(_, counts)| counts.total() != 0)
        .map(|(key, counts)| counts.keyed(key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{ACHIEVED, EXEMPLARS, REGISTERED, path_upper};
    use crate::nominations::state::NominationStatus;
    use crate::pledges::state::{PledgeResult, PledgeStatus};

    /// The lists the tallies are summed by say what the state predicates say (and those what
    /// the SQL predicates of `r` say: tests/api/sql_schema.rs).
    #[test]
    fn the_status_lists_match_the_state_predicates() {
        let mut registered: Vec<_> = PledgeStatus::ALL
            .into_iter()
            .filter(|status| status.is_registered())
            .map(PledgeStatus::as_str)
            .collect();
        let mut achieved: Vec<_> = PledgeResult::ALL
            .into_iter()
            .filter(|result| result.is_achievement())
            .map(PledgeResult::as_str)
            .collect();
        let mut exemplars: Vec<_> = NominationStatus::ALL
            .into_iter()
            .filter(|status| status.is_exemplar())
            .map(NominationStatus::as_str)
            .collect();
        let sorted = |list: &[&'static str]| {
            let mut list = list.to_vec();
            list.sort_unstable();
            list
        };
        registered.sort_unstable();
        achieved.sort_unstable();
        exemplars.sort_unstable();
        assert_eq!(registered, sorted(&REGISTERED));
        assert_eq!(achieved, sorted(&ACHIEVED));
        assert_eq!(exemplars, sorted(&EXEMPLARS));
    }

    #[test]
    fn upper_bound_follows_every_descendant_and_nothing_else() {
        let upper = path_upper("1.7.");
        assert_eq!(upper, "1.7/");
        for inside in ["1.7.", "1.7.42.", "1.7.999999.1."] {
            assert!(inside >= "1.7." && inside < upper.as_str(), "{inside}");
        }
        for outside in ["1.70.", "1.8.", "1.6.9.", "2."] {
            assert!(
                !(outside >= "1.7." && outside < upper.as_str()),
                "{outside}"
            );
        }
    }
}
