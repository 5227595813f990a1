//! Requests the service used to accept silently: unknown query parameters, query and path
//! values a problem did not name, bodies that trickle forever, an empty `Idempotency-Key`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::arrange::{app_with_fixture, fixture_as, revoke_json, token_form, token_json};
use crate::helpers::ctx::{merged, pointers};
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

#[tokio::test]
async fn an_empty_idempotency_key_is_refused_on_every_post_naming_the_header() {
    let (app, fixture) = app_with_fixture().await;
    let campaign = fixture.campaign(&app, &[("van_hoa", "Văn hóa")]).await;
    let manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let pledge = json!({
        "campaign_id": campaign, "organization_id": fixture.tree.c1.id, "year": 2022,
        "kind": "target", "field": "van_hoa", "title": "Khóa rỗng", "deadline": "2022-12-31"
    });
    let unit = json!({"parent_id": fixture.tree.c1.id, "kind": "hamlet", "name": "Ấp Khóa Rỗng"});
    for (path, token, body) in [
        ("/api/v1/pledges", &manager, &pledge),
        ("/api/v1/organizations", &admin, &unit),
    ] {
        for value in ["", " "] {
            let response = app
                .http
                .post(app.url(path))
                .bearer_auth(token)
                .header("Idempotency-Key", value)
                .json(body)
                .send()
                .await
                .unwrap();
            let (status, problem) = status_and_json(response).await;
            assert_eq!(status, 400, "{path} with {value:?}: {problem}");
            assert_eq!(problem["header"], "Idempotency-Key", "{problem}");
        }
    }
    assert_eq!(app.db.count("SELECT count(*) FROM pledges").await, 0);
}

