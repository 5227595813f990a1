//! The replaceable schema `r` (src/db/replaceable.sql): where every SQL function and trigger
//! lives, recreated by the migrator only when its file changed, at once by concurrent
//! instances, all or nothing; and its domain predicates, which agree with the Rust ones for
//! every value and leave the partial indexes usable.

use thidua::nominations::state::NominationStatus;
use thidua::pledges::state::{PledgeResult, PledgeStatus};

use crate::helpers::db::TestDb;

async fn schema_oid(db: &TestDb) -> Option<u32> {
    db.client()
        .await
        .query_opt("SELECT oid FROM pg_namespace WHERE nspname = 'r'", &[])
        .await
        .unwrap()
        .map(|row| row.get(0))
}

/// Schema `r` carries the stamp of the replaceable-schema file this build ships.
async fn assert_stamped_with_the_shipped_file(db: &TestDb) {
    let shipped = thidua::db::replaceable_schema_stamp(thidua::db::REPLACEABLE_SCHEMA);
    assert_eq!(schema_stamp(db).await, Some(shipped));
}

/// The first column of every row `sql` answers, as text.
async fn texts(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let rows = client.query(sql, &[]).await.unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// The triggers that keep the tallies (`*_tally_*`).
async fn tally_triggers(db: &TestDb) -> i64 {
    db.rows("pg_trigger WHERE tgname LIKE '%_tally_%'").await
}

async fn schema_stamp(db: &TestDb) -> Option<String> {
    db.client()
        .await
        .query_one(
            "SELECT obj_description('r'::regnamespace, 'pg_namespace')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn every_function_and_trigger_lives_in_the_replaceable_schema() {
    let db = TestDb::new().await;
    let client = db.client().await;

    let outside = texts(
        &client,
        "SELECT p.oid::regprocedure::text FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname NOT IN ('r', 'pg_catalog', 'information_schema') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                               AND d.objid = p.oid AND d.deptype = 'e') \
             ORDER BY 1",
    )
    .await;
    let foreign_triggers = texts(
        &client,
        "SELECT t.tgname || ' → ' || t.tgfoid::regprocedure::text FROM pg_trigger t \
             JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE NOT t.tgisinternal AND n.nspname <> 'r' ORDER BY 1",
    )
    .await;
    let tally_triggers = db
        .rows("pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%_tally_%'")
        .await;

    // search_fold feeds generated columns and indexes, path_head the list indexes keyed by a
    // subtree's head (migration 000500): neither may depend on `r`.
    assert_eq!(
        outside,
        vec![
            "path_head(text,integer)".to_owned(),
            "search_fold(text)".to_owned()
        ]
    );
    assert_eq!(foreign_triggers, Vec::<String>::new());
    // Pledges, nominations and organizations (insert, update, delete), and awards (the three
    // statement triggers of the award tallies).
    assert_eq!(tally_triggers, 12);
    assert_stamped_with_the_shipped_file(&db).await;
}

#[tokio::test]
async fn the_replaceable_schema_is_recreated_only_when_its_file_changed() {
    let db = TestDb::new().await;
    let created = schema_oid(&db).await.expect("the template has schema r");

    let applied = thidua::db::run_migrations(&db.url).await.unwrap();
    let unchanged = schema_oid(&db).await;
    db.execute_sql("COMMENT ON SCHEMA r IS 'sha256:an older file'")
        .await;
    thidua::db::run_migrations(&db.url).await.unwrap();
    let replaced = schema_oid(&db).await;

    assert!(applied.is_empty(), "{applied:?}");
    assert_eq!(unchanged, Some(created), "same file: left alone");
    assert!(
        replaced.is_some_and(|oid| oid != created),
        "another file: recreated"
    );
    assert_stamped_with_the_shipped_file(&db).await;
}

#[tokio::test]
async fn instances_migrating_at_once_all_succeed_with_one_complete_schema() {
    let db = TestDb::empty().await;

    let results =
        futures_util::future::join_all((0..4).map(|_| thidua::db::run_migrations(&db.url))).await;

    let applied: Vec<usize> = results
        .into_iter()
        .map(|result| result.unwrap().len())
        .collect();
    let latest = thidua::db::latest_migration_version().unwrap();
    assert_eq!(
        applied.iter().filter(|count| **count > 0).count(),
        1,
        "one instance applied the migrations: {applied:?}"
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM __diesel_schema_migrations WHERE version = '{latest}'"
        ))
        .await,
        1
    );
    assert_eq!(tally_triggers(&db).await, 12);
}

