//! Aggregates (`/stats/*`): the Ba Tri story on the demo data, foreign subtrees, nominations
//! grouping, and a property test comparing every number of every endpoint with a brute-force
//! count over randomly generated trees and pledges.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::ETAG;
use serde_json::{Value, json};
use thidua::auth::principal::Role;
use thidua::db::schema::{campaigns, nominations, pledges};
use thidua::organizations::dto::OrganizationKind;
use thidua::organizations::model::OrganizationRow;
use thidua::organizations::repo;
use thidua::stats::tallies;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::helpers::app::TEST_HASHING;
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::titles::{get_all_ok, kept_as_computed};
use crate::helpers::{TestApp, status_and_json};

const ENDPOINTS: [&str; 6] = [
    "overview",
    "coverage",
    "pledges",
    "titles",
    "nominations",
    "leaderboard",
];
const REGISTERED: [&str; 3] = ["submitted", "approved", "assessed"];
const ACHIEVED: [&str; 2] = ["achieved", "exceeded"];
const STATUSES: [&str; 6] = [
    "draft",
    "submitted",
    "approved",
    "assessed",
    "returned",
    "withdrawn",
];
const RESULTS: [&str; 4] = ["exceeded", "achieved", "partially_achieved", "not_achieved"];
const GROUPINGS: [&str; 7] = [
    "status",
    "result",
    "field",
    "kind",
    "child",
    "organization_kind",
    "month",
];
const CELL_TITLE: &str = "Chi bộ trong sạch, vững mạnh toàn diện";
const OTHER_TITLE: &str = "Tập thể lao động tiên tiến";
const FIELDS: [(&str, &str); 2] = [
    ("xay_dung_dang", "Xây dựng Đảng"),
    ("nong_thon_moi", "Nông thôn mới"),
];

// ---------------------------------------------------------------------------------------------
// The Ba Tri story (demo data)

