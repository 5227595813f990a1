//! Campaigns: who writes them, validation in one 422, conditional requests, search, paging.

use reqwest::Method;
use reqwest::header::{ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::ctx::{UnitOf, pointers, texts_of};
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, audit_count, status_and_json};

const CAMPAIGNS: &str = "/api/v1/campaigns";

/// A valid creation body.
fn campaign(code: &str, owner: Uuid) -> Value {
    json!({
        "code": code,
        "name": "Thi đua yêu nước",
        "directive": "Chỉ thị 05-CT/TU",
        "owner_organization_id": owner,
        "starts_on": "2025-01-01",
        "ends_on": "2027-12-31",
        "vision_year": 2030,
        "description": "Phong trào thi đua giai đoạn 2025–2027",
        "fields": [
            {"code": "economy", "name": "Kinh tế"},
            {"code": "culture", "name": "Văn hóa – xã hội"}
        ]
    })
}

async fn create(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    app.post_for_json(CAMPAIGNS, token, body).await
}

/// Creates a campaign as admin and returns its id.
async fn create_as_admin(app: &TestApp, fixture: &Fixture, body: &Value) -> String {
    let token = fixture.token(app, fixture::ADMIN).await;
    let (status, created) = create(app, &token, body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// A fresh app with the fixture and a campaign coded `code`, owned by the unit `owner` picks and
/// created by the admin: the app, the fixture and the campaign's id.
async fn with_campaign(code: &str, owner: UnitOf) -> (TestApp, Fixture, String) {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let id = create_as_admin(&app, &fixture, &campaign(code, owner(&fixture.tree))).await;
    (app, fixture, id)
}

/// Creating `body` is refused (422) naming exactly `expected` (sorted), and no campaign is
/// stored.
async fn assert_refused_naming(app: &TestApp, token: &str, body: &Value, expected: &[&str]) {
    let (status, problem) = create(app, token, body).await;
    assert_eq!(status, 422, "{problem}");
    let mut found = pointers(&problem);
    found.sort();
    assert_eq!(found, expected);
    assert_eq!(campaign_count(app).await, 0);
}

async fn campaign_count(app: &TestApp) -> i64 {
    app.db.rows("campaigns").await
}

async fn patch(
    app: &TestApp,
    token: &str,
    id: &str,
    if_match: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .request(Method::PATCH, &format!("{CAMPAIGNS}/{id}"), Some(token))
        .json(body);
    if let Some(tag) = if_match {
        request = request.header(IF_MATCH, tag);
    }
    request.send().await.unwrap()
}

fn names(page: &Value) -> Vec<String> {
    let names = texts_of(&page["items"], "name");
    names.into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn admin_creates_a_campaign_owned_by_the_province() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::ADMIN).await;

    let response = app
        .post_json(CAMPAIGNS, &token, &campaign("TDYN-2025", fixture.tree.p.id))
        .await;

    assert_eq!(response.status(), 201);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let etag = response.headers()[ETAG].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, format!("{CAMPAIGNS}/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(body["code"], "TDYN-2025");
    assert_eq!(body["owner_organization_id"], json!(fixture.tree.p.id));
    assert_eq!(body["vision_year"], 2030);
    assert_eq!(body["created_by"], json!(fixture.users[fixture::ADMIN]));
    assert_eq!(
        body["fields"],
        json!([
            {"code": "economy", "name": "Kinh tế"},
            {"code": "culture", "name": "Văn hóa – xã hội"}
        ])
    );
    let audited = app
        .db
        .count(&format!(
            "SELECT count(*) FROM audit_events WHERE action = 'campaign.create' \
             AND entity_id = '{id}' AND organization_id = '{}' AND after IS NOT NULL",
            fixture.tree.p.id
        ))
        .await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn district_manager_creates_campaigns_only_for_its_own_subtree() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::D1_MANAGER).await;

    let (own, _) = create(&app, &token, &campaign("D1-OWN", fixture.tree.d1.id)).await;
    let (lower, _) = create(&app, &token, &campaign("C1-LOWER", fixture.tree.c1.id)).await;
    let (higher, higher_body) =
        create(&app, &token, &campaign("P-HIGHER", fixture.tree.p.id)).await;
    let (sibling, _) = create(&app, &token, &campaign("D2-SIBLING", fixture.tree.d2.id)).await;

    assert_eq!((own, lower), (201, 201));
    assert_eq!(higher, 403);
    assert_eq!(higher_body["code"], "forbidden");
    assert_eq!(sibling, 403);
    assert_eq!(campaign_count(&app).await, 2);
    assert_eq!(audit_count(&app, None, Some("campaign.create")).await, 2);
}

#[tokio::test]
async fn members_reviewers_and_partner_clients_cannot_create_campaigns() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let client = fixture.client_token(&app).await;
    let mut tokens = vec![client];
    for user in [fixture::C1_MEMBER, fixture::D1_REVIEWER] {
        tokens.push(fixture.token(&app, user).await);
    }

    for token in &tokens {
        let (status, body) = create(&app, token, &campaign("X", fixture.tree.c1.id)).await;
        assert_eq!(status, 403, "{body}");
    }

    assert_eq!(campaign_count(&app).await, 0);
    assert_eq!(
        app.db
            .rows("audit_events WHERE entity_type = 'campaign'")
            .await,
        0
    );
}