#[tokio::test]
async fn a_replaceable_schema_that_fails_leaves_the_previous_one_working() {
    let db = TestDb::new().await;
    let before = schema_oid(&db).await;

    let broken = "CREATE SCHEMA r; CREATE FUNCTION r.half() RETURNS int LANGUAGE sql RETURN 1; \
                  SELECT 1 / 0;";
    let outcome = thidua::db::migrate_with(&db.url, broken).await;

    assert!(outcome.is_err(), "the broken file is an error");
    assert_eq!(schema_oid(&db).await, before, "the old schema stands");
    assert_eq!(tally_triggers(&db).await, 12, "with its triggers");
    assert_eq!(db.rows("pg_proc WHERE proname = 'half'").await, 0);
}

/// Each SQL predicate of `r` answers like its Rust twin for every value the column may hold.
#[tokio::test]
async fn the_sql_predicates_agree_with_the_rust_ones_for_every_status() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let sql = |function: &'static str, value: &'static str| {
        let client = &client;
        async move {
            let answer: Option<bool> = client
                .query_one(&format!("SELECT r.{function}($1::text)"), &[&value])
                .await
                .unwrap()
                .get(0);
            answer
        }
    };

    // (SQL function, value, the Rust predicate's answer), for every value of every enum.
    let mut cases: Vec<(&str, &str, bool)> = Vec::new();
    for status in PledgeStatus::ALL {
        let value = status.as_str();
        cases.push(("pledge_is_registered", value, status.is_registered()));
        cases.push(("pledge_is_open", value, status.is_open()));
    }
    for result in PledgeResult::ALL {
        cases.push((
            "pledge_is_achieved",
            result.as_str(),
            result.is_achievement(),
        ));
    }
    for status in NominationStatus::ALL {
        let value = status.as_str();
        cases.push(("nomination_is_exemplar", value, status.is_exemplar()));
        cases.push(("nomination_is_live", value, status.is_live()));
        cases.push(("nomination_is_open", value, status.is_open()));
    }
    // 6 pledge statuses, 4 results and 7 nomination statuses.
    assert_eq!(cases.len(), 6 * 2 + 4 + 7 * 3);
    for (function, value, rust) in cases {
        assert_eq!(
            sql(function, value).await,
            Some(rust),
            "{function}({value})"
        );
    }
    // The Rust enums list every value the tables' CHECK constraints allow.
    let allowed = |constraint: &'static str| {
        let client = &client;
        async move {
            let definition: String = client
                .query_one(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
                    &[&constraint],
                )
                .await
                .unwrap()
                .get(0);
            definition.matches("'::text").count()
        }
    };

    for (constraint, values) in [
        ("pledges_status_check", PledgeStatus::ALL.len()),
        ("pledges_result_check", PledgeResult::ALL.len()),
        ("nominations_status_check", NominationStatus::ALL.len()),
    ] {
        assert_eq!(allowed(constraint).await, values, "{constraint}");
    }
}

/// The predicates are inlined: a partial index whose WHERE spells the same list still serves
/// a query that calls the predicate, with a literal plan and with a generic one.
#[tokio::test]
async fn partial_indexes_still_serve_queries_that_use_the_predicates() {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .await
        .unwrap();
    let plan = |statement: &'static str| {
        let client = &client;
        async move {
            client
                .query(statement, &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };

    let exemplars = plan(
        "EXPLAIN SELECT id FROM nominations WHERE r.nomination_is_exemplar(status) \
         ORDER BY recognized_at DESC, id DESC LIMIT 10",
    )
    .await;
    client
        .batch_execute(
            "SET plan_cache_mode = force_generic_plan; \
             PREPARE exemplars(int) AS SELECT id FROM nominations \
             WHERE r.nomination_is_exemplar(status) ORDER BY recognized_at DESC, id DESC LIMIT $1",
        )
        .await
        .unwrap();
    let generic = plan("EXPLAIN EXECUTE exemplars(10)").await;
    let live = plan(
        "EXPLAIN SELECT id FROM nominations \
         WHERE nominating_organization_id = '00000000-0000-0000-0000-000000000001' \
           AND campaign_id = '00000000-0000-0000-0000-000000000002' AND year = 2022 \
           AND nominee_key = 'x' AND r.nomination_is_live(status)",
    )
    .await;

    assert!(
        exemplars.contains("nominations_exemplars_idx"),
        "{exemplars}"
    );
    assert!(generic.contains("nominations_exemplars_idx"), "{generic}");
    assert!(live.contains("nominations_nominee_key_unique"), "{live}");
}
