//! Restructurings with lineage (docs/api.md § Restructurings): the 2025 reform applied to the Ba
//! Tri demo keeps 2022 as it was while the new units answer for their predecessors; bad steps
//! are refused with the pointer of the step and leave no trace; dry runs write nothing; codes
//! are unique among units valid on the same day; managers read the restructurings of their
//! subtree only.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::arrange::{fixture_as, problem, the_unit_coded};
use crate::helpers::ctx::pointers;
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::titles::{get_all_ok, get_ok, kept_as_computed};
use crate::helpers::{TestApp, status_and_json};

const REFORM_DAY: &str = "2025-07-01";
const LEGAL_BASIS: &str = "Nghị quyết 1687/NQ-UBTVQH15";

async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    app.post_for_json(path, token, body).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    app.get_json(path, token).await
}

/// The id of the unit with `code` valid today or, with `valid_on`, that day.
async fn unit_by_code(app: &TestApp, token: &str, code: &str, valid_on: Option<&str>) -> Uuid {
    let day = valid_on
        .map(|d| format!("&valid_on={d}"))
        .unwrap_or_default();
    let page = get_ok(app, token, &format!("/api/v1/organizations?limit=200{day}")).await;
    the_unit_coded(&page, code)["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn id(unit: Uuid) -> Value {
    json!({ "id": unit })
}

fn reform(steps: Value) -> Value {
    json!({ "effective_on": REFORM_DAY, "legal_basis": LEGAL_BASIS, "steps": steps })
}

/// The 2025 reform of the demo tree as Resolution 1687/NQ-UBTVQH15 did it (data/vn-admin-2025,
/// clauses 81–86): Bến Tre continues in Tỉnh Vĩnh Long, the district Ba Tri is gone, its
/// communes merge into the new ones (the codes are the new ones: 29137 is now Xã Tân Xuân).
async fn ba_tri_reform(app: &TestApp, token: &str) -> Value {
    let code = |c: &'static str| async move { id(unit_by_code(app, token, c, None).await) };
    json!({
        "effective_on": REFORM_DAY,
        "legal_basis": LEGAL_BASIS,
        "steps": [
            { "op": "create", "ref": "vl", "name": "Tỉnh Vĩnh Long", "kind": "province", "code": "86" },
            { "op": "merge", "from": [code("29116").await],
              "into": { "ref": "mch", "name": "Xã Mỹ Chánh Hòa", "kind": "commune", "code": "29122", "parent": { "ref": "vl" } } },
            { "op": "merge", "from": [code("29131").await, code("29128").await],
              "into": { "ref": "ant", "name": "Xã An Ngãi Trung", "kind": "commune", "code": "29143", "parent": { "ref": "vl" } } },
            { "op": "merge", "from": [code("29173").await],
              "into": { "ref": "bt", "name": "Xã Ba Tri", "kind": "commune", "code": "29110", "parent": { "ref": "vl" } } },
            { "op": "merge", "from": [code("29176").await],
              "into": { "ref": "tt", "name": "Xã Tân Thủy", "kind": "commune", "code": "29167", "parent": { "ref": "vl" } } },
            { "op": "merge", "from": [code("29119").await],
              "into": { "ref": "tx", "name": "Xã Tân Xuân", "kind": "commune", "code": "29137", "parent": { "ref": "vl" } } },
            { "op": "merge", "from": [code("29125").await],
              "into": { "ref": "bth", "name": "Xã Bảo Thạnh", "kind": "commune", "code": "29125", "parent": { "ref": "vl" } } },
            { "op": "dissolve", "unit": code("836").await, "successor": { "ref": "vl" } },
            { "op": "merge", "from": [code("83").await], "into": { "ref": "vl" } },
        ]
    })
}

/// The counts of two overviews that must agree (a unit and what it answers for).
pub fn assert_same_counts(actual: &Value, expected: &Value) {
    for field in [
        "pledges_total",
        "titles_registered",
        "titles_achieved",
        "nominations_total",
    ] {
        assert_eq!(actual[field], expected[field], "{field}: {actual}");
    }
}

async fn demo_admin(app: &TestApp) -> String {
    thidua::demo::seed_before_reform(&app.state).await.unwrap();
    app.token("admin", thidua::demo::ADMIN_PASSWORD).await
}

async fn stats(app: &TestApp, token: &str, endpoint: &str, unit: Uuid, year: i32) -> Value {
    get_ok(
        app,
        token,
        &format!("/api/v1/stats/{endpoint}?organization_id={unit}&year={year}"),
    )
    .await
}

/// A POST that must answer `expected` (asserted): the answer.
async fn post_expecting(
    app: &TestApp,
    token: &str,
    path: &str,
    body: &Value,
    expected: u16,
) -> Value {
    let (status, answer) = post(app, token, path, body).await;
    assert_eq!(status, expected, "{path}: {answer}");
    answer
}

/// Applies a restructuring `request` (201 asserted): the answer, with its preview.
async fn apply(app: &TestApp, token: &str, request: &Value) -> Value {
    post_expecting(app, token, "/api/v1/restructurings", request, 201).await
}

/// Posts a restructuring `request` that must be refused (422 asserted): the pointers named.
async fn refused_at(app: &TestApp, token: &str, request: Value) -> Vec<String> {
    let problem = post_expecting(app, token, "/api/v1/restructurings", &request, 422).await;
    pointers(&problem)
}

/// The fixture with an admin token and a campaign of the `nong_thon_moi` field to pledge in.
async fn admin_with_a_campaign() -> (TestApp, Fixture, String, Uuid) {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let campaign = fixture
        .campaign(&app, &[("nong_thon_moi", "Nông thôn mới")])
        .await;
    (app, fixture, admin, campaign)
}

/// `/stats/titles` of the party cells under `unit` in `year`.
async fn party_cell_titles(app: &TestApp, token: &str, unit: Uuid, year: i32) -> Value {
    let path = format!(
        "/api/v1/stats/titles?organization_id={unit}&year={year}&organization_kind=party_cell"
    );
    get_ok(app, token, &path).await
}

/// The `units` of every page of the paged `/stats` answer at `path` (a query string ends it),
/// `limit` a page; each page repeats the first page's totals.
async fn all_units(app: &TestApp, token: &str, path: &str, limit: usize) -> Vec<Value> {
    let first = get_ok(app, token, &format!("{path}&limit={limit}")).await;
    let mut page = first.clone();
    let mut units = Vec::new();
    loop {
        for total in ["expected", "registered", "achieved"] {
            assert_eq!(page[total], first[total], "{total}: {page}");
        }
        let held = page["units"].as_array().unwrap();
        units.extend(held.iter().cloned());
        let Some(cursor) = page["next_cursor"].as_str().map(str::to_owned) else {
            return units;
        };
        assert_eq!(held.len(), limit, "a page before the last is full: {page}");
        page = get_ok(app, token, &format!("{path}&limit={limit}&cursor={cursor}")).await;
    }
}

/// The lineage of `unit`: its predecessors and successors.
async fn lineage(app: &TestApp, token: &str, unit: Uuid) -> Value {
    get_ok(app, token, &format!("/api/v1/organizations/{unit}/lineage")).await
}

#[tokio::test]
async fn the_ba_tri_reform_keeps_2022_and_the_new_units_answer_for_their_predecessors() {
    let app = TestApp::spawn().await;
    let admin = demo_admin(&app).await;
    let ba_tri = unit_by_code(&app, &admin, "836", None).await;
    let my_hoa = unit_by_code(&app, &admin, "29116", None).await;
    let ben_tre = unit_by_code(&app, &admin, "83", None).await;

    let before = |endpoint: &'static str, unit: Uuid| {
        let app = &app;
        let admin = &admin;
        async move { stats(app, admin, endpoint, unit, 2022).await }
    };
    let coverage_before = before("coverage", ba_tri).await;
    assert_eq!(
        (&coverage_before["expected"], &coverage_before["registered"]),
        (&json!(7), &json!(7))
    );
    let my_hoa_overview_before = before("overview", my_hoa).await;
    let province_overview_before = before("overview", ben_tre).await;
    let province_coverage_before = before("coverage", ben_tre).await;
    let cell_titles_before = party_cell_titles(&app, &admin, my_hoa, 2022).await;
    assert_eq!(
        (
            &cell_titles_before["registered"],
            &cell_titles_before["achieved"]
        ),
        (&json!(5), &json!(4))
    );

    let request = ba_tri_reform(&app, &admin).await;
    let applied = apply(&app, &admin, &request).await;
    let ended = applied["preview"]["ended"].as_array().unwrap();
    assert_eq!(
        ended.len(),
        9,
        "7 communes, the district, the province: {applied}"
    );
    assert!(
        ended.iter().all(|unit| unit["valid_to"] == "2025-06-30"),
        "{applied}"
    );
    assert_eq!(applied["preview"]["created"].as_array().unwrap().len(), 7);
    // Mỹ Hòa's five cells and the two other pilot cells follow their communes.
    assert_eq!(
        applied["preview"]["carried"]["children_reparented"], 7,
        "{applied}"
    );

    // 2022 reads as it did: Ba Tri 7/7, Mỹ Hòa's cells 4/5, the same overviews.
    let coverage_after = before("coverage", ba_tri).await;
    assert_eq!(coverage_after["expected"], coverage_before["expected"]);
    assert_eq!(coverage_after["registered"], coverage_before["registered"]);
    assert_eq!(coverage_after["ratio"], 1.0);
    let cell_titles_after = party_cell_titles(&app, &admin, my_hoa, 2022).await;
    assert_eq!(
        cell_titles_after["registered"],
        cell_titles_before["registered"]
    );
    assert_eq!(
        cell_titles_after["achieved"],
        cell_titles_before["achieved"]
    );
    let my_hoa_overview_after = before("overview", my_hoa).await;
    assert_same_counts(&my_hoa_overview_after, &my_hoa_overview_before);

    // The new commune answers 2022 for Mỹ Hòa, the new province for Bến Tre.
    let my_chanh_hoa = unit_by_code(&app, &admin, "29122", None).await;
    let vinh_long = unit_by_code(&app, &admin, "86", None).await;
    let new_commune_2022 = stats(&app, &admin, "overview", my_chanh_hoa, 2022).await;
    assert!(my_hoa_overview_before["pledges_total"].as_i64().unwrap() > 0);
    assert_same_counts(&new_commune_2022, &my_hoa_overview_before);
    let new_province_2022 = stats(&app, &admin, "overview", vinh_long, 2022).await;
    assert_same_counts(&new_province_2022, &province_overview_before);
    let new_province_coverage = stats(&app, &admin, "coverage", vinh_long, 2022).await;
    assert_eq!(
        new_province_coverage["units"],
        province_coverage_before["units"]
    );
    assert_eq!(new_province_coverage["units"][0]["name"], "Huyện Ba Tri");
    assert!(new_province_coverage["next_cursor"].is_null());

    // The lists of a year before the reform page like today's: the frozen list of Bến Tre's
    // communes one a page, Mỹ Hòa's (and its merged neighbours') titles two a page.
    let coverage_path =
        format!("/api/v1/stats/coverage?organization_id={vinh_long}&year=2022&kind=commune");
    let communes_2022 = get_ok(&app, &admin, &coverage_path).await;
    assert_eq!(communes_2022["expected"], 7, "{communes_2022}");
    let paged = all_units(&app, &admin, &coverage_path, 1).await;
    assert_eq!(Value::Array(paged), communes_2022["units"]);
    let titles_2022 = party_cell_titles(&app, &admin, my_chanh_hoa, 2022).await;
    assert_eq!(titles_2022["registered"], cell_titles_before["registered"]);
    let titles_path = format!(
        "/api/v1/stats/titles?organization_id={my_chanh_hoa}&year=2022&organization_kind=party_cell"
    );
    let paged = all_units(&app, &admin, &titles_path, 2).await;
    assert_eq!(Value::Array(paged), titles_2022["units"]);

    // This year, the new communes are what the province expects.
    let this_year = chrono::Utc::now().date_naive().format("%Y").to_string();
    let coverage_now = get_ok(
        &app,
        &admin,
        &format!("/api/v1/stats/coverage?organization_id={vinh_long}&year={this_year}"),
    )
    .await;
    let names: Vec<&str> = coverage_now["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|unit| unit["name"].as_str().unwrap())
        .collect();
    assert_eq!(coverage_now["expected"], 6, "{coverage_now}");
    // A cursor of today's list names a unit the frozen 2022 list does not hold.
    let today_page = get_ok(
        &app,
        &admin,
        &format!("/api/v1/stats/coverage?organization_id={vinh_long}&year={this_year}&limit=1"),
    )
    .await;
    let cursor = today_page["next_cursor"].as_str().unwrap();
    let response = app
        .get(&format!("{coverage_path}&cursor={cursor}"), &admin)
        .await;
    problem(response, 400, "invalid_query").await;
    for name in [
        "Xã Mỹ Chánh Hòa",
        "Xã An Ngãi Trung",
        "Xã Ba Tri",
        "Xã Tân Xuân",
    ] {
        assert!(names.contains(&name), "{name}: {coverage_now}");
    }

    // Lineage, both ways, with the restructuring.
    let lineage = lineage(&app, &admin, vinh_long).await;
    let predecessors = lineage["predecessors"].as_array().unwrap();
    let ben_tre_link = predecessors
        .iter()
        .find(|link| link["id"] == ben_tre.to_string())
        .unwrap_or_else(|| panic!("{lineage}"));
    assert_eq!(ben_tre_link["legal_basis"], LEGAL_BASIS);
    assert_eq!(ben_tre_link["effective_on"], REFORM_DAY);
    assert_eq!(ben_tre_link["change"], "merge");
    assert_eq!(ben_tre_link["restructuring_id"], applied["id"]);
    let my_hoa_unit = get_ok(&app, &admin, &format!("/api/v1/organizations/{my_hoa}")).await;
    assert_eq!(my_hoa_unit["valid_to"], "2025-06-30", "{my_hoa_unit}");
    assert_eq!(my_hoa_unit["successors"][0]["id"], my_chanh_hoa.to_string());

    // A continuing party cell now sits under the new commune.
    let cell = unit_by_code(&app, &admin, "29116-CB-MYHOA", None).await;
    let cell = get_ok(&app, &admin, &format!("/api/v1/organizations/{cell}")).await;
    assert_eq!(cell["parent_id"], my_chanh_hoa.to_string(), "{cell}");

    // The directory of a day before the reform lists the old units, today's the new ones.
    let old_day = get_ok(
        &app,
        &admin,
        "/api/v1/organizations?limit=200&valid_on=2025-06-30",
    )
    .await;
    let codes = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|unit| unit["code"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(codes(&old_day).contains(&"29116".to_owned()));
    assert!(!codes(&old_day).contains(&"29122".to_owned()));
    let today = get_ok(&app, &admin, "/api/v1/organizations?limit=200").await;
    assert!(codes(&today).contains(&"29122".to_owned()));
    assert!(!codes(&today).contains(&"29116".to_owned()));

    // An ended unit takes no new pledge, and says where its work went.
    let campaign = get_ok(&app, &admin, "/api/v1/campaigns").await["items"][0]["id"].clone();
    let problem = post_expecting(
        &app,
        &admin,
        "/api/v1/pledges",
        &json!({
            "campaign_id": campaign, "organization_id": my_hoa, "year": 2025,
            "kind": "target", "field": "xay_dung_dang", "title": "Một cam kết mới",
            "deadline": "2025-12-31"
        }),
        422,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Xã Mỹ Chánh Hòa"),
        "{problem}"
    );

    // The district's manager now holds the role at the successor, and reads the restructuring.
    let manager = app.token("bt.manager", "manager-demo-2022").await;
    let listed = get_ok(&app, &manager, "/api/v1/restructurings").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], applied["id"]);
}