#[tokio::test]
async fn every_caller_reads_the_list_and_a_single_campaign() {
    let (app, fixture, id) = with_campaign("TDYN", |tree| tree.p9.id).await;
    let mut tokens = vec![fixture.client_token(&app).await];
    for user in [
        fixture::ADMIN,
        fixture::C1_MEMBER,
        fixture::C2_MANAGER,
        fixture::D1_REVIEWER,
    ] {
        tokens.push(fixture.token(&app, user).await);
    }

    for token in &tokens {
        let (status, page) = app.get_json(CAMPAIGNS, token).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"][0]["id"], id.as_str());
        assert_eq!(page["next_cursor"], Value::Null);

        let response = app.get(&format!("{CAMPAIGNS}/{id}"), token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[ETAG], "\"1\"");
        let one: Value = response.json().await.unwrap();
        assert_eq!(one["code"], "TDYN");
        assert_eq!(one["fields"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn missing_campaign_is_not_found() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::C1_MEMBER).await;

    let (status, body) = app
        .get_json(&format!("{CAMPAIGNS}/{}", Uuid::now_v7()), &token)
        .await;

    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn invalid_body_names_every_bad_member_in_one_problem() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::ADMIN).await;
    let mut body = campaign("bad code!", fixture.tree.p.id);
    body["name"] = json!("   ");
    body["starts_on"] = json!("2026-01-01");
    body["ends_on"] = json!("2025-12-31");
    body["vision_year"] = json!(2101);
    body["directive"] = json!("x".repeat(501));
    body["fields"] = json!([
        {"code": "economy", "name": "Kinh tế"},
        {"code": "economy", "name": "Kinh tế lần hai"},
        {"code": "Văn_hóa", "name": ""}
    ]);

    let (status, problem) = create(&app, &token, &body).await;

    assert_eq!(status, 422);
    assert_eq!(problem["code"], "validation_failed");
    let mut found = pointers(&problem);
    found.sort();
    assert_eq!(
        found,
        vec![
            "/code",
            "/directive",
            "/ends_on",
            "/fields/1/code",
            "/fields/2/code",
            "/fields/2/name",
            "/name",
            "/vision_year",
        ]
    );
    assert_eq!(campaign_count(&app).await, 0);
}

#[tokio::test]
async fn empty_field_list_and_unknown_owner_are_refused() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::ADMIN).await;
    let mut body = campaign("NO-OWNER", Uuid::now_v7());
    body["fields"] = json!([]);

    assert_refused_naming(&app, &token, &body, &["/fields", "/owner_organization_id"]).await;
}

#[tokio::test]
async fn server_owned_members_are_refused() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::ADMIN).await;
    let mut body = campaign("OWNED", fixture.tree.p.id);
    body["version"] = json!(7);
    body["id"] = json!(Uuid::now_v7());

    assert_refused_naming(&app, &token, &body, &["/id", "/version"]).await;
}

#[tokio::test]
async fn duplicate_code_is_a_conflict() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    create_as_admin(&app, &fixture, &campaign("TWICE", fixture.tree.p.id)).await;
    let token = fixture.token(&app, fixture::D1_MANAGER).await;

    let (status, problem) = create(&app, &token, &campaign("TWICE", fixture.tree.d1.id)).await;

    assert_eq!(status, 409);
    assert_eq!(problem["code"], "already_exists");
    assert_eq!(campaign_count(&app).await, 1);
    assert_eq!(audit_count(&app, None, Some("campaign.create")).await, 1);
}

