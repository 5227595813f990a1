//! Nominations and exemplars: the lifecycle from draft to commendation, object-level access
//! (docs/security.md API1), the higher-unit rule for reviews and recognition (API5), server-owned
//! properties (API3), the review tally, duplicate nominees, concurrency, idempotent retries,
//! exemplars readable by everyone and their followers.

use reqwest::Method;
use reqwest::header::{ACCEPT, IF_MATCH};
use serde_json::{Value, json};
use thidua::auth::principal::Role;
use uuid::Uuid;

use crate::helpers::ctx::{Ctx, id_of, ids, merged, pointer_set};
use crate::helpers::fixture;
use crate::helpers::status_and_json;

const NOMINATIONS: &str = "/api/v1/nominations";
const EXEMPLARS: &str = "/api/v1/exemplars";
/// A second reviewer at the province, for votes beside D1's reviewer and the admin.
const P_REVIEWER: &str = "p.reviewer";

async fn new_ctx() -> Ctx {
    Ctx::new(
        &[("van_hoa", "Văn hóa"), ("xay_dung_dang", "Xây dựng Đảng")],
        &[(P_REVIEWER, |tree| tree.p.id, Role::Reviewer)],
    )
    .await
}

impl Ctx {
    /// A valid creation body for `organization` with `overrides` merged in (`null` removes).
    fn nomination_body(&self, organization: Uuid, overrides: Value) -> Value {
        let body = json!({
            "campaign_id": self.campaign,
            "nominating_organization_id": organization,
            "year": 2022,
            "nominee_type": "collective",
            "nominee_name": "Câu lạc bộ Gương điển hình học tập và làm theo Bác",
            "member_count": 39,
            "field": "xay_dung_dang",
            "achievements": "Sinh hoạt đều đặn, nhân rộng mô hình",
            "evidence_urls": ["https://example.vn/bao-cao.pdf"]
        });
        merged(body, overrides)
    }

    async fn count(&self, sql: &str) -> i64 {
        self.app.db.count(sql).await
    }

    async fn audit_count(&self) -> i64 {
        crate::helpers::audit_count(&self.app, None, None).await
    }
}

async fn create(ctx: &Ctx, user: &str, organization: Uuid, overrides: Value) -> (u16, Value) {
    let body = ctx.nomination_body(organization, overrides);
    ctx.app
        .post_for_json(NOMINATIONS, ctx.token(user), &body)
        .await
}