#[tokio::test]
async fn a_dry_run_previews_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = demo_admin(&app).await;
    let mut request = ba_tri_reform(&app, &admin).await;
    request["dry_run"] = json!(true);
    let tables = [
        "organizations",
        "organization_links",
        "organization_placements",
        "restructurings",
        "memberships",
        "audit_events",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(app.db.count(&format!("SELECT count(*) FROM {table}")).await);
    }
    let preview = post_expecting(&app, &admin, "/api/v1/restructurings", &request, 200).await;
    assert_eq!(preview["dry_run"], true);
    assert!(preview["id"].is_null());
    assert_eq!(preview["preview"]["ended"].as_array().unwrap().len(), 9);
    let mut after = Vec::new();
    for table in tables {
        after.push(app.db.count(&format!("SELECT count(*) FROM {table}")).await);
    }
    assert_eq!(after, before, "{tables:?}");

    // The preview is what applying does.
    request["dry_run"] = json!(false);
    let applied = apply(&app, &admin, &request).await;
    let names = |body: &Value, list: &str| -> Vec<String> {
        let mut names: Vec<String> = body["preview"][list]
            .as_array()
            .unwrap()
            .iter()
            .map(|unit| unit["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    for list in ["created", "ended", "moved"] {
        assert_eq!(names(&preview, list), names(&applied, list), "{list}");
    }
    assert_eq!(preview["preview"]["carried"], applied["preview"]["carried"]);
}

#[tokio::test]
async fn a_failing_step_300_of_400_leaves_no_trace() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let mut steps = Vec::new();
    for i in 0..400 {
        let parent = if i == 300 {
            json!({ "ref": "no-such-unit" })
        } else {
            id(fixture.tree.d1.id)
        };
        steps.push(json!({
            "op": "create", "ref": format!("u{i}"), "name": format!("Ấp {i}"),
            "kind": "hamlet", "code": format!("H{i}"), "parent": parent
        }));
    }
    let before = app.db.count("SELECT count(*) FROM organizations").await;
    let problem = post_expecting(
        &app,
        &admin,
        "/api/v1/restructurings",
        &reform(json!(steps)),
        422,
    )
    .await;
    assert_eq!(pointers(&problem), ["/steps/300/parent"], "{problem}");
    assert_eq!(
        app.db.count("SELECT count(*) FROM organizations").await,
        before
    );
    assert_eq!(app.db.count("SELECT count(*) FROM restructurings").await, 0);
}