#[tokio::test]
async fn patch_with_a_stale_etag_is_refused_and_changes_nothing() {
    let (app, fixture, id) = with_campaign("STALE", |tree| tree.d1.id).await;
    let token = fixture.token(&app, fixture::D1_MANAGER).await;
    let first = patch(
        &app,
        &token,
        &id,
        Some("\"1\""),
        &json!({"name": "Lần một"}),
    )
    .await;
    assert_eq!(first.status(), 200);

    let response = patch(
        &app,
        &token,
        &id,
        Some("\"1\""),
        &json!({"name": "Lần hai"}),
    )
    .await;

    assert_eq!(response.status(), 412);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "precondition_failed");
    assert_eq!(problem["current_etag"], "\"2\"");
    let row = app
        .db
        .client()
        .await
        .query_one(
            "SELECT name, version FROM campaigns WHERE id::text = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Lần một");
    assert_eq!(row.get::<_, i32>(1), 2);
    assert_eq!(audit_count(&app, None, Some("campaign.update")).await, 1);
}

#[tokio::test]
async fn patch_with_the_current_etag_updates_and_audits() {
    let (app, fixture, id) = with_campaign("PATCHED", |tree| tree.p.id).await;
    let token = fixture.token(&app, fixture::ADMIN).await;

    let response = patch(
        &app,
        &token,
        &id,
        Some("\"1\""),
        &json!({
            "name": "Đồng khởi mới",
            "directive": null,
            "ends_on": "2030-12-31",
            "vision_year": null,
            "fields": [{"code": "environment", "name": "Môi trường"}]
        }),
    )
    .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[ETAG], "\"2\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Đồng khởi mới");
    assert_eq!(body["directive"], Value::Null);
    assert_eq!(
        body["description"],
        "Phong trào thi đua giai đoạn 2025–2027"
    );
    assert_eq!(body["ends_on"], "2030-12-31");
    assert_eq!(body["vision_year"], Value::Null);
    assert_eq!(body["code"], "PATCHED");
    assert_eq!(body["version"], 2);
    assert_eq!(
        body["fields"],
        json!([{"code": "environment", "name": "Môi trường"}])
    );
    let audited = app
        .db
        .count(&format!(
            "SELECT count(*) FROM audit_events WHERE action = 'campaign.update' \
             AND entity_id = '{id}' AND organization_id = '{}' \
             AND before->>'name' = 'Thi đua yêu nước' AND after->>'name' = 'Đồng khởi mới'",
            fixture.tree.p.id
        ))
        .await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn patch_refuses_immutable_and_invalid_members_without_changing_anything() {
    let (app, fixture, id) = with_campaign("FIXED", |tree| tree.p.id).await;
    let token = fixture.token(&app, fixture::ADMIN).await;

    let immutable =
        json!({"code": "NEW", "owner_organization_id": fixture.tree.p9.id, "version": 9});
    let invalid = json!({"name": null, "ends_on": "2024-12-31",
                         "fields": [{"code": "a", "name": "A"}, {"code": "a", "name": "B"}]});
    for (if_match, body, expected) in [
        (
            None,
            immutable,
            ["/code", "/owner_organization_id", "/version"],
        ),
        (
            Some("\"1\""),
            invalid,
            ["/ends_on", "/fields/1/code", "/name"],
        ),
    ] {
        let (status, problem) =
            status_and_json(patch(&app, &token, &id, if_match, &body).await).await;
        assert_eq!(status, 422, "{problem}");
        let mut found = pointers(&problem);
        found.sort();
        assert_eq!(found, expected);
    }
    assert_eq!(
        app.db
            .rows("campaigns WHERE version = 1 AND code = 'FIXED' AND name = 'Thi đua yêu nước'")
            .await,
        1
    );
    assert_eq!(audit_count(&app, None, Some("campaign.update")).await, 0);
}

