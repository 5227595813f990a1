//! The fold moves the deltas into the tallies in bounded batches: a backlog larger than one
//! batch drains call by call, each call moving at most one batch, with every aggregate equal
//! to a brute-force count over the raw rows after each one, and the tally version moving with
//! each, so a kept overview is never reused across a partial fold. The facet tallies (field,
//! unit kind, month, title per unit kind) are held to the same count, through edits of the
//! facet values, a unit changing kind, and the backfill of the rows that existed before them.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use thidua::stats::{repo, tallies};
use uuid::Uuid;

use crate::helpers::db::TestDb;

type Row = (String, String, String, String, i64, i64);

/// Every facet of pledges the tree of [`backlog`] can hold (its units are districts, communes
/// and hamlets).
const FACETS: [&str; 6] = [
    "field",
    "organization_kind",
    "month",
    "title:district",
    "title:commune",
    "title:hamlet",
];

/// A small tree (root, two children, a grandchild under each), a campaign, `pledges` pledges
/// spread over every unit, status, result, year, field, title name (some title pledges have
/// none) and a deadline around today, then a few status changes: one delta per organization
/// and pledge, two per change, none folded.
async fn backlog(db: &TestDb, pledges: i32) -> (Uuid, Uuid) {
    let client = db.client().await;
    let root = Uuid::now_v7();
    let campaign = Uuid::now_v7();
    client
        .batch_execute(&format!(
            "INSERT INTO organizations (id, parent_id, kind, name, path, depth) VALUES \
               ('{root}', NULL, 'district', 'Huyện Gốc', '1.', 0); \
             INSERT INTO organizations (id, parent_id, kind, name, path, depth) \
             SELECT gen_random_uuid(), '{root}', 'commune', 'Xã ' || c, '1.' || c || '.', 1 \
             FROM generate_series(2, 3) AS c; \
             INSERT INTO organizations (id, parent_id, kind, name, path, depth, active) \
             SELECT gen_random_uuid(), o.id, 'hamlet', 'Ấp ' || o.seq, o.path || (10 + o.seq) || '.', 2, \
                    o.path <> '1.3.' \
             FROM organizations AS o WHERE o.depth = 1; \
             INSERT INTO campaigns (id, code, name, owner_organization_id, starts_on, ends_on) \
             VALUES ('{campaign}', 'FOLD', 'Phong trào', '{root}', '2020-01-01', '2030-12-31'); \
             INSERT INTO pledges (id, campaign_id, organization_id, organization_path, \
                                  root_organization_id, year, kind, field, title, title_name, deadline, \
                                  status, result, created_by) \
             SELECT gen_random_uuid(), '{campaign}', o.id, o.path, '{root}', 2021 + g % 3, \
                    CASE WHEN g % 2 = 0 THEN 'target' ELSE 'title' END, \
                    (ARRAY['f', 'g', 'h'])[1 + g % 3], 'Chỉ tiêu ' || g, \
                    CASE WHEN g % 2 = 1 AND g % 7 <> 0 \
                         THEN (ARRAY['Chi bộ trong sạch', 'Tập thể tiên tiến'])[1 + g / 2 % 2] END, \
                    current_date + (g % 71 - 35), \
                    (ARRAY['draft', 'submitted', 'approved', 'assessed', 'returned', 'withdrawn'])[1 + g % 6], \
                    CASE WHEN g % 6 = 3 THEN (ARRAY['exceeded', 'achieved', 'partially_achieved', \
                                                    'not_achieved'])[1 + g / 6 % 4] END, \
                    gen_random_uuid() \
             FROM generate_series(1, {pledges}) AS g \
             CROSS JOIN LATERAL (SELECT id, path FROM organizations \
                                 ORDER BY path OFFSET g % 5 LIMIT 1) AS o; \
             UPDATE pledges SET status = 'approved' WHERE status = 'submitted' AND year = 2022; \
             UPDATE pledges SET status = 'withdrawn' WHERE status = 'draft' AND kind = 'title';"
        ))
        .await
        .unwrap();
    (root, campaign)
}