#[tokio::test]
async fn ba_tri_story_numbers_come_out_of_the_demo_data() {
    let app = TestApp::spawn().await;
    thidua::demo::seed_before_reform(&app.state).await.unwrap();
    let token = app.token("bt.manager", "manager-demo-2022").await;
    let ba_tri = organization_named(&app, &token, "Huyện Ba Tri").await;
    let my_hoa = organization_named(&app, &token, "Xã Mỹ Hòa").await;

    // Every commune of Ba Tri registered (default organization: the manager's own unit).
    let coverage = stats(&app, &token, "coverage", &[("year", "2022".into())]).await;
    assert_eq!(coverage["scope"]["organization_id"], ba_tri.to_string());
    assert_eq!(coverage["expected"], 7);
    assert_eq!(coverage["registered"], 7);
    assert_eq!(coverage["ratio"], 1.0);
    assert!(
        coverage["units"]
            .as_array()
            .unwrap()
            .iter()
            .all(|unit| unit["registered"] == true && unit["kind"] == "commune"),
        "{coverage}"
    );

    // 4 of Mỹ Hòa's 5 party cells attained the title.
    let party_cells = [("organization_kind", "party_cell".to_owned())];
    let titles = titles_2022(&app, &token, my_hoa, &party_cells).await;
    assert_eq!(titles["registered"], 5, "{titles}");
    assert_eq!(titles["achieved"], 4, "{titles}");
    assert_eq!(titles["ratio"], 0.8, "{titles}");

    // The three pilot cells: 3 of 3.
    let pilots = ["Chi bộ ấp Giồng Ké", "Chi bộ ấp An Hòa", "Chi bộ ấp Mỹ Hòa"];
    let mut pilot_ids = Vec::new();
    for name in pilots {
        pilot_ids.push(organization_named(&app, &token, name).await.to_string());
    }
    let titles = titles_2022(&app, &token, ba_tri, &[]).await;
    let pilot_units: Vec<&Value> = titles["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|unit| pilot_ids.contains(&unit["organization_id"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(pilot_units.len(), 3, "{titles}");
    let registered: i64 = pilot_units
        .iter()
        .map(|unit| unit["registered"].as_i64().unwrap())
        .sum();
    let achieved: i64 = pilot_units
        .iter()
        .map(|unit| unit["achieved"].as_i64().unwrap())
        .sum();
    assert_eq!((achieved, registered), (3, 3), "{titles}");
    // 7 party cells and 2 communes hold title pledges; 6 + 2 attained theirs.
    assert_eq!(titles["registered"], 9, "{titles}");
    assert_eq!(titles["achieved"], 8, "{titles}");

    // "Xã nông thôn mới" (exactly: not the "nâng cao" title of An Phú Trung): Mỹ Thạnh.
    let named = [("title_name", "Xã nông thôn mới".to_owned())];
    let titles = titles_2022(&app, &token, ba_tri, &named).await;
    assert_eq!(titles["registered"], 1, "{titles}");
    assert_eq!(titles["achieved"], 1, "{titles}");
    let units = titles["units"].as_array().unwrap();
    assert_eq!(units.len(), 1, "{titles}");
    assert_eq!(units[0]["name"], "Xã Mỹ Thạnh");
    assert_eq!(units[0]["achieved"], 1);

    // The name is compared after NFC and trimming: decomposed Vietnamese finds the same title.
    let decomposed: String = " Xã nông thôn mới ".nfd().collect();
    let same = titles_2022(&app, &token, ba_tri, &[("title_name", decomposed)]).await;
    assert_eq!(same["units"], titles["units"], "{same}");

    // Another year has nothing.
    let coverage = stats(&app, &token, "coverage", &[("year", "2023".into())]).await;
    assert_eq!(coverage["expected"], 7);
    assert_eq!(coverage["registered"], 0);
    assert_eq!(coverage["ratio"], 0.0);
}

#[tokio::test]
async fn demo_loader_is_idempotent() {
    let app = TestApp::spawn().await;
    thidua::demo::seed_before_reform(&app.state).await.unwrap();
    let counts_before = demo_counts(&app).await;
    let token = app.token("admin", thidua::demo::ADMIN_PASSWORD).await;
    let ba_tri = organization_named(&app, &token, "Huyện Ba Tri").await;
    let scope = [
        ("organization_id", ba_tri.to_string()),
        ("year", "2022".to_owned()),
    ];
    let overview_before = stats(&app, &token, "overview", &scope).await;

    thidua::demo::seed_before_reform(&app.state).await.unwrap();

    assert_eq!(demo_counts(&app).await, counts_before);
    assert_eq!(counts_before[1], 16, "16 organizations");
    assert_eq!(
        counts_before[2], 18,
        "16 story pledges and the 2 that follow the club"
    );
    let overview_after = stats(&app, &token, "overview", &scope).await;
    assert_eq!(overview_after, overview_before);
    assert_eq!(overview_after["pledges_total"], 18, "{overview_after}");
    assert_eq!(overview_after["organizations"], 15, "{overview_after}");
    assert_eq!(overview_after["titles_registered"], 9, "{overview_after}");
    assert_eq!(overview_after["titles_achieved"], 8, "{overview_after}");
}

async fn demo_counts(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for sql in [
        "SELECT count(*) FROM campaigns",
        "SELECT count(*) FROM organizations",
        "SELECT count(*) FROM pledges",
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM memberships",
        "SELECT count(DISTINCT (organization_id, title, year)) FROM pledges",
    ] {
        counts.push(app.db.count(sql).await);
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Visibility

#[tokio::test]
async fn stats_of_a_foreign_or_higher_unit_are_not_found() {
    let (app, fixture) = fixture_with_pledges().await;
    let c1_manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let d1_reviewer = fixture.token(&app, fixture::D1_REVIEWER).await;
    let partner = fixture.client_token(&app).await;
    let tree = &fixture.tree;
    let cases = [
        (&c1_manager, tree.d1.id, "C1 manager → D1"),
        (&c1_manager, tree.c2.id, "C1 manager → C2"),
        (&c1_manager, tree.p.id, "C1 manager → P"),
        (&c1_manager, tree.p9.id, "C1 manager → P9"),
        (&c1_manager, Uuid::now_v7(), "C1 manager → unknown"),
        (&d1_reviewer, tree.c2.id, "D1 reviewer → C2"),
        (&d1_reviewer, tree.d2.id, "D1 reviewer → D2"),
        (&d1_reviewer, tree.p.id, "D1 reviewer → P"),
        (&partner, tree.c2.id, "partner client of D1 → C2"),
        (&partner, tree.p.id, "partner client of D1 → P"),
    ];
    for (token, organization, label) in cases {
        for endpoint in ENDPOINTS {
            let (status, body) = app
                .get_json(
                    &format!("/api/v1/stats/{endpoint}?organization_id={organization}"),
                    token,
                )
                .await;
            assert_eq!(status, 404, "{label} /stats/{endpoint}: {body}");
            assert_eq!(body["status"], 404, "{label} /stats/{endpoint}: {body}");
            for leaked in ["total", "expected", "entries", "groups", "units", "scope"] {
                assert!(
                    body.get(leaked).is_none(),
                    "{label} /stats/{endpoint} leaks {leaked}"
                );
            }
        }
    }
}

#[tokio::test]
async fn district_reviewer_counts_its_communes_but_not_another_district() {
    let (app, fixture) = fixture_with_pledges().await;
    let token = fixture.token(&app, fixture::D1_REVIEWER).await;
    let tree = &fixture.tree;

    // Default organization: D1 itself.
    let by_child = stats(&app, &token, "pledges", &[("group_by", "child".into())]).await;
    assert_eq!(by_child["scope"]["organization_id"], tree.d1.id.to_string());
    // C1: 2 own + 1 of K1; C3: 1; C2's 3 are outside.
    assert_eq!(by_child["total"], 4, "{by_child}");
    let groups = groups_by_key(&by_child);
    assert_eq!(
        groups.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([tree.c1.id.to_string(), tree.c3.id.to_string()]),
        "{by_child}"
    );
    assert_eq!(groups[&tree.c1.id.to_string()]["total"], 3);
    assert_eq!(groups[&tree.c1.id.to_string()]["label"], "Xã Mỹ Hòa");
    assert_eq!(groups[&tree.c3.id.to_string()]["total"], 1);

    let overview = stats(&app, &token, "overview", &[]).await;
    assert_eq!(overview["pledges_total"], 4, "{overview}");
    assert_eq!(overview["organizations"], 4, "D1, C1, K1, C3: {overview}");
    assert_eq!(overview["coverage"]["expected"], 2, "{overview}");
    assert_eq!(
        overview["coverage"]["registered"], 1,
        "C1 submitted, C3 only a draft: {overview}"
    );
    assert_eq!(
        overview["coverage"]["not_registered"],
        json!(["Xã C3"]),
        "{overview}"
    );

    // The province-wide number exists, and is larger: the subtree really is what bounds it.
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let province = stats(&app, &admin, "overview", &under(tree.p.id)).await;
    assert_eq!(province["pledges_total"], 7, "{province}");
}

#[tokio::test]
async fn partner_client_reads_the_aggregates_of_its_own_district() {
    let (app, fixture) = fixture_with_pledges().await;
    let partner = fixture.client_token(&app).await;

    let overview = stats(&app, &partner, "overview", &[]).await;

    assert_eq!(
        overview["scope"]["organization_id"],
        fixture.tree.d1.id.to_string()
    );
    assert_eq!(overview["pledges_total"], 4, "{overview}");
}

#[tokio::test]
async fn counts_follow_a_moved_subtree_whether_folded_or_not() {
    let (app, fixture) = fixture_with_pledges().await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let tree = &fixture.tree;
    let totals = |d1: Value, d2: Value| {
        (
            d1["pledges_total"].as_i64().unwrap(),
            d1["organizations"].as_i64().unwrap(),
            d2["pledges_total"].as_i64().unwrap(),
            d2["organizations"].as_i64().unwrap(),
        )
    };
    let overview = |id: Uuid| {
        let (app, admin) = (&app, &admin);
        async move { stats(app, admin, "overview", &under(id)).await }
    };
    // Half of the history folded, the rest pending.
    {
        let mut conn = app.state.db.write().await.unwrap();
        tallies::fold(&mut conn).await.unwrap();
    }
    assert_eq!(
        totals(overview(tree.d1.id).await, overview(tree.d2.id).await),
        (4, 4, 3, 2),
        "before: D1 holds C1 (2 + K1's 1) and C3 (1); D2 holds C2 (3)"
    );
    let (status, body) = app
        .post_for_json(
            &format!("/api/v1/organizations/{}/move", tree.c1.id),
            &admin,
            &json!({ "parent_id": tree.d2.id }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let moved = (1, 2, 6, 4);
    assert_eq!(
        totals(overview(tree.d1.id).await, overview(tree.d2.id).await),
        moved,
        "after the move, deltas pending: C1 and K1 went with their 3 pledges"
    );
    {
        let mut conn = app.state.db.write().await.unwrap();
        assert!(tallies::fold(&mut conn).await.unwrap() > 0);
    }
    assert_eq!(
        totals(overview(tree.d1.id).await, overview(tree.d2.id).await),
        moved,
        "after the move, folded"
    );
}

/// The service keeps each overview under the tally version it was computed at and reuses it
/// only while that version stands: every change shows at once, folded or not, and a kept
/// overview is still refused to a caller outside the unit's subtree.
#[tokio::test]
async fn a_kept_overview_is_reused_only_while_nothing_changed() {
    let app = &TestApp::spawn().await;
    let fixture = Fixture::load(app).await;
    seed_fixture_pledges(app, &fixture).await;
    let admin = fixture.token(app, fixture::ADMIN).await;
    let outsider = fixture.token(app, fixture::C2_MANAGER).await;
    let tree = &fixture.tree;
    let params = [("organization_id", tree.d1.id.to_string())];
    let fold = || async move {
        let mut conn = app.state.db.write().await.unwrap();
        tallies::fold(&mut conn).await.unwrap();
    };
    let sql = |statement: String| async move {
        let mut conn = app.state.db.write().await.unwrap();
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .unwrap();
    };
    let not_registered = |body: &Value| body["coverage"]["not_registered"].clone();

    let first = stats(app, &admin, "overview", &params).await;
    let again = stats(app, &admin, "overview", &params).await;
    assert_eq!(first, again, "nothing changed: the same overview");
    let (status, body) = app
        .get_json(
            &format!("/api/v1/stats/overview?{}", query_string(&params)),
            &outsider,
        )
        .await;
    assert_eq!(
        status, 404,
        "kept or not, D1 is outside C2's subtree: {body}"
    );
    assert_eq!(not_registered(&first), json!([tree.c3.name]), "{first}");

    // A unit is renamed (no count changes): the new name shows, folded or not.
    sql(format!(
        "UPDATE organizations SET name = 'Xã Đổi Tên' WHERE id = '{}'",
        tree.c3.id
    ))
    .await;
    let renamed = stats(app, &admin, "overview", &params).await;
    assert_eq!(not_registered(&renamed), json!(["Xã Đổi Tên"]), "{renamed}");
    fold().await;
    assert_eq!(stats(app, &admin, "overview", &params).await, renamed);

    // A pledge changes status: pending, then folded.
    sql(format!(
        "UPDATE pledges SET status = 'submitted', submitted_at = now() \
         WHERE organization_id = '{}' AND status = 'draft'",
        tree.c3.id
    ))
    .await;
    let changed = stats(app, &admin, "overview", &params).await;
    assert_eq!(not_registered(&changed), json!([]), "{changed}");
    assert_eq!(
        changed["coverage"]["registered"].as_i64(),
        Some(first["coverage"]["registered"].as_i64().unwrap() + 1),
        "C3 registered: {changed}"
    );
    fold().await;
    assert_eq!(
        stats(app, &admin, "overview", &params).await,
        changed,
        "and after the fold"
    );
}

/// Every other aggregate that reads only what the version covers (coverage, the groupings of
/// pledges and nominations but by a campaign's fields, titles, the leaderboard) is kept like the
/// overview. Beside an instance that keeps nothing, on the same database: counts edited behind
/// the version's back (tally rows changed by hand) do not show in the kept answers, so they are
/// reused; any real change shows at once in all of them, folded or not, and they agree with the
/// instance that computes every answer; a kept answer is still refused to a caller outside the
/// unit's subtree. The fields of a campaign (their names label the groups) are read anew.
#[tokio::test]
async fn kept_aggregates_are_reused_only_while_nothing_changed() {
    let app = &TestApp::spawn().await;
    let computing = &TestApp::spawn_beside(app, |settings| settings.answer_cache_bytes = 0).await;
    let fixture = Fixture::load(app).await;
    let campaign = seed_fixture_pledges(app, &fixture).await.to_string();
    let admin = &fixture.token(app, fixture::ADMIN).await;
    let outsider = &fixture.token(app, fixture::C2_MANAGER).await;
    // Each instance signs its own tokens.
    let computing_admin = &fixture.token(computing, fixture::ADMIN).await;
    let computing_outsider = &fixture.token(computing, fixture::C2_MANAGER).await;
    let tree = &fixture.tree;
    let sql = |statement: String| async move {
        let mut conn = app.state.db.write().await.unwrap();
        diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, &statement)
            .await
            .unwrap();
    };
    let fold = || async move {
        let mut conn = app.state.db.write().await.unwrap();
        tallies::fold(&mut conn).await.unwrap();
    };
    // C1's submitted pledge is a title pledge.
    let titled = format!(
        "organization_id = '{}' AND status = 'submitted'",
        tree.c1.id
    );
    sql(format!(
        "UPDATE pledges SET kind = 'title', title_name = 'Danh hiệu A' WHERE {titled}"
    ))
    .await;
    fold().await;

    let unit = |id: Uuid| ("organization_id", id.to_string());
    let by_fields = vec![
        unit(tree.p.id),
        ("group_by", "field".to_owned()),
        ("campaign_id", campaign.clone()),
    ];
    let asked: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("coverage", vec![unit(tree.d1.id)]),
        (
            "coverage",
            vec![unit(tree.p.id), ("kind", "commune".to_owned())],
        ),
        (
            "coverage",
            vec![
                unit(tree.d1.id),
                ("year", "2022".to_owned()),
                ("limit", "2".to_owned()),
            ],
        ),
        (
            "pledges",
            vec![unit(tree.d1.id), ("group_by", "child".to_owned())],
        ),
        (
            "pledges",
            vec![unit(tree.p.id), ("campaign_id", campaign.clone())],
        ),
        (
            "pledges",
            vec![unit(tree.p.id), ("group_by", "kind".to_owned())],
        ),
        ("titles", vec![unit(tree.p.id)]),
        ("leaderboard", vec![unit(tree.p.id)]),
        // No nomination here: its answer shows no edited count, only that it agrees.
        (
            "nominations",
            vec![unit(tree.d1.id), ("group_by", "child".to_owned())],
        ),
    ];
    let paths: Vec<String> = asked
        .iter()
        .map(|(endpoint, params)| format!("/api/v1/stats/{endpoint}?{}", query_string(params)))
        .collect();
    let paths = &paths;
    let agree = |step: &'static str| {
        kept_as_computed((app, admin), (computing, computing_admin), paths, step)
    };

    let first = agree("first").await;
    assert_eq!(get_all_ok(app, admin, paths).await, first, "asked again");
    for path in paths {
        let (status, body) = app.get_json(path, outsider).await;
        assert_eq!(
            status, 404,
            "kept or not, {path} is outside C2's subtree: {body}"
        );
    }
    let by_field = stats(app, admin, "pledges", &by_fields).await;

    // Each answer has a weak ETag, the same from both instances; naming it in If-None-Match
    // is answered 304 by either (kept or not), and still 404 outside the subtree.
    let mut etags = Vec::new();
    for path in paths {
        let tag = app.etag_of(path, admin).await.expect("an ETag");
        assert!(tag.starts_with("W/\""), "{path}: {tag}");
        assert_eq!(
            computing.etag_of(path, computing_admin).await,
            Some(tag.clone()),
            "{path}"
        );
        for (instance, admin, outsider) in [
            (app, admin, outsider),
            (computing, computing_admin, computing_outsider),
        ] {
            let response = instance.get_if_none_match(path, admin, &tag).await;
            assert_eq!(response.status(), 304, "{path}");
            assert_eq!(response.headers()[ETAG], tag.as_str(), "{path}");
            assert!(response.bytes().await.unwrap().is_empty(), "{path}");
            let response = instance.get_if_none_match(path, outsider, &tag).await;
            assert_eq!(response.status(), 404, "{path}, outside the subtree");
        }
        etags.push((path, tag));
    }
    let fields_path = format!("/api/v1/stats/pledges?{}", query_string(&by_fields));
    assert_eq!(
        app.etag_of(&fields_path, admin).await,
        None,
        "by a campaign's fields: no ETag"
    );

    // Behind the version's back: the kept answers stay, the computed ones show it.
    let tamper = |by: i64| {
        format!(
            "UPDATE tallies SET count = count + {by}; \
             UPDATE subtree_sums SET total = total + {by}, registered = registered + {by}; \
             UPDATE unit_tallies SET registered = registered + {by}; \
             UPDATE facet_tallies SET count = count + {by}"
        )
    };
    sql(tamper(1_000)).await;
    let kept = get_all_ok(app, admin, paths).await;
    let computed = get_all_ok(computing, computing_admin, paths).await;
    for (index, path) in paths.iter().enumerate() {
        assert_eq!(kept[index], first[index], "kept: {path}");
        if asked[index].0 != "nominations" {
            assert_ne!(computed[index], first[index], "computed: {path}");
        }
    }
    assert_ne!(
        stats(app, admin, "pledges", &by_fields).await,
        by_field,
        "by a campaign's fields: computed"
    );
    sql(tamper(-1_000)).await;
    assert_eq!(agree("edits undone").await, first);

    // A unit is renamed (no count changes).
    sql(format!(
        "UPDATE organizations SET name = 'Xã Đổi Tên' WHERE id = '{}'",
        tree.c3.id
    ))
    .await;
    let renamed = agree("renamed").await;
    assert_ne!(renamed[0], first[0], "D1's coverage names C3");
    for (path, tag) in &etags {
        let response = app.get_if_none_match(path, admin, tag).await;
        assert_eq!(
            response.status(),
            200,
            "{path}: a new version, a new answer"
        );
        assert_ne!(response.headers()[ETAG], tag.as_str(), "{path}");
    }
    fold().await;
    assert_eq!(agree("renamed, folded").await, renamed);

    // A pledge changes status: pending, then folded.
    sql(format!(
        "UPDATE pledges SET status = 'submitted', submitted_at = now() \
         WHERE organization_id = '{}' AND status = 'draft'",
        tree.c3.id
    ))
    .await;
    let registered = agree("C3 registered").await;
    assert_ne!(registered[0], renamed[0], "D1's coverage counts C3");
    fold().await;
    assert_eq!(agree("C3 registered, folded").await, registered);

    // A title pledge without a title name is listed by its text, which changes alone.
    sql(format!(
        "UPDATE pledges SET title_name = NULL, title = 'Danh hiệu B' WHERE {titled}"
    ))
    .await;
    fold().await;
    let untitled = agree("no title name").await;
    sql(format!(
        "UPDATE pledges SET title = 'Danh hiệu C' WHERE {titled}"
    ))
    .await;
    let retitled = agree("a new title text").await;
    assert_ne!(retitled[6], untitled[6], "titles lists the new text");
    fold().await;
    assert_eq!(agree("a new title text, folded").await, retitled);

    // A campaign's field renamed: its label changes.
    sql(format!(
        "UPDATE campaigns SET fields = replace(fields::text, '{}', 'Tên mới')::jsonb \
         WHERE id = '{campaign}'",
        FIELDS[0].1
    ))
    .await;
    let relabelled = stats(app, admin, "pledges", &by_fields).await;
    assert!(relabelled.to_string().contains("Tên mới"), "{relabelled}");
}

#[tokio::test]
async fn malformed_parameters_are_refused_with_a_problem() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::D1_REVIEWER).await;
    for query in [
        "pledges?group_by=colour",
        "nominations?group_by=month",
        "coverage?kind=galaxy",
        "titles?organization_kind=galaxy",
        "overview?year=twenty",
        "overview?organization_id=not-a-uuid",
        "overview?campaign_id=42",
        "leaderboard?limit=0",
        "leaderboard?limit=201",
    ] {
        let response = app.get(&format!("/api/v1/stats/{query}"), &token).await;
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned());
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{query}"
        );
    }
    for endpoint in ENDPOINTS {
        let response = app
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/stats/{endpoint}"),
                None,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "/stats/{endpoint} without a token");
    }
}