#[tokio::test]
async fn only_managers_of_the_current_owner_may_patch() {
    let (app, fixture, id) = with_campaign("OWNED-BY-D1", |tree| tree.d1.id).await;
    let client = fixture.client_token(&app).await;
    let mut refused = vec![client];
    for user in [
        fixture::C2_MANAGER,
        fixture::C1_MANAGER,
        fixture::D1_REVIEWER,
    ] {
        refused.push(fixture.token(&app, user).await);
    }

    for token in &refused {
        let response = patch(&app, token, &id, None, &json!({"name": "Đổi tên"})).await;
        assert_eq!(response.status(), 403);
    }
    let manager = fixture.token(&app, fixture::D1_MANAGER).await;
    let allowed = patch(&app, &manager, &id, None, &json!({"name": "Đổi tên"})).await;

    assert_eq!(allowed.status(), 200);
    assert_eq!(audit_count(&app, None, Some("campaign.update")).await, 1);
}

#[tokio::test]
async fn get_with_the_current_etag_is_not_modified() {
    let (app, fixture, id) = with_campaign("CACHED", |tree| tree.p.id).await;
    let token = fixture.token(&app, fixture::C1_MEMBER).await;
    let path = format!("{CAMPAIGNS}/{id}");

    let current = app
        .request(Method::GET, &path, Some(&token))
        .header(IF_NONE_MATCH, "\"1\"")
        .send()
        .await
        .unwrap();
    let old = app
        .request(Method::GET, &path, Some(&token))
        .header(IF_NONE_MATCH, "\"0\"")
        .send()
        .await
        .unwrap();

    assert_eq!(current.status(), 304);
    assert_eq!(current.headers()[ETAG], "\"1\"");
    assert_eq!(old.status(), 200);
}

#[tokio::test]
async fn search_ignores_case_and_vietnamese_diacritics() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let mut new_uprising = campaign("DKM", fixture.tree.p.id);
    new_uprising["name"] = json!("Đồng khởi mới");
    create_as_admin(&app, &fixture, &new_uprising).await;
    create_as_admin(&app, &fixture, &campaign("TDYN", fixture.tree.p.id)).await;
    let token = fixture.token(&app, fixture::C2_MANAGER).await;

    for q in ["dong%20khoi", "%C4%90%E1%BB%92NG%20KH%E1%BB%9EI", "dkm"] {
        let (status, page) = app.get_json(&format!("{CAMPAIGNS}?q={q}"), &token).await;
        assert_eq!(status, 200);
        assert_eq!(names(&page), vec!["Đồng khởi mới"], "q={q}");
    }
    let (_, wildcard) = app.get_json(&format!("{CAMPAIGNS}?q=%25"), &token).await;
    assert!(names(&wildcard).is_empty(), "{wildcard}");
}

#[tokio::test]
async fn list_pages_latest_start_first_and_filters_by_owner_and_date() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    for (code, owner, starts_on, ends_on) in [
        ("A", fixture.tree.p.id, "2021-01-01", "2022-12-31"),
        ("B", fixture.tree.d1.id, "2024-01-01", "2026-12-31"),
        ("C", fixture.tree.p.id, "2025-06-01", "2025-12-31"),
    ] {
        let mut body = campaign(code, owner);
        body["name"] = json!(format!("Phong trào {code}"));
        body["starts_on"] = json!(starts_on);
        body["ends_on"] = json!(ends_on);
        body["vision_year"] = Value::Null;
        create_as_admin(&app, &fixture, &body).await;
    }
    let token = fixture.token(&app, fixture::C1_MEMBER).await;

    let (_, first) = app.get_json(&format!("{CAMPAIGNS}?limit=2"), &token).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get_json(&format!("{CAMPAIGNS}?limit=2&cursor={cursor}"), &token)
        .await;
    let (_, owned) = app
        .get_json(
            &format!("{CAMPAIGNS}?owner_organization_id={}", fixture.tree.p.id),
            &token,
        )
        .await;
    let (_, running) = app
        .get_json(&format!("{CAMPAIGNS}?active_on=2025-03-01"), &token)
        .await;
    let (bad_date, _) = app
        .get_json(&format!("{CAMPAIGNS}?active_on=yesterday"), &token)
        .await;

    assert_eq!(names(&first), vec!["Phong trào C", "Phong trào B"]);
    assert_eq!(names(&second), vec!["Phong trào A"]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(names(&owned), vec!["Phong trào C", "Phong trào A"]);
    assert_eq!(names(&running), vec!["Phong trào B"]);
    assert_eq!(bad_date, 400);
}
