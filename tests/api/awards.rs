//! The annual title cycle, part 2 (docs/api.md § Titles): council votes, award decisions with
//! every check, rewards from the base salary, quotas under concurrency, revocation breaking a
//! chain of consecutive years, the awards of a subject and `/stats/awards`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::helpers::ctx::{id_of, pointers, texts_of};
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::titles::{
    create_person, demo_commune, first_error_detail, get_all_ok, get_ok, kept_as_computed,
    person_named, post, record_2025, register_person,
};

const DECISIONS: &str = "/api/v1/award-decisions";

/// The demo loaded: the admin's token, the id of the demo's commune, and the commune's award
/// decisions of 2025.
async fn the_demo_decisions(app: &TestApp) -> (String, String, Value) {
    let (admin, commune) = demo_commune(app).await;
    let decisions = get_ok(
        app,
        &admin,
        &format!("{DECISIONS}?organization_id={commune}&year=2025"),
    )
    .await;
    (admin, commune, decisions)
}

/// The decision numbered `number` in a list of decisions.
fn numbered<'a>(decisions: &'a Value, number: &str) -> &'a Value {
    decisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["decision_no"] == number)
        .unwrap_or_else(|| panic!("no decision {number} in {decisions}"))
}

/// The award of `title_code` in a decision.
fn award_titled(decision: &Value, title_code: &str) -> Value {
    decision["awards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title_code"] == title_code)
        .cloned()
        .unwrap_or_else(|| panic!("no {title_code} in {decision}"))
}

/// The first failed check of the first refused award of a problem.
fn first_failed_check(problem: &Value) -> &str {
    problem["refused"][0]["failed"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no failed check in {problem}"))
}

#[tokio::test]
async fn the_demo_decides_2025_by_vote_decision_and_one_revocation() {
    let app = TestApp::spawn().await;
    let (admin, commune, decisions) = the_demo_decisions(&app).await;

    // The session: 9 members, 8 present; Hùng's 7 of 9 fails the 80 % of all members.
    let sessions = get_ok(
        &app,
        &admin,
        &format!("/api/v1/council-sessions?organization_id={commune}&year=2025"),
    )
    .await;
    let session = &sessions["items"][0];
    assert_eq!(
        (
            session["members_total"].as_i64(),
            session["members_present"].as_i64()
        ),
        (Some(9), Some(8))
    );
    let results: Vec<(String, bool, bool)> = session["ballots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["subject_name"].as_str().unwrap().to_owned(),
                b["quorum_met"] == true,
                b["passed"] == true,
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("Nguyễn Thị Lan".to_owned(), true, true),
            ("Trần Văn Hùng".to_owned(), true, false),
            ("Huỳnh Văn Phúc".to_owned(), true, true)
        ]
    );
    let hung = &session["ballots"][1];
    assert_eq!(
        hung["detail"],
        "7 of 9 (77.8%) approve; at least 80% of all members required"
    );

    // The decision of the commune chairman with its reward total (base salary 2 340 000).
    let decision = numbered(&decisions, thidua::demo::titles::DECISION_NO);
    assert_eq!(decision["base_salary"], 2_340_000);
    assert_eq!(decision["rule_set_code"], "nd-152-2025");
    assert_eq!(decision["awards"].as_array().unwrap().len(), 9);
    // 7 × 0.3 + 1.0 + 0.8 base salaries.
    assert_eq!(
        decision["reward_total"],
        7 * 702_000 + 2_340_000 + 1_872_000
    );
    let revoked = numbered(&decisions, thidua::demo::titles::REVOKED_NO);
    assert_eq!(revoked["awards"][0]["state"], "revoked");
    assert_eq!(
        revoked["awards"][0]["revocation_reason"],
        "criteria_not_met"
    );
    assert_eq!(revoked["recovery_total"], 702_000);

    // The awards of a person, and the aggregates of the commune.
    let lan = person_named(&app, &admin, "Nguyễn Thị Lan").await;
    let held = get_ok(&app, &admin, &format!("/api/v1/persons/{lan}/awards")).await;
    let titles: Vec<(i64, String)> = held["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["year"].as_i64().unwrap(),
                a["title_code"].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(year, _)| *year == 2025)
        .collect();
    assert_eq!(titles.len(), 2, "{held}");
    // The award statistics of the commune in 2025, with more query parameters when given.
    let award_stats = |more: &str| {
        let path = format!("/api/v1/stats/awards?organization_id={commune}&year=2025{more}");
        let (app, admin) = (&app, &admin);
        async move { get_ok(app, admin, &path).await }
    };
    let stats = award_stats("").await;
    assert_eq!(stats["awards"], 9, "{stats}");
    assert_eq!(stats["reward_total"], 7 * 702_000 + 2_340_000 + 1_872_000);
    let giay_khen = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "giay_khen")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            giay_khen["awards"].as_i64(),
            giay_khen["revoked"].as_i64(),
            giay_khen["recovery_total"].as_i64()
        ),
        (Some(0), Some(1), Some(702_000))
    );
    let by_type = award_stats("&group_by=subject_type").await;
    let keys = texts_of(&by_type["groups"], "key");
    assert_eq!(keys, ["organization", "person"]);
    let by_child = award_stats("&group_by=child").await;
    assert_eq!(
        by_child["groups"].as_array().unwrap().len(),
        2,
        "{by_child}"
    );

    // Loading the demo again decides nothing twice.
    thidua::demo::seed(&app.state).await.unwrap();
    assert_eq!(app.db.rows("award_decisions").await, 2);
}