/// A fresh app with the fixture and its pledges (see [`seed_fixture_pledges`]).
async fn fixture_with_pledges() -> (TestApp, Fixture) {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    seed_fixture_pledges(&app, &fixture).await;
    (app, fixture)
}

/// Pledges of the fixture: C1 submitted + approved, K1 assessed achieved, C3 draft; C2 three.
async fn seed_fixture_pledges(app: &TestApp, fixture: &Fixture) -> Uuid {
    let tree = &fixture.tree;
    let mut conn = app.state.db.write().await.unwrap();
    let campaign = insert_campaign(&mut conn, tree.p.id, "FIXTURE").await;
    let deadline = date(2030, 12, 31);
    let plan: [(&OrganizationRow, &'static str, Option<&'static str>); 7] = [
        (&tree.c1, "submitted", None),
        (&tree.c1, "approved", None),
        (&tree.k1, "assessed", Some("achieved")),
        (&tree.c3, "draft", None),
        (&tree.c2, "submitted", None),
        (&tree.c2, "approved", None),
        (&tree.c2, "assessed", Some("exceeded")),
    ];
    let rows: Vec<PledgeRow> = plan
        .iter()
        .map(|(unit, status, result)| PledgeRow {
            id: Uuid::now_v7(),
            unit: unit.id,
            path: unit.path.clone(),
            campaign,
            year: 2022,
            kind: "target",
            field: FIELDS[0].0,
            status,
            result: *result,
            deadline,
            title_name: None,
        })
        .collect();
    insert_pledges(&mut conn, tree.p.id, &rows).await;
    campaign
}

// ---------------------------------------------------------------------------------------------
// Nominations

