//! The annual title cycle, part 1 (docs/api.md § Titles and awards): the shipped rule sets and
//! base salaries, persons visible within their subtree, year records, registrations, and
//! eligibility — the demo's answers of Xã Mỹ Chánh Hòa at the end of 2025, and every refusal.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::ctx::{id_of, pointers, texts_of};
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::titles::{
    REGISTRATIONS, create_person, first_error_detail, get_ok, person_named, post, put, record_2025,
    register_person, seed_demo as demo, unit_coded,
};
use crate::helpers::{TestApp, audit_count, status_and_json};

const RULE_SETS: &str = "/api/v1/rule-sets";

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    status_and_json(app.get(path, token).await).await
}

/// The app with the docs/security.md fixture loaded.
async fn fixture_app() -> (TestApp, Fixture) {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    (app, fixture)
}

async fn eligibility(
    app: &TestApp,
    token: &str,
    kind: &str,
    id: impl std::fmt::Display,
    title: &str,
) -> Value {
    get_ok(
        app,
        token,
        &format!(
            "/api/v1/eligibility?subject_type={kind}&subject_id={id}&title_code={title}&year=2025"
        ),
    )
    .await
}

fn check_of<'a>(answer: &'a Value, kind: &str) -> &'a Value {
    answer["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["condition"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} check in {answer}"))
}