#[tokio::test]
async fn bad_steps_are_refused_with_the_pointer_of_the_step() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let tree = &fixture.tree;
    let refused = |steps: Value| refused_at(&app, &admin, reform(steps));

    // An unknown ref.
    assert_eq!(
        refused(json!([{ "op": "merge", "from": [id(tree.c1.id)], "into": { "ref": "nowhere" } }]))
            .await,
        ["/steps/0/into"]
    );
    // A unit into its own subtree.
    assert_eq!(
        refused(json!([{ "op": "move", "unit": id(tree.d1.id), "parent": id(tree.k1.id) }])).await,
        ["/steps/0/parent"]
    );
    // A code already valid that day.
    assert_eq!(
        refused(json!([
            { "op": "create", "ref": "x", "name": "Xã mới", "kind": "commune", "code": "C2", "parent": id(tree.d2.id) }
        ]))
        .await,
        ["/steps/0/code"]
    );
    // Too many steps.
    let many: Vec<Value> = (0..2001)
        .map(|i| json!({ "op": "rename", "unit": id(tree.c1.id), "name": format!("Xã {i}") }))
        .collect();
    assert_eq!(refused(json!(many)).await, ["/steps"]);
    // A date in the future.
    let problem = post_expecting(
        &app,
        &admin,
        "/api/v1/restructurings",
        &json!({
            "effective_on": "2999-01-01", "legal_basis": LEGAL_BASIS,
            "steps": [{ "op": "merge", "from": [id(tree.c3.id)], "into": id(tree.c1.id) }]
        }),
        422,
    )
    .await;
    assert_eq!(pointers(&problem), ["/effective_on"], "{problem}");

    // Merging a unit that has already ended names its successor.
    merge_c3_into_c1(&app, &admin, tree).await;
    let problem = post_expecting(
        &app,
        &admin,
        "/api/v1/restructurings",
        &reform(json!([
            { "op": "rename", "unit": id(tree.c2.id), "name": "Xã C2 mới" },
            { "op": "merge", "from": [id(tree.c2.id), id(tree.c3.id)], "into": id(tree.c1.id) }
        ])),
        422,
    )
    .await;
    assert_eq!(pointers(&problem), ["/steps/1/from/1"], "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&tree.c1.name),
        "{problem}"
    );
    // Nothing of the refused request stayed: C2 keeps its name.
    let c2 = get_ok(
        &app,
        &admin,
        &format!("/api/v1/organizations/{}", tree.c2.id),
    )
    .await;
    assert_eq!(c2["name"], tree.c2.name);

    // A date before the unit existed: Xã Tân Xuân (new) is valid from the reform day.
    apply(&app, &admin, &reform(json!([
            { "op": "create", "ref": "tx", "name": "Xã Tân Xuân", "kind": "commune", "code": "29137", "parent": id(tree.d2.id) }
        ]))).await;
    let tan_xuan = unit_by_code(&app, &admin, "29137", None).await;
    let problem = post_expecting(
        &app,
        &admin,
        "/api/v1/restructurings",
        &json!({
            "effective_on": "2024-01-01", "legal_basis": LEGAL_BASIS,
            "steps": [{ "op": "merge", "from": [id(tan_xuan)], "into": id(tree.c2.id) }]
        }),
        422,
    )
    .await;
    assert_eq!(pointers(&problem), ["/steps/0/from/0"], "{problem}");

    // Only administrators apply restructurings.
    let manager = fixture.token(&app, fixture::D1_MANAGER).await;
    let (status, _) = post(
        &app,
        &manager,
        "/api/v1/restructurings",
        &reform(json!([{ "op": "rename", "unit": id(tree.c1.id), "name": "Xã khác" }])),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_code_can_be_reused_once_its_unit_has_ended() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let tree = &fixture.tree;
    // C3 (code "C3") merges into C1; from the reform day a new unit may carry "C3".
    apply(&app, &admin, &reform(json!([
            { "op": "merge", "from": [id(tree.c3.id)], "into": id(tree.c1.id) },
            { "op": "create", "ref": "n", "name": "Xã Tân Xuân", "kind": "commune", "code": "C3", "parent": id(tree.d2.id) }
        ]))).await;
    let new_c3 = unit_by_code(&app, &admin, "C3", None).await;
    assert_ne!(new_c3, tree.c3.id);
    assert_eq!(
        unit_by_code(&app, &admin, "C3", Some("2025-06-30")).await,
        tree.c3.id
    );
    // Another unit cannot take the code while the new one holds it.
    let response = app
        .patch_json(
            &format!("/api/v1/organizations/{}", tree.c2.id),
            &admin,
            &json!({ "code": "C3" }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 409);
}

#[tokio::test]
async fn an_idempotency_key_applies_a_restructuring_once() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let body = reform(
        json!([{ "op": "merge", "from": [id(fixture.tree.c3.id)], "into": id(fixture.tree.c1.id) }]),
    );
    let key = Uuid::new_v4().to_string();
    let mut replies = Vec::new();
    for _ in 0..2 {
        let response = app
            .request(
                reqwest::Method::POST,
                "/api/v1/restructurings",
                Some(&admin),
            )
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        replies.push(status_and_json(response).await);
    }
    assert_eq!(replies[0].0, 201, "{}", replies[0].1);
    assert_eq!(replies[0], replies[1]);
    assert_eq!(app.db.count("SELECT count(*) FROM restructurings").await, 1);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM audit_events WHERE action = 'restructuring.apply'")
            .await,
        1
    );
}

