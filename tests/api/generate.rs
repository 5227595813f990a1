//! `thidua generate` loads its rows without their row triggers and with the secondary indexes
//! of the loaded tables dropped, then builds those indexes again and rebuilds the tallies from
//! the rows: the database it leaves has every index the migrations made, tallies that count
//! every row, and nothing of the load's own bookkeeping; a rerun finds it complete.

use std::path::Path;

use thidua::generate::{self, Sizes};

use crate::helpers::app::test_settings;
use crate::helpers::db::TestDb;

/// Every index definition of the tables the generator loads, sorted.
const INDEXES: &str = "SELECT string_agg(pg_get_indexdef(indexrelid), E'\\n' ORDER BY pg_get_indexdef(indexrelid)) \
     FROM pg_index WHERE indrelid = ANY (ARRAY['pledges', 'pledge_progress', 'nominations', \
     'nomination_reviews']::regclass[])";

async fn text(db: &TestDb, sql: &str) -> String {
    db.client().await.query_one(sql, &[]).await.unwrap().get(0)
}

/// The counts the tallies give at the root, beside the counts of the rows.
async fn root_counts(db: &TestDb) -> Vec<(i64, i64)> {
    let mut counts = Vec::new();
    for (tallied, raw) in [
        (
            "SELECT coalesce(sum(t.count), 0)::bigint FROM tallies AS t JOIN organizations AS o \
             ON o.path = t.ancestor_path AND o.parent_id IS NULL WHERE t.entity = 'p' \
             AND t.campaign_id = '00000000-0000-0000-0000-000000000000' AND t.year = 0",
            "SELECT count(*) FROM pledges",
        ),
        (
            "SELECT coalesce(sum(t.count), 0)::bigint FROM tallies AS t JOIN organizations AS o \
             ON o.path = t.ancestor_path AND o.parent_id IS NULL WHERE t.entity = 'n' \
             AND t.campaign_id = '00000000-0000-0000-0000-000000000000' AND t.year = 0",
            "SELECT count(*) FROM nominations",
        ),
        (
            "SELECT coalesce(sum(t.count), 0)::bigint FROM tallies AS t JOIN organizations AS o \
             ON o.path = t.ancestor_path AND o.parent_id IS NULL WHERE t.entity = 'o'",
            "SELECT count(*) FROM organizations",
        ),
        (
            "SELECT coalesce(sum(t.count), 0)::bigint FROM facet_tallies AS t JOIN organizations AS o \
             ON o.path = t.ancestor_path AND o.parent_id IS NULL WHERE t.entity = 'p' \
             AND t.facet = 'organization_kind'",
            "SELECT count(*) FROM pledges",
        ),
    ] {
        counts.push((db.count(tallied).await, db.count(raw).await));
    }
    counts
}

#[tokio::test]
async fn a_generated_data_set_keeps_every_index_and_counts_every_row() {
    let db = TestDb::new().await;
    let fresh = TestDb::new().await;
    let settings = test_settings(&db.url, |_| {});
    let merges = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/vn-admin-2025/merges.json");
    let sizes = Sizes {
        organizations: 300,
        provinces: None,
        pledges: 2_500,
        nominations: 400,
        persons: 600,
        seed: 3,
    };
    let expected_indexes = text(&fresh, INDEXES).await;
    assert!(expected_indexes.contains("pledges_search_idx"));

    for run in ["first run", "rerun"] {
        generate::run(&settings, sizes, &merges, 2).await.unwrap();

        assert_eq!(text(&db, INDEXES).await, expected_indexes, "{run}");
        assert_eq!(
            db.count("SELECT count(*) FROM pg_class WHERE relname = 'generate_deferred_indexes'")
                .await,
            0,
            "{run}"
        );
        assert_eq!(db.count("SELECT count(*) FROM pledges").await, 2_500);
        assert_eq!(db.count("SELECT count(*) FROM nominations").await, 400);
        assert_persons(&db).await;
        for (tallied, raw) in root_counts(&db).await {
            assert_eq!(tallied, raw, "{run}");
        }
        assert_eq!(db.count("SELECT count(*) FROM tally_deltas").await, 0);
    }

    // The generator rebuilt the two halves on connections of their own, beside the index
    // builds: row for row what the repair's single transaction writes.
    let generated = tally_tables(&db).await;
    db.execute_sql("SELECT r.rebuild_tallies()").await;
    assert_eq!(generated, tally_tables(&db).await);
}

/// The generated persons stand where their units stand, each with a record of 2025, every one
/// registered for lao động tiên tiến, those rated xuất sắc for chiến sĩ thi đua cơ sở, and the
/// chiến sĩ thi đua tỉnh registrants holding both lower titles of 2023 and 2024.
async fn assert_persons(db: &TestDb) {
    assert_eq!(db.count("SELECT count(*) FROM persons").await, 600);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM persons p JOIN organizations o ON o.id = p.organization_id \
             WHERE p.organization_path = o.path AND o.parent_id IS NOT NULL"
        )
        .await,
        600
    );
    assert_eq!(
        db.count("SELECT count(*) FROM year_records WHERE person_id IS NOT NULL AND year = 2025")
            .await,
        600
    );
    let registered = |code: &str| {
        format!(
            "SELECT count(*) FROM title_registrations r JOIN persons p ON p.id = r.person_id \
             WHERE r.title_code = '{code}' AND r.year = 2025 \
               AND r.organization_path = p.organization_path"
        )
    };
    assert_eq!(db.count(&registered("lao_dong_tien_tien")).await, 600);
    let excellent = db
        .count("SELECT count(*) FROM year_records WHERE completion_rating = 'hoan_thanh_xuat_sac'")
        .await;
    assert!(excellent > 30, "{excellent} rated xuất sắc of 600");
    assert_eq!(
        db.count(&registered("chien_si_thi_dua_co_so")).await,
        excellent
    );
    let provincial = db.count(&registered("chien_si_thi_dua_tinh")).await;
    assert!(provincial > 0 && provincial < excellent);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM awards a JOIN title_registrations r ON r.person_id = a.person_id \
             AND r.title_code = 'chien_si_thi_dua_tinh' \
             WHERE a.year IN (2023, 2024) AND a.organization_path = r.organization_path"
        )
        .await,
        4 * provincial
    );
    // Loaded without their triggers, the awards are counted by the rebuild of their tallies:
    // at every unit the same as the awards below it.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM organizations o \
             LEFT JOIN (SELECT ancestor_path, sum(awards) AS awards FROM award_tallies GROUP BY 1) t \
               ON t.ancestor_path = o.path \
             WHERE coalesce(t.awards, 0) <> (SELECT count(*) FROM awards a \
                                            WHERE starts_with(a.organization_path, o.path))"
        )
        .await,
        0
    );
    assert!(db.count("SELECT count(*) FROM award_tallies").await > 0);
}

/// Every row of the six tally tables, as text (the rebuild's generation aside).
async fn tally_tables(db: &TestDb) -> Vec<String> {
    let mut tables = Vec::new();
    for table in [
        "tallies",
        "deadline_tallies",
        "facet_tallies",
        "facet_deadline_tallies",
        "unit_tallies",
        "subtree_sums",
    ] {
        let rows = text(
            db,
            &format!("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} AS t"),
        )
        .await;
        assert!(!rows.is_empty(), "{table} is empty");
        tables.push(rows);
    }
    tables
}