/// A unit with a council and persons registered and rated for 2025: the commune C1 of the
/// fixture, its manager's token, and the persons' ids.
struct Year {
    app: TestApp,
    fixture: Fixture,
    manager: String,
    persons: Vec<String>,
}

/// Lao động tiên tiến and chiến sĩ thi đua cơ sở: the titles a commune confers on persons.
const BOTH_INDIVIDUAL_TITLES: &[&str] = &["lao_dong_tien_tien", "chien_si_thi_dua_co_so"];

async fn a_year_of_c1(count: usize, rating: &str, titles: &[&str]) -> Year {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let mut persons = Vec::new();
    for index in 0..count {
        let name = format!("Cán bộ {index}");
        let id = create_person(&app, &manager, fixture.tree.c1.id, &name).await;
        let record = json!({"completion_rating": rating, "initiative": "Sáng kiến"});
        record_2025(&app, &manager, &id, record).await;
        for title in titles {
            let (status, body) = register_person(&app, &manager, &id, title, 2025).await;
            assert_eq!(status, 201, "{body}");
        }
        persons.push(id);
    }
    Year {
        app,
        fixture,
        manager,
        persons,
    }
}

fn decision(issuer: Uuid, number: &str, awards: Vec<Value>, session: Option<&str>) -> Value {
    json!({"issuer_organization_id": issuer, "decision_no": number, "decided_on": "2025-12-20",
           "signer_name": "Chủ tịch", "council_session_id": session, "awards": awards})
}

fn award(person: &str, title: &str) -> Value {
    json!({"subject_type": "person", "subject_id": person, "title_code": title})
}