/// Every count of every subtree in two windows, as the readers answer (folded tallies plus
/// the pending deltas) and as the raw rows say, sorted, keys with nothing left out.
async fn both_counts(
    db: &TestDb,
    campaign: Uuid,
    facets: &[&str],
) -> Vec<(String, Vec<Row>, Vec<Row>)> {
    let client = db.client().await;
    let paths: Vec<String> = client
        .query("SELECT path FROM organizations ORDER BY path", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut compared = Vec::new();
    for path in paths {
        for (window_campaign, year) in [(None, None), (Some(campaign.to_string()), Some(2022))] {
            let window_campaign = &window_campaign;
            let read = |statement: &'static str| {
                let (client, path) = (&client, &path);
                async move {
                    let mut rows: Vec<Row> = client
                        .query(
                            statement,
                            &[
                                path as &(dyn tokio_postgres::types::ToSql + Sync),
                                &tallies::path_upper(path),
                                window_campaign,
                                &year,
                                &facets,
                            ],
                        )
                        .await
                        .unwrap()
                        .iter()
                        .map(|row| {
                            (
                                row.get(0),
                                row.get(1),
                                row.get(2),
                                row.get(3),
                                row.get(4),
                                row.get(5),
                            )
                        })
                        .collect();
                    rows.sort();
                    rows
                }
            };
            let tallied = read(
                "SELECT entity, kind, status, result, sum(count)::bigint, sum(overdue)::bigint \
                 FROM r.subtree_tally($1, $2, $3::text::uuid, $4, current_date) \
                 GROUP BY 1, 2, 3, 4 HAVING sum(count) <> 0 OR sum(overdue) <> 0 \
                 UNION ALL \
                 SELECT facet, value, status, result, sum(count)::bigint, 0 \
                 FROM r.facet_tally($1, $2, 'p', $5, $3::text::uuid, $4, current_date) \
                 WHERE status <> '' GROUP BY 1, 2, 3, 4 HAVING sum(count) <> 0 \
                 UNION ALL \
                 SELECT facet, value, 'overdue', '', 0, sum(overdue)::bigint \
                 FROM r.facet_tally($1, $2, 'p', $5, $3::text::uuid, $4, current_date) \
                 GROUP BY 1, 2 HAVING sum(overdue) <> 0",
            )
            .await;
            let raw = read(
                "WITH faceted AS ( \
                   SELECT f.facet, f.value, p.status, coalesce(p.result, 'none') AS result, \
                          p.deadline < current_date AND p.status NOT IN ('assessed', 'withdrawn') AS overdue \
                   FROM pledges AS p JOIN organizations AS o ON o.id = p.organization_id \
                   CROSS JOIN LATERAL (VALUES ('field', p.field), ('organization_kind', o.kind), \
                       ('month', to_char(p.deadline, 'YYYY-MM')), \
                       ('title:' || o.kind, CASE WHEN p.kind = 'title' THEN coalesce(p.title_name, '') END)) \
                       AS f (facet, value) \
                   WHERE p.organization_path LIKE $1 || '%' AND f.value IS NOT NULL \
                     AND ($3::text IS NULL OR p.campaign_id = $3::text::uuid) \
                     AND ($4::int IS NULL OR p.year = $4)) \
                 SELECT 'p', kind, status, coalesce(result, 'none'), count(*), \
                        count(*) FILTER (WHERE deadline < current_date \
                                         AND status NOT IN ('assessed', 'withdrawn')) \
                 FROM pledges WHERE organization_path LIKE $1 || '%' AND $2::text IS NOT NULL \
                   AND ($3::text IS NULL OR campaign_id = $3::text::uuid) AND ($4::int IS NULL OR year = $4) \
                 GROUP BY 1, 2, 3, 4 \
                 UNION ALL \
                 SELECT 'o', kind, CASE WHEN active THEN 'active' ELSE 'inactive' END, 'none', \
                        count(*), 0 \
                 FROM organizations WHERE path LIKE $1 || '%' AND $5::text[] IS NOT NULL \
                 GROUP BY 1, 2, 3, 4 \
                 UNION ALL \
                 SELECT facet, value, status, result, count(*), 0 FROM faceted GROUP BY 1, 2, 3, 4 \
                 UNION ALL \
                 SELECT facet, value, 'overdue', '', 0, count(*) FROM faceted WHERE overdue \
                 GROUP BY 1, 2",
            )
            .await;
            compared.push((format!("{path} {window_campaign:?} {year:?}"), tallied, raw));
        }
    }
    compared
}

async fn assert_exact(db: &TestDb, campaign: Uuid, when: &str) {
    assert_exact_in(db, campaign, &FACETS, when).await;
}

/// [`assert_exact`] with the facets `facets`; and the children's sums of every unit
/// ([`sums_agree`]), and each unit's own registered pledges ([`units_agree`]).
async fn assert_exact_in(db: &TestDb, campaign: Uuid, facets: &[&str], when: &str) {
    for (window, tallied, raw) in both_counts(db, campaign, facets).await {
        assert_eq!(tallied, raw, "{when}: {window}");
    }
    sums_agree(db, campaign, when).await;
    units_agree(db, campaign, when).await;
}

/// `r.unit_tally` (`/stats/coverage`: each unit's own registered pledges, by unit id) answers,
/// for every unit in three windows, what a count of its pledges says, pending deltas included.
async fn units_agree(db: &TestDb, campaign: Uuid, when: &str) {
    let client = db.client().await;
    for (window_campaign, year) in [
        ("NULL".to_owned(), "NULL"),
        (format!("'{campaign}'"), "2022"),
        ("NULL".to_owned(), "2021"),
    ] {
        let compared = client
            .query(
                &format!(
                    "SELECT o.path, t.registered,                             (SELECT count(*) FROM pledges AS p                              WHERE p.organization_id = o.id                                AND p.status IN ('submitted', 'approved', 'assessed')                                AND ({window_campaign}::uuid IS NULL OR p.campaign_id = {window_campaign})                                AND ({year}::int IS NULL OR p.year = {year}))                      FROM organizations AS o                      JOIN r.unit_tally(ARRAY(SELECT id FROM organizations), {window_campaign}, {year}) AS t                        ON t.organization_id = o.id                      ORDER BY o.path"
                ),
                &[],
            )
            .await
            .unwrap();
        let units = db.count("SELECT count(*) FROM organizations").await;
        assert_eq!(
            i64::try_from(compared.len()).unwrap(),
            units,
            "{when}: a row a unit"
        );
        assert!(
            compared.iter().any(|row| row.get::<_, i64>(1) > 0),
            "{when}: some unit registered in {window_campaign} {year}"
        );
        for row in compared {
            let (path, tallied, counted): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
            assert_eq!(
                tallied, counted,
                "{when}: the unit {path}'s own registered pledges in {window_campaign} {year}"
            );
        }
    }
}

