//! `GET /metrics`: only with THIDUA_METRICS_TOKEN; requests labelled by route pattern, never by
//! raw ids; pool gauges for both pools; business counts equal to the rows in the database.

use std::collections::BTreeMap;

use reqwest::header::WWW_AUTHENTICATE;
use serde_json::{Value, json};
use uuid::Uuid;

use thidua::nominations::state::NominationStatus;
use thidua::pledges::state::PledgeStatus;

use crate::helpers::ctx::target_pledge;
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

const TOKEN: &str = "metrics-token-of-the-test-0123456789";

async fn app_with_token() -> TestApp {
    TestApp::spawn_with(|settings| settings.metrics_token = Some(TOKEN.to_owned())).await
}

/// The exposition text of the app, read with the metrics token.
async fn scrape(app: &TestApp) -> String {
    let response = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// One sample of the exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap();
                    (
                        key.to_owned(),
                        value.trim_matches('"').replace("\\\"", "\""),
                    )
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

/// The value of the sample named `name` whose labels include all of `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|sample| sample.value)
}

#[tokio::test]
async fn metrics_are_not_served_without_a_configured_token() {
    let app = TestApp::spawn().await;
    // With or without `Authorization`: the disabled route ignores it (the document says so).
    for token in [Some(TOKEN), None] {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let (status, body) = status_and_json(request.send().await.unwrap()).await;
        assert_eq!(status, 404, "{token:?}");
        assert_eq!(body["code"], "not_found");
    }
}