#[tokio::test]
async fn every_refused_award_is_named_with_its_failed_checks_and_nothing_is_stored() {
    let year = a_year_of_c1(2, "hoan_thanh_tot", BOTH_INDIVIDUAL_TITLES).await;
    let (app, manager) = (&year.app, &year.manager);
    let c1 = year.fixture.tree.c1.id;
    let d2_person = {
        let admin = year.fixture.token(app, fixture::ADMIN).await;
        create_person(app, &admin, year.fixture.tree.c2.id, "Người huyện khác").await
    };
    // 0: fine; 1: CSTĐCS without a vote; 2: a title of the province; 3: outside the subtree;
    // 4: the same title twice.
    let body = decision(
        c1,
        "1/QĐ-UBND",
        vec![
            award(&year.persons[0], "lao_dong_tien_tien"),
            award(&year.persons[0], "chien_si_thi_dua_co_so"),
            award(&year.persons[1], "chien_si_thi_dua_tinh"),
            award(&d2_person, "lao_dong_tien_tien"),
            award(&year.persons[0], "lao_dong_tien_tien"),
        ],
        None,
    );
    let (status, problem) = post(app, manager, DECISIONS, &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "award_not_allowed");
    assert_eq!(
        pointers(&problem),
        ["/awards/1", "/awards/2", "/awards/3", "/awards/4"]
    );
    let refused = problem["refused"].as_array().unwrap();
    let failed = |index: usize| {
        refused[index]["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(failed(0).contains("needs a council vote"), "{problem}");
    assert!(
        failed(1).contains("does not confer chien_si_thi_dua_tinh"),
        "{problem}"
    );
    assert!(
        failed(2).contains("outside the issuer's subtree"),
        "{problem}"
    );
    assert!(failed(3).contains("conferred twice"), "{problem}");
    assert_eq!(app.db.rows("award_decisions").await, 0);
    assert_eq!(app.db.rows("awards").await, 0);

    // A session below quorum carries nobody; bad ballot counts are refused.
    let (status, session) = post(app, manager, "/api/v1/council-sessions", &json!({
        "organization_id": c1, "year": 2025, "held_on": "2025-12-15", "members_total": 9, "members_present": 5})).await;
    assert_eq!(status, 201, "{session}");
    let session_id = id_of(&session);
    let ballots = format!("/api/v1/council-sessions/{session_id}/ballots");
    let ballot = |approve: i64, disapprove: i64| {
        json!({"subject_type": "person", "subject_id": year.persons[0],
        "title_code": "chien_si_thi_dua_co_so", "approve": approve, "disapprove": disapprove})
    };
    let (status, problem) = post(app, manager, &ballots, &ballot(6, 0)).await;
    assert_eq!(status, 422, "{problem}");
    let (status, problem) = post(app, manager, &ballots, &ballot(3, 1)).await;
    assert_eq!(status, 422, "{problem}");
    let (status, problem) = post(
        app,
        manager,
        &ballots,
        &json!({"subject_type": "person", "subject_id": year.persons[0],
        "title_code": "lao_dong_tien_tien", "approve": 5, "disapprove": 0}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        first_error_detail(&problem).contains("needs no council vote"),
        "{problem}"
    );
    let (status, body) = post(app, manager, &ballots, &ballot(5, 0)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["ballots"][0]["quorum_met"], false);
    assert_eq!(body["ballots"][0]["passed"], false);
    let (status, _) = post(app, manager, &ballots, &ballot(5, 0)).await;
    assert_eq!(status, 409);
    let (status, problem) = post(app, manager, "/api/v1/council-sessions", &json!({
        "organization_id": c1, "year": 2025, "held_on": "2025-12-15", "members_total": 9, "members_present": 10})).await;
    assert_eq!(status, 422, "{problem}");

    let body = decision(
        c1,
        "2/QĐ-UBND",
        vec![
            award(&year.persons[0], "lao_dong_tien_tien"),
            award(&year.persons[0], "chien_si_thi_dua_co_so"),
        ],
        Some(&session_id),
    );
    let (status, problem) = post(app, manager, DECISIONS, &body).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        first_failed_check(&problem).contains("below the quorum"),
        "{problem}"
    );

    // A decision numbered `number` conferring lao động tiên tiến on the person `index`.
    let advanced = |number: &str, index: usize| {
        let awards = vec![award(&year.persons[index], "lao_dong_tien_tien")];
        decision(c1, number, awards, None)
    };
    // A decision date outside every rule set; a duplicate number.
    let mut early = advanced("3/QĐ-UBND", 0);
    early["decided_on"] = json!("2023-12-20");
    early["year"] = json!(2023);
    let (status, problem) = post(app, manager, DECISIONS, &early).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(pointers(&problem), ["/decided_on"]);
    let ok = advanced("4/QĐ-UBND", 0);
    let (status, created) = post(app, manager, DECISIONS, &ok).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["awards"][0]["reward_amount"], 702_000);
    let again = advanced("4/QĐ-UBND", 1);
    let (status, problem) = post(app, manager, DECISIONS, &again).await;
    assert_eq!(status, 409, "{problem}");
    // The same title to the same subject in a later decision of the year.
    let twice = advanced("5/QĐ-UBND", 0);
    let (status, problem) = post(app, manager, DECISIONS, &twice).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        first_failed_check(&problem).contains("already holds"),
        "{problem}"
    );
    // Another commune's manager may not decide for C1.
    let other = year.fixture.token(app, fixture::C2_MANAGER).await;
    let (status, _) = post(app, &other, DECISIONS, &advanced("6/QĐ-UBND", 1)).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn two_concurrent_decisions_that_together_break_a_quota_exactly_one_succeeds() {
    // Seven advanced workers allow one chiến sĩ thi đua cơ sở (15 %); two decisions, each
    // conferring one on a different person, race.
    let year = a_year_of_c1(7, "hoan_thanh_xuat_sac", BOTH_INDIVIDUAL_TITLES).await;
    let (app, manager) = (&year.app, &year.manager);
    let c1 = year.fixture.tree.c1.id;
    let all: Vec<Value> = year
        .persons
        .iter()
        .map(|p| award(p, "lao_dong_tien_tien"))
        .collect();
    let (status, body) = post(
        app,
        manager,
        DECISIONS,
        &decision(c1, "10/QĐ-UBND", all, None),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, session) = post(app, manager, "/api/v1/council-sessions", &json!({
        "organization_id": c1, "year": 2025, "held_on": "2025-12-15", "members_total": 9, "members_present": 9})).await;
    let session_id = id_of(&session);
    for person in &year.persons[..2] {
        let (status, body) = post(app, manager, &format!("/api/v1/council-sessions/{session_id}/ballots"), &json!({
            "subject_type": "person", "subject_id": person, "title_code": "chien_si_thi_dua_co_so", "approve": 9, "disapprove": 0})).await;
        assert_eq!(status, 201, "{body}");
    }
    let first = decision(
        c1,
        "11/QĐ-UBND",
        vec![award(&year.persons[0], "chien_si_thi_dua_co_so")],
        Some(&session_id),
    );
    let second = decision(
        c1,
        "12/QĐ-UBND",
        vec![award(&year.persons[1], "chien_si_thi_dua_co_so")],
        Some(&session_id),
    );
    let (a, b) = tokio::join!(
        post(app, manager, DECISIONS, &first),
        post(app, manager, DECISIONS, &second)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422], "{} {}", a.1, b.1);
    let refused = if a.0 == 422 { &a.1 } else { &b.1 };
    assert!(
        first_failed_check(refused).contains("over the quota"),
        "{refused}"
    );
    assert_eq!(
        app.db
            .rows("awards WHERE title_code = 'chien_si_thi_dua_co_so'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_revocation_records_what_to_recover_and_is_not_repeated() {
    let app = TestApp::spawn().await;
    let (admin, _, decisions) = the_demo_decisions(&app).await;
    let lan = person_named(&app, &admin, "Nguyễn Thị Lan").await;
    let eligibility = format!(
        "/api/v1/eligibility?subject_type=person&subject_id={lan}&title_code=chien_si_thi_dua_tinh&year=2025"
    );
    assert_eq!(get_ok(&app, &admin, &eligibility).await["eligible"], true);
    let decision = numbered(&decisions, "215/QĐ-UBND");
    let cstdcs = award_titled(decision, "chien_si_thi_dua_co_so");
    let path = format!("{DECISIONS}/{}/revoke", id_of(decision));
    let (status, problem) = post(
        &app,
        &admin,
        &path,
        &json!({"reason": "lying", "note": "x"}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let (status, body) = post(
        &app,
        &admin,
        &path,
        &json!({"reason": "false_documents", "note": "Sáng kiến không có thật",
        "award_ids": [id_of(&cstdcs)]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recovery_total"], 2_340_000);
    // Revoked once: a second revocation of the same award names nothing held.
    let (status, _) = post(
        &app,
        &admin,
        &path,
        &json!({"reason": "fraud", "note": "again", "award_ids": [id_of(&cstdcs)]}),
    )
    .await;
    assert_eq!(status, 422);
    let awards = get_ok(&app, &admin, &format!("/api/v1/persons/{lan}/awards")).await;
    let revoked: Vec<&Value> = awards["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "revoked")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["recovery_amount"], 2_340_000);
}

#[tokio::test]
async fn award_statistics_are_kept_until_an_award_changes() {
    let app = &TestApp::spawn().await;
    let computing = &TestApp::spawn_beside(app, |settings| settings.answer_cache_bytes = 0).await;
    let (admin, commune, decisions) = the_demo_decisions(app).await;
    let admin = &admin;
    // Each instance signs its own tokens.
    let computing_admin = &computing.token("admin", thidua::demo::ADMIN_PASSWORD).await;
    let paths: Vec<String> = [
        "&year=2025",
        "&year=2025&group_by=child",
        "&year=2025&group_by=subject_type",
        "",
    ]
    .iter()
    .map(|more| format!("/api/v1/stats/awards?organization_id={commune}{more}"))
    .collect();
    let paths = &paths;
    let agree = |step: &'static str| {
        kept_as_computed((app, admin), (computing, computing_admin), paths, step)
    };
    let sql = |statement: &'static str| async move {
        let mut conn = app.state.db.write().await.unwrap();
        diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, statement)
            .await
            .unwrap();
    };

    let first = agree("first").await;
    assert_eq!(first[0]["awards"], 9, "{}", first[0]);
    // One weak ETag from both instances; naming it is answered 304 by either.
    let mut tags = Vec::new();
    for path in paths {
        let tag = app.etag_of(path, admin).await.expect("an ETag");
        assert!(tag.starts_with("W/\""), "{path}: {tag}");
        assert_eq!(
            computing.etag_of(path, computing_admin).await,
            Some(tag.clone())
        );
        for (instance, token) in [(app, admin), (computing, computing_admin)] {
            let response = instance.get_if_none_match(path, token, &tag).await;
            assert_eq!(response.status(), 304, "{path}");
        }
        tags.push(tag);
    }

    // Behind the version's back: the kept answers stay, the computed ones show it.
    sql("UPDATE award_tallies SET awards = awards + 1000").await;
    assert_eq!(get_all_ok(app, admin, paths).await, first, "kept");
    let computed = get_all_ok(computing, computing_admin, paths).await;
    for (index, path) in paths.iter().enumerate() {
        assert_ne!(computed[index], first[index], "{path}: computed");
    }
    sql("UPDATE award_tallies SET awards = awards - 1000").await;

    // A revocation is an award statement: it moves the version, and both answer it at once.
    let decision = numbered(&decisions, "215/QĐ-UBND");
    let award = award_titled(decision, "chien_si_thi_dua_co_so");
    let (status, body) = post(
        app,
        admin,
        &format!("{DECISIONS}/{}/revoke", id_of(decision)),
        &json!({"reason": "false_documents", "note": "Sáng kiến không có thật",
        "award_ids": [id_of(&award)]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let revoked = agree("after a revocation").await;
    for index in [0, 3] {
        assert_eq!(
            (
                revoked[index]["awards"].as_i64().unwrap(),
                revoked[index]["reward_total"].as_i64().unwrap()
            ),
            (
                first[index]["awards"].as_i64().unwrap() - 1,
                first[index]["reward_total"].as_i64().unwrap() - 2_340_000
            ),
            "{}",
            paths[index]
        );
    }
    for (path, tag) in paths.iter().zip(&tags) {
        let response = app.get_if_none_match(path, admin, tag).await;
        assert_eq!(response.status(), 200, "{path}: the ETag moved");
    }
}

#[tokio::test]
async fn a_decisions_list_exports_as_csv_and_xlsx_with_its_revocations() {
    let app = TestApp::spawn().await;
    let (admin, _, decisions) = the_demo_decisions(&app).await;
    let decision = numbered(&decisions, thidua::demo::titles::DECISION_NO);
    let decided = id_of(decision);
    let revoked = id_of(numbered(&decisions, thidua::demo::titles::REVOKED_NO));

    // The export of decision `id` as `format` (csv, xlsx).
    let export = |id: &str, format: &str| {
        let path = format!("{DECISIONS}/{id}/export.{format}");
        let (app, admin) = (&app, &admin);
        async move { app.get(&path, admin).await }
    };
    let response = export(&decided, "csv").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("award-decision.csv")
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 9, "{text}");
    let numbers: Vec<&str> = rows.iter().map(|row| &row[column("no")]).collect();
    assert_eq!(numbers, ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let rewards: i64 = rows
        .iter()
        .map(|row| row[column("reward_amount")].parse::<i64>().unwrap())
        .sum();
    assert_eq!(rewards, 7 * 702_000 + 2_340_000 + 1_872_000);
    let decided_on = decision["decided_on"].as_str().unwrap();
    assert!(
        rows.iter().all(
            |row| &row[column("decision_no")] == thidua::demo::titles::DECISION_NO
                && &row[column("decided_on")] == decided_on
        ),
        "{text}"
    );
    let lan = rows
        .iter()
        .find(|row| {
            &row[column("subject_name")] == "Nguyễn Thị Lan"
                && &row[column("title_code")] == "chien_si_thi_dua_co_so"
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(&lan[column("title_name")], "Chiến sĩ thi đua cơ sở");
    assert!(!lan[column("unit_name")].is_empty(), "{text}");
    assert_eq!(&lan[column("state")], "awarded");

    let response = export(&revoked, "csv").await;
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(&rows[0][column("state")], "revoked");
    assert_eq!(&rows[0][column("revocation_reason")], "criteria_not_met");
    assert_eq!(&rows[0][column("recovery_amount")], "702000");

    let response = export(&decided, "xlsx").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(response.bytes().await.unwrap().starts_with(b"PK"), "a zip");

    // Outside the caller's subtree, and no such decision: 404 alike.
    let missing = Uuid::now_v7();
    let response = export(&missing.to_string(), "csv").await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_commendation_cites_the_award_that_commended_it_and_one_award_backs_one_nomination() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let (tree, manager) = (
        &fixture.tree,
        fixture.token(&app, fixture::C1_MANAGER).await,
    );
    let reviewer = fixture.token(&app, fixture::C1_REVIEWER).await;
    let campaign = fixture.campaign(&app, &[("van_hoa", "Văn hóa")]).await;
    // The secretary of party cell K1, an advanced worker of 2025 by a decision of commune C1.
    let person = create_person(&app, &manager, tree.k1.id, "Lê Thị Bí Thư").await;
    record_2025(
        &app,
        &manager,
        &person,
        json!({"completion_rating": "hoan_thanh_tot"}),
    )
    .await;
    let (status, body) = register_person(&app, &manager, &person, "lao_dong_tien_tien", 2025).await;
    assert_eq!(status, 201, "{body}");
    let (status, decided) = post(
        &app,
        &manager,
        DECISIONS,
        &decision(
            tree.c1.id,
            "30/QĐ-UBND",
            vec![award(&person, "lao_dong_tien_tien")],
            None,
        ),
    )
    .await;
    assert_eq!(status, 201, "{decided}");
    let award_id = decided["awards"][0]["id"].as_str().unwrap().to_owned();

    // K1 nominates her (the name written differently), C1 reviews and recognizes.
    let recognized = |name: &'static str| {
        let (app, manager, reviewer) = (&app, &manager, &reviewer);
        async move {
            let (status, nomination) = post(
                app,
                manager,
                "/api/v1/nominations",
                &json!({
                "campaign_id": campaign, "nominating_organization_id": tree.k1.id, "year": 2025,
                "nominee_type": "individual", "nominee_name": name, "field": "van_hoa",
                "achievements": "Hoàn thành tốt nhiệm vụ"}),
            )
            .await;
            assert_eq!(status, 201, "{nomination}");
            let id = id_of(&nomination);
            for (token, action, body) in [
                (manager, "submit", None),
                (reviewer, "start-review", None),
                (reviewer, "reviews", Some(json!({"decision": "endorse"}))),
                (reviewer, "recognize", None),
            ] {
                let (status, body) = post(
                    app,
                    token,
                    &format!("/api/v1/nominations/{id}/{action}"),
                    &body.unwrap_or(json!({})),
                )
                .await;
                assert!(status == 200 || status == 201, "{action}: {body}");
            }
            id
        }
    };
    let nomination = recognized("le thi  BI THU").await;
    let commend = |number: &str, day: &str| {
        json!({"form": "giay_khen", "issuer_organization_id": tree.c1.id,
               "decision_no": number, "decided_on": day, "award_id": award_id})
    };
    // A citation must describe the award's decision.
    let commend_path = |nomination: &str| format!("/api/v1/nominations/{nomination}/commend");
    let wrong = commend("31/QĐ-UBND", "2025-12-21");
    let (status, problem) = post(&app, &reviewer, &commend_path(&nomination), &wrong).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(pointers(&problem), ["/decision_no", "/decided_on"]);
    let right = commend("30/QĐ-UBND", "2025-12-20");
    let (status, commended) = post(&app, &reviewer, &commend_path(&nomination), &right).await;
    assert_eq!(status, 200, "{commended}");
    assert_eq!(commended["commendation"]["award_id"], award_id.as_str());

    // The same award cannot commend a second nomination (nor another nominee).
    let other = recognized("Nguyễn Văn Khác").await;
    let (status, problem) = post(&app, &reviewer, &commend_path(&other), &right).await;
    assert_eq!(status, 422, "{problem}");
    let details = problem.to_string();
    assert!(details.contains("already commends nomination"), "{problem}");
    assert!(
        details.contains("another subject than the nominee"),
        "{problem}"
    );
    assert_eq!(
        app.db.rows("nominations WHERE award_id IS NOT NULL").await,
        1
    );
}
