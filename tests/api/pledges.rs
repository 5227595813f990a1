//! Pledges: a commune's year end to end, object-level access (docs/security.md API1), server-owned
//! properties and the higher-unit rule (API3/API5), conditional requests, idempotent retries,
//! concurrency, lists, search, exports and progress reports.

use std::collections::HashSet;

use futures_util::future::join_all;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::ctx::{Ctx, id_of, ids, merged, pointer_set, target_pledge, texts_of};
use crate::helpers::fixture;
use crate::helpers::{TestApp, audit_count, status_and_json};

const PLEDGES: &str = "/api/v1/pledges";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn new_ctx() -> Ctx {
    Ctx::new(
        &[
            ("nong_thon_moi", "Nông thôn mới"),
            ("xay_dung_dang", "Xây dựng Đảng"),
        ],
        &[],
    )
    .await
}

impl Ctx {
    /// A valid creation body for `organization` with `overrides` merged in (`null` removes).
    fn pledge_body(&self, organization: Uuid, overrides: Value) -> Value {
        let title = "Hoàn thành chỉ tiêu giao thông";
        merged(target_pledge(self.campaign, organization, title), overrides)
    }
}

async fn create_pledge(
    ctx: &Ctx,
    token: &str,
    organization: Uuid,
    overrides: Value,
) -> (u16, Value) {
    let body = ctx.pledge_body(organization, overrides);
    ctx.app.post_for_json(PLEDGES, token, &body).await
}