#[tokio::test]
async fn metrics_refuse_a_missing_or_wrong_token_and_an_access_token() {
    let app = app_with_token().await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    for token in [None, Some("not-the-metrics-token"), Some(admin.as_str())] {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert!(response.headers().contains_key(WWW_AUTHENTICATE));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
        assert!(!body.to_string().contains(TOKEN));
    }
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_and_never_by_raw_id() {
    let app = app_with_token().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::C1_MANAGER).await;
    let c1 = fixture.tree.c1.id;
    let missing = Uuid::new_v4();
    for _ in 0..3 {
        let response = app
            .get(&format!("/api/v1/organizations/{c1}"), &token)
            .await;
        assert_eq!(response.status(), 200);
    }
    let response = app.get(&format!("/api/v1/pledges/{missing}"), &token).await;
    assert_eq!(response.status(), 404);
    let response = app.get(&format!("/no/such/route/{missing}"), &token).await;
    assert_eq!(response.status(), 404);

    let text = scrape(&app).await;
    let samples = parse(&text);
    let organization = [("route", "/api/v1/organizations/{id}"), ("method", "GET")];
    assert_eq!(
        value(
            &samples,
            "thidua_http_requests_total",
            &[organization[0], organization[1], ("status", "200")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "thidua_http_request_duration_seconds_count",
            &[organization[0], organization[1], ("status_class", "2xx")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &samples,
            "thidua_http_request_duration_seconds_bucket",
            &[organization[0], organization[1], ("le", "+Inf")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &samples,
            "thidua_http_requests_total",
            &[
                ("route", "/api/v1/pledges/{id}"),
                ("method", "GET"),
                ("status", "404")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "thidua_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        Some(1.0)
    );
    // The login of the fixture went through the token endpoint.
    assert!(
        value(
            &samples,
            "thidua_http_requests_total",
            &[("route", "/api/v1/auth/token"), ("method", "POST")]
        )
        .is_some()
    );
    for raw in [c1.to_string(), missing.to_string(), "/no/such".to_owned()] {
        assert!(!text.contains(&raw), "{raw} appears in the metrics");
    }
    // Every route label is a template of the OpenAPI document, or `unmatched`.
    let spec: Value = serde_json::from_str(&thidua::openapi::document_json()).unwrap();
    for sample in samples
        .iter()
        .filter(|s| s.name.starts_with("thidua_http_"))
    {
        let route = &sample.labels["route"];
        assert!(
            route == "unmatched" || spec["paths"].get(route).is_some(),
            "{route} is not a route pattern"
        );
    }
}

#[tokio::test]
async fn pool_gauges_are_reported_for_the_primary_and_a_configured_replica() {
    let app = app_with_token().await;
    let samples = parse(&scrape(&app).await);
    let max = value(
        &samples,
        "thidua_db_pool_max_connections",
        &[("pool", "primary")],
    );
    assert_eq!(max, Some(4.0), "the test pool size");
    let in_use = value(
        &samples,
        "thidua_db_pool_connections",
        &[("pool", "primary"), ("state", "in_use")],
    )
    .unwrap();
    let idle = value(
        &samples,
        "thidua_db_pool_connections",
        &[("pool", "primary"), ("state", "idle")],
    )
    .unwrap();
    assert!(in_use + idle <= 4.0);
    assert!(value(&samples, "thidua_db_pool_waiting", &[("pool", "primary")]).is_some());
    // Without DATABASE_REPLICA_URL the replica is the primary: not reported twice.
    assert!(
        value(
            &samples,
            "thidua_db_pool_max_connections",
            &[("pool", "replica")]
        )
        .is_none()
    );

    let db_url = app.db.url.clone();
    let beside = TestApp::spawn_beside(&app, |settings| {
        settings.metrics_token = Some(TOKEN.to_owned());
        settings.database_replica_url = Some(db_url);
    })
    .await;
    let samples = parse(&scrape(&beside).await);
    for pool in ["primary", "replica"] {
        assert_eq!(
            value(
                &samples,
                "thidua_db_pool_max_connections",
                &[("pool", pool)]
            ),
            Some(4.0),
            "{pool}"
        );
        for state in ["in_use", "idle"] {
            assert!(
                value(
                    &samples,
                    "thidua_db_pool_connections",
                    &[("pool", pool), ("state", state)]
                )
                .is_some(),
                "{pool} {state}"
            );
        }
        assert!(value(&samples, "thidua_db_pool_waiting", &[("pool", pool)]).is_some());
    }
    // The business counts of that scrape ran on the replica pool, which now holds a connection.
    let samples = parse(&scrape(&beside).await);
    let replica_open: f64 = ["in_use", "idle"]
        .iter()
        .filter_map(|state| {
            value(
                &samples,
                "thidua_db_pool_connections",
                &[("pool", "replica"), ("state", state)],
            )
        })
        .sum();
    assert!(replica_open >= 1.0, "{replica_open}");
}

#[tokio::test]
async fn business_counts_equal_the_rows_by_status() {
    let app = app_with_token().await;
    let fixture = Fixture::load(&app).await;
    let campaign = fixture
        .campaign(&app, &[("nong_thon_moi", "Nông thôn mới")])
        .await;
    let manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let c1 = fixture.tree.c1.id;
    let mut pledges = Vec::new();
    for title in ["Đường giao thông", "Nước sạch", "Giảm nghèo"] {
        let body = target_pledge(campaign, c1, title);
        let (status, body) = app.post_for_json("/api/v1/pledges", &manager, &body).await;
        assert_eq!(status, 201, "{body}");
        pledges.push(body["id"].as_str().unwrap().to_owned());
    }
    let submit = format!("/api/v1/pledges/{}/submit", pledges[0]);
    let (status, body) = app.post_for_json(&submit, &manager, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post_for_json(
            "/api/v1/nominations",
            &manager,
            &json!({
                "campaign_id": campaign, "nominating_organization_id": c1, "year": 2022,
                "nominee_type": "collective", "nominee_name": "Câu lạc bộ điển hình",
                "member_count": 39, "field": "nong_thon_moi", "achievements": "Nêu gương"
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let samples = parse(&scrape(&app).await);
    let client = app.db.client().await;
    // Every status the tables allow (sql_schema checks the enums against their constraints).
    let pledge_statuses = PledgeStatus::ALL.map(PledgeStatus::as_str);
    let nomination_statuses = NominationStatus::ALL.map(NominationStatus::as_str);
    for (table, metric, statuses) in [
        ("pledges", "thidua_pledges", &pledge_statuses[..]),
        (
            "nominations",
            "thidua_nominations",
            &nomination_statuses[..],
        ),
    ] {
        for status in statuses {
            let actual: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE status = $1"),
                    &[status],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                value(&samples, metric, &[("status", status)]),
                Some(actual as f64),
                "{metric}{{status={status}}}"
            );
        }
    }
    assert_eq!(
        value(&samples, "thidua_pledges", &[("status", "draft")]),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "thidua_pledges", &[("status", "submitted")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "thidua_nominations", &[("status", "draft")]),
        Some(1.0)
    );
    assert!(value(&samples, "thidua_business_counts_age_seconds", &[]).unwrap() < 15.0);
}