#[tokio::test]
async fn a_body_that_trickles_is_answered_408_within_the_read_timeout() {
    let app = TestApp::spawn_with(|settings| {
        settings.body_read_timeout = Duration::from_millis(800);
    })
    .await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::ADMIN).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let body = r#"{"parent_id": null, "kind": "province", "name": "Tỉnh Chậm"}"#.as_bytes();
    let head = format!(
        "POST /api/v1/organizations HTTP/1.1\r\nHost: thidua.test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 200 ms: the whole body would take about 12 s.
    let trickle = tokio::spawn(async move {
        for byte in body.iter() {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n{") {
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    let elapsed = started.elapsed();
    trickle.abort();
    let text = String::from_utf8_lossy(&answer).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(
        elapsed < Duration::from_secs(4),
        "answered after {elapsed:?}"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM organizations WHERE name = 'Tỉnh Chậm'")
            .await,
        0
    );
    // A body sent at once is unaffected.
    let (status, created) = app
        .post_for_json(
            "/api/v1/organizations",
            &token,
            &serde_json::from_slice::<Value>(body).unwrap(),
        )
        .await;
    assert_eq!(status, 201, "{created}");
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_400_naming_it_on_every_route() {
    let (app, fixture, token) = fixture_as(fixture::D1_MANAGER).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let d1 = fixture.tree.d1.id;
    for (path, token) in [
        (
            format!("/api/v1/nominations?nominating_organization_id={d1}"),
            &token,
        ),
        (format!("/api/v1/pledges?organisation_id={d1}"), &token),
        (format!("/api/v1/organizations?parent={d1}"), &token),
        (
            format!(
                "/api/v1/stats/coverage?organization_id={d1}&campaign_id={d1}&year=2022&yaer=1"
            ),
            &token,
        ),
        ("/api/v1/users?role=admin".to_owned(), &admin),
        ("/api/v1/me?verbose=1".to_owned(), &token),
    ] {
        let problem = bad_request(&app, &path, token).await;
        assert_eq!(problem["code"], "invalid_query", "{path}");
        let name = problem["parameter"].as_str().unwrap_or_default().to_owned();
        assert!(
            !name.is_empty() && path.contains(&format!("{name}=")),
            "{path}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().starts_with(&name),
            "{problem}"
        );
    }
    // Documented parameters still pass.
    let (status, body) = app
        .get_json(&format!("/api/v1/organizations?parent_id={d1}"), &token)
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_bad_query_or_path_value_names_its_parameter_and_what_it_accepts() {
    let (app, fixture, token) = fixture_as(fixture::D1_MANAGER).await;
    let d1 = fixture.tree.d1.id;
    for (path, code, parameter, detail) in [
        (
            "/api/v1/pledges?year=20x2".to_owned(),
            "invalid_query",
            "year",
            "year must be an integer",
        ),
        (
            "/api/v1/pledges?organization_id=nope".to_owned(),
            "invalid_query",
            "organization_id",
            "organization_id must be a UUID",
        ),
        (
            format!("/api/v1/organizations?parent_id={d1}&active=maybe"),
            "invalid_query",
            "active",
            "active must be true or false",
        ),
        (
            "/api/v1/pledges?status=lost".to_owned(),
            "invalid_query",
            "status",
            "status must be one of",
        ),
        (
            "/api/v1/organizations/not-a-uuid".to_owned(),
            "invalid_path",
            "id",
            "id must be a UUID",
        ),
    ] {
        let problem = bad_request(&app, &path, &token).await;
        assert_eq!(problem["code"], code, "{path}: {problem}");
        assert_eq!(problem["parameter"], parameter, "{path}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().starts_with(detail),
            "{path}: {problem}"
        );
    }
}

/// The detail of the error at `pointer` in a 422's `errors[]`.
fn detail_at(problem: &Value, pointer: &str) -> String {
    problem["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|error| error["pointer"] == pointer))
        .and_then(|error| error["detail"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The problem of a response that must be a 422 (asserted).
async fn unprocessable(response: reqwest::Response) -> Value {
    let (status, problem) = status_and_json(response).await;
    assert_eq!(status, 422, "{problem}");
    problem
}

/// The problem of a GET of `path` that must be a 400 (asserted).
async fn bad_request(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, problem) = app.get_json(path, token).await;
    assert_eq!(status, 400, "{path}: {problem}");
    problem
}

/// A pledge in a fresh `van_hoa` campaign with `members`, posted by `token`: its 422 problem.
async fn pledge_refused(app: &TestApp, fixture: &Fixture, token: &str, members: Value) -> Value {
    let campaign = fixture.campaign(app, &[("van_hoa", "Văn hóa")]).await;
    let pledge = merged(json!({ "campaign_id": campaign }), members);
    unprocessable(app.post_json("/api/v1/pledges", token, &pledge).await).await
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_names_what_was_expected_in_plain_words() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let user = fixture.users[fixture::C1_MEMBER];
    // A bare array where an object with `memberships` is expected.
    let response = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{user}/memberships"),
            Some(&admin),
        )
        .json(&json!([{"organization_id": fixture.tree.c1.id, "role": "member"}]))
        .send()
        .await
        .unwrap();
    let problem = unprocessable(response).await;
    assert_eq!(pointers(&problem), ["/"], "{problem}");
    let detail = detail_at(&problem, "/");
    assert!(
        detail.starts_with("expected an object with `memberships`"),
        "{problem}"
    );
    assert!(
        !detail.contains("sequence") && !detail.contains("map"),
        "{problem}"
    );

    let manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let problem = pledge_refused(
        &app,
        &fixture,
        &manager,
        json!({
            "organization_id": fixture.tree.c1.id, "year": "2022", "kind": "target",
            "field": "van_hoa", "title": "Sai kiểu", "deadline": "2022-12-31"
        }),
    )
    .await;
    assert_eq!(pointers(&problem), ["/year"], "{problem}");
    assert_eq!(
        detail_at(&problem, "/year"),
        "must be an integer (not a string)"
    );
}

#[tokio::test]
async fn a_422_names_every_missing_and_invalid_member_at_once() {
    let (app, fixture, manager) = fixture_as(fixture::C1_MANAGER).await;
    let response = app
        .post_json("/api/v1/pledges", &manager, &json!({"year": 2024}))
        .await;
    let problem = unprocessable(response).await;
    let mut missing = pointers(&problem);
    missing.sort();
    assert_eq!(
        missing,
        [
            "/campaign_id",
            "/deadline",
            "/field",
            "/kind",
            "/organization_id"
        ],
        "{problem}"
    );
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|error| error["detail"] == "is required"),
        "{problem}"
    );

    // Four bad members and an unknown one: all five named, each at its pointer.
    let problem = pledge_refused(
        &app,
        &fixture,
        &manager,
        json!({
            "organization_id": "c1", "year": 2022.5, "kind": "promise", "field": "van_hoa",
            "title": "Bốn lỗi", "deadline": "31/12/2022", "status": "approved"
        }),
    )
    .await;
    let mut invalid = pointers(&problem);
    invalid.sort();
    assert_eq!(
        invalid,
        ["/deadline", "/kind", "/organization_id", "/status", "/year"],
        "{problem}"
    );
    assert_eq!(
        detail_at(&problem, "/deadline"),
        "must be a date YYYY-MM-DD"
    );
    assert_eq!(detail_at(&problem, "/organization_id"), "must be a UUID");
    assert!(
        detail_at(&problem, "/kind").starts_with("must be one of "),
        "{problem}"
    );
    assert_eq!(problem["detail"], "5 members of the request are invalid");
    assert_eq!(app.db.count("SELECT count(*) FROM pledges").await, 0);
}

/// The token request's string members have the `maxLength` the document states, enforced for
/// JSON and form bodies alike (422 naming each), and so has the revoke request's hint.
#[tokio::test]
async fn the_token_and_revoke_requests_refuse_members_longer_than_documented() {
    let app = TestApp::spawn().await;
    let response = token_json(
        &app,
        &json!({
            "grant_type": "password", "username": "u".repeat(65), "password": "p".repeat(129)
        }),
    )
    .await;
    let problem = unprocessable(response).await;
    assert_eq!(pointers(&problem), ["/username", "/password"], "{problem}");
    assert_eq!(
        detail_at(&problem, "/username"),
        "must be at most 64 characters"
    );

    let scope = "read ".repeat(60);
    let response = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "someone"),
            ("client_secret", "secret"),
            ("scope", scope.as_str()),
        ],
    )
    .await;
    let problem = unprocessable(response).await;
    assert_eq!(pointers(&problem), ["/scope"], "{problem}");

    // Within the bounds, the same requests are the grants' own refusals.
    let response = token_json(
        &app,
        &json!({
            "grant_type": "password", "username": "u".repeat(64), "password": "p".repeat(128)
        }),
    )
    .await;
    assert_eq!(response.status(), 401);

    let revoke = |hint: String| {
        let app = &app;
        async move { revoke_json(app, &json!({"token": "unknown", "token_type_hint": hint})).await }
    };
    let (status, problem) = revoke("h".repeat(65)).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["error"], "invalid_request", "{problem}");
    assert_eq!(revoke("refresh_token".to_owned()).await.0, 200);
}