/// Creates a pledge and returns its body (asserts 201).
async fn created(ctx: &Ctx, user: &str, organization: Uuid, overrides: Value) -> Value {
    let (status, body) = create_pledge(ctx, ctx.token(user), organization, overrides).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Creates one pledge of C1 (by its manager) per element of `values`, with `member` set to it:
/// their ids.
async fn c1_pledges<const N: usize>(ctx: &Ctx, member: &str, values: [&str; N]) -> [String; N] {
    let mut ids = Vec::with_capacity(N);
    for value in values {
        let c1 = ctx.fixture.tree.c1.id;
        let overrides = json!({ member: value });
        ids.push(created_id(ctx, fixture::C1_MANAGER, c1, overrides).await);
    }
    ids.try_into().unwrap()
}

/// The list query of the subtree of `unit`.
fn subtree_of(unit: Uuid) -> [(&'static str, String); 2] {
    [
        ("organization_id", unit.to_string()),
        ("subtree", "true".into()),
    ]
}

/// The ids of the pledges `token` lists with `query` (asserts 200).
async fn listed(ctx: &Ctx, token: &str, query: &[(&str, String)]) -> Vec<String> {
    let (status, page) = list(ctx, token, query).await;
    assert_eq!(status, 200, "{query:?}: {page}");
    ids(&page)
}

/// Creates a pledge and returns its id (asserts 201).
async fn created_id(ctx: &Ctx, user: &str, organization: Uuid, overrides: Value) -> String {
    id_of(&created(ctx, user, organization, overrides).await)
}

/// [`act`] by the fixture user `user`.
async fn act_by(
    ctx: &Ctx,
    user: &str,
    id: &str,
    action: &str,
    body: Option<Value>,
) -> (u16, Value) {
    act(ctx, ctx.token(user), id, action, body).await
}

/// `assess` by the fixture user `user` with `result` and no note.
async fn assess(ctx: &Ctx, user: &str, id: &str, result: &str) -> (u16, Value) {
    act_by(ctx, user, id, "assess", Some(json!({ "result": result }))).await
}

/// `return` by the fixture user `user`, giving `reason`.
async fn return_for(ctx: &Ctx, user: &str, id: &str, reason: &str) -> (u16, Value) {
    act_by(ctx, user, id, "return", Some(json!({ "reason": reason }))).await
}

/// `POST /pledges/{id}/{action}`, with a JSON body when given.
async fn act(ctx: &Ctx, token: &str, id: &str, action: &str, body: Option<Value>) -> (u16, Value) {
    let response = ctx.post_action(PLEDGES, token, id, action, body).await;
    status_and_json(response).await
}

/// A pledge of `organization` created and submitted by `user`: its id (asserts 201, 200).
async fn submitted(ctx: &Ctx, user: &str, organization: Uuid, overrides: Value) -> String {
    let id = created_id(ctx, user, organization, overrides).await;
    let (status, body) = act_by(ctx, user, &id, "submit", None).await;
    assert_eq!(status, 200, "{body}");
    id
}

/// The audit events of `action` (`pledge.update`) on the pledge `id`.
async fn audited(ctx: &Ctx, id: &str, action: &str) -> i64 {
    audit_count(&ctx.app, Some(id), Some(action)).await
}

/// A C1 (or other D1-subtree) pledge created and submitted by C1's manager, approved by D1's.
async fn approved(ctx: &Ctx, organization: Uuid, overrides: Value) -> Value {
    let id = submitted(ctx, fixture::C1_MANAGER, organization, overrides).await;
    let (status, body) = act(ctx, ctx.token(fixture::D1_MANAGER), &id, "approve", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn report(ctx: &Ctx, token: &str, id: &str, body: Value) -> (u16, Value) {
    ctx.app
        .post_for_json(&format!("{PLEDGES}/{id}/progress"), token, &body)
        .await
}

async fn patch(ctx: &Ctx, token: &str, id: &str, if_match: Option<&str>, body: &Value) -> Response {
    let mut request = ctx
        .app
        .request(Method::PATCH, &format!("{PLEDGES}/{id}"), Some(token))
        .json(body);
    if let Some(tag) = if_match {
        request = request.header(IF_MATCH, tag);
    }
    request.send().await.unwrap()
}

/// [`patch`]: the status and JSON body of the answer.
async fn patched(
    ctx: &Ctx,
    token: &str,
    id: &str,
    if_match: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    status_and_json(patch(ctx, token, id, if_match, body).await).await
}

async fn list(ctx: &Ctx, token: &str, query: &[(&str, String)]) -> (u16, Value) {
    let response = ctx
        .app
        .request(Method::GET, PLEDGES, Some(token))
        .query(query)
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// `(status, version)` of a pledge row straight from the database.
async fn row_state(app: &TestApp, id: &str) -> (String, i32) {
    let row = app
        .db
        .client()
        .await
        .query_one(
            &format!("SELECT status, version FROM pledges WHERE id = '{id}'"),
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The number of rows `from` (a table, with a `WHERE` clause when given) holds.
async fn rows(ctx: &Ctx, from: &str) -> i64 {
    ctx.app.db.rows(from).await
}

async fn pledge_count(app: &TestApp) -> i64 {
    app.db.rows("pledges").await
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_commune_officers_whole_year_is_recorded_and_audited() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;

    // Register.
    let response = ctx
        .app
        .post_json(
            PLEDGES,
            ctx.token(fixture::C1_MANAGER),
            &ctx.pledge_body(
                c1,
                json!({"field": "xay_dung_dang", "title": "Xây dựng chi bộ vững mạnh"}),
            ),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = header(&response, LOCATION).unwrap();
    let etag = header(&response, ETAG).unwrap();
    let pledge: Value = response.json().await.unwrap();
    let id = id_of(&pledge);
    assert_eq!(location, format!("{PLEDGES}/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(pledge["status"], "draft");
    assert_eq!(pledge["organization_id"], json!(c1));
    assert_eq!(
        pledge["created_by"],
        json!(ctx.fixture.users[fixture::C1_MANAGER])
    );
    assert_eq!(pledge["allowed_actions"], json!(["submit", "withdraw"]));

    // Submit, approve.
    let (status, submitted) = act_by(&ctx, fixture::C1_MANAGER, &id, "submit", None).await;
    assert_eq!(
        (status, submitted["status"].as_str()),
        (200, Some("submitted")),
        "{submitted}"
    );
    let (status, approved) = act_by(&ctx, fixture::D1_MANAGER, &id, "approve", None).await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("approved")),
        "{approved}"
    );

    // Two progress reports by a member of the commune.
    let member = ctx.token(fixture::C1_MEMBER);
    let (status, first) = report(
        &ctx,
        member,
        &id,
        json!({"reported_on": "2022-06-30", "percent": 40, "value": 4, "note": "Giữa năm"}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["reporter_kind"], "user");
    assert_eq!(
        first["reported_by"],
        json!(ctx.fixture.users[fixture::C1_MEMBER])
    );
    let (status, second) = report(
        &ctx,
        member,
        &id,
        json!({"reported_on": "2022-12-20", "percent": 100, "value": 10,
               "evidence_urls": ["https://example.org/bien-ban.pdf"]}),
    )
    .await;
    assert_eq!(status, 201, "{second}");

    // Assess.
    let (status, assessed) = act_by(
        &ctx,
        fixture::D1_REVIEWER,
        &id,
        "assess",
        Some(json!({"result": "achieved", "note": "Hoàn thành"})),
    )
    .await;
    assert_eq!(status, 200, "{assessed}");

    let response = ctx.app.get(&location, ctx.token(fixture::C1_MEMBER)).await;
    assert_eq!(response.status(), 200);
    let version = header(&response, ETAG).unwrap();
    let pledge: Value = response.json().await.unwrap();
    assert_eq!(pledge["status"], "assessed");
    assert_eq!(pledge["result"], "achieved");
    assert_eq!(pledge["assessment_note"], "Hoàn thành");
    assert_eq!(pledge["progress_percent"], json!(100.0));
    assert_eq!(pledge["current_value"], json!(10.0));
    assert_eq!(pledge["last_reported_on"], "2022-12-20");
    assert_eq!(pledge["overdue"], false);
    assert_eq!(pledge["allowed_actions"], json!([]));
    assert_eq!(version, format!("\"{}\"", pledge["version"]));

    let (status, events) = ctx
        .app
        .get_json(
            &format!("/api/v1/audit-events?entity_id={id}"),
            ctx.token(fixture::ADMIN),
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let actions = texts_of(&events["items"], "action");
    assert_eq!(
        actions,
        [
            "pledge.create",
            "pledge.submit",
            "pledge.approve",
            "pledge.progress",
            "pledge.progress",
            "pledge.assess"
        ]
    );
    let actors: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| &event["actor_id"])
        .collect();
    assert_eq!(*actors[2], json!(ctx.fixture.users[fixture::D1_MANAGER]));
    assert_eq!(*actors[5], json!(ctx.fixture.users[fixture::D1_REVIEWER]));
}

#[tokio::test]
async fn another_communes_pledge_is_not_found_for_every_operation() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let draft = created_id(&ctx, fixture::C1_MANAGER, c1, json!({})).await;
    let approved = id_of(&approved(&ctx, c1, json!({})).await);
    let before_draft = row_state(&ctx.app, &draft).await;
    let before_approved = row_state(&ctx.app, &approved).await;
    let audit_before = rows(&ctx, "audit_events").await;
    let progress_before = rows(&ctx, "pledge_progress").await;
    let c2 = ctx.token(fixture::C2_MANAGER);

    for id in [&draft, &approved] {
        let path = format!("{PLEDGES}/{id}");
        let mut outcomes = vec![
            ("GET", ctx.app.get_json(&path, c2).await),
            (
                "PATCH",
                patched(&ctx, c2, id, None, &json!({"title": "Chiếm quyền"})).await,
            ),
            (
                "DELETE",
                status_and_json(ctx.app.delete(&path, c2).await).await,
            ),
            ("submit", act(&ctx, c2, id, "submit", None).await),
            ("approve", act(&ctx, c2, id, "approve", None).await),
            (
                "return",
                act(&ctx, c2, id, "return", Some(json!({"reason": "x"}))).await,
            ),
            (
                "withdraw",
                act(&ctx, c2, id, "withdraw", Some(json!({"reason": "x"}))).await,
            ),
            (
                "assess",
                act(&ctx, c2, id, "assess", Some(json!({"result": "achieved"}))).await,
            ),
            (
                "POST progress",
                report(
                    &ctx,
                    c2,
                    id,
                    json!({"reported_on": "2022-06-30", "percent": 50}),
                )
                .await,
            ),
            (
                "GET progress",
                ctx.app.get_json(&format!("{path}/progress"), c2).await,
            ),
        ];
        for (operation, (status, body)) in outcomes.drain(..) {
            assert_eq!(status, 404, "{operation} on {id}: {body}");
            assert_eq!(body["code"], "not_found", "{operation}");
        }
    }

    assert_eq!(row_state(&ctx.app, &draft).await, before_draft);
    assert_eq!(row_state(&ctx.app, &approved).await, before_approved);
    assert_eq!(rows(&ctx, "audit_events").await, audit_before);
    assert_eq!(rows(&ctx, "pledge_progress").await, progress_before);
}

#[tokio::test]
async fn district_reviewer_reads_its_communes_pledge_but_not_another_districts() {
    let ctx = new_ctx().await;
    let c1_pledge = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let c2_pledge = created_id(&ctx, fixture::C2_MANAGER, ctx.fixture.tree.c2.id, json!({})).await;
    let reviewer = ctx.token(fixture::D1_REVIEWER);

    let (own, body) = ctx
        .app
        .get_json(&format!("{PLEDGES}/{c1_pledge}"), reviewer)
        .await;
    let (foreign, _) = ctx
        .app
        .get_json(&format!("{PLEDGES}/{c2_pledge}"), reviewer)
        .await;

    assert_eq!(own, 200);
    assert_eq!(body["id"], c1_pledge.as_str());
    assert_eq!(foreign, 404);
}

#[tokio::test]
async fn lists_and_exports_never_leak_pledges_of_other_subtrees() {
    let ctx = new_ctx().await;
    let tree = &ctx.fixture.tree;
    let c1 = created_id(&ctx, fixture::C1_MANAGER, tree.c1.id, json!({})).await;
    let k1 = created_id(&ctx, fixture::C1_MANAGER, tree.k1.id, json!({})).await;
    let c3 = created_id(&ctx, fixture::D1_MANAGER, tree.c3.id, json!({})).await;
    let c2 = created_id(
        &ctx,
        fixture::C2_MANAGER,
        tree.c2.id,
        json!({"field": "xay_dung_dang", "title": "Xây dựng Đảng bộ xã trong sạch, vững mạnh"}),
    )
    .await;
    let c2_manager = ctx.token(fixture::C2_MANAGER);

    // A foreign organization_id is not found, with or without subtree.
    for subtree in ["false", "true"] {
        let (status, body) = list(
            &ctx,
            c2_manager,
            &[
                ("organization_id", tree.c1.id.to_string()),
                ("subtree", subtree.into()),
            ],
        )
        .await;
        assert_eq!(status, 404, "{body}");
    }

    // Without filters: only the own subtree.
    assert_eq!(listed(&ctx, c2_manager, &[]).await, vec![c2.clone()]);

    // The district reviewer's subtree: C1, K1, C3, never C2.
    let reviewer = ctx.token(fixture::D1_REVIEWER);
    let seen: HashSet<String> = listed(&ctx, reviewer, &subtree_of(tree.d1.id))
        .await
        .into_iter()
        .collect();
    assert_eq!(seen, set(&[&c1, &k1, &c3]));
    // Without subtree: only the district's own pledges (none).
    let own = [("organization_id", tree.d1.id.to_string())];
    assert_eq!(listed(&ctx, reviewer, &own).await, Vec::<String>::new());
    // The partner client bound to D1 sees the same subtree, without any filter.
    let client = ctx.fixture.client_token(&ctx.app).await;
    let seen: HashSet<String> = listed(&ctx, &client, &[]).await.into_iter().collect();
    assert_eq!(seen, set(&[&c1, &k1, &c3]));

    // CSV: BOM, Vietnamese intact, nothing foreign.
    let response = ctx
        .app
        .request(Method::GET, PLEDGES, Some(c2_manager))
        .header(ACCEPT, "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        header(&response, CONTENT_TYPE)
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains("Xây dựng Đảng bộ xã"), "{text}");
    assert!(text.contains(&c2));
    for foreign in [&c1, &k1, &c3] {
        assert!(!text.contains(foreign.as_str()), "{text}");
    }
    assert_eq!(text.lines().count(), 2, "{text}");

    // XLSX.
    let response = ctx
        .app
        .request(Method::GET, PLEDGES, Some(c2_manager))
        .header(ACCEPT, XLSX)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, CONTENT_TYPE).unwrap(), XLSX);
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"));
}

#[tokio::test]
async fn nobody_creates_a_pledge_for_a_unit_outside_their_reach() {
    let ctx = new_ctx().await;
    let tree = &ctx.fixture.tree;
    let attempts = [
        (fixture::C1_MANAGER, tree.c2.id),
        (fixture::C1_MANAGER, tree.d1.id),
        (fixture::C2_MANAGER, tree.k1.id),
        (fixture::C1_MEMBER, tree.c1.id),
        (fixture::C1_REVIEWER, tree.c1.id),
        (fixture::D1_REVIEWER, tree.c1.id),
    ];

    for (user, organization) in attempts {
        let (status, body) = create_pledge(&ctx, ctx.token(user), organization, json!({})).await;
        assert!([403, 404, 422].contains(&status), "{user}: {status} {body}");
        if status == 422 {
            assert_eq!(
                pointer_set(&body),
                set(&["/organization_id"]),
                "{user}: {body}"
            );
        }
    }
    let client = ctx.fixture.client_token(&ctx.app).await;
    let (status, _) = create_pledge(&ctx, &client, tree.c1.id, json!({})).await;
    assert_eq!(status, 403);

    assert_eq!(pledge_count(&ctx.app).await, 0);
    assert_eq!(
        rows(&ctx, "audit_events WHERE entity_type = 'pledge'").await,
        0
    );
}

#[tokio::test]
async fn patch_refuses_server_owned_members_and_changes_nothing() {
    let ctx = new_ctx().await;
    let pledge = created(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let id = id_of(&pledge);
    let before = row_state(&ctx.app, &id).await;

    let response = patch(
        &ctx,
        ctx.token(fixture::C1_MANAGER),
        &id,
        Some("\"1\""),
        &json!({
            "title": "Tiêu đề mới",
            "status": "approved",
            "organization_id": ctx.fixture.tree.c2.id,
            "version": 42,
            "created_by": ctx.fixture.users[fixture::C2_MANAGER],
            "result": "exceeded"
        }),
    )
    .await;
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, 422, "{body}");
    assert_eq!(
        pointer_set(&body),
        set(&[
            "/status",
            "/organization_id",
            "/version",
            "/created_by",
            "/result"
        ])
    );
    assert_eq!(row_state(&ctx.app, &id).await, before);
    let (_, now) = ctx
        .app
        .get_json(&format!("{PLEDGES}/{id}"), ctx.token(fixture::C1_MANAGER))
        .await;
    assert_eq!(now["title"], pledge["title"]);
    assert_eq!(now["organization_id"], json!(ctx.fixture.tree.c1.id));
    assert_eq!(audited(&ctx, &id, "pledge.update").await, 0);
}

#[tokio::test]
async fn nobody_approves_or_assesses_their_own_units_pledge() {
    let ctx = new_ctx().await;
    let tree = &ctx.fixture.tree;

    // C1 manager approving its own unit's submitted pledge.
    let own = submitted(&ctx, fixture::C1_MANAGER, tree.c1.id, json!({})).await;
    let (status, body) = act_by(&ctx, fixture::C1_MANAGER, &own, "approve", None).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = return_for(&ctx, fixture::C1_MANAGER, &own, "tự trả").await;
    assert_eq!(status, 403);
    // A member approves nothing, not even a pledge of a unit below its own.
    let k1 = submitted(&ctx, fixture::C1_MANAGER, tree.k1.id, json!({})).await;
    for id in [&own, &k1] {
        let (status, body) = act_by(&ctx, fixture::C1_MEMBER, id, "approve", None).await;
        assert_eq!(status, 403, "{body}");
    }
    // A reviewer does not approve either.
    let (status, _) = act_by(&ctx, fixture::D1_REVIEWER, &own, "approve", None).await;
    assert_eq!(status, 403);
    // The district's manager does not approve the district's own pledge.
    let district = submitted(&ctx, fixture::D1_MANAGER, tree.d1.id, json!({})).await;
    let (status, body) = act_by(&ctx, fixture::D1_MANAGER, &district, "approve", None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(row_state(&ctx.app, &district).await.0, "submitted");
    assert_eq!(row_state(&ctx.app, &own).await.0, "submitted");
    assert_eq!(row_state(&ctx.app, &k1).await.0, "submitted");

    // C1's reviewer and manager assessing their own unit's approved pledge.
    let approved = id_of(&approved(&ctx, tree.c1.id, json!({})).await);
    for user in [
        fixture::C1_REVIEWER,
        fixture::C1_MANAGER,
        fixture::C1_MEMBER,
    ] {
        let (status, body) = assess(&ctx, user, &approved, "achieved").await;
        assert_eq!(status, 403, "{user}: {body}");
    }
    // A partner client with scope `read` reports no progress.
    let client = ctx.fixture.client_token(&ctx.app).await;
    let (status, body) = report(
        &ctx,
        &client,
        &approved,
        json!({"reported_on": "2022-06-30", "percent": 10}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // Nor does a reviewer of the unit.
    let (status, _) = report(
        &ctx,
        ctx.token(fixture::C1_REVIEWER),
        &approved,
        json!({"reported_on": "2022-06-30", "percent": 10}),
    )
    .await;
    assert_eq!(status, 403);

    assert_eq!(row_state(&ctx.app, &approved).await.0, "approved");
    assert_eq!(rows(&ctx, "pledge_progress").await, 0);
    assert_eq!(
        rows(
            &ctx,
            "audit_events WHERE action IN ('pledge.assess', 'pledge.return', 'pledge.progress')"
        )
        .await,
        0
    );
    assert_eq!(
        rows(&ctx, "audit_events WHERE action = 'pledge.approve'").await,
        1
    );
}

#[tokio::test]
async fn a_transition_from_the_wrong_state_is_a_conflict_naming_the_allowed_actions() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let draft = created_id(&ctx, fixture::C1_MANAGER, c1, json!({})).await;

    let (status, body) = assess(&ctx, fixture::D1_REVIEWER, &draft, "achieved").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "invalid_transition");
    assert_eq!(body["current_status"], "draft");
    assert_eq!(body["allowed_actions"], json!(["submit", "withdraw"]));
    let (status, body) = act_by(&ctx, fixture::D1_MANAGER, &draft, "approve", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    // A stale If-Match on a transition is a 412 naming the current ETag.
    let response = ctx
        .app
        .request(
            Method::POST,
            &format!("{PLEDGES}/{draft}/submit"),
            Some(ctx.token(fixture::C1_MANAGER)),
        )
        .header(IF_MATCH, "\"7\"")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["current_etag"], "\"1\"");
    assert_eq!(row_state(&ctx.app, &draft).await, ("draft".to_owned(), 1));
    assert_eq!(audit_count(&ctx.app, Some(&draft), None).await, 1);
}

#[tokio::test]
async fn return_and_withdraw_need_a_reason() {
    let ctx = new_ctx().await;
    let id = submitted(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let before = row_state(&ctx.app, &id).await;

    // No reason, or a blank one (the blank return names `/reason`).
    for (user, action, body, names_reason) in [
        (fixture::D1_MANAGER, "return", json!({}), false),
        (
            fixture::D1_MANAGER,
            "return",
            json!({"reason": "   "}),
            true,
        ),
        (fixture::C1_MANAGER, "withdraw", json!({}), false),
        (
            fixture::C1_MANAGER,
            "withdraw",
            json!({"reason": ""}),
            false,
        ),
    ] {
        let (status, problem) = act_by(&ctx, user, &id, action, Some(body)).await;
        assert_eq!(status, 422, "{action}: {problem}");
        if names_reason {
            assert_eq!(pointer_set(&problem), set(&["/reason"]));
        }
    }
    assert_eq!(row_state(&ctx.app, &id).await, before);

    // With a reason it works, and the reason is shown.
    let (status, body) =
        return_for(&ctx, fixture::D1_MANAGER, &id, "Bổ sung chỉ tiêu cụ thể").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "returned");
    assert_eq!(body["status_reason"], "Bổ sung chỉ tiêu cụ thể");

    // The unit edits the returned pledge and submits it again; the reason is cleared.
    let manager = ctx.token(fixture::C1_MANAGER);
    let response = patch(&ctx, manager, &id, None, &json!({"target_value": 12})).await;
    assert_eq!(response.status(), 200);
    let (status, body) = act(&ctx, manager, &id, "submit", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "submitted");
    assert_eq!(body["status_reason"], Value::Null);
    assert_eq!(body["target_value"], json!(12.0));
    // No more edits once submitted.
    let (status, body) = patched(&ctx, manager, &id, None, &json!({"target_value": 1})).await;
    let refusal = (status, body["current_status"].as_str());
    assert_eq!(refusal, (409, Some("submitted")), "{body}");
}

#[tokio::test]
async fn only_drafts_can_be_deleted() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let manager = ctx.token(fixture::C1_MANAGER);
    let submitted = created_id(&ctx, fixture::C1_MANAGER, c1, json!({})).await;
    assert_eq!(act(&ctx, manager, &submitted, "submit", None).await.0, 200);
    let draft = created_id(&ctx, fixture::C1_MANAGER, c1, json!({})).await;

    let response = ctx
        .app
        .delete(&format!("{PLEDGES}/{submitted}"), manager)
        .await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "invalid_transition");
    assert_eq!(row_state(&ctx.app, &submitted).await.0, "submitted");

    // A member may not delete a draft either.
    let response = ctx
        .app
        .delete(&format!("{PLEDGES}/{draft}"), ctx.token(fixture::C1_MEMBER))
        .await;
    assert_eq!(response.status(), 403);

    let response = ctx
        .app
        .request(Method::DELETE, &format!("{PLEDGES}/{draft}"), Some(manager))
        .header(IF_MATCH, "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        ctx.app
            .db
            .count(&format!(
                "SELECT count(*) FROM pledges WHERE id = '{draft}'"
            ))
            .await,
        0
    );
    assert_eq!(audited(&ctx, &draft, "pledge.delete").await, 1);
    assert_eq!(
        ctx.app
            .get(&format!("{PLEDGES}/{draft}"), manager)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn every_invalid_member_is_named_in_one_response() {
    let ctx = new_ctx().await;

    let (status, body) = create_pledge(
        &ctx,
        ctx.token(fixture::C1_MANAGER),
        ctx.fixture.tree.c1.id,
        json!({
            "field": "khong_co",
            "year": 2030,
            "deadline": "2022-06-30",
            "kind": "title",
            "title_name": null,
            "target_value": -5
        }),
    )
    .await;

    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation_failed", "{body}");
    assert_eq!(
        pointer_set(&body),
        set(&[
            "/field",
            "/year",
            "/deadline",
            "/title_name",
            "/target_value"
        ])
    );
    assert_eq!(pledge_count(&ctx.app).await, 0);
}

#[tokio::test]
async fn a_deadline_must_fall_within_reach_of_the_year() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let manager = ctx.token(fixture::C1_MANAGER);

    // A 2022 pledge due before its year, after the next one, and within the next one.
    for (deadline, status) in [
        ("2021-12-31", 422),
        ("2024-01-01", 422),
        ("2023-12-31", 201),
    ] {
        let dated = json!({"year": 2022, "deadline": deadline});
        let (answer, body) = create_pledge(&ctx, manager, c1, dated).await;
        assert_eq!(answer, status, "{deadline}: {body}");
        if deadline == "2021-12-31" {
            assert_eq!(pointer_set(&body), set(&["/deadline"]));
        }
    }
    // A title pledge takes its title from the title registered.
    let (title, body) = create_pledge(
        &ctx,
        manager,
        c1,
        json!({"kind": "title", "title": null, "title_name": "Xã nông thôn mới nâng cao", "field": "nong_thon_moi"}),
    )
    .await;
    assert_eq!(title, 201, "{body}");
    assert_eq!(body["title"], "Xã nông thôn mới nâng cao");
    assert_eq!(body["kind"], "title");
}

#[tokio::test]
async fn text_sent_with_combining_accents_is_stored_precomposed() {
    let ctx = new_ctx().await;
    // "Xây dựng" with a combining circumflex, horn and dot below.
    let decomposed = "Xa\u{0302}y du\u{031B}\u{0323}ng chi bo\u{0323}\u{0302}";
    let precomposed = "X\u{00E2}y d\u{1EF1}ng chi b\u{1ED9}";

    let body = created(
        &ctx,
        fixture::C1_MANAGER,
        ctx.fixture.tree.c1.id,
        json!({"title": decomposed}),
    )
    .await;

    assert_eq!(body["title"], precomposed);
    let stored: String = ctx
        .app
        .db
        .client()
        .await
        .query_one(
            &format!("SELECT title FROM pledges WHERE id = '{}'", id_of(&body)),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, precomposed);
}

#[tokio::test]
async fn twenty_concurrent_patches_with_one_etag_let_exactly_one_through() {
    let ctx = new_ctx().await;
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let manager = ctx.token(fixture::C1_MANAGER);

    let responses = join_all((0..20).map(|attempt| {
        ctx.app
            .request(Method::PATCH, &format!("{PLEDGES}/{id}"), Some(manager))
            .header(IF_MATCH, "\"1\"")
            .json(&json!({"title": format!("Tiêu đề lần {attempt}")}))
            .send()
    }))
    .await;

    let mut ok = 0;
    let mut failed = 0;
    for response in responses {
        let (status, body) = status_and_json(response.unwrap()).await;
        match status {
            200 => ok += 1,
            412 => {
                failed += 1;
                assert_eq!(body["code"], "precondition_failed");
                assert_eq!(body["current_etag"], "\"2\"", "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((ok, failed), (1, 19));
    assert_eq!(row_state(&ctx.app, &id).await.1, 2);
    assert_eq!(audited(&ctx, &id, "pledge.update").await, 1);
}

/// The audit event and the stored reply go out together (pipelined on one connection): when
/// the audit insert fails, the reply's statement fails on the aborted transaction and the whole
/// write rolls back (no pledge, no key, no event); the client is told, and the same key runs the
/// creation afresh once the fault is gone.
#[tokio::test]
async fn a_failed_audit_write_rolls_the_creation_back_and_the_same_key_runs_it_again() {
    let ctx = new_ctx().await;
    let manager = ctx.token(fixture::C1_MANAGER);
    let body = ctx.pledge_body(ctx.fixture.tree.c1.id, json!({}));
    let db = &ctx.app.db;
    let send = || {
        ctx.app
            .request(Method::POST, PLEDGES, Some(manager))
            .header("Idempotency-Key", "audit-down")
            .json(&body)
            .send()
    };
    db.execute_sql(
        "CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'the audit store is down'; END $$; \
             CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION test_refuse_audit();",
    )
    .await;
    let events = db.rows("audit_events").await;

    let failed = send().await.unwrap();
    let status = failed.status().as_u16();
    let text = failed.text().await.unwrap();
    assert_eq!(status, 500, "{text}");
    assert!(!text.contains("audit store"), "internals leaked: {text}");
    assert_eq!(pledge_count(&ctx.app).await, 0);
    assert_eq!(
        db.rows("idempotency_keys WHERE key = 'audit-down'").await,
        0
    );
    assert_eq!(db.rows("audit_events").await, events);

    db.execute_sql("DROP TRIGGER test_refuse_audit ON audit_events")
        .await;
    let created = send().await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    assert_eq!(
        header(&created, "idempotent-replayed".parse().unwrap()),
        None
    );
    assert_eq!(pledge_count(&ctx.app).await, 1);
    assert_eq!(
        db.rows("idempotency_keys WHERE key = 'audit-down'").await,
        1
    );
    assert_eq!(
        db.rows("audit_events WHERE entity_type = 'pledge'").await,
        1
    );
}

#[tokio::test]
async fn a_retried_creation_with_the_same_key_replays_the_first_reply() {
    let ctx = new_ctx().await;
    let manager = ctx.token(fixture::C1_MANAGER);
    let body = ctx.pledge_body(ctx.fixture.tree.c1.id, json!({}));
    let send = |key: &'static str, token: &str, body: &Value| {
        ctx.app
            .request(Method::POST, PLEDGES, Some(token))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };
    async fn parts(
        response: Response,
    ) -> (u16, Option<String>, Option<String>, Option<String>, String) {
        let replayed = header(&response, "idempotent-replayed".parse().unwrap());
        (
            response.status().as_u16(),
            header(&response, LOCATION),
            header(&response, ETAG),
            replayed,
            response.text().await.unwrap(),
        )
    }

    // Sequential.
    let first = parts(send("retry-1", manager, &body).await.unwrap()).await;
    let second = parts(send("retry-1", manager, &body).await.unwrap()).await;
    assert_eq!(first.0, 201, "{}", first.4);
    assert_eq!(
        (first.0, &first.1, &first.2, &first.4),
        (second.0, &second.1, &second.2, &second.4)
    );
    assert_eq!(first.3, None);
    assert_eq!(second.3.as_deref(), Some("true"));
    assert_eq!(pledge_count(&ctx.app).await, 1);

    // Concurrent.
    let (a, b) = tokio::join!(
        send("retry-2", manager, &body),
        send("retry-2", manager, &body)
    );
    let (a, b) = (parts(a.unwrap()).await, parts(b.unwrap()).await);
    assert_eq!(a.0, 201, "{}", a.4);
    assert_eq!((a.0, &a.1, &a.2, &a.4), (b.0, &b.1, &b.2, &b.4));
    let mut flags = [a.3.clone(), b.3.clone()];
    flags.sort();
    assert_eq!(flags, [None, Some("true".to_owned())]);
    assert_eq!(pledge_count(&ctx.app).await, 2);

    // Same key, another body.
    let other = ctx.pledge_body(ctx.fixture.tree.c1.id, json!({"title": "Nội dung khác"}));
    let (status, problem) = status_and_json(send("retry-1", manager, &other).await.unwrap()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "idempotency_key_reused");
    assert_eq!(pledge_count(&ctx.app).await, 2);

    // Another principal with the same key and body gets its own pledge.
    let (status, replayed, mine) = {
        let response = send("retry-1", ctx.token(fixture::D1_MANAGER), &body)
            .await
            .unwrap();
        let replayed = header(&response, "idempotent-replayed".parse().unwrap());
        let (status, mine) = status_and_json(response).await;
        (status, replayed, mine)
    };
    assert_eq!(status, 201, "{mine}");
    assert_eq!(replayed, None);
    let first_body: Value = serde_json::from_str(&first.4).unwrap();
    assert_ne!(mine["id"], first_body["id"]);
    assert_eq!(
        mine["created_by"],
        json!(ctx.fixture.users[fixture::D1_MANAGER])
    );
    assert_eq!(pledge_count(&ctx.app).await, 3);
}

#[tokio::test]
async fn a_request_refused_by_validation_stores_nothing_under_its_key() {
    let ctx = new_ctx().await;
    let manager = ctx.token(fixture::C1_MANAGER);
    let send = |body: Value| {
        ctx.app
            .request(Method::POST, PLEDGES, Some(manager))
            .header("Idempotency-Key", "mobile-7f3a")
            .json(&body)
            .send()
    };

    let (status, body) = status_and_json(
        send(ctx.pledge_body(ctx.fixture.tree.c1.id, json!({"field": "khong_co"})))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(rows(&ctx, "idempotency_keys").await, 0);

    let response = send(ctx.pledge_body(ctx.fixture.tree.c1.id, json!({})))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("idempotent-replayed").is_none());
    assert_eq!(pledge_count(&ctx.app).await, 1);
}

#[tokio::test]
async fn a_retried_transition_with_the_same_key_replays_instead_of_conflicting() {
    let ctx = new_ctx().await;
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let submit = || {
        ctx.app
            .request(
                Method::POST,
                &format!("{PLEDGES}/{id}/submit"),
                Some(ctx.token(fixture::C1_MANAGER)),
            )
            .header("Idempotency-Key", "submit-once")
            .send()
    };

    let first = submit().await.unwrap();
    let second = submit().await.unwrap();

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    assert_eq!(
        header(&second, "idempotent-replayed".parse().unwrap()).as_deref(),
        Some("true")
    );
    assert_eq!(header(&first, ETAG), header(&second, ETAG));
    assert_eq!(first.text().await.unwrap(), second.text().await.unwrap());
    assert_eq!(audited(&ctx, &id, "pledge.submit").await, 1);
}

#[tokio::test]
async fn two_concurrent_approvals_approve_once() {
    let ctx = new_ctx().await;
    let id = submitted(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let approver = ctx.token(fixture::D1_MANAGER);

    let (a, b) = tokio::join!(
        act(&ctx, approver, &id, "approve", None),
        act(&ctx, approver, &id, "approve", None)
    );

    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 409] || statuses == [200, 412],
        "{a:?} {b:?}"
    );
    let refused = if a.0 == 200 { &b.1 } else { &a.1 };
    if statuses[1] == 409 {
        assert_eq!(refused["code"], "invalid_transition");
        assert_eq!(refused["current_status"], "approved");
    }
    assert_eq!(row_state(&ctx.app, &id).await, ("approved".to_owned(), 3));
    assert_eq!(audited(&ctx, &id, "pledge.approve").await, 1);
}

#[tokio::test]
async fn a_get_with_the_current_etag_is_not_modified() {
    let ctx = new_ctx().await;
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let manager = ctx.token(fixture::C1_MANAGER);
    let path = format!("{PLEDGES}/{id}");
    let conditional = |tag: &str| {
        ctx.app
            .request(Method::GET, &path, Some(manager))
            .header(IF_NONE_MATCH, tag)
            .send()
    };

    let not_modified = conditional("\"1\"").await.unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(header(&not_modified, ETAG).as_deref(), Some("\"1\""));

    let response = patch(
        &ctx,
        manager,
        &id,
        Some("\"1\""),
        &json!({"title": "Đổi tên"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, ETAG).as_deref(), Some("\"2\""));
    let changed = conditional("\"1\"").await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(header(&changed, ETAG).as_deref(), Some("\"2\""));
    // A stale If-Match is refused and names the current ETag.
    let (status, body) = patched(&ctx, manager, &id, Some("\"1\""), &json!({"title": "Cũ"})).await;
    assert_eq!(status, 412);
    assert_eq!(body["current_etag"], "\"2\"");
}

#[tokio::test]
async fn sorting_and_limits_accept_only_documented_values() {
    let ctx = new_ctx().await;
    let deadlines = ["2022-03-01", "2022-12-01", "2022-06-01"];
    let [march, december, june] = c1_pledges(&ctx, "deadline", deadlines).await;
    let manager = ctx.token(fixture::C1_MANAGER);

    let newest_first = vec![december.clone(), june.clone(), march.clone()];
    let by = |sort: &str| [("sort", sort.to_owned())];
    assert_eq!(
        listed(&ctx, manager, &by("deadline_desc")).await,
        newest_first
    );
    let oldest_first = vec![march, june, december];
    assert_eq!(listed(&ctx, manager, &by("deadline")).await, oldest_first);

    for (name, value) in [
        ("sort", "title"),
        ("sort", "deadline; DROP TABLE pledges"),
        ("limit", "0"),
        ("limit", "201"),
        ("limit", "-1"),
        ("cursor", "not-a-cursor"),
    ] {
        let (status, body) = list(&ctx, manager, &[(name, value.into())]).await;
        assert_eq!(status, 400, "{name}={value}: {body}");
    }
    assert_eq!(pledge_count(&ctx.app).await, 3);
}

#[tokio::test]
async fn search_ignores_diacritics_and_matches_wildcards_literally() {
    let ctx = new_ctx().await;
    let titles = [
        "Xây dựng nông thôn mới kiểu mẫu",
        "Tăng 5% thu nhập bình quân",
        "Phát triển giao thông",
    ];
    let [building, percent, _plain] = c1_pledges(&ctx, "title", titles).await;
    let manager = ctx.token(fixture::C1_MANAGER);

    for (q, found) in [
        ("xay dung", vec![building.clone()]),
        ("XÂY DỰNG", vec![building.clone()]),
        // Typed with combining accents (some phone keyboards do).
        ("Xa\u{0302}y du\u{031B}\u{0323}ng", vec![building]),
        ("%", vec![percent.clone()]),
        ("5%", vec![percent]),
        ("_", vec![]),
        ("\\", vec![]),
    ] {
        assert_eq!(
            listed(&ctx, manager, &[("q", q.into())]).await,
            found,
            "q={q}"
        );
    }
}

#[tokio::test]
async fn keyset_pagination_walks_every_pledge_exactly_once() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let mut expected = Vec::new();
    for month in 1..=5 {
        let deadline = format!("2022-0{month}-15");
        expected
            .push(created_id(&ctx, fixture::C1_MANAGER, c1, json!({"deadline": deadline})).await);
    }
    let manager = ctx.token(fixture::C1_MANAGER);

    for sort in ["created_at", "deadline_desc"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut query = vec![("limit", "2".to_owned()), ("sort", sort.to_owned())];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let (status, page) = list(&ctx, manager, &query).await;
            assert_eq!(status, 200, "{page}");
            assert!(ids(&page).len() <= 2);
            seen.extend(ids(&page));
            pages += 1;
            assert!(pages <= 5, "pagination does not end");
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let mut want = expected.clone();
        if sort == "deadline_desc" {
            want.reverse();
        }
        assert_eq!(seen, want, "{sort}");
    }

    // A cursor only continues the sort it came from.
    let (_, page) = list(&ctx, manager, &[("limit", "2".into())]).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (status, body) = list(
        &ctx,
        manager,
        &[
            ("limit", "2".into()),
            ("sort", "deadline".into()),
            ("cursor", cursor),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn updated_since_returns_only_pledges_changed_afterwards() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let changed = created_id(&ctx, fixture::C1_MANAGER, c1, json!({})).await;
    let untouched = created(&ctx, fixture::C1_MANAGER, c1, json!({})).await;
    let instant = untouched["updated_at"].as_str().unwrap().to_owned();
    let manager = ctx.token(fixture::C1_MANAGER);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    assert_eq!(act(&ctx, manager, &changed, "submit", None).await.0, 200);

    let since = listed(&ctx, manager, &[("updated_since", instant.clone())]).await;
    assert_eq!(since, vec![changed]);
    let (status, _) = list(&ctx, manager, &[("updated_since", "yesterday".into())]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn overdue_lists_open_pledges_whose_deadline_passed() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let past = json!({"year": 2021, "deadline": "2021-06-30"});
    let late = created_id(&ctx, fixture::C1_MANAGER, c1, past.clone()).await;
    let assessed = id_of(&approved(&ctx, c1, past).await);
    let (status, body) = assess(&ctx, fixture::D1_REVIEWER, &assessed, "not_achieved").await;
    assert_eq!(status, 200, "{body}");
    // A deadline that has not passed, whatever today is: stretch the campaign.
    ctx.app
        .db
        .execute_sql("UPDATE campaigns SET ends_on = '2099-12-31'")
        .await;
    let open = created_id(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"year": 2098, "deadline": "2099-06-30"}),
    )
    .await;
    let manager = ctx.token(fixture::C1_MANAGER);

    let (status, page) = list(&ctx, manager, &[("overdue", "true".into())]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), vec![late.clone()]);
    assert_eq!(page["items"][0]["overdue"], true);
    let (_, page) = list(&ctx, manager, &[("overdue", "false".into())]).await;
    assert!(!ids(&page).contains(&late));
    assert!(ids(&page).contains(&assessed));
    assert!(ids(&page).contains(&open));
}

#[tokio::test]
async fn progress_reports_are_validated_and_listed_newest_first() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let member = ctx.token(fixture::C1_MEMBER);
    let draft = created_id(&ctx, fixture::C1_MANAGER, c1, json!({})).await;
    let id = id_of(&approved(&ctx, c1, json!({})).await);

    let (status, body) = report(
        &ctx,
        member,
        &draft,
        json!({"reported_on": "2022-06-30", "percent": 10}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "invalid_transition");
    let (status, body) = report(
        &ctx,
        member,
        &id,
        json!({"reported_on": "2022-06-30", "percent": 150}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(pointer_set(&body), set(&["/percent"]));
    let (status, body) = report(
        &ctx,
        member,
        &id,
        json!({"reported_on": "2022-06-30", "percent": 10,
               "evidence_urls": ["https://example.org/ok", "javascript:alert(1)"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(pointer_set(&body), set(&["/evidence_urls/1"]));
    let (status, _) = report(&ctx, member, &id, json!({"reported_on": "2022-06-30"})).await;
    assert_eq!(status, 422);
    assert_eq!(rows(&ctx, "pledge_progress").await, 0);

    // Reported out of order: the list and the pledge follow `reported_on`.
    for (date, percent) in [("2022-03-31", 20), ("2022-09-30", 70), ("2022-06-30", 45)] {
        let (status, body) = report(
            &ctx,
            member,
            &id,
            json!({"reported_on": date, "percent": percent}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, page) = ctx
        .app
        .get_json(&format!("{PLEDGES}/{id}/progress"), member)
        .await;
    assert_eq!(status, 200, "{page}");
    let dates = texts_of(&page["items"], "reported_on");
    assert_eq!(dates, ["2022-09-30", "2022-06-30", "2022-03-31"]);
    let (_, pledge) = ctx.app.get_json(&format!("{PLEDGES}/{id}"), member).await;
    assert_eq!(pledge["last_reported_on"], "2022-09-30");
    assert_eq!(pledge["progress_percent"], json!(70.0));
    // Paged by one, newest first.
    let (_, first) = ctx
        .app
        .get_json(&format!("{PLEDGES}/{id}/progress?limit=1"), member)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = ctx
        .app
        .get_json(
            &format!("{PLEDGES}/{id}/progress?limit=1&cursor={cursor}"),
            member,
        )
        .await;
    assert_eq!(second["items"][0]["reported_on"], "2022-06-30");
}

#[tokio::test]
async fn pledges_follow_their_unit_when_it_moves_to_another_district() {
    let ctx = new_ctx().await;
    let tree = &ctx.fixture.tree;
    let c1_pledge = created_id(&ctx, fixture::C1_MANAGER, tree.c1.id, json!({})).await;
    let k1_pledge = created_id(&ctx, fixture::C1_MANAGER, tree.k1.id, json!({})).await;
    let reviewer = ctx.token(fixture::D1_REVIEWER);
    assert_eq!(
        ctx.app
            .get(&format!("{PLEDGES}/{c1_pledge}"), reviewer)
            .await
            .status(),
        200
    );

    let (status, body) = act_move(&ctx, tree.c1.id, tree.d2.id).await;
    assert_eq!(status, 200, "{body}");

    // D1 no longer sees them, single or listed; D2's subtree now holds them.
    for id in [&c1_pledge, &k1_pledge] {
        let (status, _) = ctx.app.get_json(&format!("{PLEDGES}/{id}"), reviewer).await;
        assert_eq!(status, 404, "{id}");
    }
    assert_eq!(listed(&ctx, reviewer, &[]).await, Vec::<String>::new());
    let admin = ctx.token(fixture::ADMIN);
    let of_d2: HashSet<String> = listed(&ctx, admin, &subtree_of(tree.d2.id))
        .await
        .into_iter()
        .collect();
    assert_eq!(of_d2, set(&[&c1_pledge, &k1_pledge]));
}

async fn act_move(ctx: &Ctx, organization: Uuid, parent: Uuid) -> (u16, Value) {
    ctx.app
        .post_for_json(
            &format!("/api/v1/organizations/{organization}/move"),
            ctx.token(fixture::ADMIN),
            &json!({"parent_id": parent}),
        )
        .await
}

/// Inserts `count` draft pledges of `organization` straight into the database.
async fn bulk_insert(
    ctx: &Ctx,
    organization: &thidua::organizations::model::OrganizationRow,
    count: i64,
) {
    let creator = ctx.fixture.users[fixture::ADMIN];
    ctx.app.db.execute_sql(&format!(
            "INSERT INTO pledges (id, campaign_id, organization_id, organization_path, root_organization_id, \
             year, kind, field, title, deadline, created_by, created_at) \
             SELECT gen_random_uuid(), '{campaign}', '{id}', '{path}', '{root}', 2022, 'target', \
             'nong_thon_moi', 'Chỉ tiêu số ' || n, '2022-12-31', '{creator}', \
             now() - make_interval(secs => n) FROM generate_series(1, {count}) AS n",
            campaign = ctx.campaign,
            id = organization.id,
            path = organization.path,
            root = ctx.fixture.tree.p.id,
        ))
.await;
}

#[tokio::test]
async fn a_csv_export_spans_every_page_and_a_failure_midway_is_never_a_short_file() {
    let ctx = new_ctx().await;
    bulk_insert(&ctx, &ctx.fixture.tree.c2, 10_000).await;
    ctx.assert_a_csv_failing_midway_is_never_short(PLEDGES, ctx.token(fixture::C2_MANAGER), 10_001)
        .await;
}

/// `title_name` keeps its documented bound on a target pledge too (Schemathesis found a
/// 300-character one accepted there).
#[tokio::test]
async fn an_overlong_title_name_is_refused_on_every_kind() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    for kind in ["target", "title"] {
        let (status, body) = create_pledge(
            &ctx,
            ctx.token(fixture::C1_MANAGER),
            c1,
            json!({"kind": kind, "title_name": "x".repeat(301)}),
        )
        .await;
        assert_eq!(status, 422, "{kind}: {body}");
        assert!(
            body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|error| error["pointer"] == "/title_name"),
            "{kind}: {body}"
        );
    }
}
