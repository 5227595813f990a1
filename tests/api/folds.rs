//! The fold moves the deltas into the tallies in bounded batches: a backlog larger than one
//! batch drains call by call, each call moving at most one batch, with every aggregate equal
//! to a brute-force count over the raw rows after each one, and the tally version moving with
//! each, so a kept overview is never reused across a partial fold.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use thidua::stats::tallies;
use uuid::Uuid;

use crate::helpers::db::TestDb;

type Row = (String, String, String, String, i64, i64);

/// A small tree (root, two children, a grandchild under each), a campaign, `pledges` pledges
/// spread over every unit, status, result, year and a deadline around today, then a few
/// status changes: one delta per organization and pledge, two per change, none folded.
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
                                  root_organization_id, year, kind, field, title, deadline, \
                                  status, result, created_by) \
             SELECT gen_random_uuid(), '{campaign}', o.id, o.path, '{root}', 2021 + g % 3, \
                    CASE WHEN g % 2 = 0 THEN 'target' ELSE 'title' END, 'f', 'Chỉ tiêu ' || g, \
                    current_date + (g % 41 - 20), \
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
async fn both_counts(db: &TestDb, campaign: Uuid) -> Vec<(String, Vec<Row>, Vec<Row>)> {
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
                 GROUP BY 1, 2, 3, 4 HAVING sum(count) <> 0 OR sum(overdue) <> 0",
            )
            .await;
            let raw = read(
                "SELECT 'p', kind, status, coalesce(result, 'none'), count(*), \
                        count(*) FILTER (WHERE deadline < current_date \
                                         AND status NOT IN ('assessed', 'withdrawn')) \
                 FROM pledges WHERE organization_path LIKE $1 || '%' AND $2::text IS NOT NULL \
                   AND ($3::text IS NULL OR campaign_id = $3::text::uuid) AND ($4::int IS NULL OR year = $4) \
                 GROUP BY 1, 2, 3, 4 \
                 UNION ALL \
                 SELECT 'o', kind, CASE WHEN active THEN 'active' ELSE 'inactive' END, 'none', \
                        count(*), 0 \
                 FROM organizations WHERE path LIKE $1 || '%' GROUP BY 1, 2, 3, 4",
            )
            .await;
            compared.push((format!("{path} {window_campaign:?} {year:?}"), tallied, raw));
        }
    }
    compared
}

async fn assert_exact(db: &TestDb, campaign: Uuid, when: &str) {
    for (window, tallied, raw) in both_counts(db, campaign).await {
        assert_eq!(tallied, raw, "{when}: {window}");
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