#[tokio::test]
async fn nominations_are_grouped_by_status_and_child_within_the_subtree() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let tree = &fixture.tree;
    let campaign = {
        let mut conn = app.state.db.write().await.unwrap();
        let campaign = insert_campaign(&mut conn, tree.p.id, "NOMINATIONS").await;
        let plan: [(&OrganizationRow, &str, i32); 7] = [
            (&tree.c1, "submitted", 2022),
            (&tree.c1, "recognized", 2022),
            (&tree.c1, "commended", 2022),
            (&tree.k1, "under_review", 2022),
            (&tree.c3, "draft", 2022),
            (&tree.c3, "recognized", 2021),
            (&tree.c2, "recognized", 2022),
        ];
        for (index, (unit, status, year)) in plan.into_iter().enumerate() {
            let commended = status == "commended";
            diesel::insert_into(nominations::table)
                .values((
                    nominations::id.eq(Uuid::now_v7()),
                    nominations::campaign_id.eq(campaign),
                    nominations::nominating_organization_id.eq(unit.id),
                    nominations::organization_path.eq(&unit.path),
                    nominations::root_organization_id.eq(tree.p.id),
                    nominations::year.eq(year),
                    nominations::nominee_type.eq(if index % 2 == 0 {
                        "individual"
                    } else {
                        "collective"
                    }),
                    nominations::nominee_name.eq(format!("Nguyễn Văn {index}")),
                    nominations::field.eq(FIELDS[0].0),
                    nominations::status.eq(status),
                    nominations::commendation_form.eq(commended.then_some("giay_khen")),
                    nominations::issuer_organization_id.eq(commended.then_some(tree.d1.id)),
                    nominations::decision_no.eq(commended.then_some("12/QĐ-UBND")),
                    nominations::decided_on.eq(commended.then_some(date(2022, 12, 20))),
                    nominations::created_by.eq(fixture.users[fixture::ADMIN]),
                ))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        campaign
    };
    let token = fixture.token(&app, fixture::D1_REVIEWER).await;
    let scope = [
        ("campaign_id", campaign.to_string()),
        ("year", "2022".to_owned()),
    ];

    let by_status = stats(&app, &token, "nominations", &scope).await;
    assert_eq!(by_status["group_by"], "status");
    assert_eq!(by_status["total"], 5, "{by_status}");
    let counts: BTreeMap<String, (i64, i64)> = groups_by_key(&by_status)
        .into_iter()
        .map(|(key, group)| {
            (
                key,
                (
                    group["total"].as_i64().unwrap(),
                    group["exemplars"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (i64, i64)> = [
        ("commended", (1, 1)),
        ("draft", (1, 0)),
        ("recognized", (1, 1)),
        ("submitted", (1, 0)),
        ("under_review", (1, 0)),
    ]
    .into_iter()
    .map(|(key, counts)| (key.to_owned(), counts))
    .collect();
    assert_eq!(counts, expected, "{by_status}");

    let mut child_scope = scope.to_vec();
    child_scope.push(("group_by", "child".to_owned()));
    let by_child = stats(&app, &token, "nominations", &child_scope).await;
    let groups = groups_by_key(&by_child);
    assert_eq!(groups.len(), 2, "{by_child}");
    assert_eq!(groups[&tree.c1.id.to_string()]["total"], 4, "{by_child}");
    assert_eq!(
        groups[&tree.c1.id.to_string()]["exemplars"],
        2,
        "{by_child}"
    );
    assert_eq!(groups[&tree.c3.id.to_string()]["total"], 1, "{by_child}");

    let overview = stats(&app, &token, "overview", &scope).await;
    assert_eq!(overview["nominations_total"], 5, "{overview}");
    assert_eq!(overview["exemplars"], 2, "{overview}");

    // All years: C3's 2021 recognition counts too.
    let of_campaign = [("campaign_id", campaign.to_string())];
    let all_years = stats(&app, &token, "nominations", &of_campaign).await;
    assert_eq!(all_years["total"], 6, "{all_years}");
}

// ---------------------------------------------------------------------------------------------
// The property test

#[tokio::test]
async fn every_aggregate_equals_a_brute_force_count_over_random_trees() {
    let app = TestApp::spawn().await;
    let mut failures = Vec::new();
    for seed in 1..=8_u64 {
        let world = World::generate(&app, seed).await;
        let token = app.token(&world.username, &world.password).await;
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        for query in 0..6 {
            let root = if query == 0 {
                world.root.clone()
            } else {
                world.units[rng.gen_range(0..world.units.len())].clone()
            };
            let campaign = world.random_campaign(&mut rng);
            let year = match rng.gen_range(0..4) {
                0 => None,
                offset => Some(2020 + offset),
            };
            let window = Window {
                root: &root,
                roots: vec![root.clone()],
                campaign,
                year,
            };
            let mut check = Check::new(seed, &mut failures);
            world
                .check_all(&app, &token, &window, &mut rng, &mut check)
                .await;
        }
    }
    assert_no_mismatches(&failures);
}

/// The rule of docs/design.md § Restructuring with lineage, against the raw rows: after random
/// restructurings at random dates of 2024 (merges into new and existing units, splits, moves,
/// dissolutions, through `POST /restructurings`), every aggregate of 2021–2023 of every unit is
/// the brute-force count over the tree those years ended with (the generated one), and a unit
/// created by a restructuring answers for the subtrees of its predecessors (transitively, the
/// nested ones once).
#[tokio::test]
async fn past_years_read_on_their_structure_after_random_restructurings() {
    let app = TestApp::spawn().await;
    let mut failures = Vec::new();
    for seed in 21..=24_u64 {
        let world = World::generate(&app, seed).await;
        let token = app.token(&world.username, &world.password).await;
        let mut rng = StdRng::seed_from_u64(seed ^ 0xbeef);
        let lineage = Lineage::restructure(&app, &world, &mut rng).await;
        for query in 0..8 {
            let asked = if query % 2 == 0 && !lineage.created.is_empty() {
                lineage.created[rng.gen_range(0..lineage.created.len())].clone()
            } else {
                world.units[rng.gen_range(0..world.units.len())].clone()
            };
            let campaign = world.random_campaign(&mut rng);
            let window = Window {
                roots: lineage.roots_of(&world, asked.id),
                root: &asked,
                campaign,
                year: Some(rng.gen_range(2021..=2023)),
            };
            let mut check = Check::new(seed, &mut failures);
            world
                .check_all(&app, &token, &window, &mut rng, &mut check)
                .await;
        }
    }
    assert_no_mismatches(&failures);
}

/// The restructurings applied to a generated world, as the brute force models them.
struct Lineage {
    /// Units the restructurings created (not in the generated tree).
    created: Vec<Unit>,
    /// (predecessor, successor, whether the successor was created by that step).
    links: Vec<(Uuid, Uuid, bool)>,
}

impl Lineage {
    /// Applies one to three restructurings of one to three random steps each.
    async fn restructure(app: &TestApp, world: &World, rng: &mut StdRng) -> Lineage {
        let admin = format!("prop.admin.{}", world.root.id);
        let password = format!("password-{admin}");
        {
            let mut conn = app.state.db.write().await.unwrap();
            let hash = thidua::auth::password::hash_with(&TEST_HASHING, &password).unwrap();
            thidua::users::repo::ensure_user(
                &mut conn,
                &admin,
                &admin,
                &hash,
                world.root.id,
                Role::Admin,
            )
            .await
            .unwrap();
        }
        let token = app.token(&admin, &password).await;
        // Today's tree as the model sees it: parent, and whether a step may name the unit.
        let mut parent: HashMap<Uuid, Option<Uuid>> = world
            .units
            .iter()
            .map(|unit| (unit.id, unit.parent))
            .collect();
        let mut usable: HashSet<Uuid> = world
            .units
            .iter()
            .filter(|unit| unit.active)
            .map(|unit| unit.id)
            .collect();
        let mut lineage = Lineage {
            created: Vec::new(),
            links: Vec::new(),
        };
        let below = |parent: &HashMap<Uuid, Option<Uuid>>, unit: Uuid, ancestor: Uuid| {
            let mut at = Some(unit);
            while let Some(id) = at {
                if id == ancestor {
                    return true;
                }
                at = parent.get(&id).copied().flatten();
            }
            false
        };
        let mut day = date(2024, 1, 2);
        for restructuring in 0..rng.gen_range(1..=3) {
            day += Duration::days(rng.gen_range(1..100));
            let mut steps = Vec::new();
            let mut pending_links: Vec<(Uuid, String, bool)> = Vec::new();
            let mut pending_units: Vec<(String, Uuid)> = Vec::new();
            for step in 0..rng.gen_range(1..=3) {
                let candidates: Vec<Uuid> = usable
                    .iter()
                    .copied()
                    .filter(|id| *id != world.root.id)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if candidates.len() < 3 {
                    break;
                }
                let unit = candidates[rng.gen_range(0..candidates.len())];
                // A place outside `unit`'s subtree (the root is always one).
                let outside: Vec<Uuid> = usable
                    .iter()
                    .copied()
                    .filter(|id| !below(&parent, *id, unit))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let place = outside[rng.gen_range(0..outside.len())];
                let name = format!("Mới {}-{restructuring}-{step}", world.root.name);
                let reference = format!("n{restructuring}-{step}");
                let children: Vec<Uuid> = parent
                    .iter()
                    .filter(|(_, p)| **p == Some(unit))
                    .map(|(id, _)| *id)
                    .collect();
                match rng.gen_range(0..5) {
                    // Into a new unit.
                    0 => {
                        steps.push(json!({ "op": "merge", "from": [{ "id": unit }],
                            "into": { "ref": reference, "name": name, "kind": "commune", "parent": { "id": place } } }));
                        pending_units.push((name.clone(), place));
                        pending_links.push((unit, name, true));
                        usable.remove(&unit);
                        for child in children {
                            parent.insert(child, None);
                            pending_units.push((format!("child of {reference}"), child));
                        }
                    }
                    // Into an existing unit, or dissolved into one.
                    op @ (1 | 2) => {
                        steps.push(if op == 1 {
                            json!({ "op": "merge", "from": [{ "id": unit }], "into": { "id": place } })
                        } else {
                            json!({ "op": "dissolve", "unit": { "id": unit }, "successor": { "id": place } })
                        });
                        lineage.links.push((unit, place, false));
                        usable.remove(&unit);
                        for child in children {
                            parent.insert(child, Some(place));
                        }
                    }
                    // Placed elsewhere.
                    3 => {
                        if parent[&unit] == Some(place) {
                            continue;
                        }
                        steps.push(json!({ "op": "move", "unit": { "id": unit }, "parent": { "id": place } }));
                        parent.insert(unit, Some(place));
                    }
                    // Split into two new units.
                    _ => {
                        let other = format!("{name} bis");
                        steps.push(json!({ "op": "create", "ref": reference, "name": name, "kind": "commune", "parent": { "id": place } }));
                        steps.push(json!({ "op": "create", "ref": format!("{reference}b"), "name": other, "kind": "commune", "parent": { "id": place } }));
                        steps.push(json!({ "op": "split", "from": { "id": unit },
                            "into": [{ "ref": reference }, { "ref": format!("{reference}b") }], "primary": { "ref": reference } }));
                        pending_units.push((name.clone(), place));
                        pending_units.push((other.clone(), place));
                        pending_links.push((unit, name, true));
                        pending_links.push((unit, other, true));
                        usable.remove(&unit);
                        for child in children {
                            parent.insert(child, None);
                            pending_units.push((format!("child of {reference}"), child));
                        }
                    }
                }
            }
            if steps.is_empty() {
                continue;
            }
            let (status, applied) = app.post_for_json(
                    "/api/v1/restructurings",
                    &token,
                    &json!({ "effective_on": day, "legal_basis": "Quyết định thử", "steps": steps }),
                )
            .await;
            assert_eq!(status, 201, "{steps:?}: {applied}");
            let created: HashMap<String, Uuid> = applied["preview"]["created"]
                .as_array()
                .unwrap()
                .iter()
                .map(|unit| {
                    (
                        unit["name"].as_str().unwrap().to_owned(),
                        unit["id"].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            // New units join the model; children of a unit merged into or split off to a new
            // unit follow the (primary) new unit.
            let mut last_new = None;
            for (name, place) in pending_units {
                match created.get(&name) {
                    Some(id) => {
                        parent.insert(*id, Some(place));
                        usable.insert(*id);
                        lineage.created.push(Unit {
                            id: *id,
                            name: name.clone(),
                            kind: "commune",
                            path: String::new(),
                            parent: Some(place),
                            active: true,
                        });
                        if !name.ends_with(" bis") {
                            last_new = Some(*id);
                        }
                    }
                    None => {
                        parent.insert(place, last_new);
                    }
                }
            }
            for (predecessor, name, created_by_it) in pending_links {
                lineage
                    .links
                    .push((predecessor, created[&name], created_by_it));
            }
        }
        lineage
    }

    /// The generated units `asked` answers for in 2021–2023: itself if it existed then, else
    /// the predecessors of the steps that created it, transitively; nested ones once.
    fn roots_of(&self, world: &World, asked: Uuid) -> Vec<Unit> {
        let mut roots: Vec<Unit> = Vec::new();
        let mut pending = vec![asked];
        let mut seen = HashSet::new();
        while let Some(id) = pending.pop() {
            if !seen.insert(id) {
                continue;
            }
            match world.by_id.get(&id) {
                Some(unit) => roots.push(unit.clone()),
                None => pending.extend(
                    self.links
                        .iter()
                        .filter(|(_, successor, created_by_it)| *successor == id && *created_by_it)
                        .map(|(predecessor, _, _)| *predecessor),
                ),
            }
        }
        roots.sort_by(|a, b| a.path.cmp(&b.path));
        let mut kept: Vec<Unit> = Vec::new();
        for root in roots {
            if !kept.iter().any(|outer| root.path.starts_with(&outer.path)) {
                kept.push(root);
            }
        }
        kept
    }
}

/// A unit of the generated tree, as the brute force sees it.
#[derive(Debug, Clone)]
struct Unit {
    id: Uuid,
    name: String,
    kind: &'static str,
    path: String,
    parent: Option<Uuid>,
    active: bool,
}

/// A pledge as inserted.
#[derive(Debug, Clone)]
struct PledgeRow {
    id: Uuid,
    unit: Uuid,
    path: String,
    campaign: Uuid,
    year: i32,
    kind: &'static str,
    field: &'static str,
    status: &'static str,
    result: Option<&'static str>,
    deadline: NaiveDate,
    title_name: Option<&'static str>,
}

impl PledgeRow {
    fn registered(&self) -> bool {
        REGISTERED.contains(&self.status)
    }

    fn achieved(&self) -> bool {
        self.result.is_some_and(|result| ACHIEVED.contains(&result))
    }

    fn overdue(&self, today: NaiveDate) -> bool {
        self.deadline < today && !matches!(self.status, "assessed" | "withdrawn")
    }
}

struct World {
    root: Unit,
    units: Vec<Unit>,
    by_id: HashMap<Uuid, Unit>,
    campaigns: [Uuid; 2],
    pledges: Vec<PledgeRow>,
    username: String,
    password: String,
}

struct Window<'a> {
    /// The unit asked about.
    root: &'a Unit,
    /// The subtrees it answers for, in the generated (pre-restructuring) tree: itself, or the
    /// predecessors it answers for (see the restructuring property test).
    roots: Vec<Unit>,
    campaign: Option<Uuid>,
    year: Option<i32>,
}

impl Window<'_> {
    /// Campaign and year match (the subtree is not checked).
    fn matches(&self, pledge: &PledgeRow) -> bool {
        self.campaign
            .is_none_or(|campaign| pledge.campaign == campaign)
            && self.year.is_none_or(|year| pledge.year == year)
    }

    fn contains(&self, pledge: &PledgeRow) -> bool {
        self.covers(&pledge.path) && self.matches(pledge)
    }

    /// Whether `path` is in one of the subtrees.
    fn covers(&self, path: &str) -> bool {
        self.roots.iter().any(|root| path.starts_with(&root.path))
    }

    fn is_root(&self, id: Uuid) -> bool {
        self.roots.iter().any(|root| root.id == id)
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("organization_id", self.root.id.to_string())];
        if let Some(campaign) = self.campaign {
            params.push(("campaign_id", campaign.to_string()));
        }
        if let Some(year) = self.year {
            params.push(("year", year.to_string()));
        }
        params
    }
}

/// Collects mismatches, each naming the seed, the request and the key.
struct Check<'a> {
    seed: u64,
    failures: &'a mut Vec<String>,
    context: String,
}

/// Fails with the first mismatches the property tests found, when they found any.
fn assert_no_mismatches(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} mismatches; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

impl<'a> Check<'a> {
    /// The checks of one seed, collecting into `failures`.
    fn new(seed: u64, failures: &'a mut Vec<String>) -> Self {
        Check {
            seed,
            failures,
            context: String::new(),
        }
    }
}

impl Check<'_> {
    fn fail(&mut self, key: &str, detail: String) {
        self.failures.push(format!(
            "seed {}, {}, {key}: {detail}",
            self.seed, self.context
        ));
    }

    fn int(&mut self, key: &str, actual: &Value, expected: i64) {
        if actual.as_i64() != Some(expected) {
            self.fail(key, format!("got {actual}, expected {expected}"));
        }
    }

    fn ratio(&mut self, key: &str, actual: &Value, part: i64, whole: i64) {
        let expected = (whole > 0).then(|| part as f64 / whole as f64);
        let ok = match (actual.as_f64(), expected) {
            (Some(actual), Some(expected)) => (actual - expected).abs() < 1e-9,
            (None, None) => actual.is_null(),
            _ => false,
        };
        if !ok {
            self.fail(key, format!("got {actual}, expected {expected:?}"));
        }
    }

    fn text(&mut self, key: &str, actual: &Value, expected: &str) {
        if actual.as_str() != Some(expected) {
            self.fail(key, format!("got {actual}, expected {expected:?}"));
        }
    }

    fn keys<T: Ord + std::fmt::Debug + Clone>(
        &mut self,
        key: &str,
        actual: &BTreeSet<T>,
        expected: &BTreeSet<T>,
    ) {
        if actual != expected {
            self.fail(
                key,
                format!(
                    "unexpected {:?}, missing {:?}",
                    actual.difference(expected).collect::<Vec<_>>(),
                    expected.difference(actual).collect::<Vec<_>>()
                ),
            );
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counts {
    label: String,
    total: i64,
    registered: i64,
    assessed: i64,
    achieved: i64,
    overdue: i64,
}

impl Counts {
    fn add(&mut self, pledge: &PledgeRow, today: NaiveDate) {
        self.total += 1;
        self.registered += i64::from(pledge.registered());
        self.assessed += i64::from(pledge.status == "assessed");
        self.achieved += i64::from(pledge.achieved());
        self.overdue += i64::from(pledge.overdue(today));
    }
}

impl World {
    async fn generate(app: &TestApp, seed: u64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut conn = app.state.db.write().await.unwrap();
        let conn = &mut *conn;
        let root_row = repo::insert(
            conn,
            None,
            OrganizationKind::District,
            &format!("Root {seed:02}"),
            None,
        )
        .await
        .unwrap();
        let mut rows = vec![root_row.clone()];
        let nodes = rng.gen_range(20..=40);
        for index in 0..nodes {
            let candidates: Vec<&OrganizationRow> = rows
                .iter()
                .filter(|row| row.depth - root_row.depth < 4)
                .collect();
            let parent = candidates[rng.gen_range(0..candidates.len())].clone();
            let kind = [
                OrganizationKind::Commune,
                OrganizationKind::PartyCell,
                OrganizationKind::Hamlet,
            ][rng.gen_range(0..3)];
            let row = repo::insert(
                conn,
                Some(&parent),
                kind,
                &format!("U{seed:02}-{index:02}"),
                None,
            )
            .await
            .unwrap();
            rows.push(row);
        }
        let mut units: Vec<Unit> = rows
            .iter()
            .map(|row| Unit {
                id: row.id,
                name: row.name.clone(),
                kind: row.kind.as_str(),
                path: row.path.clone(),
                parent: row.parent_id,
                active: true,
            })
            .collect();
        // Deactivate whole subtrees, as the application requires (no active child under an
        // inactive unit).
        for _ in 0..rng.gen_range(1..=4) {
            let victim = units[rng.gen_range(1..units.len())].path.clone();
            diesel::sql_query("UPDATE organizations SET active = false, deactivated_at = now() WHERE path LIKE $1")
                .bind::<diesel::sql_types::Text, _>(format!("{victim}%"))
                .execute(conn)
                .await
                .unwrap();
            for unit in &mut units {
                if unit.path.starts_with(&victim) {
                    unit.active = false;
                }
            }
        }
        let campaigns = [
            insert_campaign(conn, root_row.id, &format!("PROP-{seed}-A")).await,
            insert_campaign(conn, root_row.id, &format!("PROP-{seed}-B")).await,
        ];
        let today = Utc::now().date_naive();
        let first_day = date(2021, 1, 1);
        let mut pledges_rows = Vec::new();
        for _ in 0..rng.gen_range(50..=150) {
            let unit = &units[rng.gen_range(0..units.len())];
            let kind = if rng.gen_bool(0.5) { "target" } else { "title" };
            let status = STATUSES[rng.gen_range(0..STATUSES.len())];
            // Mostly the brief's 2021–2024, some around today so `deadline < today` is exercised
            // on both sides.
            let deadline = if rng.gen_bool(0.8) {
                first_day + Duration::days(rng.gen_range(0..1461))
            } else {
                today + Duration::days(rng.gen_range(-20..=20))
            };
            pledges_rows.push(PledgeRow {
                id: Uuid::now_v7(),
                unit: unit.id,
                path: unit.path.clone(),
                campaign: campaigns[rng.gen_range(0..2)],
                year: rng.gen_range(2021..=2023),
                kind,
                field: FIELDS[rng.gen_range(0..2)].0,
                status,
                result: (status == "assessed").then(|| RESULTS[rng.gen_range(0..RESULTS.len())]),
                deadline,
                title_name: (kind == "title")
                    .then(|| [CELL_TITLE, OTHER_TITLE][rng.gen_range(0..2)]),
            });
        }
        // The aggregates read folded tallies plus the deltas not folded yet: insert in two
        // halves and change some statuses afterwards, folding all, part or nothing in between
        // depending on the seed, so every mix of folded and pending changes is compared with
        // the raw rows.
        // Odd seeds also start from a horizon more than a year old, as if the service had
        // not folded for that long: their first fold keeps the deadlines after that horizon as
        // they are, then moves the horizon and merges the deadlines older than two days into
        // the -infinity rows.
        if seed % 2 == 1 {
            diesel::sql_query("UPDATE tally_state SET collapsed_before = current_date - 400")
                .execute(conn)
                .await
                .unwrap();
        }
        let half = pledges_rows.len() / 2;
        insert_pledges(conn, root_row.id, &pledges_rows[..half]).await;
        if seed % 2 == 1 {
            tallies::fold(conn).await.unwrap();
        }
        insert_pledges(conn, root_row.id, &pledges_rows[half..]).await;
        if seed % 4 == 1 {
            tallies::fold(conn).await.unwrap();
        }
        // Seeds 3 and 7 fold only the oldest few deltas (the fold goes in bounded batches):
        // part of the second half folded, the rest pending, and seed 7 stays so.
        if seed % 4 == 3 {
            assert_eq!(tallies::fold_batch(conn, 7).await.unwrap(), 7);
        }
        for _ in 0..10 {
            let index = rng.gen_range(0..pledges_rows.len());
            let status = STATUSES[rng.gen_range(0..STATUSES.len())];
            let result = (status == "assessed").then(|| RESULTS[rng.gen_range(0..RESULTS.len())]);
            let row = &mut pledges_rows[index];
            row.status = status;
            row.result = result;
            diesel::update(pledges::table.find(row.id))
                .set((pledges::status.eq(status), pledges::result.eq(result)))
                .execute(conn)
                .await
                .unwrap();
        }
        if seed.is_multiple_of(3) {
            tallies::fold(conn).await.unwrap();
        }
        let stale: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM deadline_tallies \
              WHERE deadline > '-infinity' AND deadline < current_date - 2)",
        ))
        .get_result(conn)
        .await
        .unwrap();
        assert_eq!(
            stale, 0,
            "deadlines behind the horizon are merged after a fold"
        );
        let username = format!("prop.reviewer.{seed}");
        let password = format!("password-{username}");
        let hash = thidua::auth::password::hash_with(&TEST_HASHING, &password).unwrap();
        thidua::users::repo::ensure_user(
            conn,
            &username,
            &username,
            &hash,
            root_row.id,
            Role::Reviewer,
        )
        .await
        .unwrap();
        let by_id = units.iter().map(|unit| (unit.id, unit.clone())).collect();
        World {
            root: units[0].clone(),
            units,
            by_id,
            campaigns,
            pledges: pledges_rows,
            username,
            password,
        }
    }

    fn in_window<'a>(&'a self, window: &'a Window<'a>) -> impl Iterator<Item = &'a PledgeRow> + 'a {
        self.pledges
            .iter()
            .filter(move |pledge| window.contains(pledge))
    }

    /// The direct child of a root of `window` whose subtree holds `path` (None for a root
    /// itself).
    fn child_holding(&self, window: &Window<'_>, path: &str) -> Option<&Unit> {
        self.units.iter().find(|unit| {
            unit.parent.is_some_and(|parent| window.is_root(parent)) && path.starts_with(&unit.path)
        })
    }

    fn field_name(code: &str) -> &'static str {
        FIELDS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, name)| *name)
            .unwrap()
    }

    /// Key and label of `pledge` in `grouping`.
    fn group_of(
        &self,
        window: &Window<'_>,
        pledge: &PledgeRow,
        grouping: &str,
    ) -> (String, String) {
        let unit = &self.by_id[&pledge.unit];
        let key = match grouping {
            "status" => pledge.status.to_owned(),
            "result" => pledge.result.unwrap_or("none").to_owned(),
            "field" => pledge.field.to_owned(),
            "kind" => pledge.kind.to_owned(),
            "organization_kind" => unit.kind.to_owned(),
            "month" => pledge.deadline.format("%Y-%m").to_string(),
            "child" => {
                return match self.child_holding(window, &pledge.path) {
                    None => ("self".to_owned(), window.root.name.clone()),
                    Some(child) => (child.id.to_string(), child.name.clone()),
                };
            }
            other => panic!("grouping {other}"),
        };
        let label = if grouping == "field" && window.campaign.is_some() {
            Self::field_name(&key).to_owned()
        } else {
            key.clone()
        };
        (key, label)
    }

    fn expected_units(&self, window: &Window<'_>, kind: Option<&str>) -> Vec<&Unit> {
        self.units
            .iter()
            .filter(|unit| unit.active)
            .filter(|unit| match kind {
                None => unit.parent.is_some_and(|parent| window.is_root(parent)),
                Some(kind) => {
                    unit.kind == kind && window.covers(&unit.path) && !window.is_root(unit.id)
                }
            })
            .collect()
    }

    /// Registered pledges of `unit` itself in the campaign and year.
    fn registered_of(&self, window: &Window<'_>, unit: &Unit) -> i64 {
        self.pledges
            .iter()
            .filter(|pledge| {
                pledge.unit == unit.id && window.matches(pledge) && pledge.registered()
            })
            .count() as i64
    }

    /// A window's campaign: none one time in three, else one of the world's two.
    fn random_campaign(&self, rng: &mut StdRng) -> Option<Uuid> {
        match rng.gen_range(0..3) {
            0 => None,
            index => Some(self.campaigns[index - 1]),
        }
    }

    async fn check_all(
        &self,
        app: &TestApp,
        token: &str,
        window: &Window<'_>,
        rng: &mut StdRng,
        check: &mut Check<'_>,
    ) {
        let today = Utc::now().date_naive();
        for kind in [None, Some("commune"), Some("party_cell"), Some("hamlet")] {
            let mut params = window.params();
            if let Some(kind) = kind {
                params.push(("kind", kind.to_owned()));
            }
            let limit = rng.gen_range(1..=4_usize);
            let body = get_stats_pages(app, token, "coverage", &params, limit, check).await;
            self.check_coverage(window, kind, &body, check);
        }
        for grouping in GROUPINGS {
            let mut params = window.params();
            params.push(("group_by", grouping.to_owned()));
            let body = get_stats(app, token, "pledges", &params, check).await;
            self.check_pledge_groups(window, grouping, &body, today, check);
        }
        let kinds = ["commune", "party_cell", "hamlet"];
        let title_filters = [
            (None, None),
            (Some(kinds[rng.gen_range(0..3)]), None),
            (None, Some([CELL_TITLE, OTHER_TITLE][rng.gen_range(0..2)])),
            (Some(kinds[rng.gen_range(0..3)]), Some(CELL_TITLE)),
        ];
        for (kind, title_name) in title_filters {
            let mut params = window.params();
            if let Some(kind) = kind {
                params.push(("organization_kind", kind.to_owned()));
            }
            if let Some(title_name) = title_name {
                params.push(("title_name", title_name.to_owned()));
            }
            let limit = rng.gen_range(1..=4_usize);
            let body = get_stats_pages(app, token, "titles", &params, limit, check).await;
            self.check_titles(window, kind, title_name, &body, check);
        }
        for limit in [None, Some(rng.gen_range(1..=3_usize))] {
            let mut params = window.params();
            if let Some(limit) = limit {
                params.push(("limit", limit.to_string()));
            }
            let body = get_stats(app, token, "leaderboard", &params, check).await;
            self.check_leaderboard(window, limit, &body, check);
        }
        let body = get_stats(app, token, "overview", &window.params(), check).await;
        self.check_overview(window, &body, today, check);
    }

    fn check_coverage(
        &self,
        window: &Window<'_>,
        kind: Option<&str>,
        body: &Value,
        check: &mut Check<'_>,
    ) {
        let expected_units = self.expected_units(window, kind);
        let counts: BTreeMap<String, (i64, &Unit)> = expected_units
            .iter()
            .map(|unit| {
                (
                    unit.id.to_string(),
                    (self.registered_of(window, unit), *unit),
                )
            })
            .collect();
        let registered = counts.values().filter(|(count, _)| *count > 0).count() as i64;
        let expected = counts.len() as i64;
        check.int("expected", &body["expected"], expected);
        check.int("registered", &body["registered"], registered);
        check.ratio("ratio", &body["ratio"], registered, expected);
        let units = body["units"].as_array().cloned().unwrap_or_default();
        let actual_ids: BTreeSet<String> = units
            .iter()
            .map(|unit| {
                unit["organization_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        check.keys("units", &actual_ids, &counts.keys().cloned().collect());
        let mut seen_registered = false;
        for unit in &units {
            let id = unit["organization_id"].as_str().unwrap_or_default();
            let Some((count, expected_unit)) = counts.get(id) else {
                continue;
            };
            check.int(
                &format!("units[{id}].pledge_count"),
                &unit["pledge_count"],
                *count,
            );
            if unit["registered"] != Value::Bool(*count > 0) {
                check.fail(
                    &format!("units[{id}].registered"),
                    format!("got {}", unit["registered"]),
                );
            }
            check.text(
                &format!("units[{id}].name"),
                &unit["name"],
                &expected_unit.name,
            );
            check.text(
                &format!("units[{id}].kind"),
                &unit["kind"],
                expected_unit.kind,
            );
            if unit["registered"] == true {
                seen_registered = true;
            } else if seen_registered {
                check.fail(
                    "units order",
                    format!("{id} has not registered but comes after a unit that has"),
                );
            }
        }
    }

    fn check_pledge_groups(
        &self,
        window: &Window<'_>,
        grouping: &str,
        body: &Value,
        today: NaiveDate,
        check: &mut Check<'_>,
    ) {
        let mut expected: BTreeMap<String, Counts> = BTreeMap::new();
        for pledge in self.in_window(window) {
            let (key, label) = self.group_of(window, pledge, grouping);
            let counts = expected.entry(key).or_default();
            counts.label = label;
            counts.add(pledge, today);
        }
        check.text("group_by", &body["group_by"], grouping);
        check.int(
            "total",
            &body["total"],
            expected.values().map(|counts| counts.total).sum(),
        );
        let actual = groups_by_key(body);
        check.keys(
            "group keys",
            &actual.keys().cloned().collect(),
            &expected.keys().cloned().collect(),
        );
        for (key, counts) in &expected {
            let Some(group) = actual.get(key) else {
                continue;
            };
            check.text(
                &format!("groups[{key}].label"),
                &group["label"],
                &counts.label,
            );
            check.int(
                &format!("groups[{key}].total"),
                &group["total"],
                counts.total,
            );
            check.int(
                &format!("groups[{key}].registered"),
                &group["registered"],
                counts.registered,
            );
            check.int(
                &format!("groups[{key}].assessed"),
                &group["assessed"],
                counts.assessed,
            );
            check.int(
                &format!("groups[{key}].achieved"),
                &group["achieved"],
                counts.achieved,
            );
            check.int(
                &format!("groups[{key}].overdue"),
                &group["overdue"],
                counts.overdue,
            );
        }
    }

    /// (registered, achieved) per (unit, title name).
    fn titles(
        &self,
        window: &Window<'_>,
        kind: Option<&str>,
        title_name: Option<&str>,
    ) -> BTreeMap<(String, String), (i64, i64)> {
        let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for pledge in self.in_window(window) {
            let unit = &self.by_id[&pledge.unit];
            if pledge.kind != "title"
                || !pledge.registered()
                || kind.is_some_and(|kind| unit.kind != kind)
                || title_name.is_some_and(|name| pledge.title_name != Some(name))
            {
                continue;
            }
            let entry = expected
                .entry((
                    unit.id.to_string(),
                    pledge.title_name.unwrap_or_default().to_owned(),
                ))
                .or_default();
            entry.0 += 1;
            entry.1 += i64::from(pledge.achieved());
        }
        expected
    }

    fn check_titles(
        &self,
        window: &Window<'_>,
        kind: Option<&str>,
        title_name: Option<&str>,
        body: &Value,
        check: &mut Check<'_>,
    ) {
        let expected = self.titles(window, kind, title_name);
        let registered: i64 = expected.values().map(|counts| counts.0).sum();
        let achieved: i64 = expected.values().map(|counts| counts.1).sum();
        check.int("registered", &body["registered"], registered);
        check.int("achieved", &body["achieved"], achieved);
        check.ratio("ratio", &body["ratio"], achieved, registered);
        let units = body["units"].as_array().cloned().unwrap_or_default();
        let actual: BTreeMap<(String, String), &Value> = units
            .iter()
            .map(|unit| {
                (
                    (
                        unit["organization_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        unit["title_name"].as_str().unwrap_or_default().to_owned(),
                    ),
                    unit,
                )
            })
            .collect();
        if actual.len() != units.len() {
            check.fail("units", "a (unit, title) appears twice".to_owned());
        }
        check.keys(
            "units",
            &actual.keys().cloned().collect(),
            &expected.keys().cloned().collect(),
        );
        for ((id, title), (registered, achieved)) in &expected {
            let Some(unit) = actual.get(&(id.clone(), title.clone())) else {
                continue;
            };
            let expected_unit = &self.by_id[&Uuid::parse_str(id).unwrap()];
            check.int(
                &format!("units[{id}, {title}].registered"),
                &unit["registered"],
                *registered,
            );
            check.int(
                &format!("units[{id}, {title}].achieved"),
                &unit["achieved"],
                *achieved,
            );
            check.text(
                &format!("units[{id}, {title}].name"),
                &unit["name"],
                &expected_unit.name,
            );
            check.text(
                &format!("units[{id}, {title}].kind"),
                &unit["kind"],
                expected_unit.kind,
            );
        }
    }

    fn check_leaderboard(
        &self,
        window: &Window<'_>,
        limit: Option<usize>,
        body: &Value,
        check: &mut Check<'_>,
    ) {
        // Every direct child, active or not (repo::children), by its whole subtree.
        let mut expected: Vec<(&Unit, i64, i64, f64)> = self
            .units
            .iter()
            .filter(|unit| unit.parent.is_some_and(|parent| window.is_root(parent)))
            .map(|child| {
                let (registered, achieved) = self
                    .in_window(window)
                    .filter(|pledge| pledge.path.starts_with(&child.path))
                    .fold((0, 0), |(registered, achieved), pledge| {
                        (
                            registered + i64::from(pledge.registered()),
                            achieved + i64::from(pledge.achieved()),
                        )
                    });
                let rate = if registered > 0 {
                    achieved as f64 / registered as f64
                } else {
                    0.0
                };
                (child, registered, achieved, rate)
            })
            .collect();
        expected.sort_by(|a, b| {
            b.3.total_cmp(&a.3)
                .then(b.2.cmp(&a.2))
                .then(a.0.name.cmp(&b.0.name))
        });
        expected.truncate(limit.unwrap_or(50));
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() != expected.len() {
            check.fail(
                "entries",
                format!("got {} entries, expected {}", entries.len(), expected.len()),
            );
        }
        for (index, ((child, registered, achieved, rate), entry)) in
            expected.iter().zip(&entries).enumerate()
        {
            let key = format!("entries[{index}]");
            check.int(&format!("{key}.rank"), &entry["rank"], index as i64 + 1);
            check.text(
                &format!("{key}.organization_id"),
                &entry["organization_id"],
                &child.id.to_string(),
            );
            check.text(&format!("{key}.name"), &entry["name"], &child.name);
            check.text(&format!("{key}.kind"), &entry["kind"], child.kind);
            check.int(
                &format!("{key}.registered"),
                &entry["registered"],
                *registered,
            );
            check.int(&format!("{key}.achieved"), &entry["achieved"], *achieved);
            if entry["achievement_rate"]
                .as_f64()
                .is_none_or(|actual| (actual - rate).abs() > 1e-9)
            {
                check.fail(
                    &format!("{key}.achievement_rate"),
                    format!("got {}, expected {rate}", entry["achievement_rate"]),
                );
            }
        }
    }

    fn check_overview(
        &self,
        window: &Window<'_>,
        body: &Value,
        today: NaiveDate,
        check: &mut Check<'_>,
    ) {
        let organizations = self
            .units
            .iter()
            .filter(|unit| unit.active && window.covers(&unit.path))
            .count() as i64;
        check.int("organizations", &body["organizations"], organizations);

        let expected_units = self.expected_units(window, None);
        let not_registered: BTreeSet<String> = expected_units
            .iter()
            .filter(|unit| self.registered_of(window, unit) == 0)
            .map(|unit| unit.name.clone())
            .collect();
        let expected = expected_units.len() as i64;
        let registered = expected - not_registered.len() as i64;
        check.int("coverage.expected", &body["coverage"]["expected"], expected);
        check.int(
            "coverage.registered",
            &body["coverage"]["registered"],
            registered,
        );
        check.ratio(
            "coverage.ratio",
            &body["coverage"]["ratio"],
            registered,
            expected,
        );
        let actual_not_registered: BTreeSet<String> = body["coverage"]["not_registered"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|name| name.as_str().unwrap_or_default().to_owned())
            .collect();
        check.keys(
            "coverage.not_registered",
            &actual_not_registered,
            &not_registered,
        );

        let in_window: Vec<&PledgeRow> = self.in_window(window).collect();
        check.int(
            "pledges_total",
            &body["pledges_total"],
            in_window.len() as i64,
        );
        for (member, key_of) in [
            (
                "pledges_by_status",
                (|pledge: &PledgeRow| pledge.status) as fn(&PledgeRow) -> &'static str,
            ),
            ("pledges_by_result", |pledge: &PledgeRow| {
                pledge.result.unwrap_or("none")
            }),
        ] {
            let mut expected: BTreeMap<String, i64> = BTreeMap::new();
            for pledge in &in_window {
                *expected.entry(key_of(pledge).to_owned()).or_default() += 1;
            }
            let actual: BTreeMap<String, i64> = body[member]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|item| {
                    (
                        item["key"].as_str().unwrap_or_default().to_owned(),
                        item["count"].as_i64().unwrap_or(-1),
                    )
                })
                .collect();
            if actual != expected {
                check.fail(member, format!("got {actual:?}, expected {expected:?}"));
            }
        }

        // One level down: each direct child with its subtree's overdue pledges, the root with
        // its own.
        let mut overdue_by_unit: HashMap<Uuid, i64> = HashMap::new();
        for pledge in in_window.iter().filter(|pledge| pledge.overdue(today)) {
            let holder = self
                .child_holding(window, &pledge.path)
                .map_or(window.root.id, |child| child.id);
            *overdue_by_unit.entry(holder).or_default() += 1;
        }
        check.int("overdue", &body["overdue"], overdue_by_unit.values().sum());
        let listed = body["overdue_by_unit"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if listed.len() != overdue_by_unit.len().min(10) {
            check.fail(
                "overdue_by_unit",
                format!(
                    "{} units listed, {} have overdue pledges",
                    listed.len(),
                    overdue_by_unit.len()
                ),
            );
        }
        let mut previous = i64::MAX;
        let mut listed_ids = Vec::new();
        for item in &listed {
            let id = Uuid::parse_str(item["organization_id"].as_str().unwrap_or_default())
                .unwrap_or_default();
            let count = overdue_by_unit.get(&id).copied().unwrap_or(0);
            check.int(&format!("overdue_by_unit[{id}]"), &item["overdue"], count);
            if count > previous {
                check.fail(
                    "overdue_by_unit order",
                    format!("{id} ({count}) after a unit with {previous}"),
                );
            }
            previous = count;
            listed_ids.push(id);
        }
        // Whatever was left out has no more overdue pledges than the last one listed.
        if let Some(left_out) = overdue_by_unit
            .iter()
            .filter(|(id, _)| !listed_ids.contains(id))
            .map(|(_, count)| *count)
            .max()
            && left_out > previous
        {
            check.fail(
                "overdue_by_unit",
                format!("a unit with {left_out} overdue was left out"),
            );
        }

        let titles = self.titles(window, None, None);
        check.int(
            "titles_registered",
            &body["titles_registered"],
            titles.values().map(|counts| counts.0).sum(),
        );
        check.int(
            "titles_achieved",
            &body["titles_achieved"],
            titles.values().map(|counts| counts.1).sum(),
        );
        check.int("nominations_total", &body["nominations_total"], 0);
        check.int("exemplars", &body["exemplars"], 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

fn query_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(name, value)| {
            format!(
                "{name}={}",
                url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET /stats/{endpoint}`; anything but 200 fails the test.
async fn stats(app: &TestApp, token: &str, endpoint: &str, params: &[(&str, String)]) -> Value {
    let path = format!("/api/v1/stats/{endpoint}?{}", query_string(params));
    let (status, body) = app.get_json(&path, token).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// `GET /stats/titles` of 2022 under `unit`, with `more` parameters (asserts 200).
async fn titles_2022(app: &TestApp, token: &str, unit: Uuid, more: &[(&str, String)]) -> Value {
    let mut params = vec![
        ("organization_id", unit.to_string()),
        ("year", "2022".to_owned()),
    ];
    params.extend_from_slice(more);
    stats(app, token, "titles", &params).await
}

/// The query of the subtree of `unit`.
fn under(unit: Uuid) -> [(&'static str, String); 1] {
    [("organization_id", unit.to_string())]
}

/// `GET /stats/{endpoint}` for the property test: sets the context of `check`, and records
/// anything but 200 as a mismatch.
async fn get_stats(
    app: &TestApp,
    token: &str,
    endpoint: &str,
    params: &[(&str, String)],
    check: &mut Check<'_>,
) -> Value {
    check.context = format!("/stats/{endpoint}?{}", query_string(params));
    let (status, body) = app
        .get_json(
            &format!("/api/v1/stats/{endpoint}?{}", query_string(params)),
            token,
        )
        .await;
    if status != 200 {
        check.fail("status", format!("got {status}: {body}"));
    }
    body
}

/// [`get_stats`] of an answer whose `units` are paged, `limit` a page: the first page's body
/// with the units of every page in order. Each page must repeat the first page's totals.
async fn get_stats_pages(
    app: &TestApp,
    token: &str,
    endpoint: &str,
    params: &[(&str, String)],
    limit: usize,
    check: &mut Check<'_>,
) -> Value {
    let mut params = params.to_vec();
    params.push(("limit", limit.to_string()));
    let mut first = get_stats(app, token, endpoint, &params, check).await;
    let mut units = first["units"].as_array().cloned().unwrap_or_default();
    let mut page = first.clone();
    let mut pages = 1;
    while let Some(cursor) = page["next_cursor"].as_str().map(str::to_owned) {
        if page["units"].as_array().map_or(0, Vec::len) != limit {
            check.fail(
                "units",
                format!("a page before the last holds not {limit} units"),
            );
        }
        let mut next = params.clone();
        next.push(("cursor", cursor));
        page = get_stats(app, token, endpoint, &next, check).await;
        for total in ["expected", "registered", "achieved"] {
            if page[total] != first[total] {
                check.fail(total, format!("page {pages} says {}", page[total]));
            }
        }
        units.extend(page["units"].as_array().cloned().unwrap_or_default());
        pages += 1;
        if pages > 10_000 {
            check.fail("next_cursor", "more than 10 000 pages".to_owned());
            break;
        }
    }
    check.context = format!("/stats/{endpoint}?{} (all pages)", query_string(&params));
    let distinct: BTreeSet<String> = units
        .iter()
        .map(|unit| format!("{}/{}", unit["organization_id"], unit["title_name"]))
        .collect();
    if distinct.len() != units.len() {
        check.fail("units", "a unit stands on two pages".to_owned());
    }
    first["units"] = Value::Array(units);
    first
}

fn groups_by_key(body: &Value) -> BTreeMap<String, Value> {
    body["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups: {body}"))
        .iter()
        .map(|group| (group["key"].as_str().unwrap().to_owned(), group.clone()))
        .collect()
}

/// The id of the organization named exactly `name`, found through the directory search.
async fn organization_named(app: &TestApp, token: &str, name: &str) -> Uuid {
    let path = format!(
        "/api/v1/organizations?limit=200&{}",
        query_string(&[("q", name.to_owned())])
    );
    let (status, body) = app.get_json(&path, token).await;
    assert_eq!(status, 200, "{path}: {body}");
    let matches: Vec<&Value> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["name"] == name)
        .collect();
    assert_eq!(matches.len(), 1, "{name}: {body}");
    Uuid::parse_str(matches[0]["id"].as_str().unwrap()).unwrap()
}

async fn insert_campaign(conn: &mut AsyncPgConnection, owner: Uuid, code: &str) -> Uuid {
    let id = Uuid::now_v7();
    let fields: Value = FIELDS
        .iter()
        .map(|(code, name)| json!({"code": code, "name": name}))
        .collect();
    diesel::insert_into(campaigns::table)
        .values((
            campaigns::id.eq(id),
            campaigns::code.eq(code),
            campaigns::name.eq(format!("Phong trào {code}")),
            campaigns::owner_organization_id.eq(owner),
            campaigns::starts_on.eq(date(2020, 1, 1)),
            campaigns::ends_on.eq(date(2025, 12, 31)),
            campaigns::fields.eq(fields),
        ))
        .execute(conn)
        .await
        .unwrap();
    id
}

async fn insert_pledges(conn: &mut AsyncPgConnection, root: Uuid, rows: &[PledgeRow]) {
    let creator = Uuid::now_v7();
    let values: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            (
                pledges::id.eq(row.id),
                pledges::campaign_id.eq(row.campaign),
                pledges::organization_id.eq(row.unit),
                pledges::organization_path.eq(row.path.clone()),
                pledges::root_organization_id.eq(root),
                pledges::year.eq(row.year),
                pledges::kind.eq(row.kind),
                pledges::field.eq(row.field),
                pledges::title.eq(row
                    .title_name
                    .map_or_else(|| format!("Chỉ tiêu {index}"), str::to_owned)),
                pledges::title_name.eq(row.title_name),
                pledges::deadline.eq(row.deadline),
                pledges::status.eq(row.status),
                pledges::result.eq(row.result),
                pledges::created_by.eq(creator),
            )
        })
        .collect();
    diesel::insert_into(pledges::table)
        .values(values)
        .execute(conn)
        .await
        .unwrap();
}
