//! docs/security.md lines that no other suite covers: rate limits per client address and per
//! principal (API4), `limit`/`sort`/`q` on every list, statement timeout and pool exhaustion,
//! HEAD, oversized headers, HTML security headers, 5xx bodies, signing keys at start-up (API8),
//! and database connections lost under way (Faults).

use std::time::Duration;

use reqwest::header::{ACCEPT, ETAG, IF_NONE_MATCH};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use thidua::config::{Environment, Settings};
use thidua::ratelimit::RateLimit;
use thidua::startup::Application;
use thidua::state::AppState;

use crate::helpers::TestApp;
use crate::helpers::app::test_settings;
use crate::helpers::arrange::{concrete_path, fixture_as, problem, spec};
use crate::helpers::db::TestDb;
use crate::helpers::fixture::{self, Fixture};

/// The `Retry-After` seconds of a response (panics when absent or not a number).
fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}", response.status()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Words that must never appear in an error body (docs/security.md API8).
fn assert_no_internals(text: &str) {
    for leak in [
        "SELECT",
        "INSERT",
        "relation",
        "statement timeout",
        "canceling",
        "diesel",
        "postgres",
        "deadpool",
        "src/",
        ".rs:",
        "panicked",
        "thidua::",
        "backtrace",
        env!("CARGO_PKG_VERSION"),
    ] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
    }
}

fn limit(text: &str) -> Option<RateLimit> {
    RateLimit::parse(text).unwrap()
}