/// Creates a nomination and returns its body (asserts 201).
async fn created(ctx: &Ctx, user: &str, organization: Uuid, overrides: Value) -> Value {
    let (status, body) = create(ctx, user, organization, overrides).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Creates a nomination and returns its id (asserts 201).
async fn created_id(ctx: &Ctx, user: &str, organization: Uuid, overrides: Value) -> String {
    id_of(&created(ctx, user, organization, overrides).await)
}

/// `POST /nominations/{id}/{action}`, with a JSON body when given.
async fn act(ctx: &Ctx, user: &str, id: &str, action: &str, body: Option<Value>) -> (u16, Value) {
    let response = ctx
        .post_action(NOMINATIONS, ctx.token(user), id, action, body)
        .await;
    status_and_json(response).await
}

async fn ok(ctx: &Ctx, user: &str, id: &str, action: &str, body: Option<Value>) -> Value {
    let (status, body) = act(ctx, user, id, action, body).await;
    assert_eq!(status, 200, "{action} by {user}: {body}");
    body
}

/// `action` (`reject`, `withdraw`) by `user`, giving `reason`.
async fn with_reason(ctx: &Ctx, user: &str, id: &str, action: &str, reason: &str) -> (u16, Value) {
    act(ctx, user, id, action, Some(json!({ "reason": reason }))).await
}

/// `commend` by `user` with `commendation`.
async fn commend_as(ctx: &Ctx, user: &str, id: &str, commendation: Value) -> (u16, Value) {
    act(ctx, user, id, "commend", Some(commendation)).await
}

async fn review(ctx: &Ctx, user: &str, id: &str, decision: &str) -> (u16, Value) {
    act(
        ctx,
        user,
        id,
        "reviews",
        Some(json!({"decision": decision, "comment": "Ý kiến"})),
    )
    .await
}

/// A C1 nomination submitted by C1's manager and put under review by D1's reviewer.
async fn under_review(ctx: &Ctx, overrides: Value) -> String {
    let nomination = created(ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, overrides).await;
    let id = id_of(&nomination);
    ok(ctx, fixture::C1_MANAGER, &id, "submit", None).await;
    let body = ok(ctx, fixture::D1_REVIEWER, &id, "start-review", None).await;
    assert_eq!(body["status"], "under_review");
    id
}

/// A recognized C1 nomination (an exemplar), endorsed by D1's reviewer.
async fn recognized(ctx: &Ctx, overrides: Value) -> String {
    let id = under_review(ctx, overrides).await;
    let (status, body) = review(ctx, fixture::D1_REVIEWER, &id, "endorse").await;
    assert_eq!(status, 201, "{body}");
    let body = ok(ctx, fixture::D1_REVIEWER, &id, "recognize", None).await;
    assert_eq!(body["status"], "recognized");
    id
}

/// An exemplar (see [`recognized`]) and a draft beside it, both of C1: their ids.
async fn exemplar_and_draft(ctx: &Ctx) -> (String, String) {
    let exemplar = recognized(ctx, json!({})).await;
    let draft = json!({"nominee_name": "Tổ hòa giải"});
    let c1 = ctx.fixture.tree.c1.id;
    let draft = created_id(ctx, fixture::C1_MANAGER, c1, draft).await;
    (exemplar, draft)
}

async fn get(ctx: &Ctx, user: &str, path: &str) -> (u16, Value) {
    ctx.app.get_json(path, ctx.token(user)).await
}

#[tokio::test]
async fn a_nomination_goes_from_draft_to_commended_with_one_audit_event_per_step() {
    let ctx = new_ctx().await;
    let nomination = created(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    assert_eq!(nomination["status"], "draft");
    assert_eq!(nomination["allowed_actions"], json!(["submit", "withdraw"]));
    let id = id_of(&nomination);

    ok(&ctx, fixture::C1_MANAGER, &id, "submit", None).await;
    ok(&ctx, fixture::D1_REVIEWER, &id, "start-review", None).await;
    let (status, _) = review(&ctx, fixture::D1_REVIEWER, &id, "endorse").await;
    assert_eq!(status, 201);
    ok(&ctx, fixture::D1_REVIEWER, &id, "recognize", None).await;
    let commended = ok(
        &ctx,
        fixture::D1_MANAGER,
        &id,
        "commend",
        Some(json!({
            "form": "giay_khen",
            "issuer_organization_id": ctx.fixture.tree.d1.id,
            "decision_no": "123/QĐ-UBND",
            "decided_on": "2022-12-20"
        })),
    )
    .await;

    assert_eq!(commended["status"], "commended");
    assert_eq!(commended["commendation"]["form"], "giay_khen");
    assert_eq!(commended["commendation"]["decision_no"], "123/QĐ-UBND");
    assert_eq!(commended["allowed_actions"], json!([]));
    assert_eq!(commended["version"], 5);
    let actions = ctx
        .count(&format!(
            "SELECT count(*) FROM audit_events WHERE entity_id = '{id}' AND action IN \
             ('nomination.create', 'nomination.submit', 'nomination.start_review', 'nomination.review', \
              'nomination.recognize', 'nomination.commend')"
        ))
        .await;
    assert_eq!(actions, 6);
}

#[tokio::test]
async fn a_manager_of_another_district_gets_404_for_everything_on_a_nomination() {
    let ctx = new_ctx().await;
    let draft = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let reviewing = under_review(
        &ctx,
        json!({"nominee_name": "Chi bộ ấp 3", "member_count": 12}),
    )
    .await;
    let audit_before = ctx.audit_count().await;
    let c2 = ctx.token(fixture::C2_MANAGER);

    let (status, _) = get(&ctx, fixture::C2_MANAGER, &format!("{NOMINATIONS}/{draft}")).await;
    assert_eq!(status, 404);
    let response = ctx
        .app
        .patch_json(
            &format!("{NOMINATIONS}/{draft}"),
            c2,
            &json!({"nominee_name": "Khác"}),
        )
        .await;
    assert_eq!(response.status(), 404);
    let response = ctx.app.delete(&format!("{NOMINATIONS}/{draft}"), c2).await;
    assert_eq!(response.status(), 404);
    for (id, action, body) in [
        (&draft, "submit", None),
        (&draft, "withdraw", Some(json!({"reason": "x"}))),
        (&reviewing, "recognize", None),
        (&reviewing, "reject", Some(json!({"reason": "x"}))),
        (&reviewing, "reviews", Some(json!({"decision": "oppose"}))),
    ] {
        let (status, body) = act(&ctx, fixture::C2_MANAGER, id, action, body).await;
        assert_eq!(status, 404, "{action}: {body}");
    }
    let (status, _) = get(
        &ctx,
        fixture::C2_MANAGER,
        &format!("{NOMINATIONS}/{reviewing}/reviews"),
    )
    .await;
    assert_eq!(status, 404);

    assert_eq!(ctx.audit_count().await, audit_before);
    assert_eq!(
        ctx.count("SELECT count(*) FROM nomination_reviews").await,
        0
    );
    let (_, unchanged) = get(&ctx, fixture::C1_MANAGER, &format!("{NOMINATIONS}/{draft}")).await;
    assert_eq!(unchanged["status"], "draft");
    assert_eq!(unchanged["version"], 1);
}

#[tokio::test]
async fn a_district_reviewer_reads_its_communes_nominations_but_not_another_districts() {
    let ctx = new_ctx().await;
    let c1 = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let c2 = created_id(&ctx, fixture::C2_MANAGER, ctx.fixture.tree.c2.id, json!({})).await;

    let (status, body) = get(&ctx, fixture::D1_REVIEWER, &format!("{NOMINATIONS}/{c1}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(&ctx, fixture::D1_REVIEWER, &format!("{NOMINATIONS}/{c2}")).await;
    assert_eq!(status, 404);
    let (status, page) = get(&ctx, fixture::D1_REVIEWER, NOMINATIONS).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&page), vec![c1]);
    let (status, _) = get(
        &ctx,
        fixture::D1_REVIEWER,
        &format!("{NOMINATIONS}?organization_id={}", ctx.fixture.tree.c2.id),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_reviewer_cannot_review_or_decide_on_its_own_units_nomination() {
    let ctx = new_ctx().await;
    let nomination = created(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let id = id_of(&nomination);
    ok(&ctx, fixture::C1_MANAGER, &id, "submit", None).await;

    let (status, body) = act(&ctx, fixture::C1_REVIEWER, &id, "start-review", None).await;
    assert_eq!(status, 403, "{body}");
    ok(&ctx, fixture::D1_REVIEWER, &id, "start-review", None).await;
    let audit_before = ctx.audit_count().await;
    let (status, body) = review(&ctx, fixture::C1_REVIEWER, &id, "endorse").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = act(&ctx, fixture::C1_REVIEWER, &id, "recognize", None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = with_reason(&ctx, fixture::C1_REVIEWER, &id, "reject", "Tự chấm").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(ctx.audit_count().await, audit_before);
    assert_eq!(
        ctx.count("SELECT count(*) FROM nomination_reviews").await,
        0
    );

    let (status, body) = review(&ctx, fixture::D1_REVIEWER, &id, "endorse").await;
    assert_eq!(status, 201, "{body}");
    let body = ok(&ctx, fixture::D1_REVIEWER, &id, "recognize", None).await;
    assert_eq!(body["status"], "recognized");
}

#[tokio::test]
async fn a_commune_reviewer_may_review_its_party_cells_nomination() {
    let ctx = new_ctx().await;
    let nomination = created(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.k1.id, json!({})).await;
    let id = id_of(&nomination);
    ok(&ctx, fixture::C1_MANAGER, &id, "submit", None).await;
    ok(&ctx, fixture::C1_REVIEWER, &id, "start-review", None).await;
    let (status, body) = review(&ctx, fixture::C1_REVIEWER, &id, "endorse").await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_member_cannot_write_or_submit_a_nomination() {
    let ctx = new_ctx().await;
    let (status, _) = create(&ctx, fixture::C1_MEMBER, ctx.fixture.tree.c1.id, json!({})).await;
    assert_eq!(status, 403);
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;

    let (status, body) = act(&ctx, fixture::C1_MEMBER, &id, "submit", None).await;

    assert_eq!(status, 403, "{body}");
    let (_, unchanged) = get(&ctx, fixture::C1_MANAGER, &format!("{NOMINATIONS}/{id}")).await;
    assert_eq!(unchanged["status"], "draft");
}

#[tokio::test]
async fn creating_for_a_unit_outside_the_subtree_leaves_no_row() {
    let ctx = new_ctx().await;
    let (status, body) = create(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c2.id, json!({})).await;
    assert!(
        status == 403 || status == 404 || status == 422,
        "{status} {body}"
    );
    assert_eq!(ctx.count("SELECT count(*) FROM nominations").await, 0);
}

#[tokio::test]
async fn server_owned_members_in_a_patch_are_refused_by_name() {
    let ctx = new_ctx().await;
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let audit_before = ctx.audit_count().await;

    let response = ctx
        .app
        .patch_json(
            &format!("{NOMINATIONS}/{id}"),
            ctx.token(fixture::C1_MANAGER),
            &json!({
                "nominee_name": "Tên mới",
                "status": "recognized",
                "version": 9,
                "id": Uuid::new_v4(),
                "nominating_organization_id": ctx.fixture.tree.c2.id,
                "created_by": Uuid::new_v4(),
                "recognized_at": "2022-01-01T00:00:00Z"
            }),
        )
        .await;
    let (status, problem) = status_and_json(response).await;

    assert_eq!(status, 422, "{problem}");
    let named = pointer_set(&problem);
    for member in [
        "status",
        "version",
        "id",
        "nominating_organization_id",
        "created_by",
        "recognized_at",
    ] {
        assert!(
            named.contains(&format!("/{member}")),
            "{member} not named in {problem}"
        );
    }
    let (_, unchanged) = get(&ctx, fixture::C1_MANAGER, &format!("{NOMINATIONS}/{id}")).await;
    assert_eq!(unchanged["status"], "draft");
    assert_eq!(unchanged["version"], 1);
    assert_eq!(
        unchanged["nominee_name"],
        "Câu lạc bộ Gương điển hình học tập và làm theo Bác"
    );
    assert_eq!(ctx.audit_count().await, audit_before);
}

#[tokio::test]
async fn a_draft_is_patched_with_if_match_and_then_no_longer_once_submitted() {
    let ctx = new_ctx().await;
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;
    let token = ctx.token(fixture::C1_MANAGER);
    let patch = |tag: &'static str, body: Value| {
        ctx.app
            .request(Method::PATCH, &format!("{NOMINATIONS}/{id}"), Some(token))
            .header(IF_MATCH, tag)
            .json(&body)
            .send()
    };

    let (status, _) =
        status_and_json(patch("\"7\"", json!({"member_count": 40})).await.unwrap()).await;
    assert_eq!(status, 412);
    let (status, body) = status_and_json(
        patch("\"1\"", json!({"member_count": 40, "achievements": null}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["member_count"], 40);
    assert_eq!(body["achievements"], Value::Null);
    assert_eq!(body["version"], 2);

    ok(&ctx, fixture::C1_MANAGER, &id, "submit", None).await;
    let (status, body) =
        status_and_json(patch("*", json!({"member_count": 41})).await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    let response = ctx.app.delete(&format!("{NOMINATIONS}/{id}"), token).await;
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn a_draft_can_be_deleted() {
    let ctx = new_ctx().await;
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;

    let response = ctx
        .app
        .delete(
            &format!("{NOMINATIONS}/{id}"),
            ctx.token(fixture::C1_MANAGER),
        )
        .await;

    assert_eq!(response.status(), 204);
    assert_eq!(ctx.count("SELECT count(*) FROM nominations").await, 0);
    assert_eq!(
        ctx.count(&format!("SELECT count(*) FROM audit_events WHERE entity_id = '{id}' AND action = 'nomination.delete'"))
            .await,
        1
    );
}

#[tokio::test]
async fn a_wrong_state_names_the_current_state_and_the_allowed_actions() {
    let ctx = new_ctx().await;
    let id = created_id(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, json!({})).await;

    let (status, problem) = act(&ctx, fixture::D1_REVIEWER, &id, "recognize", None).await;

    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "invalid_transition");
    assert_eq!(problem["current_status"], "draft");
    assert_eq!(problem["allowed_actions"], json!(["submit", "withdraw"]));
    let (status, problem) = review(&ctx, fixture::D1_REVIEWER, &id, "endorse").await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn two_concurrent_recognitions_give_one_success_and_one_audit_event() {
    let ctx = new_ctx().await;
    let id = under_review(&ctx, json!({})).await;
    let (status, _) = review(&ctx, fixture::D1_REVIEWER, &id, "endorse").await;
    assert_eq!(status, 201);
    let send = |user: &'static str| {
        ctx.app
            .request(
                Method::POST,
                &format!("{NOMINATIONS}/{id}/recognize"),
                Some(ctx.token(user)),
            )
            .header(IF_MATCH, "\"3\"")
            .send()
    };

    let (first, second) = tokio::join!(send(fixture::D1_REVIEWER), send(P_REVIEWER));

    let mut statuses = vec![
        first.unwrap().status().as_u16(),
        second.unwrap().status().as_u16(),
    ];
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(statuses[1] == 409 || statuses[1] == 412, "{statuses:?}");
    let recognitions = ctx
        .count(&format!(
            "SELECT count(*) FROM audit_events WHERE entity_id = '{id}' AND action = 'nomination.recognize'"
        ))
        .await;
    assert_eq!(recognitions, 1);
}

#[tokio::test]
async fn recognition_needs_an_endorsement_and_more_endorsements_than_oppositions() {
    let ctx = new_ctx().await;
    let id = under_review(&ctx, json!({})).await;

    let (status, problem) = act(&ctx, fixture::D1_REVIEWER, &id, "recognize", None).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "insufficient_endorsements");
    assert_eq!(
        problem["tally"],
        json!({"endorse": 0, "oppose": 0, "abstain": 0})
    );

    assert_eq!(
        review(&ctx, fixture::D1_REVIEWER, &id, "endorse").await.0,
        201
    );
    assert_eq!(review(&ctx, fixture::ADMIN, &id, "oppose").await.0, 201);
    let (status, problem) = act(&ctx, fixture::D1_REVIEWER, &id, "recognize", None).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "insufficient_endorsements");
    assert_eq!(
        problem["tally"],
        json!({"endorse": 1, "oppose": 1, "abstain": 0})
    );

    assert_eq!(review(&ctx, P_REVIEWER, &id, "endorse").await.0, 201);
    let (status, body) = act(&ctx, fixture::D1_REVIEWER, &id, "recognize", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "recognized");

    let (status, reviews) = get(
        &ctx,
        fixture::D1_REVIEWER,
        &format!("{NOMINATIONS}/{id}/reviews"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reviews["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        reviews["tally"],
        json!({"endorse": 2, "oppose": 1, "abstain": 0})
    );
}

#[tokio::test]
async fn a_reviewer_reviews_a_nomination_only_once() {
    let ctx = new_ctx().await;
    let id = under_review(&ctx, json!({})).await;
    assert_eq!(
        review(&ctx, fixture::D1_REVIEWER, &id, "endorse").await.0,
        201
    );

    let (status, problem) = review(&ctx, fixture::D1_REVIEWER, &id, "oppose").await;

    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "already_reviewed");
    assert_eq!(
        ctx.count("SELECT count(*) FROM nomination_reviews").await,
        1
    );
}

#[tokio::test]
async fn the_same_nominee_is_detected_despite_case_diacritics_and_spacing() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let spaced = json!({"nominee_name": "Câu lạc bộ  Gương điển hình"});
    let first = created(&ctx, fixture::C1_MANAGER, c1, spaced).await;
    assert_eq!(first["nominee_name"], "Câu lạc bộ Gương điển hình");

    let (status, problem) = create(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_name": " câu lạc bộ gương điển hình "}),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "duplicate_nomination");
    assert_eq!(problem["existing_id"], first["id"]);
    let (status, problem) = create(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_name": "CAU LAC BO GUONG DIEN HINH"}),
    )
    .await;
    assert_eq!(status, 409, "{problem}");

    // Another year, or another unit, is another nomination.
    let (status, body) = create(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_name": "câu lạc bộ gương điển hình", "year": 2023}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A withdrawn nomination no longer blocks.
    ok(
        &ctx,
        fixture::C1_MANAGER,
        &id_of(&first),
        "withdraw",
        Some(json!({"reason": "Nhập sai"})),
    )
    .await;
    let (status, body) = create(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_name": "câu lạc bộ gương điển hình"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(ctx.count("SELECT count(*) FROM nominations").await, 3);
}

#[tokio::test]
async fn a_collective_organization_is_nominated_once_and_renaming_into_a_duplicate_is_refused() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let k1 = ctx.fixture.tree.k1.id;
    created(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_name": "Chi bộ K1", "nominee_organization_id": k1, "member_count": null}),
    )
    .await;
    let (status, problem) = create(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_name": "Chi bộ ấp K1 (tên khác)", "nominee_organization_id": k1, "member_count": null}),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "duplicate_nomination");

    let other = created_id(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_name": "Tổ phụ nữ"}),
    )
    .await;
    let response = ctx
        .app
        .patch_json(
            &format!("{NOMINATIONS}/{other}"),
            ctx.token(fixture::C1_MANAGER),
            &json!({"nominee_name": "chi bo k1"}),
        )
        .await;
    let (status, problem) = status_and_json(response).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "duplicate_nomination");
}

#[tokio::test]
async fn nominee_rules_are_validated_against_the_type_campaign_and_tree() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let cases = [
        (json!({"member_count": null}), "/member_count"),
        (
            json!({"nominee_organization_id": ctx.fixture.tree.c2.id}),
            "/nominee_organization_id",
        ),
        (
            json!({"nominee_type": "individual", "nominee_position": "Bí thư"}),
            "/member_count",
        ),
        (json!({"member_count": 0}), "/member_count"),
        (json!({"field": "the_thao"}), "/field"),
        (json!({"nominee_name": "  "}), "/nominee_name"),
        (json!({"nominee_name": "x".repeat(301)}), "/nominee_name"),
        (json!({"year": 2019}), "/year"),
        (
            json!({"evidence_urls": ["javascript:alert(1)"]}),
            "/evidence_urls/0",
        ),
    ];
    for (overrides, pointer) in cases {
        let (status, problem) = create(&ctx, fixture::C1_MANAGER, c1, overrides.clone()).await;
        assert_eq!(status, 422, "{overrides}: {problem}");
        assert!(
            pointer_set(&problem).contains(pointer),
            "{overrides}: {problem}"
        );
    }
    assert_eq!(ctx.count("SELECT count(*) FROM nominations").await, 0);

    let individual = created(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_type": "individual", "nominee_name": "Nguyễn Văn A", "nominee_position": "Bí thư chi bộ",
               "nominee_organization_id": ctx.fixture.tree.k1.id, "member_count": null}),
    )
    .await;
    assert_eq!(individual["nominee_type"], "individual");
}

#[tokio::test]
async fn exemplars_are_readable_by_everyone_while_drafts_stay_in_their_subtree() {
    let ctx = new_ctx().await;
    let (exemplar, draft) = exemplar_and_draft(&ctx).await;

    let (status, body) = get(
        &ctx,
        fixture::C2_MANAGER,
        &format!("{NOMINATIONS}/{exemplar}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "recognized");
    let (status, _) = get(&ctx, fixture::C2_MANAGER, &format!("{NOMINATIONS}/{draft}")).await;
    assert_eq!(status, 404);
    let (status, page) = get(&ctx, fixture::C2_MANAGER, EXEMPLARS).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), vec![exemplar.clone()]);
    let (status, one) = get(
        &ctx,
        fixture::C2_MANAGER,
        &format!("{EXEMPLARS}/{exemplar}"),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["followers"], 0);
    let (status, _) = get(&ctx, fixture::C2_MANAGER, &format!("{EXEMPLARS}/{draft}")).await;
    assert_eq!(status, 404);
    // Still not theirs to act on, nor to read the deliberation of.
    let (status, _) = with_reason(&ctx, fixture::C2_MANAGER, &exemplar, "withdraw", "x").await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &ctx,
        fixture::C2_MANAGER,
        &format!("{NOMINATIONS}/{exemplar}/reviews"),
    )
    .await;
    assert_eq!(status, 404);
    // The subtree list stays the subtree's.
    let (_, page) = get(&ctx, fixture::C2_MANAGER, NOMINATIONS).await;
    assert!(ids(&page).is_empty(), "{page}");
}

#[tokio::test]
async fn a_commendation_is_issued_by_a_higher_unit_where_the_caller_holds_the_role() {
    let ctx = new_ctx().await;
    let id = recognized(&ctx, json!({})).await;
    let commend = |issuer: Uuid| json!({"form": "bang_khen", "issuer_organization_id": issuer, "decision_no": "45/QĐ-UBND", "decided_on": "2023-01-15"});
    for issuer in [
        ctx.fixture.tree.c2.id,
        ctx.fixture.tree.c1.id,
        ctx.fixture.tree.k1.id,
        Uuid::new_v4(),
    ] {
        let (status, problem) = commend_as(&ctx, fixture::D1_REVIEWER, &id, commend(issuer)).await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            pointer_set(&problem).contains("/issuer_organization_id"),
            "{problem}"
        );
    }
    let mut unnumbered = commend(ctx.fixture.tree.d1.id);
    unnumbered["decision_no"] = json!("");
    let (status, problem) = commend_as(&ctx, fixture::D1_REVIEWER, &id, unnumbered).await;
    assert_eq!(status, 422);
    assert!(pointer_set(&problem).contains("/decision_no"), "{problem}");
    // A higher unit, but not one where the district reviewer holds a role: not in its name.
    let (status, problem) = commend_as(
        &ctx,
        fixture::D1_REVIEWER,
        &id,
        commend(ctx.fixture.tree.p.id),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    // The nominating unit's own managers do not commend themselves.
    let (status, _) = commend_as(
        &ctx,
        fixture::C1_MANAGER,
        &id,
        commend(ctx.fixture.tree.p.id),
    )
    .await;
    assert_eq!(status, 403);

    let body = ok(
        &ctx,
        fixture::D1_REVIEWER,
        &id,
        "commend",
        Some(commend(ctx.fixture.tree.d1.id)),
    )
    .await;
    assert_eq!(body["status"], "commended");
    assert_eq!(
        body["commendation"]["issuer_organization_id"],
        json!(ctx.fixture.tree.d1.id)
    );
}

#[tokio::test]
async fn a_pledge_of_another_district_follows_an_exemplar_and_is_counted() {
    let ctx = new_ctx().await;
    let (exemplar, draft) = exemplar_and_draft(&ctx).await;
    let pledge = |exemplar_id: &str| {
        json!({
            "campaign_id": ctx.campaign,
            "organization_id": ctx.fixture.tree.c2.id,
            "year": 2022,
            "kind": "target",
            "field": "van_hoa",
            "title": "Thành lập câu lạc bộ học tập theo gương điển hình",
            "deadline": "2022-12-31",
            "exemplar_id": exemplar_id,
            "exemplar_relation": "learn"
        })
    };

    let c2_manager = ctx.token(fixture::C2_MANAGER);
    let (status, problem) = ctx
        .app
        .post_for_json("/api/v1/pledges", c2_manager, &pledge(&draft))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(pointer_set(&problem).contains("/exemplar_id"), "{problem}");
    let (status, body) = ctx
        .app
        .post_for_json("/api/v1/pledges", c2_manager, &pledge(&exemplar))
        .await;
    assert_eq!(status, 201, "{body}");

    let (status, page) = get(
        &ctx,
        fixture::C1_MANAGER,
        &format!("{EXEMPLARS}?campaign_id={}", ctx.campaign),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let item = &page["items"][0];
    assert_eq!(item["id"], json!(exemplar));
    assert_eq!(item["followers"], 1);
    assert_eq!(
        item["following_units"],
        json!([{"organization_id": ctx.fixture.tree.c2.id, "organization_name": "Xã C2", "relation": "learn"}])
    );
    let (_, one) = get(
        &ctx,
        fixture::C2_MANAGER,
        &format!("{EXEMPLARS}/{exemplar}"),
    )
    .await;
    assert_eq!(one["followers"], 1);
}

#[tokio::test]
async fn retrying_a_creation_with_the_same_idempotency_key_creates_one_row() {
    let ctx = new_ctx().await;
    let body = ctx.nomination_body(ctx.fixture.tree.c1.id, json!({}));
    let send = || {
        ctx.app
            .request(
                Method::POST,
                NOMINATIONS,
                Some(ctx.token(fixture::C1_MANAGER)),
            )
            .header("Idempotency-Key", "nomination-2022-clb")
            .json(&body)
            .send()
    };

    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first_body = first.text().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.status(), 201);
    let second_body = second.text().await.unwrap();

    assert_eq!(first_body, second_body);
    assert_eq!(ctx.count("SELECT count(*) FROM nominations").await, 1);
}

#[tokio::test]
async fn the_list_filters_searches_without_diacritics_sorts_and_exports() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let club = created_id(&ctx, fixture::C1_MANAGER, c1, json!({})).await;
    let cell = created_id(
        &ctx,
        fixture::C1_MANAGER,
        ctx.fixture.tree.k1.id,
        json!({"nominee_name": "Chi bộ Giồng Ké", "field": "van_hoa"}),
    )
    .await;
    let person = created_id(
        &ctx,
        fixture::C1_MANAGER,
        c1,
        json!({"nominee_type": "individual", "nominee_name": "Trần Thị Hòa", "member_count": null}),
    )
    .await;
    ok(&ctx, fixture::C1_MANAGER, &person, "submit", None).await;
    let user = fixture::D1_REVIEWER;

    let (_, page) = get(&ctx, user, &format!("{NOMINATIONS}?q=giong%20ke")).await;
    assert_eq!(ids(&page), vec![cell.clone()]);
    let (_, page) = get(
        &ctx,
        user,
        &format!("{NOMINATIONS}?nominee_type=individual"),
    )
    .await;
    assert_eq!(ids(&page), vec![person.clone()]);
    let (_, page) = get(&ctx, user, &format!("{NOMINATIONS}?status=submitted")).await;
    assert_eq!(ids(&page), vec![person.clone()]);
    let (_, page) = get(&ctx, user, &format!("{NOMINATIONS}?field=van_hoa")).await;
    assert_eq!(ids(&page), vec![cell.clone()]);
    let (_, page) = get(&ctx, user, &format!("{NOMINATIONS}?organization_id={c1}")).await;
    assert_eq!(ids(&page), vec![club.clone(), person.clone()]);
    let (_, page) = get(
        &ctx,
        user,
        &format!("{NOMINATIONS}?organization_id={c1}&subtree=true"),
    )
    .await;
    assert_eq!(ids(&page).len(), 3);
    let (_, page) = get(
        &ctx,
        user,
        &format!("{NOMINATIONS}?sort=updated_at_desc&limit=1"),
    )
    .await;
    assert_eq!(ids(&page), vec![person.clone()]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = get(
        &ctx,
        user,
        &format!("{NOMINATIONS}?sort=updated_at_desc&limit=5&cursor={cursor}"),
    )
    .await;
    assert_eq!(ids(&page), vec![cell.clone(), club.clone()]);
    // An `updated_at` cursor under the `created_at` order would skip rows: refused, as for
    // pledges (both lists share one scope).
    let (status, problem) = get(
        &ctx,
        user,
        &format!("{NOMINATIONS}?limit=5&cursor={cursor}"),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "invalid_query");
    let (status, _) = get(&ctx, user, &format!("{NOMINATIONS}?sort=nominee_key")).await;
    assert_eq!(status, 400);

    let response = ctx
        .app
        .request(Method::GET, NOMINATIONS, Some(ctx.token(user)))
        .header(ACCEPT, "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csv = response.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'), "BOM first");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("Chi bộ Giồng Ké"));
    let response = ctx
        .app
        .request(
            Method::GET,
            NOMINATIONS,
            Some(ctx.token(fixture::C2_MANAGER)),
        )
        .header(
            ACCEPT,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().starts_with(b"PK"));
}

#[tokio::test]
async fn two_concurrent_nominations_of_the_same_nominee_leave_one_row() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let first = ctx.nomination_body(c1, json!({"nominee_name": "Tổ tự quản Mỹ Hòa"}));
    let second = ctx.nomination_body(c1, json!({"nominee_name": "tổ tự quản  my hoa"}));
    let token = ctx.token(fixture::C1_MANAGER);

    let (a, b) = tokio::join!(
        ctx.app.post_json(NOMINATIONS, token, &first),
        ctx.app.post_json(NOMINATIONS, token, &second)
    );

    let (a, b) = (status_and_json(a).await, status_and_json(b).await);
    let mut statuses = vec![a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 409], "{a:?} {b:?}");
    let refused = if a.0 == 409 { a.1 } else { b.1 };
    assert_eq!(refused["code"], "duplicate_nomination");
    assert_eq!(ctx.count("SELECT count(*) FROM nominations").await, 1);
}