/// The sums `r.subtree_sums` answers (`group_by=child`, the leaderboard: every child's sums in
/// one call) for the children of every unit in two windows, keyed by child (`by_child`) or all
/// under their parent's key, against `r.subtree_tally` (checked against the raw rows by
/// [`both_counts`]) of each child summed here, pending deltas included. Rows whose sums are all
/// zero are left out of both.
async fn sums_agree(db: &TestDb, campaign: Uuid, when: &str) {
    for (window_campaign, year) in [
        ("NULL".to_owned(), "NULL"),
        (format!("'{campaign}'"), "2022"),
    ] {
        for by_child in [true, false] {
            let key = if by_child { "c.path" } else { "p.path" };
            let read = db.texts(&format!(
                "SELECT concat_ws(' ', p.path, x.key, x.entity, x.total, x.registered, x.assessed, \
                                  x.achieved, x.exemplars, x.overdue) \
                 FROM organizations AS p \
                 CROSS JOIN LATERAL r.subtree_sums( \
                     ARRAY(SELECT {key} FROM organizations AS c WHERE c.parent_id = p.id ORDER BY c.path), \
                     ARRAY(SELECT c.path FROM organizations AS c WHERE c.parent_id = p.id ORDER BY c.path), \
                     {window_campaign}, {year}, current_date) AS x \
                 WHERE (x.total, x.registered, x.assessed, x.achieved, x.exemplars, x.overdue) \
                       <> (0, 0, 0, 0, 0, 0) \
                 ORDER BY 1"
            ))
            .await;
            let summed = db.texts(&format!(
                "SELECT concat_ws(' ', s.path, s.key, s.entity, s.total, s.registered, s.assessed, \
                                  s.achieved, s.exemplars, s.overdue) FROM ( \
                   SELECT p.path, {key} AS key, x.entity, sum(x.count)::bigint AS total, \
                          coalesce(sum(x.count) FILTER (WHERE x.entity = 'p' \
                              AND x.status IN ('submitted', 'approved', 'assessed')), 0)::bigint \
                              AS registered, \
                          coalesce(sum(x.count) FILTER (WHERE x.entity = 'p' AND x.status = 'assessed'), \
                                   0)::bigint AS assessed, \
                          coalesce(sum(x.count) FILTER (WHERE x.entity = 'p' \
                              AND x.result IN ('achieved', 'exceeded')), 0)::bigint AS achieved, \
                          coalesce(sum(x.count) FILTER (WHERE x.entity = 'n' \
                              AND x.status IN ('recognized', 'commended')), 0)::bigint \
                              AS exemplars, \
                          sum(x.overdue)::bigint AS overdue \
                   FROM organizations AS p JOIN organizations AS c ON c.parent_id = p.id \
                   CROSS JOIN LATERAL r.subtree_tally(c.path, left(c.path, -1) || '/', {window_campaign}, \
                                                      {year}, current_date) AS x \
                   WHERE x.entity <> 'o' \
                   GROUP BY p.path, {key}, x.entity) AS s \
                 WHERE s.total <> 0 OR s.overdue <> 0 \
                 ORDER BY 1"
            ))
            .await;
            assert!(!summed.is_empty(), "{when}: children hold records");
            assert_eq!(
                read, summed,
                "{when}: children's sums in {window_campaign} {year}, by child: {by_child}"
            );
        }
    }
}