async fn get_anonymous(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> Response {
    let mut request = app.request(Method::GET, path, None);
    if let Some(value) = forwarded_for {
        request = request.header("X-Forwarded-For", value);
    }
    request.send().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Rate limits (API4): per client address, per principal, trusted proxy header on and off

const ANY_PAGE: &str = "/api/v1/openapi.json";

/// An app allowing 3 requests an hour per client address and no limit per principal; with
/// `trusted_proxies`, the client address is read from X-Forwarded-For behind those networks.
async fn three_per_hour_per_address(trusted_proxies: Option<&str>) -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.rate_limit_per_ip = limit("3/h");
        settings.rate_limit_per_principal = None;
        if let Some(networks) = trusted_proxies {
            settings.trusted_proxy_header = Some("X-Forwarded-For".to_owned());
            settings.trusted_proxies = thidua::ratelimit::parse_networks(networks).unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn a_client_address_over_its_limit_gets_429_rate_limited_with_retry_after() {
    let app = three_per_hour_per_address(None).await;
    for _ in 0..3 {
        assert_eq!(get_anonymous(&app, ANY_PAGE, None).await.status(), 200);
    }
    let refused = get_anonymous(&app, ANY_PAGE, None).await;
    let wait = retry_after(&refused);
    // 3 per hour: the next request is allowed about 20 minutes later.
    assert!((60..=1200).contains(&wait), "Retry-After {wait}");
    let body = problem(refused, 429, "rate_limited").await;
    assert!(
        body["detail"].as_str().unwrap().contains("address"),
        "{body}"
    );

    // Every route counts, a token does not help, the probes stay exempt.
    let unknown = get_anonymous(&app, "/api/v1/nothing", None).await;
    problem(unknown, 429, "rate_limited").await;
    let with_token = app
        .request(Method::GET, "/api/v1/me", Some("not-even-a-token"))
        .send()
        .await
        .unwrap();
    problem(with_token, 429, "rate_limited").await;
    assert_eq!(get_anonymous(&app, "/healthz", None).await.status(), 200);
    assert_ne!(get_anonymous(&app, "/readyz", None).await.status(), 429);

    // The code has its page (from another instance: this address is used up here).
    let other = TestApp::spawn().await;
    assert_eq!(
        get_anonymous(&other, "/problems/rate_limited", None)
            .await
            .status(),
        200
    );
}

/// A header of `response`, as text (panics when absent).
fn header_text(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} on {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Partners pace themselves with the IETF headers (draft-ietf-httpapi-ratelimit-headers): both
/// policies on every limited response, what is left of each after the request (the principal's
/// only when a token counted), `r=0` on the 429, nothing on the exempt probes.
#[tokio::test]
async fn every_limited_response_states_the_policies_and_what_is_left_of_them() {
    let app = TestApp::spawn_with(|settings| {
        settings.rate_limit_per_ip = limit("6000/min");
        settings.rate_limit_per_principal = limit("3/h");
    })
    .await;
    let fixture = Fixture::load(&app).await;
    let manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let policy = r#""per-ip";q=6000;w=60, "per-principal";q=3;w=3600"#;

    let anonymous = get_anonymous(&app, ANY_PAGE, None).await;
    assert_eq!(header_text(&anonymous, "ratelimit-policy"), policy);
    let standing = header_text(&anonymous, "ratelimit");
    let per_ip: u32 = standing
        .strip_prefix(r#""per-ip";r="#)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("{standing}"))
        .parse()
        .unwrap();
    assert!(per_ip < 6000, "{standing}");
    assert!(!standing.contains("per-principal"), "{standing}");

    // 3 per hour: one request is 1200 s of the budget to refill.
    for (left, full_in) in [(2, 1200), (1, 2400), (0, 3600)] {
        let response = app.get("/api/v1/me", &manager).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header_text(&response, "ratelimit-policy"), policy);
        let standing = header_text(&response, "ratelimit");
        assert!(
            standing.starts_with(r#""per-ip";r="#)
                && standing.ends_with(&format!(r#", "per-principal";r={left};t={full_in}"#)),
            "{standing}"
        );
    }
    let refused = app.get("/api/v1/me", &manager).await;
    assert!(
        header_text(&refused, "ratelimit").ends_with(r#", "per-principal";r=0;t=3600"#),
        "{:?}",
        refused.headers()
    );
    assert_eq!(header_text(&refused, "ratelimit-policy"), policy);
    problem(refused, 429, "rate_limited").await;

    let probe = get_anonymous(&app, "/healthz", None).await;
    assert!(!probe.headers().contains_key("ratelimit"));
    assert!(!probe.headers().contains_key("ratelimit-policy"));
}

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_does_not_escape_the_limit() {
    // The test client (127.0.0.1) is not among the trusted proxies.
    let app = three_per_hour_per_address(Some("10.0.0.0/8")).await;
    for n in 1..=3 {
        let forged = format!("203.0.113.{n}");
        let response = get_anonymous(&app, ANY_PAGE, Some(&forged)).await;
        assert_eq!(response.status(), 200);
    }
    let refused = get_anonymous(&app, ANY_PAGE, Some("198.51.100.77")).await;
    problem(refused, 429, "rate_limited").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = three_per_hour_per_address(Some("127.0.0.1/32")).await;
    let first = Some("203.0.113.1");
    for _ in 0..3 {
        assert_eq!(get_anonymous(&app, ANY_PAGE, first).await.status(), 200);
    }
    problem(
        get_anonymous(&app, ANY_PAGE, first).await,
        429,
        "rate_limited",
    )
    .await;
    // Another client behind the proxy is not affected.
    let second = get_anonymous(&app, ANY_PAGE, Some("203.0.113.2")).await;
    assert_eq!(second.status(), 200);
    // An address the client prepended itself is not believed: the proxy appended the real one.
    let prepended = get_anonymous(&app, ANY_PAGE, Some("192.0.2.50, 203.0.113.1")).await;
    problem(prepended, 429, "rate_limited").await;
    // Without the header, the proxy itself is the client.
    assert_eq!(get_anonymous(&app, ANY_PAGE, None).await.status(), 200);
}

#[tokio::test]
async fn a_principal_over_its_limit_gets_429_whichever_of_its_tokens_it_uses() {
    let app = TestApp::spawn_with(|settings| {
        settings.rate_limit_per_ip = None;
        settings.rate_limit_per_principal = limit("3/h");
    })
    .await;
    let fixture = Fixture::load(&app).await;
    let manager = fixture.token(&app, fixture::C1_MANAGER).await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/me", &manager).await.status(), 200);
    }
    let refused = app.get("/api/v1/me", &manager).await;
    assert!(retry_after(&refused) >= 60);
    let body = problem(refused, 429, "rate_limited").await;
    assert!(body["detail"].as_str().unwrap().contains("user"), "{body}");

    // A fresh login (anonymous, so not counted) gives a new token of the same subject.
    let again = fixture.token(&app, fixture::C1_MANAGER).await;
    assert_ne!(again, manager);
    problem(app.get("/api/v1/me", &again).await, 429, "rate_limited").await;

    // Other users, partner clients and anonymous callers keep their own budgets.
    let member = fixture.token(&app, fixture::C1_MEMBER).await;
    assert_eq!(app.get("/api/v1/me", &member).await.status(), 200);
    let client = fixture.client_token(&app).await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/me", &client).await.status(), 200);
    }
    problem(app.get("/api/v1/me", &client).await, 429, "rate_limited").await;
    let anonymous = get_anonymous(&app, "/api/v1/me", None).await;
    assert_eq!(anonymous.status(), 401);
    // A forged token naming the limited subject is not counted against it: it is just refused.
    let forged = app.get("/api/v1/me", "eyJhbGciOiJub25lIn0.e30.").await;
    assert_eq!(forged.status(), 401);
}

#[test]
fn rate_limits_are_configured_from_the_environment_and_zero_disables_them() {
    let settings = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    };
    let defaults = settings(&[]).unwrap();
    assert!(defaults.rate_limit_per_ip.is_some());
    assert!(defaults.rate_limit_per_principal.is_some());
    assert!(defaults.trusted_proxy_header.is_none());

    let off = settings(&[
        ("THIDUA_RATE_LIMIT_PER_IP", "0"),
        ("THIDUA_RATE_LIMIT_PER_PRINCIPAL", "0"),
    ])
    .unwrap();
    assert_eq!(off.rate_limit_per_ip, None);
    assert_eq!(off.rate_limit_per_principal, None);

    let custom = settings(&[
        ("THIDUA_RATE_LIMIT_PER_IP", "50/s,burst=500"),
        ("THIDUA_TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
        ("THIDUA_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7"),
    ])
    .unwrap();
    assert_eq!(
        custom.rate_limit_per_ip,
        Some(RateLimit {
            count: 50,
            period: Duration::from_secs(1),
            burst: 500
        })
    );
    assert_eq!(custom.trusted_proxies.len(), 2);

    for refused in [
        // A header believed from anyone would let every client pick its address.
        vec![("THIDUA_TRUSTED_PROXY_HEADER", "X-Forwarded-For")],
        vec![("THIDUA_TRUSTED_PROXIES", "10.0.0.0/8")],
        vec![
            ("THIDUA_TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
            ("THIDUA_TRUSTED_PROXIES", "proxy.internal"),
        ],
        vec![("THIDUA_RATE_LIMIT_PER_IP", "lots")],
        vec![("THIDUA_RATE_LIMIT_PER_PRINCIPAL", "10/s,burst=0")],
        vec![("THIDUA_RATE_LIMIT_PER_MINUTE", "1200")],
    ] {
        assert!(settings(&refused).is_err(), "{refused:?} accepted");
    }
}

// ---------------------------------------------------------------------------------------------
// Lists (API4): `limit` and `sort` validated everywhere, `q` wildcards literal

#[tokio::test]
async fn every_list_refuses_a_limit_out_of_range_and_an_unknown_sort() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let some_id = uuid::Uuid::new_v4();
    let lists = [
        "/api/v1/users".to_owned(),
        "/api/v1/clients".to_owned(),
        "/api/v1/audit-events".to_owned(),
        "/api/v1/organizations".to_owned(),
        format!("/api/v1/organizations/{}/children", fixture.tree.p.id),
        "/api/v1/campaigns".to_owned(),
        "/api/v1/pledges".to_owned(),
        format!("/api/v1/pledges/{some_id}/progress"),
        "/api/v1/nominations".to_owned(),
        "/api/v1/exemplars".to_owned(),
        format!(
            "/api/v1/stats/leaderboard?organization_id={}",
            fixture.tree.p.id
        ),
    ];
    for list in &lists {
        let joiner = if list.contains('?') { '&' } else { '?' };
        for bad in ["0", "201", "-1", "abc", "1e3", "99999999999999999999"] {
            let response = app.get(&format!("{list}{joiner}limit={bad}"), &admin).await;
            problem(response, 400, "invalid_query").await;
        }
        for good in ["1", "200"] {
            let (status, body) = app
                .get_json(&format!("{list}{joiner}limit={good}"), &admin)
                .await;
            // Lists below a random id are 404; what matters is that the limit is accepted.
            assert!(
                status == 200 || status == 404,
                "{list} limit={good}: {body}"
            );
        }
    }
    for list in ["/api/v1/pledges", "/api/v1/nominations"] {
        for bad in [
            "title",
            "id",
            "created_at;drop",
            "created_at_sideways",
            "",
            "%27",
        ] {
            let response = app.get(&format!("{list}?sort={bad}"), &admin).await;
            let body = problem(response, 400, "invalid_query").await;
            assert_no_internals(&body.to_string());
        }
        for good in ["created_at", "created_at_desc", "-updated_at"] {
            let (status, body) = app.get_json(&format!("{list}?sort={good}"), &admin).await;
            assert_eq!(status, 200, "{list} sort={good}: {body}");
        }
    }
}

#[tokio::test]
async fn percent_and_underscore_in_q_match_only_themselves_on_every_searchable_list() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let campaign = fixture.campaign(&app, &[("van_hoa", "Văn hóa")]).await;
    for name in [
        "Tổ đạt 100% chỉ tiêu",
        "Tổ đạt 1000 chỉ tiêu",
        "Tổ A_B",
        "Tổ AXB",
    ] {
        let (status, body) = app
            .post_for_json(
                "/api/v1/nominations",
                &admin,
                &json!({
                    "campaign_id": campaign,
                    "nominating_organization_id": fixture.tree.c1.id,
                    "year": 2022,
                    "nominee_type": "collective",
                    "nominee_name": name,
                    "member_count": 12,
                    "field": "van_hoa",
                    "achievements": "Sinh hoạt đều đặn",
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let nominees = |page: &Value| -> Vec<String> {
        let mut names: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["nominee_name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    for (q, expected) in [
        ("%25", vec!["Tổ đạt 100% chỉ tiêu"]),
        ("100%25", vec!["Tổ đạt 100% chỉ tiêu"]),
        ("_", vec!["Tổ A_B"]),
        ("a_b", vec!["Tổ A_B"]),
    ] {
        let (status, page) = app
            .get_json(&format!("/api/v1/nominations?q={q}"), &admin)
            .await;
        assert_eq!(status, 200);
        assert_eq!(nominees(&page), expected, "q={q}");
    }
    // Users and campaigns: `%` is covered in their suites; `_` would match every row.
    for list in ["/api/v1/users", "/api/v1/campaigns"] {
        let (status, page) = app.get_json(&format!("{list}?q=_"), &admin).await;
        assert_eq!(status, 200);
        assert_eq!(page["items"], json!([]), "{list}?q=_");
    }
}

// ---------------------------------------------------------------------------------------------
// Database protections (API4): statement timeout, pool exhaustion

/// Holds `ACCESS EXCLUSIVE` locks on `tables` of the test database until dropped (rollback).
async fn lock_tables(db: &TestDb, tables: &str) -> tokio_postgres::Client {
    let client = db.client().await;
    client
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn a_query_stuck_longer_than_the_statement_timeout_is_a_503_not_a_hang() {
    let app = TestApp::spawn_with(|settings| {
        settings.db_statement_timeout = Duration::from_millis(700);
    })
    .await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    // Warm the pool so the connections exist before the tables are locked.
    assert_eq!(app.get("/api/v1/organizations", &admin).await.status(), 200);

    // Every query below waits for these locks; only the statement timeout ends the wait (the
    // lock timeout would answer 409 concurrent_update instead).
    let locks = lock_tables(&app.db, "organizations, pledges, nominations, campaigns").await;
    let mut responses = vec![
        app.get("/api/v1/organizations", &admin).await,
        app.get(
            &format!("/api/v1/organizations/{}", fixture.tree.c1.id),
            &admin,
        )
        .await,
        app.get("/api/v1/campaigns", &admin).await,
        app.get("/api/v1/pledges", &admin).await,
        app.get("/api/v1/nominations", &admin).await,
        app.get(
            &format!(
                "/api/v1/stats/overview?organization_id={}",
                fixture.tree.p.id
            ),
            &admin,
        )
        .await,
    ];
    responses.push(
        app.post_json(
            "/api/v1/organizations",
            &admin,
            &json!({"parent_id": fixture.tree.c1.id, "kind": "hamlet", "name": "Ấp Chờ"}),
        )
        .await,
    );
    for response in responses {
        let url = response.url().path().to_owned();
        assert!(retry_after(&response) >= 1, "{url}");
        let body = problem(response, 503, "service_unavailable").await;
        assert_no_internals(&body.to_string());
    }
    drop(locks);
    // The pool's connections are still good once the locks are gone.
    assert_eq!(app.get("/api/v1/organizations", &admin).await.status(), 200);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM organizations WHERE name = 'Ấp Chờ'")
            .await,
        0
    );
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after_quickly() {
    let app = TestApp::spawn_with(|settings| {
        settings.db_pool_size = 1;
        settings.db_acquire_timeout = Duration::from_millis(200);
    })
    .await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    // A client that gives up long before anything the test suite would call a hang.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let held = app.state.db.write().await.unwrap();
    for path in ["/api/v1/organizations", "/api/v1/pledges"] {
        let response = impatient
            .get(app.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("answered before the client's timeout");
        assert!(retry_after(&response) >= 1);
        let body = problem(response, 503, "service_unavailable").await;
        assert_no_internals(&body.to_string());
    }
    // Released, the connection serves again.
    drop(held);
    assert_eq!(app.get("/api/v1/organizations", &admin).await.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Misconfiguration (API8): 5xx bodies, HTML security headers, HEAD, oversized headers

#[tokio::test]
async fn a_server_error_body_carries_no_sql_path_or_version() {
    let (app, _, admin) = fixture_as(fixture::ADMIN).await;
    let client = app.db.client().await;
    client
        .batch_execute("ALTER TABLE campaigns RENAME TO campaigns_gone")
        .await
        .unwrap();
    let response = app.get("/api/v1/campaigns", &admin).await;
    assert!(!response.headers().contains_key("server"));
    let body = problem(response, 500, "internal_error").await;
    let text = body.to_string();
    assert_no_internals(&text);
    assert!(!text.contains("campaigns_gone"), "{text}");
    client
        .batch_execute("ALTER TABLE campaigns_gone RENAME TO campaigns")
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/campaigns", &admin).await.status(), 200);
}

#[tokio::test]
async fn html_pages_carry_a_content_security_policy() {
    let app = TestApp::spawn().await;
    for path in ["/docs/", "/docs/index.html", "/problems/rate_limited"] {
        let response = get_anonymous(&app, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("default-src"), "{path}: {policy}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body_on_every_get_route() {
    let (app, fixture, token) = fixture_as(fixture::C1_MANAGER).await;
    let c1 = format!("/api/v1/organizations/{}", fixture.tree.c1.id);

    for path in [
        c1.as_str(),
        "/api/v1/organizations",
        "/api/v1/me",
        "/healthz",
        "/api/v1/openapi.json",
        "/.well-known/jwks.json",
    ] {
        let get = app.get(path, &token).await;
        let head = app
            .request(Method::HEAD, path, Some(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        for name in ["content-type", "content-length", "etag", "cache-control"] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "{name} of HEAD {path}"
            );
        }
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} body");
        assert!(!get.bytes().await.unwrap().is_empty(), "GET {path} body");
    }

    // Conditional HEAD, authentication and exports behave as GET does.
    let etag = app.get(&c1, &token).await.headers()[ETAG].clone();
    let not_modified = app
        .request(Method::HEAD, &c1, Some(&token))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    let anonymous = app
        .request(Method::HEAD, "/api/v1/me", None)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let export = app
        .request(Method::HEAD, "/api/v1/pledges", Some(&token))
        .header(ACCEPT, "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(export.bytes().await.unwrap().is_empty());

    // HEAD where there is no GET is 405; Allow names HEAD wherever GET is served.
    let token_endpoint = app
        .request(Method::HEAD, "/api/v1/auth/token", None)
        .send()
        .await
        .unwrap();
    assert_eq!(token_endpoint.status(), 405);
    assert_eq!(token_endpoint.headers()["allow"], "POST");
    let wrong = app.delete("/api/v1/organizations", &token).await;
    let allow = wrong.headers()["allow"].to_str().unwrap().to_owned();
    assert_eq!(allow, "GET, HEAD, POST");
    problem(wrong, 405, "method_not_allowed").await;

    // The connection that carried the HEAD responses still serves whole bodies.
    let (status, me) = app.get_json("/api/v1/me", &token).await;
    assert_eq!(status, 200);
    assert!(me.is_object());
}

#[tokio::test]
async fn every_get_operation_of_the_spec_answers_head() {
    let app = TestApp::spawn().await;
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if item.get("get").is_none() {
            continue;
        }
        let concrete = concrete_path(path);
        let response = app
            .request(Method::HEAD, &concrete, None)
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), 405, "HEAD {path}");
        assert!(response.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
}

#[tokio::test]
async fn oversized_or_too_many_headers_are_refused_and_the_service_keeps_serving() {
    let app = TestApp::spawn().await;
    // actix-http refuses the head before any service runs: 431 with an empty body (or the
    // connection is closed while the client is still sending). Never a 5xx.
    let huge = app
        .http
        .get(app.url("/api/v1/me"))
        .header("X-Padding", "a".repeat(1024 * 1024))
        .send()
        .await;
    if let Ok(response) = huge {
        assert_eq!(response.status(), 431);
    }
    let mut many = app.http.get(app.url("/api/v1/me"));
    for n in 0..200 {
        many = many.header(format!("x-header-{n}"), "x");
    }
    if let Ok(response) = many.send().await {
        assert_eq!(response.status(), 431);
    }
    let response = get_anonymous(&app, "/api/v1/me", None).await;
    problem(response, 401, "unauthorized").await;
}

// ---------------------------------------------------------------------------------------------
// Start-up (API8): no service without a proper signing key outside development

fn production(db: &TestDb, key_file: Option<std::path::PathBuf>) -> Settings {
    test_settings(&db.url, |settings| {
        settings.environment = Environment::Production;
        settings.jwt_private_key_file = key_file;
    })
}

fn key_file(name: &str, contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("thidua-{}-{name}", uuid::Uuid::new_v4()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn production_refuses_to_start_without_a_valid_ed25519_signing_key() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let db = TestDb::new().await;

    let missing = AppState::from_settings(production(&db, None)).err();
    let missing = format!("{:#}", missing.expect("started without a key"));
    assert!(missing.contains("THIDUA_JWT_PRIVATE_KEY_FILE"), "{missing}");

    let absent_file = std::env::temp_dir().join(format!("thidua-{}", uuid::Uuid::new_v4()));
    let hmac_secret = key_file("secret", "secret\n");
    let pem_of_nothing = key_file(
        "empty.pem",
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
    );
    // An EC P-256 key: a real key, but not the Ed25519 the service signs with.
    let p256 = key_file(
        "p256.pem",
        "-----BEGIN PRIVATE KEY-----\n\
         MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPJXJxZLfXZCzOA7g\n\
         XK81gL13MNyThYaYIquJ9RJU7DOhRANCAATi/fMDvod4dt14CiveXlCKptn2azkL\n\
         KSosBGhxoeq2OS/DGlE/jonSD/pBsE0HwKJg62VC5Or/qgk/QeFrD9rm\n\
         -----END PRIVATE KEY-----\n",
    );
    for file in [&absent_file, &hmac_secret, &pem_of_nothing, &p256] {
        let refused = AppState::from_settings(production(&db, Some(file.clone()))).err();
        assert!(refused.is_some(), "started with {}", file.display());
        // Development does not accept a bad key file either.
        let mut development = production(&db, Some(file.clone()));
        development.environment = Environment::Development;
        assert!(AppState::from_settings(development).is_err());
    }

    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key.to_pkcs8_pem(Default::default()).unwrap();
    let good = key_file("ed25519.pem", &pem);
    let application = Application::build(production(&db, Some(good.clone())))
        .await
        .expect("a valid Ed25519 key is accepted");
    drop(application);
    for file in [hmac_secret, pem_of_nothing, p256, good] {
        let _ = std::fs::remove_file(file);
    }
}

// ---------------------------------------------------------------------------------------------
// Faults: database connections lost under way

#[tokio::test]
async fn killed_database_connections_fail_fast_with_503_and_the_pool_recovers() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    // Several pooled connections exist.
    let warm =
        futures_util::future::join_all((0..4).map(|_| app.get("/api/v1/organizations", &admin)))
            .await;
    assert!(warm.iter().all(|response| response.status() == 200));

    // What a PostgreSQL restart does to the service's connections.
    let killer = app.db.client().await;
    let killed: i64 = killer
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1);

    let mut created = Vec::new();
    let mut statuses = Vec::new();
    for n in 0..12 {
        let response = app
            .post_json(
                "/api/v1/organizations",
                &admin,
                &json!({"parent_id": fixture.tree.c3.id, "kind": "hamlet", "name": format!("Ấp {n}")}),
            )
            .await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(status == 201 || status == 503, "{status} {text}");
        assert_no_internals(&text);
        if status == 201 {
            let body: Value = serde_json::from_str(&text).unwrap();
            created.push(body["id"].as_str().unwrap().to_owned());
        }
        statuses.push(status);
    }
    // The pool replaced its dead connections by itself: the last requests succeed.
    assert!(
        statuses.iter().rev().take(4).all(|status| *status == 201),
        "{statuses:?}"
    );
    // Every acknowledged write is there.
    for id in created {
        assert_eq!(
            app.db
                .count(&format!(
                    "SELECT count(*) FROM organizations WHERE id = '{id}'"
                ))
                .await,
            1
        );
    }
}

#[tokio::test]
async fn a_query_in_flight_when_its_connection_is_killed_is_a_503() {
    let (app, _, admin) = fixture_as(fixture::ADMIN).await;
    let locks = lock_tables(&app.db, "organizations").await;
    let holder: i32 = locks
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let url = app.url("/api/v1/organizations");
    let http = app.http.clone();
    let token = admin.clone();
    let in_flight = tokio::spawn(async move { http.get(url).bearer_auth(token).send().await });
    // Wait until the request's query waits for the lock, then kill every service connection.
    let killer = app.db.client().await;
    let mut waiting = 0_i64;
    for _ in 0..200 {
        waiting = killer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(waiting, 1, "the request never reached the database");
    killer
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1",
            &[&holder],
        )
        .await
        .unwrap();
    let response = in_flight.await.unwrap().unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 503, "{text}");
    assert_no_internals(&text);
    drop(locks);
    // Each dead pooled connection fails one request fast (503) and is then replaced.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.get("/api/v1/organizations", &admin)
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(
        statuses
            .iter()
            .all(|status| *status == 200 || *status == 503),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
}

#[tokio::test]
async fn a_nul_character_in_any_query_parameter_is_400_not_a_server_error() {
    let (app, _, token) = fixture_as(fixture::ADMIN).await;
    // Each of these reached PostgreSQL, which refuses NUL in text, as a 500 (schemathesis).
    for path in [
        "/api/v1/pledges?q=a%00b",
        "/api/v1/pledges?field=x%00",
        "/api/v1/organizations?q=%00",
        "/api/v1/nominations?q=a%00",
        "/api/v1/exemplars?field=%00",
        "/api/v1/stats/titles?title_name=%00",
        "/api/v1/audit-events?entity_type=%00",
        "/api/v1/users?q=%00",
        "/api/v1/campaigns?q=%00",
    ] {
        let body = problem(app.get(path, &token).await, 400, "invalid_query").await;
        assert!(
            body["detail"].as_str().unwrap_or_default().contains("NUL"),
            "{path}: {body}"
        );
    }
}