#[tokio::test]
async fn managers_read_only_the_restructurings_of_their_subtree() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let tree = &fixture.tree;
    let applied = merge_c3_into_c1(&app, &admin, tree).await;
    let path = format!("/api/v1/restructurings/{}", applied["id"].as_str().unwrap());

    let d1 = fixture.token(&app, fixture::D1_MANAGER).await;
    assert_eq!(get(&app, &d1, &path).await.0, 200);
    let listed = get_ok(&app, &d1, "/api/v1/restructurings").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    let c2 = fixture.token(&app, fixture::C2_MANAGER).await;
    assert_eq!(get(&app, &c2, &path).await.0, 404);
    let listed = get_ok(&app, &c2, "/api/v1/restructurings").await;
    assert_eq!(listed["items"], json!([]));

    let member = fixture.token(&app, fixture::C1_MEMBER).await;
    assert_eq!(get(&app, &member, "/api/v1/restructurings").await.0, 403);
}

/// The demo tells both halves: the 2022 story, then the reform of 1/7/2025 applied through the
/// import's code path, then 2026 on the new communes; loading it again changes nothing.
#[tokio::test]
async fn the_demo_tells_the_2022_story_and_the_reform_after_it() {
    let app = TestApp::spawn().await;
    thidua::demo::seed(&app.state).await.unwrap();
    let counts = "SELECT (SELECT count(*) FROM organizations) * 1000000 \
                  + (SELECT count(*) FROM pledges) * 1000 + (SELECT count(*) FROM restructurings)";
    let loaded = app.db.count(counts).await;
    thidua::demo::seed(&app.state).await.unwrap();
    assert_eq!(
        app.db.count(counts).await,
        loaded,
        "loading twice adds nothing"
    );

    let admin = app.token("admin", thidua::demo::ADMIN_PASSWORD).await;
    let on_2022 = Some("2022-12-31");
    let ba_tri = unit_by_code(&app, &admin, "836", on_2022).await;
    let my_hoa = unit_by_code(&app, &admin, "29116", on_2022).await;
    let ben_tre = unit_by_code(&app, &admin, "83", on_2022).await;
    let vinh_long = unit_by_code(&app, &admin, "86", None).await;
    let my_chanh_hoa = unit_by_code(&app, &admin, "29122", None).await;

    // 2022 reads as the report did.
    let coverage = stats(&app, &admin, "coverage", ba_tri, 2022).await;
    assert_eq!(
        (
            &coverage["registered"],
            &coverage["expected"],
            &coverage["ratio"]
        ),
        (&json!(7), &json!(7), &json!(1.0)),
        "{coverage}"
    );
    let cells = party_cell_titles(&app, &admin, my_hoa, 2022).await;
    assert_eq!(
        (&cells["achieved"], &cells["registered"]),
        (&json!(4), &json!(5))
    );
    // The new commune answers 2022 for Mỹ Hòa, the new province for Bến Tre.
    let my_hoa_2022 = stats(&app, &admin, "overview", my_hoa, 2022).await;
    assert!(my_hoa_2022["pledges_total"].as_i64().unwrap() > 0);
    assert_same_counts(
        &stats(&app, &admin, "overview", my_chanh_hoa, 2022).await,
        &my_hoa_2022,
    );
    assert_same_counts(
        &stats(&app, &admin, "overview", vinh_long, 2022).await,
        &stats(&app, &admin, "overview", ben_tre, 2022).await,
    );
    let lineage = lineage(&app, &admin, vinh_long).await;
    assert!(
        lineage["predecessors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|link| link["id"] == ben_tre.to_string() && link["change"] == "merge"),
        "{lineage}"
    );

    // All years at the new province: every year read on its own structure, summed.
    let all_years = get_ok(
        &app,
        &admin,
        &format!("/api/v1/stats/overview?organization_id={vinh_long}"),
    )
    .await;
    let mut by_year = 0;
    for year in 2020..=2026 {
        by_year += stats(&app, &admin, "overview", vinh_long, year).await["pledges_total"]
            .as_i64()
            .unwrap();
    }
    assert!(
        by_year > 18,
        "Bến Tre's 2022 and the 2026 pledges: {by_year}"
    );
    assert_eq!(all_years["pledges_total"], by_year, "{all_years}");

    // 2026: the demo users work in the new units; three new communes registered.
    let manager = app.token("myhoa.manager", "manager-demo-2022").await;
    let me = get_ok(&app, &manager, "/api/v1/me").await;
    assert_eq!(
        me["memberships"][0]["organization_name"], "Xã Mỹ Chánh Hòa",
        "{me}"
    );
    let coverage_2026 = stats(&app, &admin, "coverage", vinh_long, 2026).await;
    assert_eq!(coverage_2026["registered"], 3, "{coverage_2026}");
    assert_eq!(
        coverage_2026["expected"], 124,
        "the new province's 124 communes and wards: {coverage_2026}"
    );
}

/// A nomination of a unit that has since ended is commended in the name of a higher unit of
/// its successor: Mỹ Hòa's 2024 nomination, decided after 1/7/2025, by Tỉnh Vĩnh Long.
#[tokio::test]
async fn an_ended_units_nomination_is_commended_by_a_higher_unit_of_its_successor() {
    let app = TestApp::spawn().await;
    let admin = demo_admin(&app).await;
    let my_hoa = unit_by_code(&app, &admin, "29116", None).await;
    let campaign =
        get_ok(&app, &admin, "/api/v1/campaigns?q=dong%20khoi").await["items"][0]["id"].clone();
    // Four eyes: the commune's officer files it, the administrator decides.
    let officer = app.token("myhoa.manager", "manager-demo-2022").await;
    let nomination = post_expecting(
        &app,
        &officer,
        "/api/v1/nominations",
        &json!({
            "campaign_id": campaign, "nominating_organization_id": my_hoa, "year": 2024,
            "nominee_type": "individual", "nominee_name": "Nguyễn Văn Mười",
            "field": "xay_dung_dang", "achievements": "Bí thư chi bộ gương mẫu"
        }),
        201,
    )
    .await;
    let path = format!("/api/v1/nominations/{}", nomination["id"].as_str().unwrap());
    for (token, step, body, expected) in [
        (&officer, "submit", json!({}), 200),
        (&admin, "start-review", json!({}), 200),
        (&admin, "reviews", json!({"decision": "endorse"}), 201),
        (&admin, "recognize", json!({}), 200),
    ] {
        post_expecting(&app, token, &format!("{path}/{step}"), &body, expected).await;
    }

    let request = ba_tri_reform(&app, &admin).await;
    apply(&app, &admin, &request).await;
    let vinh_long = unit_by_code(&app, &admin, "86", None).await;
    let body = post_expecting(
        &app,
        &admin,
        &format!("{path}/commend"),
        &json!({"form": "giay_khen", "issuer_organization_id": vinh_long,
                "decision_no": "12/QĐ-UBND", "decided_on": "2025-09-29"}),
        200,
    )
    .await;
    assert_eq!(body["status"], "commended");
}

/// A pledge of `organization` in `campaign` and `year` created by `token` (201 asserted);
/// returns its id.
async fn pledge(
    app: &TestApp,
    token: &str,
    campaign: Uuid,
    organization: Uuid,
    year: i32,
) -> String {
    let body = post_expecting(
        app,
        token,
        "/api/v1/pledges",
        &json!({
            "campaign_id": campaign, "organization_id": organization, "year": year,
            "kind": "target", "field": "nong_thon_moi", "title": "Bê tông hóa đường giao thông",
            "target_value": 10, "target_unit": "km", "deadline": format!("{year}-12-31")
        }),
        201,
    )
    .await;
    body["id"].as_str().unwrap().to_owned()
}

/// `group_by=child` of `/stats/pledges` as key → total.
async fn pledges_by_child(
    app: &TestApp,
    token: &str,
    unit: Uuid,
    year: Option<i32>,
) -> std::collections::BTreeMap<String, i64> {
    let year = year.map(|year| format!("&year={year}")).unwrap_or_default();
    let body = get_ok(
        app,
        token,
        &format!("/api/v1/stats/pledges?organization_id={unit}&group_by=child{year}"),
    )
    .await;
    body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| {
            (
                group["key"].as_str().unwrap().to_owned(),
                group["total"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A split with partial shares: both successors name the ended unit as a `partial` `split`
/// predecessor and it names both, its own history reads as before, the open work goes to the
/// primary successor; a bad split is refused at the pointer of what is wrong.
#[tokio::test]
async fn a_partial_split_links_both_successors_and_keeps_the_ended_units_history() {
    let (app, fixture, admin, campaign) = admin_with_a_campaign().await;
    let tree = &fixture.tree;
    pledge(&app, &admin, campaign, tree.c3.id, 2024).await;
    pledge(&app, &admin, campaign, tree.c3.id, 2024).await;
    let open = pledge(&app, &admin, campaign, tree.c3.id, 2025).await;
    let before = stats(&app, &admin, "overview", tree.c3.id, 2024).await;
    assert_eq!(before["pledges_total"], 2, "{before}");

    // Bad splits: nothing is applied, and the pointer names the step's member.
    let refused = |steps: Value| refused_at(&app, &admin, reform(steps));
    let west = json!({ "op": "create", "ref": "w", "name": "Xã Tây", "kind": "commune", "code": "CW", "parent": id(tree.d1.id) });
    assert_eq!(
        refused(json!([west, { "op": "split", "from": id(tree.c3.id),
            "into": [{ "ref": "w" }, { "ref": "nowhere" }], "primary": { "ref": "w" } }]))
        .await,
        ["/steps/1/into/1"]
    );
    assert_eq!(
        refused(json!([{ "op": "split", "from": id(tree.c3.id), "into": [], "primary": id(tree.c1.id) }]))
            .await,
        ["/steps/0/into"]
    );
    assert_eq!(
        refused(json!([west, { "op": "split", "from": { "ref": "nowhere" },
            "into": [{ "ref": "w" }], "primary": { "ref": "w" } }]))
        .await,
        ["/steps/1/from"]
    );
    assert_eq!(
        refused(json!([west, { "op": "split", "from": id(tree.c3.id),
            "into": [{ "ref": "w" }], "primary": id(tree.c1.id) }]))
        .await,
        ["/steps/1/primary"]
    );
    assert_eq!(
        refused(json!([west, { "op": "split", "from": id(tree.c3.id),
            "into": [{ "ref": "w" }, id(tree.c3.id)], "primary": { "ref": "w" } }]))
        .await,
        ["/steps/1/into/1"]
    );
    let unchanged = get_ok(
        &app,
        &admin,
        &format!("/api/v1/organizations/{}", tree.c3.id),
    )
    .await;
    assert!(unchanged["valid_to"].is_null(), "{unchanged}");

    // The split: part of C3 goes to a new commune of D1, part to C2 of D2 (the primary).
    apply(
        &app,
        &admin,
        &reform(json!([west, { "op": "split", "from": id(tree.c3.id),
            "into": [{ "ref": "w" }, id(tree.c2.id)], "primary": id(tree.c2.id) }])),
    )
    .await;
    let west_id = unit_by_code(&app, &admin, "CW", None).await;

    for successor in [west_id, tree.c2.id] {
        let lineage = lineage(&app, &admin, successor).await;
        let predecessors = lineage["predecessors"].as_array().unwrap();
        assert_eq!(predecessors.len(), 1, "{lineage}");
        assert_eq!(predecessors[0]["id"], tree.c3.id.to_string(), "{lineage}");
        assert_eq!(predecessors[0]["change"], "split", "{lineage}");
        assert_eq!(predecessors[0]["share"], "partial", "{lineage}");
        assert_eq!(predecessors[0]["effective_on"], REFORM_DAY, "{lineage}");
    }
    let lineage = lineage(&app, &admin, tree.c3.id).await;
    assert_eq!(lineage["valid_to"], "2025-06-30", "{lineage}");
    let mut successors: Vec<(String, String)> = lineage["successors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            assert_eq!(entry["change"], "split", "{lineage}");
            (
                entry["id"].as_str().unwrap().to_owned(),
                entry["share"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    successors.sort();
    let mut expected = vec![
        (west_id.to_string(), "partial".to_owned()),
        (tree.c2.id.to_string(), "partial".to_owned()),
    ];
    expected.sort();
    assert_eq!(successors, expected, "{lineage}");

    // The ended unit's 2024 reads as before; its open 2025 work is the primary's now.
    let after = stats(&app, &admin, "overview", tree.c3.id, 2024).await;
    assert_same_counts(&after, &before);
    let moved = get_ok(&app, &admin, &format!("/api/v1/pledges/{open}")).await;
    assert_eq!(moved["organization_id"], tree.c2.id.to_string(), "{moved}");
    // The new successor did not exist in 2024: it answers for C3 (a partial share counts the
    // whole predecessor, as no record says which part it was). C2 existed: its 2024 is its own.
    let west_2024 = stats(&app, &admin, "overview", west_id, 2024).await;
    assert_same_counts(&west_2024, &before);
    let c2_2024 = stats(&app, &admin, "overview", tree.c2.id, 2024).await;
    assert_eq!(c2_2024["pledges_total"], 0, "{c2_2024}");
}

/// `group_by=child` of a year a restructuring ended a child in: the records the ended child
/// kept (closed ones of that year) are counted under the child that answers for it, not under
/// the asked unit's `self`; before that year they are the ended child's own group.
#[tokio::test]
async fn an_ended_childs_own_records_go_to_the_child_that_answers_for_it() {
    let (app, fixture, admin, campaign) = admin_with_a_campaign().await;
    let tree = &fixture.tree;
    // C1 (with its party cell K1) and C3 of D1 merge into a new commune on 2025-07-01.
    pledge(&app, &admin, campaign, tree.c3.id, 2024).await;
    pledge(&app, &admin, campaign, tree.c1.id, 2025).await;
    let closed = pledge(&app, &admin, campaign, tree.c1.id, 2025).await;
    post_expecting(
        &app,
        &admin,
        &format!("/api/v1/pledges/{closed}/withdraw"),
        &json!({ "reason": "Đơn vị sắp xếp" }),
        200,
    )
    .await;
    pledge(&app, &admin, campaign, tree.k1.id, 2025).await;
    merge_c1_and_c3(&app, &admin, tree).await;
    let merged = unit_by_code(&app, &admin, "CN", None).await.to_string();

    // 2025 on the structure it ended with: D1's only child is the new commune, which answers
    // for the withdrawn pledge C1 kept, the open one it carried and K1's.
    let groups = pledges_by_child(&app, &admin, tree.d1.id, Some(2025)).await;
    assert_eq!(groups, [(merged.clone(), 3)].into(), "{groups:?}");
    // 2024 as it stood: C3 was D1's child.
    let groups = pledges_by_child(&app, &admin, tree.d1.id, Some(2024)).await;
    assert_eq!(groups, [(tree.c3.id.to_string(), 1)].into(), "{groups:?}");
    // The leaderboard of 2025 counts the same under the new commune.
    let board = get_ok(
        &app,
        &admin,
        &format!(
            "/api/v1/stats/leaderboard?organization_id={}&year=2025",
            tree.d1.id
        ),
    )
    .await;
    let entries = board["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|entry| entry["organization_id"] == merged.as_str()),
        "{board}"
    );
    // The province's 2025: everything under D1, nothing under `self`.
    let groups = pledges_by_child(&app, &admin, tree.p.id, Some(2025)).await;
    assert_eq!(groups, [(tree.d1.id.to_string(), 3)].into(), "{groups:?}");
}

/// A past year's overview after a restructuring is kept like today's, and never served stale:
/// the same answer twice, then a new record of that year (or another restructuring) shows at
/// once.
#[tokio::test]
async fn a_kept_past_year_overview_follows_every_change() {
    let (app, fixture, admin, campaign) = admin_with_a_campaign().await;
    let tree = &fixture.tree;
    pledge(&app, &admin, campaign, tree.c3.id, 2024).await;
    merge_c3_into_c1(&app, &admin, tree).await;
    let first = stats(&app, &admin, "overview", tree.d1.id, 2024).await;
    assert_eq!(first["pledges_total"], 1, "{first}");
    assert_eq!(
        stats(&app, &admin, "overview", tree.d1.id, 2024).await,
        first
    );

    // A new 2024 pledge of D1 itself.
    pledge(&app, &admin, campaign, tree.d1.id, 2024).await;
    let second = stats(&app, &admin, "overview", tree.d1.id, 2024).await;
    assert_eq!(second["pledges_total"], 2, "{second}");

    // Another restructuring (a rename: no count moves) is a new structure too.
    apply(
        &app,
        &admin,
        &reform(json!([{ "op": "rename", "unit": id(tree.c1.id), "name": "Xã Mỹ Hòa Mới" }])),
    )
    .await;
    let third = stats(&app, &admin, "overview", tree.d1.id, 2024).await;
    assert_eq!(third["pledges_total"], 2, "{third}");
    // A manager of another district does not read it, kept or not.
    let other = fixture.token(&app, fixture::C2_MANAGER).await;
    let (status, _) = get(
        &app,
        &other,
        &format!(
            "/api/v1/stats/overview?organization_id={}&year=2024",
            tree.d1.id
        ),
    )
    .await;
    assert_eq!(status, 404);
}

/// Every kept aggregate, of a year before a restructuring and of today, is never served stale
/// across the next restructuring: beside an instance that keeps nothing, both answer alike
/// before and after it, and what the restructuring changes shows at once.
#[tokio::test]
async fn kept_aggregates_of_a_past_year_follow_the_next_restructuring() {
    let (app, fixture, admin, campaign) = admin_with_a_campaign().await;
    let (app, admin) = (&app, &admin);
    let computing = &TestApp::spawn_beside(app, |settings| settings.answer_cache_bytes = 0).await;
    let computing_admin = &fixture.token(computing, fixture::ADMIN).await;
    let tree = &fixture.tree;
    for (unit, year) in [
        (tree.c1.id, 2024),
        (tree.c3.id, 2024),
        (tree.c2.id, 2024),
        (tree.c1.id, 2025),
    ] {
        pledge(app, admin, campaign, unit, year).await;
    }
    merge_c3_into_c1(app, admin, tree).await;

    let mut paths = Vec::new();
    for (unit, year) in [
        (tree.p.id, "&year=2024"),
        (tree.d1.id, "&year=2024"),
        (tree.p.id, ""),
        (tree.d2.id, ""),
    ] {
        for query in [
            "pledges?group_by=child&",
            "nominations?group_by=child&",
            "coverage?",
            "leaderboard?",
            "titles?",
            "awards?",
        ] {
            paths.push(format!("/api/v1/stats/{query}organization_id={unit}{year}"));
        }
    }
    let paths = &paths;
    let agree = |step: &'static str| {
        kept_as_computed((app, admin), (computing, computing_admin), paths, step)
    };
    let before = agree("before").await;
    assert_eq!(get_all_ok(app, admin, paths).await, before, "asked again");
    let d1_2024 = pledges_by_child(app, admin, tree.d1.id, Some(2024)).await;
    assert_eq!(d1_2024.values().collect::<Vec<_>>(), [&1, &1], "C1 and C3");

    // C1 (with what C3 left it) moves to D2.
    apply(
        app,
        admin,
        &reform(json!([{ "op": "move", "unit": id(tree.c1.id), "parent": id(tree.d2.id) }])),
    )
    .await;
    let after = agree("after").await;
    let changed: Vec<&String> = paths
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(_, (before, after))| before != after)
        .map(|(path, _)| path)
        .collect();
    let of_today = |path: &&String| !path.contains("year=");
    assert!(
        changed.iter().any(of_today),
        "today's structure changed: {changed:?}"
    );
    // 2024 reads on the structure it ended with: C1 and C3 under D1.
    assert_eq!(
        pledges_by_child(app, admin, tree.d1.id, Some(2024)).await,
        d1_2024
    );
}

/// C1 and C3 of D1 merge into "Xã Hợp Nhất" (code CN) on the reform's day.
async fn merge_c1_and_c3(app: &TestApp, admin: &str, tree: &fixture::Tree) {
    apply(app, admin, &reform(json!([{ "op": "merge", "from": [id(tree.c1.id), id(tree.c3.id)],
            "into": { "ref": "n", "name": "Xã Hợp Nhất", "kind": "commune", "code": "CN", "parent": id(tree.d1.id) } }]))).await;
}

/// C3 of D1 merges into C1 on the reform's day: the applied restructuring.
async fn merge_c3_into_c1(app: &TestApp, admin: &str, tree: &fixture::Tree) -> Value {
    apply(
        app,
        admin,
        &reform(json!([{ "op": "merge", "from": [id(tree.c3.id)], "into": id(tree.c1.id) }])),
    )
    .await
}

/// `/stats/awards` by the rule of every aggregate: a year on the structure it ended with, and a
/// unit answering for its predecessors. Persons move to the successor; their past awards stay
/// where they were conferred.
#[tokio::test]
async fn awards_of_a_year_before_a_restructuring_read_as_they_stood() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let tree = &fixture.tree;
    let mut persons = Vec::new();
    for (unit, name) in [(tree.c1.id, "Người xã C1"), (tree.c3.id, "Người xã C3")] {
        let person = post_expecting(
            &app,
            &admin,
            "/api/v1/persons",
            &json!({ "organization_id": unit, "full_name": name }),
            201,
        )
        .await;
        persons.push(person["id"].as_str().unwrap().to_owned());
    }
    // Paper decisions of 2024, recorded before the service.
    let record = |person: &str, year: i32| {
        format!(
            "INSERT INTO awards (id, person_id, title_code, year, decision_no, decided_on, reward_amount) \
             VALUES (gen_random_uuid(), '{person}', 'lao_dong_tien_tien', {year}, '1/QĐ', '{year}-12-20', 702000)"
        )
    };
    let client = app.db.client().await;
    for person in &persons {
        client.batch_execute(&record(person, 2024)).await.unwrap();
    }
    merge_c1_and_c3(&app, &admin, tree).await;
    let merged = unit_by_code(&app, &admin, "CN", None).await;
    // Conferred after the merger: placed at the new commune, where the person now works.
    client
        .batch_execute(&record(&persons[0], 2025))
        .await
        .unwrap();

    let awards = |unit: Uuid, year: Option<i32>, group_by: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let year = year.map(|y| format!("&year={y}")).unwrap_or_default();
            let stats = get_ok(
                app,
                admin,
                &format!("/api/v1/stats/awards?organization_id={unit}&group_by={group_by}{year}"),
            )
            .await;
            let groups: std::collections::BTreeMap<String, i64> = stats["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["key"].as_str().unwrap().to_owned(),
                        g["awards"].as_i64().unwrap(),
                    )
                })
                .collect();
            (stats["awards"].as_i64().unwrap(), groups)
        }
    };
    // 2024 as it stood: two communes of D1, one award each; an ended commune still reads it.
    let (total, groups) = awards(tree.d1.id, Some(2024), "child").await;
    assert_eq!(total, 2);
    assert_eq!(
        groups,
        [(tree.c1.id.to_string(), 1), (tree.c3.id.to_string(), 1)].into()
    );
    assert_eq!(awards(tree.c1.id, Some(2024), "title").await.0, 1);
    // The new commune answers for what its predecessors were awarded.
    assert_eq!(awards(merged, Some(2024), "title").await.0, 2);
    // 2025 ended with the new commune as D1's only child.
    let (total, groups) = awards(tree.d1.id, Some(2025), "child").await;
    assert_eq!(total, 1);
    assert_eq!(groups, [(merged.to_string(), 1)].into());
    // All years: each on its own structure, nothing counted twice.
    let (total, groups) = awards(tree.d1.id, None, "child").await;
    assert_eq!(total, 3, "{groups:?}");
    assert_eq!(groups.values().sum::<i64>(), 3);
    assert_eq!(awards(tree.p.id, None, "title").await.0, 3);
}

/// The all-years overview of a unit a restructuring created (each year on its own structure,
/// its predecessors' subtrees before the merger) is kept like a past year's, and never served
/// stale: the same answer twice, then a new pledge shows at once.
#[tokio::test]
async fn a_kept_all_years_overview_of_a_new_unit_follows_every_change() {
    let (app, fixture, admin, campaign) = admin_with_a_campaign().await;
    let tree = &fixture.tree;
    pledge(&app, &admin, campaign, tree.c1.id, 2023).await;
    pledge(&app, &admin, campaign, tree.c3.id, 2024).await;
    merge_c1_and_c3(&app, &admin, tree).await;
    let merged = unit_by_code(&app, &admin, "CN", None).await;
    let all_years = format!("/api/v1/stats/overview?organization_id={merged}");
    let before = get_ok(&app, &admin, &all_years).await;
    assert_eq!(before["pledges_total"], 2, "{before}");
    assert_eq!(get_ok(&app, &admin, &all_years).await, before);

    pledge(&app, &admin, campaign, merged, 2025).await;
    let after = get_ok(&app, &admin, &all_years).await;
    assert_eq!(after["pledges_total"], 3, "{after}");
    assert_eq!(get_ok(&app, &admin, &all_years).await, after);
    // A manager of another district does not read it, kept or not.
    let other = fixture.token(&app, fixture::C2_MANAGER).await;
    assert_eq!(get(&app, &other, &all_years).await.0, 404);
}