async fn version(db: &TestDb) -> String {
    db.client()
        .await
        .query_one("SELECT r.tally_version()", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_backlog_larger_than_a_batch_drains_one_batch_per_call_with_exact_counts_after_each() {
    let db = TestDb::new().await;
    let (root, campaign) = backlog(&db, 230).await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let batch = 40;
    let mut pending = db.count("SELECT count(*) FROM tally_deltas").await;
    assert!(pending > 3 * i64::from(batch), "{pending} deltas");
    assert_exact(&db, campaign, "nothing folded").await;

    let mut calls = 0;
    loop {
        let before = version(&db).await;
        let moved = tallies::fold_batch(&mut conn, batch).await.unwrap();
        calls += 1;
        let left = db.count("SELECT count(*) FROM tally_deltas").await;
        assert_eq!(moved, pending.min(i64::from(batch)), "call {calls}");
        assert_eq!(
            left,
            pending - moved,
            "call {calls}: the oldest {moved} went"
        );
        assert_exact(&db, campaign, &format!("after call {calls}")).await;
        if moved == 0 {
            assert_eq!(
                version(&db).await,
                before,
                "nothing folded: the version stands"
            );
            break;
        }
        // A kept overview is never reused across a partial fold.
        let after = version(&db).await;
        assert_ne!(after, before, "call {calls} moved the tally version");
        let answer: Option<String> = db
            .client()
            .await
            .query_one(
                "SELECT r.overview_of($1::text::uuid, NULL, NULL, NULL, current_date, $2)",
                &[&root.to_string(), &before],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            answer
                .as_deref()
                .is_some_and(|text| !text.contains("unchanged")),
            "call {calls}: {answer:?}"
        );
        pending = left;
    }

    assert_eq!(pending, 0);
    assert!(calls > 4, "{calls} calls");
}

#[tokio::test]
async fn folding_in_batches_drains_the_whole_backlog() {
    let db = TestDb::new().await;
    let (_, campaign) = backlog(&db, 120).await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let pending = db.count("SELECT count(*) FROM tally_deltas").await;

    let moved = tallies::fold_in_batches(&mut conn, 16).await.unwrap();

    assert_eq!(moved, pending);
    assert_eq!(db.count("SELECT count(*) FROM tally_deltas").await, 0);
    assert_exact(&db, campaign, "drained").await;
}

/// The facet values of queued and folded rows change: fields, title names, deadlines and a
/// pledge's unit are edited, and a unit changes kind (its pledges' counts move between the
/// kind facets). The counts stay exact before and after each fold.
#[tokio::test]
async fn facet_counts_follow_edits_and_a_unit_changing_kind() {
    let db = TestDb::new().await;
    let (_, campaign) = backlog(&db, 90).await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    tallies::fold(&mut conn).await.unwrap();
    assert_exact(&db, campaign, "folded").await;

    db.execute_sql(
        "UPDATE pledges SET field = 'z' WHERE status = 'approved'; \
         UPDATE pledges SET title_name = 'Đổi tên' WHERE kind = 'title' AND year = 2021; \
         UPDATE pledges SET title_name = NULL WHERE kind = 'title' AND status = 'assessed'; \
         UPDATE pledges SET deadline = deadline + 45 WHERE status = 'returned'; \
         UPDATE pledges AS p SET organization_id = o.id, organization_path = o.path \
         FROM organizations AS o WHERE o.path = '1.2.' AND p.organization_path = '1.3.';",
    )
    .await;
    assert_exact(&db, campaign, "edited, pending").await;
    tallies::fold(&mut conn).await.unwrap();
    assert_exact(&db, campaign, "edited, folded").await;

    // A commune becomes a ward, a hamlet a party cell: every pledge they hold changes unit kind.
    db.execute_sql(
        "UPDATE organizations SET kind = 'ward' WHERE path = '1.2.'; \
         UPDATE organizations SET kind = 'party_cell' WHERE depth = 2 AND path LIKE '1.2.%';",
    )
    .await;
    let moved_kinds: Vec<&str> = FACETS
        .into_iter()
        .chain(["title:ward", "title:party_cell"])
        .collect();
    assert_exact_in(&db, campaign, &moved_kinds, "kinds changed, pending").await;
    tallies::fold(&mut conn).await.unwrap();
    assert_exact_in(&db, campaign, &moved_kinds, "kinds changed, folded").await;
    let wards = db
        .count(
            "SELECT coalesce(sum(count), 0)::bigint FROM facet_tallies \
             WHERE ancestor_path = '1.' AND facet = 'organization_kind' AND value = 'ward'",
        )
        .await;
    let held = db
        .count("SELECT count(*) FROM pledges WHERE organization_path = '1.2.'")
        .await;
    assert!(held > 0);
    assert_eq!(wards, held, "the ward's pledges count under its new kind");
}

/// Migration 000600 queued the rows that existed before it as pairs of deltas: counted in the
/// facets, nothing in the plain tallies. Run again on a database whose facet tallies are
/// emptied, its statement rebuilds them exactly.
#[tokio::test]
async fn the_backfill_of_the_facet_migration_counts_the_rows_that_existed() {
    let db = TestDb::new().await;
    let (_, campaign) = backlog(&db, 60).await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    tallies::fold(&mut conn).await.unwrap();
    db.execute_sql("DELETE FROM facet_tallies; DELETE FROM facet_deadline_tallies;")
        .await;

    rerun_backfill(
        &db,
        &mut conn,
        campaign,
        "2026-12-06-000600_facet_tallies",
        "INSERT INTO tally_deltas",
    )
    .await;
}

/// Migration 2026-12-07-000500 counted the registered pledges that existed into
/// `unit_tallies`, while the deltas queued before it carry no unit (the fold leaves them out of
/// the unit counts). Run again on a database whose unit tallies are emptied and whose queued
/// deltas lose their unit, as before the migration, its statement gives exact counts, queued
/// and folded.
#[tokio::test]
async fn the_backfill_of_the_unit_tallies_counts_the_pledges_that_existed() {
    let db = TestDb::new().await;
    let (_, campaign) = backlog(&db, 60).await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    tallies::fold(&mut conn).await.unwrap();
    db.execute_sql(
        "UPDATE pledges SET status = 'submitted' WHERE status = 'draft'; \
         UPDATE pledges SET status = 'withdrawn' WHERE status = 'approved' AND year = 2021;",
    )
    .await;
    assert!(db.count("SELECT count(*) FROM tally_deltas").await > 0);
    db.execute_sql("DELETE FROM unit_tallies; UPDATE tally_deltas SET organization_id = NULL;")
        .await;

    rerun_backfill(
        &db,
        &mut conn,
        campaign,
        "2026-12-07-000500_unit_tallies",
        "INSERT INTO unit_tallies",
    )
    .await;
}

/// Migration 2026-12-07-000600 summed the tallies into `subtree_sums`, under the fold's lock,
/// leaving the queued deltas to the next fold. Run again on a database whose sums are emptied,
/// with changes queued and open pledges behind the horizon, its statement gives exact sums,
/// queued and folded.
#[tokio::test]
async fn the_backfill_of_the_subtree_sums_sums_the_tallies() {
    let db = TestDb::new().await;
    let (_, campaign) = backlog(&db, 60).await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    tallies::fold(&mut conn).await.unwrap();
    db.execute_sql(
        "UPDATE pledges SET status = 'assessed', result = 'achieved' WHERE status = 'approved' AND year = 2022; \
         UPDATE pledges SET deadline = current_date - 30 WHERE status = 'draft';",
    )
    .await;
    assert!(db.count("SELECT count(*) FROM tally_deltas").await > 0);
    assert!(
        db.count("SELECT count(*) FROM subtree_sums WHERE overdue > 0")
            .await
            > 0
    );
    db.execute_sql("DELETE FROM subtree_sums;").await;

    rerun_backfill(
        &db,
        &mut conn,
        campaign,
        "2026-12-07-000600_subtree_sums",
        "SELECT pg_advisory_xact_lock",
    )
    .await;
    assert!(
        db.count("SELECT count(*) FROM subtree_sums WHERE overdue > 0")
            .await
            > 0,
        "overdue pledges were compared"
    );
}

/// Runs the backfill of `migration` (its `up.sql` from `start` to the end) on a database whose
/// table it fills was emptied, then requires exact counts with the deltas still queued and
/// after a fold.
async fn rerun_backfill(
    db: &TestDb,
    conn: &mut AsyncPgConnection,
    campaign: Uuid,
    migration: &str,
    start: &str,
) {
    db.execute_sql(&backfill(migration, start, None)).await;
    assert_exact(
        db,
        campaign,
        &format!("{migration} backfilled, deltas queued"),
    )
    .await;
    tallies::fold(conn).await.unwrap();
    assert_exact(db, campaign, &format!("{migration} backfilled, folded")).await;
}

/// The backfill of a migration: its `up.sql` from `start` to the end, or up to and including
/// the first `end` after it.
fn backfill(migration: &str, start: &str, end: Option<char>) -> String {
    let up = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(migration)
            .join("up.sql"),
    )
    .unwrap();
    let from = up.find(start).expect("the backfill");
    let to = end.map_or(up.len(), |end| {
        from + up[from..].find(end).expect("its end") + 1
    });
    up[from..to].to_owned()
}

/// Every row of the six tally tables, as text, sorted.
async fn tally_tables(db: &TestDb) -> Vec<String> {
    db.texts(
        "SELECT 'tallies ' || t::text FROM tallies AS t \
             UNION ALL SELECT 'deadline_tallies ' || t::text FROM deadline_tallies AS t \
             UNION ALL SELECT 'facet_tallies ' || t::text FROM facet_tallies AS t \
             UNION ALL SELECT 'facet_deadline_tallies ' || t::text FROM facet_deadline_tallies AS t \
             UNION ALL SELECT 'unit_tallies ' || t::text FROM unit_tallies AS t \
             UNION ALL SELECT 'subtree_sums ' || t::text FROM subtree_sums AS t \
             ORDER BY 1",
    )
    .await
}

/// `r.rebuild_tallies()` (`thidua rebuild-tallies`, and `thidua generate` after loading without
/// triggers) writes, from the rows alone, exactly the rows that folding every delta wrote:
/// plain, deadline and facet tallies, of pledges, nominations and units, with the deadlines
/// behind the horizon merged. It empties the queue and moves the tally version; rebuilt while
/// changes are still queued, every count is exact.
#[tokio::test]
async fn a_rebuild_writes_exactly_what_folding_every_delta_wrote() {
    let db = TestDb::new().await;
    let (root, campaign) = backlog(&db, 150).await;
    db.execute_sql(&format!(
        "INSERT INTO nominations (id, campaign_id, nominating_organization_id, organization_path, \
           root_organization_id, year, nominee_type, nominee_name, field, status, created_by, \
           created_at, updated_at, version) \
         SELECT gen_random_uuid(), '{campaign}', o.id, o.path, '{root}', 2021 + g % 3, \
                CASE WHEN g % 2 = 0 THEN 'individual' ELSE 'collective' END, 'Người số ' || g, \
                (ARRAY['f', 'g', 'h', 'k'])[1 + g % 4], \
                (ARRAY['draft', 'submitted', 'under_review', 'recognized', 'rejected', 'withdrawn'])[1 + g % 6], \
                gen_random_uuid(), now(), now(), 1 \
         FROM generate_series(1, 60) AS g \
         CROSS JOIN LATERAL (SELECT id, path FROM organizations ORDER BY path OFFSET g % 5 LIMIT 1) AS o"
    ))
    .await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    tallies::fold_in_batches(&mut conn, 1_000).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM tally_deltas").await, 0);
    let folded = tally_tables(&db).await;
    for table in [
        "tallies ",
        "deadline_tallies ",
        "facet_tallies ",
        "facet_deadline_tallies ",
        "unit_tallies ",
        "subtree_sums ",
    ] {
        assert!(
            folded.iter().any(|row| row.starts_with(table)),
            "{table}is empty"
        );
    }
    assert!(
        folded.iter().any(|row| row.contains(",n,")),
        "nominations are counted"
    );
    assert!(
        folded.iter().any(|row| row.contains("-infinity")),
        "some deadlines fell behind the horizon"
    );
    let before = version(&db).await;

    let written = tallies::rebuild(&mut conn).await.unwrap();

    assert_eq!(tally_tables(&db).await, folded, "rebuilt = folded");
    assert_eq!(usize::try_from(written).unwrap(), folded.len());
    assert_eq!(db.count("SELECT count(*) FROM tally_deltas").await, 0);
    assert_ne!(version(&db).await, before, "the version moves");

    // Status changes, moves, a unit changing kind: folded, then rebuilt from the rows.
    db.execute_sql(
        "UPDATE pledges SET status = 'assessed', result = 'achieved' WHERE status = 'approved'; \
         UPDATE pledges AS p SET organization_id = o.id, organization_path = o.path \
         FROM organizations AS o WHERE o.path = '1.3.' AND p.organization_path = '1.2.'; \
         UPDATE nominations SET status = 'recognized', field = 'z' WHERE status = 'under_review'; \
         UPDATE organizations SET kind = 'ward', active = false WHERE path = '1.3.';",
    )
    .await;
    tallies::fold_in_batches(&mut conn, 1_000).await.unwrap();
    let folded = tally_tables(&db).await;
    tallies::rebuild(&mut conn).await.unwrap();
    assert_eq!(tally_tables(&db).await, folded, "changed: rebuilt = folded");

    db.execute_sql(
        "UPDATE pledges SET field = 'y', deadline = deadline - 30 WHERE status = 'draft'; \
         DELETE FROM pledges WHERE status = 'returned'; \
         DELETE FROM nominations;",
    )
    .await;
    assert!(db.count("SELECT count(*) FROM tally_deltas").await > 0);
    // (The nominations go too: the brute-force count of `both_counts` counts none.)
    tallies::rebuild(&mut conn).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM tally_deltas").await, 0);
    assert_exact_in(
        &db,
        campaign,
        &[&FACETS[..], &["title:ward"]].concat(),
        "rebuilt with changes queued",
    )
    .await;
}

/// Every page of `/stats/titles` units under `root`, read by `walk`, `limit` at a time.
async fn title_pages(
    conn: &mut AsyncPgConnection,
    filter: &repo::TitleFilter<'_>,
    limit: i64,
    walk: repo::TitleWalk,
) -> Vec<(String, String, String, i64, i64)> {
    let mut units = Vec::new();
    let mut after: Option<repo::TitlePosition> = None;
    loop {
        let page = repo::titles_page(conn, filter, after.as_ref(), limit, walk)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((
            last.name.clone(),
            last.title_name.clone(),
            last.organization_id,
        ));
        let full = page.len() as i64 == limit;
        units.extend(page.into_iter().map(|row| {
            (
                row.name,
                row.organization_id.to_string(),
                row.title_name,
                row.registered,
                row.achieved,
            )
        }));
        if !full {
            break;
        }
    }
    units
}

/// The three ways of reading a page of `/stats/titles` units (through the subtree's title
/// pledges, its units sorted by name, or every unit in name order) give the same units in the
/// same order, page after page, for every subtree, filter and page size, and the same as a
/// count over the raw rows.
#[tokio::test]
async fn every_walk_of_the_titles_page_reads_the_same_units() {
    let db = TestDb::new().await;
    let (_, campaign) = backlog(&db, 120).await;
    // Two units with one name: the unit id orders them. The commune 1.2. stood at 1.3. in
    // 2021 (as a restructuring records it: a placement) and its pledges of that year kept that
    // path (a unit that moves takes only the pledges of the years since along): a unit's path
    // today does not bound its pledges.
    db.execute_sql(
        "UPDATE organizations SET name = 'Ấp Trùng Tên' WHERE depth = 2; \
         UPDATE pledges SET organization_path = '1.3.' \
         WHERE organization_path = '1.2.' AND year = 2021; \
         INSERT INTO restructurings (id, effective_on, legal_basis, steps, preview, touched_paths) \
         VALUES ('00000000-0000-7000-8000-000000000001', '2022-01-01', 'Nghị quyết', '[]', '{}', '{}'); \
         INSERT INTO organization_placements \
           (organization_id, parent_id, path, depth, placed_on, ended_on, restructuring_id) \
         SELECT id, parent_id, '1.3.', 1, NULL, '2021-12-31', '00000000-0000-7000-8000-000000000001' \
         FROM organizations WHERE path = '1.2.';",
    )
    .await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let client = db.client().await;
    let today = chrono::Utc::now().date_naive();
    for root in ["1.", "1.2.", "1.3."] {
        for (campaign_id, year) in [(None, None), (Some(campaign), Some(2021))] {
            let windows = [repo::Window {
                root_path: root.to_owned(),
                campaign_id,
                year,
                today,
            }];
            for (kind, title) in [
                (None, None),
                (Some("hamlet"), None),
                (None, Some("Chi bộ trong sạch")),
            ] {
                let filter = repo::TitleFilter {
                    windows: &windows,
                    organization_kind: kind,
                    title_name: title,
                };
                let raw: Vec<(String, String, String, i64, i64)> = client
                    .query(
                        "SELECT o.name, o.id::text, coalesce(p.title_name, p.title), count(*), \
                                count(*) FILTER (WHERE p.result IN ('achieved', 'exceeded')) \
                         FROM pledges AS p JOIN organizations AS o ON o.id = p.organization_id \
                         WHERE p.organization_path LIKE $1 || '%' AND p.kind = 'title' \
                           AND p.status IN ('submitted', 'approved', 'assessed') \
                           AND ($2::text IS NULL OR p.campaign_id = $2::text::uuid) \
                           AND ($3::int IS NULL OR p.year = $3) \
                           AND ($4::text IS NULL OR o.kind = $4) \
                           AND ($5::text IS NULL OR p.title_name = $5) \
                         GROUP BY o.name, o.id, 3 \
                         ORDER BY o.name COLLATE \"vi-x-icu\", o.id, 3",
                        &[
                            &root,
                            &campaign_id.map(|id| id.to_string()),
                            &year,
                            &kind,
                            &title,
                        ],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
                    .collect();
                assert!(
                    root == "1.3." || !raw.is_empty(),
                    "{root} {kind:?} {title:?}: nothing to page"
                );
                for limit in 1..=3 {
                    let case = format!("{root} {year:?} {kind:?} {title:?} limit {limit}");
                    let pledges =
                        title_pages(&mut conn, &filter, limit, repo::TitleWalk::Pledges).await;
                    let units =
                        title_pages(&mut conn, &filter, limit, repo::TitleWalk::Units).await;
                    let names =
                        title_pages(&mut conn, &filter, limit, repo::TitleWalk::Names).await;
                    assert_eq!(pledges, raw, "{case}: through the pledges");
                    assert_eq!(units, raw, "{case}: through the units");
                    assert_eq!(names, raw, "{case}: through the names");
                }
            }
        }
    }
}

#[test]
fn the_titles_page_walks_what_reads_fewer_rows() {
    use repo::TitleWalk::{Names, Pledges, Units};
    // The root of 10 000 units holding 250 000 title pledges: 51 units visited.
    assert_eq!(repo::TitleWalk::cheaper(51, 10_000, 10_000, 250_000), Names);
    // A province, a 34th of the units: its 294 units sorted and a page of them read, against
    // 1 700 units visited by name or the province's 7 300 title pledges (73 000 at 10M).
    assert_eq!(repo::TitleWalk::cheaper(51, 294, 10_000, 7_300), Units);
    assert_eq!(repo::TitleWalk::cheaper(51, 294, 10_000, 73_000), Units);
    // … unless it holds fewer title pledges than units.
    assert_eq!(repo::TitleWalk::cheaper(51, 294, 10_000, 200), Pledges);
    // A province of the real tree, 3 000 of 100 000 units.
    assert_eq!(repo::TitleWalk::cheaper(51, 3_000, 100_000, 75_000), Names);
    // A commune of 3 units among 10 000.
    assert_eq!(repo::TitleWalk::cheaper(51, 3, 10_000, 300), Units);
    // The table not analyzed yet: the subtree is all there is.
    assert_eq!(repo::TitleWalk::cheaper(51, 10_000, 0, 250_000), Names);
    assert_eq!(repo::TitleWalk::cheaper(51, 7, 0, 600), Units);
    // No unit counted, or fewer title pledges than a page: the pledges.
    assert_eq!(repo::TitleWalk::cheaper(51, 0, 0, 400), Pledges);
    assert_eq!(repo::TitleWalk::cheaper(51, 10_000, 10_000, 40), Pledges);
}

/// Every non-empty row of the award tallies, as text, sorted; and the same figures counted
/// from the awards themselves, a subtree at a time (a path prefix match over every unit's
/// path, not the tallies' ancestor expansion).
async fn award_figures(db: &TestDb) -> (Vec<String>, Vec<String>) {
    let tallied = db.texts(
        "SELECT concat_ws(' ', ancestor_path, year, title_code, subject_type, awards, reward_total, \
                revoked, recovery_total) \
         FROM award_tallies WHERE awards <> 0 OR revoked <> 0 OR reward_total <> 0 OR recovery_total <> 0 \
         ORDER BY 1",
    )
    .await;
    let counted = db
        .texts(
            "SELECT concat_ws(' ', o.path, a.year, a.title_code, \
                CASE WHEN a.person_id IS NULL THEN 'organization' ELSE 'person' END, \
                count(*) FILTER (WHERE a.revoked_at IS NULL), \
                coalesce(sum(a.reward_amount) FILTER (WHERE a.revoked_at IS NULL), 0), \
                count(*) FILTER (WHERE a.revoked_at IS NOT NULL), \
                coalesce(sum(a.recovery_amount) FILTER (WHERE a.revoked_at IS NOT NULL), 0)) \
         FROM organizations AS o JOIN awards AS a ON starts_with(a.organization_path, o.path) \
         GROUP BY o.path, a.year, a.title_code, a.person_id IS NULL ORDER BY 1",
        )
        .await;
    (tallied, counted)
}

/// The award tallies that `/stats/awards` reads hold, at every unit, exactly what its awards
/// sum to: through awards conferred one by one and many in a statement (persons and
/// collectives, with and without a reward), revocations with and without an amount to recover,
/// a restructuring's move of a subtree's awards, an update that changes nothing they count,
/// and deletions; and the migration's backfill and `r.rebuild_tallies()` write the same rows
/// from the awards alone.
#[tokio::test]
async fn award_tallies_equal_the_awards_at_every_unit_through_every_change() {
    let db = TestDb::new().await;
    backlog(&db, 0).await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO persons (id, organization_id, full_name) \
             SELECT gen_random_uuid(), o.id, 'Người ' || o.path || g \
             FROM organizations AS o CROSS JOIN generate_series(1, 3) AS g; \
             INSERT INTO awards (id, person_id, title_code, year, reward_amount) \
             SELECT gen_random_uuid(), p.id, t.code, y, CASE WHEN y > 2023 THEN 702000 * t.factor END \
             FROM persons AS p \
             CROSS JOIN (VALUES ('lao_dong_tien_tien', 1), ('chien_si_thi_dua_co_so', 2)) AS t (code, factor) \
             CROSS JOIN generate_series(2023, 2025) AS y \
             WHERE y < 2025 OR t.factor = 1; \
             INSERT INTO awards (id, organization_id, title_code, year, reward_amount) \
             SELECT gen_random_uuid(), o.id, 'tap_the_lao_dong_tien_tien', 2024, 1053000 \
             FROM organizations AS o WHERE o.depth > 0;",
        )
        .await
        .unwrap();
    // One more, alone, at the root.
    client
        .batch_execute(
            "INSERT INTO awards (id, organization_id, title_code, year, reward_amount) \
             SELECT gen_random_uuid(), o.id, 'tap_the_lao_dong_tien_tien', 2025, 1053000 \
             FROM organizations AS o WHERE o.path = '1.'",
        )
        .await
        .unwrap();
    let (tallied, counted) = award_figures(&db).await;
    assert!(
        tallied
            .iter()
            .any(|row| row.starts_with("1. 2024 lao_dong_tien_tien person")),
        "the root counts its subtree's awards: {tallied:?}"
    );
    assert!(tallied.iter().any(|row| row.contains(" organization ")));
    assert_eq!(tallied, counted, "conferred");

    client
        .batch_execute(
            "UPDATE awards SET revoked_at = now(), revocation_reason = 'fraud', recovery_amount = reward_amount \
             WHERE year = 2024 AND title_code = 'chien_si_thi_dua_co_so'; \
             UPDATE awards SET revoked_at = now(), revocation_reason = 'criteria_not_met' \
             WHERE year = 2023 AND organization_path LIKE '1.2.%'; \
             UPDATE awards SET decision_no = '9/QĐ' WHERE year = 2025;",
        )
        .await
        .unwrap();
    let (tallied, counted) = award_figures(&db).await;
    assert!(
        tallied.iter().any(|row| !row.ends_with(" 0 0")),
        "revoked ones"
    );
    assert_eq!(tallied, counted, "revoked");

    // The migration's backfill counts the awards that existed before it as the triggers do.
    let statement = backfill(
        "2026-12-07-000400_award_tallies",
        "INSERT INTO award_tallies",
        Some(';'),
    );
    client
        .batch_execute(&format!("DELETE FROM award_tallies; {statement}"))
        .await
        .unwrap();
    assert_eq!(award_figures(&db).await.0, tallied, "backfilled = kept");

    // A restructuring moves the commune 1.3. under 1.2. with its awards of 2024 and later.
    client
        .batch_execute(
            "UPDATE organizations SET path = '1.2.9.' || substr(path, 5), depth = depth + 1, \
                    parent_id = CASE WHEN path = '1.3.' \
                                     THEN (SELECT id FROM organizations WHERE path = '1.2.') \
                                     ELSE parent_id END \
             WHERE path LIKE '1.3.%'; \
             UPDATE awards SET organization_path = '1.2.9.' || substr(organization_path, 5) \
             WHERE organization_path LIKE '1.3.%' AND year >= 2024;",
        )
        .await
        .unwrap();
    let (tallied, counted) = award_figures(&db).await;
    assert!(tallied.iter().any(|row| row.starts_with("1.2.9. 2024")));
    assert!(
        tallied.iter().any(|row| row.starts_with("1.3. 2023")),
        "the awards of 2023 stay where they were conferred"
    );
    // The awards left at 1.3. (a path no unit holds now) are counted by their own tallies.
    let counted: Vec<&String> = counted.iter().collect();
    let tallied_at_units: Vec<&String> = tallied
        .iter()
        .filter(|row| !row.starts_with("1.3."))
        .collect();
    assert_eq!(tallied_at_units, counted, "moved");

    client
        .batch_execute("DELETE FROM awards WHERE year = 2025 AND person_id IS NOT NULL")
        .await
        .unwrap();
    let (tallied, _) = award_figures(&db).await;
    assert!(
        !tallied
            .iter()
            .any(|row| row.contains(" 2025 lao_dong_tien_tien person "))
    );

    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    tallies::rebuild(&mut conn).await.unwrap();
    assert_eq!(award_figures(&db).await.0, tallied, "rebuilt = kept");
}