#[tokio::test]
async fn the_shipped_rule_sets_and_base_salaries_are_there_after_migrate() {
    let (app, fixture) = fixture_app().await;
    let token = fixture.token(&app, fixture::C1_MEMBER).await;
    let all = get_ok(&app, &token, "/api/v1/rule-sets").await;
    let codes = texts_of(&all["items"], "code");
    assert_eq!(codes, ["nd-98-2023", "nd-152-2025"]);
    for (day, code) in [
        ("2025-06-30", "nd-98-2023"),
        ("2025-07-01", "nd-152-2025"),
        ("2026-12-06", "nd-152-2025"),
    ] {
        let on = get_ok(&app, &token, &format!("/api/v1/rule-sets?on={day}")).await;
        assert_eq!(on["items"].as_array().unwrap().len(), 1, "{day}: {on}");
        assert_eq!(on["items"][0]["code"], code, "{day}");
    }
    let none = get_ok(&app, &token, "/api/v1/rule-sets?on=2023-06-01").await;
    assert_eq!(none["items"], json!([]));
    // The figures of the issue's table, with the secondary sources marked.
    let decree = &all["items"][1];
    let title = |code: &str| {
        decree["titles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|title| title["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no {code}"))
    };
    for (code, multiple) in [
        ("lao_dong_tien_tien", 0.3),
        ("chien_si_thi_dua_co_so", 1.0),
        ("chien_si_thi_dua_tinh", 3.0),
        ("tap_the_lao_dong_tien_tien", 0.8),
        ("tap_the_lao_dong_xuat_sac", 1.5),
        ("co_thi_dua_tinh", 8.0),
    ] {
        assert_eq!(title(code)["reward_multiple"], json!(multiple), "{code}");
    }
    assert_eq!(
        title("chien_si_thi_dua_tinh")["vote"],
        json!({"threshold": {"numerator": 9, "denominator": 10}, "of": "members",
               "quorum": {"numerator": 2, "denominator": 3}, "secret_ballot": true})
    );
    assert!(
        title("chien_si_thi_dua_co_so")["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|source| source["figure"] == "vote threshold and quorum"
                && source["secondary"] == true)
    );
    let one = get_ok(
        &app,
        &token,
        &format!("/api/v1/rule-sets/{}", decree["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one["code"], "nd-152-2025");
    let salaries = get_ok(&app, &token, "/api/v1/base-salaries").await;
    let last = salaries["items"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["effective_from"], "2024-07-01");
    assert_eq!(last["amount"], 2_340_000);
}

#[tokio::test]
async fn the_demo_answers_who_may_be_proposed_at_the_end_of_2025() {
    let app = TestApp::spawn().await;
    let admin = demo(&app).await;
    let lan = person_named(&app, &admin, "Nguyễn Thị Lan").await;
    let hung = person_named(&app, &admin, "tran van hung").await;

    // Lan: CSTĐCS awarded 2023 and 2024, eligible in 2025 → chiến sĩ thi đua cấp tỉnh.
    let answer = eligibility(&app, &admin, "person", lan, "chien_si_thi_dua_tinh").await;
    assert_eq!(answer["eligible"], true, "{answer}");
    assert_eq!(answer["registered"], true);
    assert_eq!(answer["rule_set"]["code"], "nd-152-2025");
    assert_eq!(
        answer["rule_set"]["legal_basis"],
        json!([
            "Luật Thi đua, khen thưởng số 06/2022/QH15",
            "Nghị định 152/2025/NĐ-CP"
        ])
    );
    assert_eq!(
        check_of(&answer, "consecutive_years")["detail"],
        "chien_si_thi_dua_co_so in 3 of 3 consecutive years: 2023, 2024, 2025"
    );

    // Hùng: only 2024.
    let answer = eligibility(&app, &admin, "person", hung, "chien_si_thi_dua_tinh").await;
    assert_eq!(answer["eligible"], false, "{answer}");
    let chain = check_of(&answer, "consecutive_years");
    assert_eq!(chain["passed"], false);
    assert_eq!(
        chain["detail"],
        "chien_si_thi_dua_co_so in 2 of 3 consecutive years: 2024, 2025"
    );
    assert_eq!(chain["found"]["years_held"], json!([2024, 2025]));

    // The offices: one meets tập thể lao động xuất sắc, the other misses the 70 %.
    let office = unit_coded(&app, &admin, thidua::demo::titles::OFFICE_CODE).await;
    let economy = unit_coded(&app, &admin, thidua::demo::titles::ECONOMY_CODE).await;
    const COLLECTIVE_EXCELLENT: &str = "tap_the_lao_dong_xuat_sac";
    let answer = eligibility(&app, &admin, "organization", office, COLLECTIVE_EXCELLENT).await;
    assert_eq!(answer["eligible"], true, "{answer}");
    assert!(
        answer["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|check| check["passed"] == true)
    );
    let answer = eligibility(&app, &admin, "organization", economy, COLLECTIVE_EXCELLENT).await;
    assert_eq!(answer["eligible"], false, "{answer}");
    let failed: Vec<&str> = answer["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["passed"] == false)
        .map(|check| check["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["3 of 5 members (60%) hold lao_dong_tien_tien in 2025; at least 70% required"],
        "{answer}"
    );

    // The candidates of the commune: CSTĐCS for Lan, Hùng (both rated excellent) and Phúc (an
    // initiative), in the order they registered; CSTĐ tỉnh
    // for Lan alone, and Hùng among those who are not, with what fails.
    let commune = unit_coded(&app, &admin, thidua::demo::titles::COMMUNE_CODE).await;
    let names = |page: &Value| -> Vec<String> {
        let names = texts_of(&page["items"], "subject_name");
        names.into_iter().map(str::to_owned).collect()
    };
    let base = format!("/api/v1/eligibility/candidates?organization_id={commune}&year=2025");
    // The candidates for `title_code` (with more query parameters after it).
    let candidates = |title_code: &str| {
        let path = format!("{base}&title_code={title_code}");
        let (app, admin) = (&app, &admin);
        async move { get_ok(app, admin, &path).await }
    };
    let page = candidates("chien_si_thi_dua_co_so").await;
    assert_eq!(
        names(&page),
        ["Nguyễn Thị Lan", "Trần Văn Hùng", "Huỳnh Văn Phúc"],
        "{page}"
    );
    let page = candidates("chien_si_thi_dua_tinh").await;
    assert_eq!(names(&page), ["Nguyễn Thị Lan"]);
    assert_eq!(page["next_cursor"], Value::Null);
    let page = candidates("chien_si_thi_dua_tinh&eligible=false").await;
    assert_eq!(names(&page), ["Trần Văn Hùng"]);
    // Lao động tiên tiến: 7 of the 10 rated at least hoàn thành tốt; pages of 3 walk them all.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor
            .as_deref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page = candidates(&format!("lao_dong_tien_tien&limit=3{after}")).await;
        assert!(page["items"].as_array().unwrap().len() <= 3);
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    // Each once: the batches (4 registrations, then 8, …) never repeat nor skip one.
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 7, "{seen:?}");
    let collective = candidates(COLLECTIVE_EXCELLENT).await;
    assert_eq!(
        names(&collective),
        ["Văn phòng HĐND và UBND xã Mỹ Chánh Hòa"]
    );

    // Loading the demo again adds nothing.
    let rows = || {
        app.db.count(
            "SELECT (SELECT count(*) FROM persons) + (SELECT count(*) FROM title_registrations) \
             + (SELECT count(*) FROM awards)",
        )
    };
    let before = rows().await;
    thidua::demo::seed(&app.state).await.unwrap();
    let after = rows().await;
    assert_eq!(before, after);
    assert_eq!(app.db.rows("persons").await, 10);
}

#[tokio::test]
async fn a_revoked_award_breaks_the_chain_of_consecutive_years() {
    let app = TestApp::spawn().await;
    let admin = demo(&app).await;
    let lan = person_named(&app, &admin, "Nguyễn Thị Lan").await;
    let revoked = app
        .db
        .count(&format!(
            "WITH r AS (UPDATE awards SET revoked_at = now(), revocation_reason = 'criteria_not_met' \
             WHERE person_id = '{lan}' AND year = 2023 AND title_code = 'chien_si_thi_dua_co_so' RETURNING 1) \
             SELECT count(*) FROM r"
        ))
        .await;
    assert_eq!(revoked, 1);
    let answer = eligibility(&app, &admin, "person", lan, "chien_si_thi_dua_tinh").await;
    assert_eq!(answer["eligible"], false, "{answer}");
    assert_eq!(
        check_of(&answer, "consecutive_years")["detail"],
        "chien_si_thi_dua_co_so in 2 of 3 consecutive years: 2024, 2025"
    );
}

#[tokio::test]
async fn persons_are_seen_and_written_within_their_subtree_only() {
    let (app, fixture) = fixture_app().await;
    let c1_manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let c1_member = fixture.token(&app, fixture::C1_MEMBER).await;
    let d1_manager = fixture.token(&app, fixture::D1_MANAGER).await;
    let c2_manager = fixture.token(&app, fixture::C2_MANAGER).await;
    let c1 = fixture.tree.c1.id;
    let body = json!({"organization_id": c1, "full_name": "  Nguyễn   Văn An ", "position": "Công chức", "gender": "male"});

    let (status, problem) = post(&app, &c1_member, "/api/v1/persons", &body).await;
    assert_eq!(status, 403, "{problem}");
    let (status, problem) = post(&app, &c2_manager, "/api/v1/persons", &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(pointers(&problem), ["/organization_id"]);
    let (status, created) = post(&app, &c1_manager, "/api/v1/persons", &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["full_name"], "Nguyễn Văn An");
    let person = id_of(&created);
    assert_eq!(
        audit_count(&app, Some(&person.to_string()), Some("person.create")).await,
        1
    );

    let path = format!("/api/v1/persons/{person}");
    assert_eq!(get(&app, &d1_manager, &path).await.0, 200);
    assert_eq!(get(&app, &c1_member, &path).await.0, 200);
    assert_eq!(get(&app, &c2_manager, &path).await.0, 404);
    let (status, _) = get(&app, &c2_manager, &format!("{path}/years/2025")).await;
    assert_eq!(status, 404);

    // Lists: the district sees it in its subtree, the other district does not, q finds it.
    let of_d1 = format!("/api/v1/persons?organization_id={}", fixture.tree.d1.id);
    let page = get_ok(&app, &d1_manager, &format!("{of_d1}&subtree=true")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = get_ok(&app, &d1_manager, &of_d1).await;
    assert_eq!(page["items"], json!([]));
    let page = get_ok(&app, &c2_manager, "/api/v1/persons").await;
    assert_eq!(page["items"], json!([]));
    let page = get_ok(&app, &c1_member, "/api/v1/persons?q=van%20nguyen").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let of_c1 = format!("/api/v1/persons?organization_id={c1}");
    let (status, _) = get(&app, &c2_manager, &of_c1).await;
    assert_eq!(status, 404);

    // PATCH with If-Match; moving to a unit outside the caller's subtree is refused.
    let stale = app
        .request(reqwest::Method::PATCH, &path, Some(&c1_manager))
        .header("If-Match", "\"7\"")
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"position": "Phó Chủ tịch"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let cleared = json!({"position": null, "gender": null});
    let (status, updated) = app.patch_for_json(&path, &c1_manager, &cleared).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["position"], Value::Null);
    assert_eq!(updated["version"], 2);
    let elsewhere = json!({"organization_id": fixture.tree.c2.id});
    let (status, problem) = app.patch_for_json(&path, &c1_manager, &elsewhere).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(pointers(&problem), ["/organization_id"]);
}

#[tokio::test]
async fn year_records_are_written_by_the_right_hands_and_refuse_values_outside_the_lists() {
    let (app, fixture) = fixture_app().await;
    let c1_manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let d1_manager = fixture.token(&app, fixture::D1_MANAGER).await;
    let c2_manager = fixture.token(&app, fixture::C2_MANAGER).await;
    let person = create_person(&app, &c1_manager, fixture.tree.c1.id, "Lê Thị Bình").await;
    let path = format!("/api/v1/persons/{person}/years/2025");
    let record =
        json!({"completion_rating": "hoan_thanh_tot", "initiative": null, "discipline": "none"});

    let (status, body) = put(&app, &c1_manager, &path, &record).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["subject_type"], "person");
    assert_eq!(body["completion_rating"], "hoan_thanh_tot");
    let excellent = json!({"completion_rating": "hoan_thanh_xuat_sac"});
    let (status, body) = put(&app, &c1_manager, &path, &excellent).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["discipline"], "none");
    assert_eq!(
        get_ok(&app, &d1_manager, &path).await["completion_rating"],
        "hoan_thanh_xuat_sac"
    );

    // Outside the lists, outside the subtree, outside the years.
    let (status, problem) = put(
        &app,
        &c1_manager,
        &path,
        &json!({"completion_rating": "xuat_sac_lam"}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(pointers(&problem), ["/completion_rating"]);
    let (status, problem) = put(&app, &c1_manager, &path, &json!({"discipline": "phe_binh"})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(pointers(&problem), ["/discipline"]);
    let (status, _) = put(&app, &c2_manager, &path, &record).await;
    assert_eq!(status, 404);
    let (status, _) = put(
        &app,
        &c1_manager,
        &format!("/api/v1/persons/{person}/years/1999"),
        &record,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        get(
            &app,
            &c1_manager,
            &format!("/api/v1/persons/{person}/years/2024")
        )
        .await
        .0,
        404
    );

    // A unit's year is recorded by a higher unit, never by the unit itself.
    let unit_path = format!("/api/v1/organizations/{}/years/2025", fixture.tree.c1.id);
    let (status, problem) = put(&app, &c1_manager, &unit_path, &record).await;
    assert_eq!(status, 403, "{problem}");
    let (status, body) = put(&app, &d1_manager, &unit_path, &record).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["subject_type"], "organization");
    assert_eq!(
        get_ok(&app, &c1_manager, &unit_path).await["completion_rating"],
        "hoan_thanh_tot"
    );
}

#[tokio::test]
async fn registrations_are_checked_against_the_rule_set_in_force() {
    let (app, fixture) = fixture_app().await;
    let c1_manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let c2_manager = fixture.token(&app, fixture::C2_MANAGER).await;
    let person = create_person(&app, &c1_manager, fixture.tree.c1.id, "Trương Văn Cường").await;
    let (status, body) =
        register_person(&app, &c1_manager, &person, "lao_dong_tien_tien", 2025).await;
    assert_eq!(status, 201, "{body}");
    let (status, problem) =
        register_person(&app, &c1_manager, &person, "lao_dong_tien_tien", 2025).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "already_exists");

    // Refused: a title outside the rule set in force, a collective title for a person, a year
    // no rule set covers, a subject outside the caller's subtree.
    for (token, title, year, pointer, detail) in [
        (
            &c1_manager,
            "huan_chuong_lao_dong",
            2025,
            Some("/title_code"),
            Some("nd-152-2025"),
        ),
        (
            &c1_manager,
            "tap_the_lao_dong_xuat_sac",
            2025,
            None,
            Some("collective"),
        ),
        (&c1_manager, "lao_dong_tien_tien", 2010, Some("/year"), None),
        (
            &c2_manager,
            "lao_dong_tien_tien",
            2026,
            Some("/subject_id"),
            None,
        ),
    ] {
        let (status, problem) = register_person(&app, token, &person, title, year).await;
        assert_eq!(status, 422, "{title} {year}: {problem}");
        if let Some(pointer) = pointer {
            assert_eq!(pointers(&problem), [pointer], "{title} {year}");
        }
        if let Some(detail) = detail {
            assert!(first_error_detail(&problem).contains(detail), "{problem}");
        }
    }
    assert_eq!(app.db.rows("title_registrations").await, 1);

    // Registered, not yet rated: not eligible, and the check says why.
    let answer = eligibility(&app, &c1_manager, "person", &person, "lao_dong_tien_tien").await;
    assert_eq!(answer["eligible"], false);
    assert_eq!(
        check_of(&answer, "rating_at_least")["detail"],
        "no completion rating recorded for 2025; at least hoan_thanh_tot required"
    );
    let rated = json!({"completion_rating": "hoan_thanh_tot"});
    record_2025(&app, &c1_manager, &person, rated).await;
    let answer = eligibility(&app, &c1_manager, "person", &person, "lao_dong_tien_tien").await;
    assert_eq!(answer["eligible"], true, "{answer}");
    // Judged on a day of Decree 98/2023, the same year reads the older rule set.
    let older = get_ok(&app, &c1_manager, &format!("/api/v1/eligibility?subject_type=person&subject_id={person}&title_code=lao_dong_tien_tien&year=2025&on=2025-06-30")).await;
    assert_eq!(older["rule_set"]["code"], "nd-98-2023");
    let (status, _) = get(&app, &c2_manager, &format!("/api/v1/eligibility?subject_type=person&subject_id={person}&title_code=lao_dong_tien_tien&year=2025")).await;
    assert_eq!(status, 404);
    let page = get_ok(
        &app,
        &c1_manager,
        &format!("/api/v1/title-registrations?subject_id={person}"),
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = get_ok(&app, &c2_manager, "/api/v1/title-registrations").await;
    assert_eq!(page["items"], json!([]));
}

fn custom_rule_set(code: &str, from: &str, to: Option<&str>) -> Value {
    json!({
        "code": code,
        "name": "Quy chế thi đua, khen thưởng thử nghiệm",
        "legal_basis": ["Luật Thi đua, khen thưởng số 06/2022/QH15"],
        "effective_from": from,
        "effective_to": to,
        "titles": [
            {"code": "lao_dong_tien_tien", "name": "Lao động tiên tiến", "subject": "individual",
             "conferred_by": ["commune"], "conditions": [{"kind": "rating_at_least", "rating": "hoan_thanh"}],
             "vote": null, "quota": null, "reward_multiple": 0.3}
        ],
        "notes": null
    })
}

#[tokio::test]
async fn rule_sets_are_published_as_versions_and_bad_ones_are_refused() {
    let (app, fixture) = fixture_app().await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let d1_manager = fixture.token(&app, fixture::D1_MANAGER).await;

    let qc_2030 = custom_rule_set("qc-2030", "2030-01-01", None);
    let (status, _) = post(&app, &d1_manager, RULE_SETS, &qc_2030).await;
    assert_eq!(status, 403);
    // A condition outside the closed set, a title unknown to the set.
    let mut bad = qc_2030.clone();
    bad["titles"][0]["conditions"] = json!([{"kind": "likes_the_chairman"}]);
    let (status, problem) = post(&app, &admin, RULE_SETS, &bad).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        pointers(&problem)
            .iter()
            .all(|p| p.starts_with("/titles/0/conditions/0")),
        "{problem}"
    );
    let mut bad = qc_2030.clone();
    bad["titles"][0]["conditions"] = json!([{"kind": "holds_title", "title": "anh_hung_lao_dong"}]);
    let (status, problem) = post(&app, &admin, RULE_SETS, &bad).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(pointers(&problem), ["/titles/0/conditions/0/title"]);
    // Overlapping the current Decree 152/2025.
    let (status, problem) = post(&app, &admin, RULE_SETS, &qc_2030).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "rule_set_overlap");
    assert_eq!(app.db.rows("rule_sets").await, 2);

    // A corrected version of Decree 152/2025 ending in 2029, then the new rules from 2030.
    let current = get_ok(&app, &admin, "/api/v1/rule-sets?on=2026-01-01").await["items"][0].clone();
    let mut corrected = current.clone();
    for member in ["id", "version", "current", "supersedes", "created_at"] {
        corrected.as_object_mut().unwrap().remove(member);
    }
    corrected["effective_to"] = json!("2029-12-31");
    let (status, v2) = post(&app, &admin, RULE_SETS, &corrected).await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["supersedes"], current["id"]);
    let (status, created) = post(&app, &admin, RULE_SETS, &qc_2030).await;
    assert_eq!(status, 201, "{created}");
    let listed = get_ok(&app, &admin, "/api/v1/rule-sets?include_superseded=true").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 4);
    assert_eq!(
        get_ok(
            &app,
            &admin,
            &format!("/api/v1/rule-sets/{}", current["id"].as_str().unwrap())
        )
        .await["current"],
        false
    );

    // Once an award was decided under version 2, it is not superseded any more.
    app.db
        .count(&format!(
            "WITH a AS (INSERT INTO awards (id, organization_id, title_code, year, rule_set_id) \
             VALUES (gen_random_uuid(), '{}', 'giay_khen_tap_the', 2026, '{}') RETURNING 1) SELECT count(*) FROM a",
            fixture.tree.c1.id,
            v2["id"].as_str().unwrap()
        ))
        .await;
    corrected["notes"] = json!("a third version");
    let (status, problem) = post(&app, &admin, RULE_SETS, &corrected).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "rule_set_in_use");
}

#[tokio::test]
async fn a_restructuring_carries_the_persons_of_an_ended_unit_to_its_successor() {
    let (app, fixture) = fixture_app().await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let person = create_person(&app, &admin, fixture.tree.c3.id, "Phan Thị Dung").await;
    let reform = json!({
        "effective_on": "2025-07-01",
        "legal_basis": "Nghị quyết thử nghiệm",
        "steps": [{"op": "merge", "from": [{"id": fixture.tree.c3.id}],
                   "into": {"ref": "n", "name": "Xã Hợp Nhất", "kind": "commune", "code": "C13", "parent": {"id": fixture.tree.d1.id}}}]
    });
    let (status, applied) = post(&app, &admin, "/api/v1/restructurings", &reform).await;
    assert_eq!(status, 201, "{applied}");
    assert_eq!(applied["preview"]["carried"]["persons"], 1, "{applied}");
    // An ended unit is registered for no title of a year after its end (2024 is still its own).
    let register = |year: i32| {
        json!({"subject_type": "organization", "subject_id": fixture.tree.c3.id,
               "title_code": "tap_the_lao_dong_tien_tien", "year": year})
    };
    let (status, problem) = post(&app, &admin, REGISTRATIONS, &register(2026)).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        first_error_detail(&problem).contains("Xã Hợp Nhất"),
        "{problem}"
    );
    let (status, body) = post(&app, &admin, REGISTRATIONS, &register(2024)).await;
    assert_eq!(status, 201, "{body}");
    let moved = get_ok(&app, &admin, &format!("/api/v1/persons/{person}")).await;
    assert_ne!(moved["organization_id"], json!(fixture.tree.c3.id));
    // An ended unit takes no new persons, and says who took over.
    let newcomer = json!({"organization_id": fixture.tree.c3.id, "full_name": "Người mới"});
    let (status, problem) = post(&app, &admin, "/api/v1/persons", &newcomer).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        first_error_detail(&problem).contains("Xã Hợp Nhất"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_registration_and_a_person_follow_when_the_person_or_the_unit_moves() {
    let (app, fixture) = fixture_app().await;
    let tree = &fixture.tree;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let person = create_person(&app, &admin, tree.k1.id, "Đỗ Văn Theo").await;
    let (status, body) = register_person(&app, &admin, &person, "lao_dong_tien_tien", 2025).await;
    assert_eq!(status, 201, "{body}");
    let collective = json!({"subject_type": "organization", "subject_id": tree.c1.id,
                            "title_code": "tap_the_lao_dong_tien_tien", "year": 2025});
    let (status, body) = post(&app, &admin, REGISTRATIONS, &collective).await;
    assert_eq!(status, 201, "{body}");
    // Who the candidates of a unit's subtree are, by title: the person, the collective.
    let candidates = |unit: Uuid, title: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let mut subjects = Vec::new();
            for eligible in [true, false] {
                let page = get_ok(
                    app,
                    admin,
                    &format!(
                        "/api/v1/eligibility/candidates?organization_id={unit}&year=2025\
                         &title_code={title}&eligible={eligible}"
                    ),
                )
                .await;
                let items = page["items"].as_array().unwrap_or_else(|| panic!("{page}"));
                subjects.extend(
                    items
                        .iter()
                        .map(|item| item["subject_id"].as_str().unwrap().to_owned()),
                );
            }
            subjects
        }
    };
    // The persons listed in a unit's subtree (P, D1, C1: the head indexes; K1: the path range).
    let persons_in = |unit: Uuid| {
        let (app, admin) = (&app, &admin);
        async move {
            let page = get_ok(
                app,
                admin,
                &format!("/api/v1/persons?organization_id={unit}&subtree=true"),
            )
            .await;
            let items = page["items"].as_array().unwrap_or_else(|| panic!("{page}"));
            items
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let (person_id, c1_id) = (person.to_string(), tree.c1.id.to_string());
    for unit in [tree.p.id, tree.d1.id, tree.c1.id, tree.k1.id] {
        assert_eq!(persons_in(unit).await, std::slice::from_ref(&person_id));
    }
    assert!(persons_in(tree.d2.id).await.is_empty());
    assert_eq!(
        candidates(tree.d1.id, "lao_dong_tien_tien").await,
        std::slice::from_ref(&person_id)
    );
    assert_eq!(
        candidates(tree.d1.id, "tap_the_lao_dong_tien_tien").await,
        std::slice::from_ref(&c1_id)
    );
    assert!(
        candidates(tree.d2.id, "lao_dong_tien_tien")
            .await
            .is_empty()
    );

    // C1 (with K1 and the person) moves under D2: the registrations go with it.
    let (status, body) = post(
        &app,
        &admin,
        &format!("/api/v1/organizations/{}/move", tree.c1.id),
        &json!({"parent_id": tree.d2.id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        candidates(tree.d1.id, "lao_dong_tien_tien")
            .await
            .is_empty()
    );
    assert!(
        candidates(tree.d1.id, "tap_the_lao_dong_tien_tien")
            .await
            .is_empty()
    );
    assert_eq!(
        candidates(tree.d2.id, "lao_dong_tien_tien").await,
        std::slice::from_ref(&person_id)
    );
    assert_eq!(
        candidates(tree.d2.id, "tap_the_lao_dong_tien_tien").await,
        [c1_id]
    );
    assert!(persons_in(tree.d1.id).await.is_empty());
    for unit in [tree.p.id, tree.d2.id, tree.c1.id, tree.k1.id] {
        assert_eq!(persons_in(unit).await, std::slice::from_ref(&person_id));
    }

    // The person changes unit to C3 (under D1): the registration follows the person.
    let to_c3 = json!({"organization_id": tree.c3.id});
    let (status, body) = app
        .patch_for_json(&format!("/api/v1/persons/{person}"), &admin, &to_c3)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        candidates(tree.d1.id, "lao_dong_tien_tien").await,
        std::slice::from_ref(&person_id)
    );
    assert!(
        candidates(tree.d2.id, "lao_dong_tien_tien")
            .await
            .is_empty()
    );
    assert!(persons_in(tree.d2.id).await.is_empty());
    assert!(persons_in(tree.k1.id).await.is_empty());
    assert_eq!(
        persons_in(tree.c3.id).await,
        std::slice::from_ref(&person_id)
    );
    // Every registration and every person stands exactly at its unit.
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM persons p JOIN organizations o ON o.id = p.organization_id \
                 WHERE o.path <> p.organization_path"
            )
            .await,
        0
    );
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM title_registrations r JOIN organizations o \
                 ON o.id = coalesce((SELECT p.organization_id FROM persons p WHERE p.id = r.person_id), r.organization_id) \
                 WHERE o.path <> r.organization_path"
            )
            .await,
        0
    );
}
