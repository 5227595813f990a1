//! Framework failures answer problem+json with the right status (docs/api.md "Errors", docs/security.md
//! API4 and API8).

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::arrange::{fixture_as, get_anonymously, problem};
use crate::helpers::ctx::{merged, pointers};
use crate::helpers::fixture;

/// Asserts that `response` is an RFC 9457 problem with `status` and `code`; returns its body.
async fn assert_problem(app: &TestApp, response: Response, status: u16, code: &str) -> Value {
    let header_request_id = response
        .headers()
        .get("x-request-id")
        .map(|id| id.to_str().unwrap().to_owned());
    let body = problem(response, status, code).await;
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert_eq!(
        body["request_id"].as_str(),
        header_request_id.as_deref(),
        "{body}"
    );
    // The `type` names a page the service serves.
    let page = app
        .http
        .get(app.url(body["type"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "no page for /problems/{code}");
    body
}

struct Admin {
    app: TestApp,
    token: String,
    parent_id: uuid::Uuid,
}

impl Admin {
    async fn new() -> Self {
        let (app, fixture, token) = fixture_as(fixture::ADMIN).await;
        Self {
            app,
            token,
            parent_id: fixture.tree.c1.id,
        }
    }

    /// POST /api/v1/organizations with a raw body and content type.
    async fn post_raw(
        &self,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self
            .app
            .request(Method::POST, "/api/v1/organizations", Some(&self.token))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send().await.unwrap()
    }

    async fn post_json_text(&self, body: impl Into<reqwest::Body>) -> Response {
        self.post_raw(Some("application/json"), body).await
    }

    async fn organization_count(&self) -> i64 {
        self.app
            .db
            .count("SELECT count(*) FROM organizations")
            .await
    }

    /// POSTs an organization `body` that must be refused as invalid: the 422 problem.
    async fn refused_validation(&self, body: &Value) -> Value {
        let response = self
            .app
            .post_json("/api/v1/organizations", &self.token, body)
            .await;
        assert_problem(&self.app, response, 422, "validation_failed").await
    }

    /// The valid body with `overrides` merged in.
    fn valid_with(&self, overrides: Value) -> Value {
        merged(self.valid(), overrides)
    }

    fn valid(&self) -> Value {
        json!({"parent_id": self.parent_id, "kind": "hamlet", "name": "Ấp Mới"})
    }
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_404() {
    let app = TestApp::spawn().await;
    let response = get_anonymously(&app, "/api/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["type"], "/problems/not_found");
}

#[tokio::test]
async fn unknown_routes_anywhere_are_problem_404s() {
    let app = TestApp::spawn().await;
    for path in [
        "/nothing",
        "/api/v2/organizations",
        "/api/v1/organizations/a/b/c/d",
    ] {
        let response = get_anonymously(&app, path).await;
        assert_problem(&app, response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .delete(app.url("/api/v1/organizations"))
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert_problem(&app, response, 405, "method_not_allowed").await;
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert!(!allow.contains("DELETE"), "{allow}");

    let response = app
        .http
        .put(app.url(&format!("/api/v1/organizations/{}", uuid::Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert_problem(&app, response, 405, "method_not_allowed").await;
    assert!(allow.contains("GET") && allow.contains("PATCH"), "{allow}");
}

/// An export path is a resource of its own: another method there is 405 with its `Allow`, never
/// the `/{id}` route beside it refusing `export.csv` as an id.
#[tokio::test]
async fn another_method_on_an_export_path_is_405_of_that_path() {
    let admin = Admin::new().await;
    let app = &admin.app;
    for path in [
        "/api/v1/pledges/export.csv",
        "/api/v1/pledges/export.xlsx",
        "/api/v1/nominations/export.csv",
        "/api/v1/nominations/export.xlsx",
    ] {
        for method in [reqwest::Method::PATCH, reqwest::Method::DELETE] {
            let response = app
                .http
                // With the export's own query too: `/{id}` takes none, but this is not `/{id}`.
                .request(method.clone(), app.url(&format!("{path}?year=2026")))
                .bearer_auth(&admin.token)
                .header("Content-Type", "application/merge-patch+json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let allow = response.headers()["allow"].to_str().unwrap().to_owned();
            assert_eq!(allow, "GET, HEAD", "{method} {path}");
            assert_problem(app, response, 405, "method_not_allowed").await;
        }
        let response = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET, HEAD", "OPTIONS {path}");
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let admin = Admin::new().await;
    let before = admin.organization_count().await;
    for body in [
        "{",
        "{\"name\": }",
        "not json",
        "",
        "   ",
        "{\"name\":\"a\"} trailing",
    ] {
        let response = admin.post_json_text(body).await;
        assert_problem(&admin.app, response, 400, "malformed_json").await;
    }
    assert_eq!(admin.organization_count().await, before);
}

#[tokio::test]
async fn an_unknown_member_is_422_naming_it() {
    let admin = Admin::new().await;
    let body = admin.valid_with(json!({"colour": "red"}));
    let problem = admin.refused_validation(&body).await;
    assert_eq!(pointers(&problem), vec!["/colour"]);
}

#[tokio::test]
async fn every_server_owned_member_is_named_at_once() {
    let admin = Admin::new().await;
    let before = admin.organization_count().await;
    let body = admin.valid_with(json!({
        "id": uuid::Uuid::new_v4(), "version": 7, "status": "approved",
        "created_at": "2020-01-01T00:00:00Z",
    }));
    let problem = admin.refused_validation(&body).await;
    let mut named = pointers(&problem);
    named.sort();
    assert_eq!(named, vec!["/created_at", "/id", "/status", "/version"]);
    assert_eq!(admin.organization_count().await, before);
}

#[tokio::test]
async fn a_wrong_type_or_missing_member_is_422_naming_it() {
    let admin = Admin::new().await;
    let wrong_type = admin.valid_with(json!({"kind": "planet"}));
    let problem = admin.refused_validation(&wrong_type).await;
    assert_eq!(pointers(&problem), vec!["/kind"]);

    let bad_id = admin.valid_with(json!({"parent_id": "not-a-uuid"}));
    let problem = admin.refused_validation(&bad_id).await;
    assert_eq!(pointers(&problem), vec!["/parent_id"]);

    let no_name = json!({"parent_id": admin.parent_id, "kind": "hamlet"});
    let problem = admin.refused_validation(&no_name).await;
    assert_eq!(pointers(&problem), vec!["/name"]);
}

#[tokio::test]
async fn a_malformed_path_value_is_400() {
    let admin = Admin::new().await;
    for (method, path) in [
        (Method::GET, "/api/v1/organizations/not-a-uuid"),
        (Method::GET, "/api/v1/organizations/1234/children"),
        (
            Method::POST,
            "/api/v1/organizations/%27%20OR%201=1/deactivate",
        ),
    ] {
        let response = admin
            .app
            .request(method, path, Some(&admin.token))
            .send()
            .await
            .unwrap();
        assert_problem(&admin.app, response, 400, "invalid_path").await;
    }
}

#[tokio::test]
async fn a_malformed_or_out_of_range_query_value_is_400() {
    let admin = Admin::new().await;
    for query in [
        "limit=abc",
        "limit=0",
        "limit=500",
        "limit=-1",
        "limit=99999999999999999999",
        "active=maybe",
        "kind=planet",
        "parent_id=42",
        "cursor=%%%not-a-cursor",
    ] {
        let response = admin
            .app
            .get(&format!("/api/v1/organizations?{query}"), &admin.token)
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body = assert_problem(&admin.app, response, 400, "invalid_query").await;
        assert!(body["detail"].is_string());
    }
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let admin = Admin::new().await;
    let before = admin.organization_count().await;
    let body = admin.valid_with(json!({"name": "x".repeat(300 * 1024)}));
    let response = admin.post_json_text(body.to_string()).await;
    assert_problem(&admin.app, response, 413, "payload_too_large").await;
    assert_eq!(admin.organization_count().await, before);
}

#[tokio::test]
async fn a_one_megabyte_string_is_refused_without_a_server_error() {
    let admin = Admin::new().await;
    let before = admin.organization_count().await;
    let body = admin.valid_with(json!({"name": "ệ".repeat(1024 * 1024 / 3)}));
    let response = admin.post_json_text(body.to_string()).await;
    assert_problem(&admin.app, response, 413, "payload_too_large").await;
    // Under the body limit, a long string is a validation error.
    let body = admin.valid_with(json!({"name": "ệ".repeat(60 * 1024)}));
    let response = admin.post_json_text(body.to_string()).await;
    let problem = assert_problem(&admin.app, response, 422, "validation_failed").await;
    assert_eq!(pointers(&problem), vec!["/name"]);
    assert_eq!(admin.organization_count().await, before);
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_is_415() {
    let admin = Admin::new().await;
    let body = admin.valid().to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        None,
    ] {
        let response = admin.post_raw(content_type, body.clone()).await;
        assert_problem(&admin.app, response, 415, "unsupported_media_type").await;
    }
    // Parameters and `+json` types are still JSON.
    let response = admin
        .post_raw(Some("application/json; charset=utf-8"), body.clone())
        .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn deep_nesting_and_huge_numbers_are_400() {
    let admin = Admin::new().await;
    let before = admin.organization_count().await;
    let unterminated = "[".repeat(10_000);
    let balanced = "[".repeat(10_000) + &"]".repeat(10_000);
    let nested_objects = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
    let mut in_member = admin.valid().to_string();
    in_member.insert_str(1, &format!("\"name\":{balanced},"));
    for (what, body) in [
        ("unterminated arrays", unterminated),
        ("balanced arrays", balanced),
        ("nested objects", nested_objects),
        ("nesting inside a member", in_member),
        (
            "1e999999",
            format!(
                "{{\"parent_id\":\"{}\",\"kind\":\"hamlet\",\"name\":1e999999}}",
                admin.parent_id
            ),
        ),
        ("bare 1e999999", "1e999999".to_owned()),
        ("-1e999999", "{\"name\":-1e999999}".to_owned()),
    ] {
        let response = admin.post_json_text(body).await;
        assert_eq!(response.status(), 400, "{what}");
        assert_problem(&admin.app, response, 400, "malformed_json").await;
    }
    assert_eq!(admin.organization_count().await, before);
}

#[tokio::test]
async fn a_nul_character_in_a_string_is_422() {
    let admin = Admin::new().await;
    let before = admin.organization_count().await;
    let body = format!(
        "{{\"parent_id\":\"{}\",\"kind\":\"hamlet\",\"name\":\"Ấp\\u0000Mới\"}}",
        admin.parent_id
    );
    let response = admin.post_json_text(body).await;
    let problem = assert_problem(&admin.app, response, 422, "validation_failed").await;
    assert_eq!(pointers(&problem), vec!["/name"]);
    let response = admin
        .post_json_text(format!(
            "{{\"parent_id\":\"{}\",\"kind\":\"hamlet\",\"name\":\"Ấp\",\"a\\u0000b\":1}}",
            admin.parent_id
        ))
        .await;
    assert_problem(&admin.app, response, 422, "validation_failed").await;
    assert_eq!(admin.organization_count().await, before);
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    let admin = Admin::new().await;
    let mut body = format!(
        "{{\"parent_id\":\"{}\",\"kind\":\"hamlet\",\"name\":\"",
        admin.parent_id
    )
    .into_bytes();
    body.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    let response = admin.post_json_text(body).await;
    assert_problem(&admin.app, response, 400, "malformed_json").await;
}

#[tokio::test]
async fn a_request_id_is_echoed_when_sent_and_generated_otherwise() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/api/v1/nothing-here"))
        .header("X-Request-Id", "support-ticket-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "support-ticket-42");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "support-ticket-42");

    let generated = |response: &Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let first = get_anonymously(&app, "/healthz").await;
    let second = get_anonymously(&app, "/healthz").await;
    assert!(!generated(&first).is_empty());
    assert_ne!(generated(&first), generated(&second));

    // A hostile id (too long, or with spaces) is replaced, not echoed.
    for hostile in ["a".repeat(500), "two words".to_owned()] {
        let response = app
            .http
            .get(app.url("/healthz"))
            .header("X-Request-Id", &hostile)
            .send()
            .await
            .unwrap();
        let id = generated(&response);
        assert_ne!(id, hostile);
        assert!(!id.is_empty());
    }
}

#[tokio::test]
async fn a_problem_page_is_html_with_a_content_security_policy() {
    let app = TestApp::spawn().await;
    let response = get_anonymously(&app, "/problems/validation_failed").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.headers().contains_key("content-security-policy"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let page = response.text().await.unwrap();
    assert!(page.contains("validation_failed"));

    // The catalogue's `code spans` are HTML code, not literal backticks.
    let page = get_anonymously(&app, "/problems/service_unavailable")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<code>Retry-After</code>"), "{page}");
    assert!(!page.contains('`'), "{page}");

    let response = get_anonymously(&app, "/problems/no_such_problem").await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn every_response_says_nosniff_and_authenticated_ones_are_not_stored() {
    let (app, fixture, token) = fixture_as(fixture::C1_MANAGER).await;
    let c1 = format!("/api/v1/organizations/{}", fixture.tree.c1.id);

    let anonymous = [
        get_anonymously(&app, "/healthz").await,
        get_anonymously(&app, "/api/v1/me").await,
        get_anonymously(&app, "/nothing").await,
        get_anonymously(&app, "/.well-known/jwks.json").await,
        get_anonymously(&app, "/api/v1/openapi.json").await,
    ];
    for response in &anonymous {
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{}",
            response.url()
        );
    }

    let authenticated = [
        app.get("/api/v1/me", &token).await,
        app.get(&c1, &token).await,
        app.get("/api/v1/organizations", &token).await,
        // Refusals of authenticated requests are not stored either.
        app.post_json(
            "/api/v1/organizations",
            &token,
            &json!({"parent_id": fixture.tree.d2.id, "kind": "hamlet", "name": "X"}),
        )
        .await,
        app.get("/api/v1/organizations/not-a-uuid", &token).await,
    ];
    for response in &authenticated {
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{}",
            response.url()
        );
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{}",
            response.url()
        );
    }
    // Token responses carry tokens: never stored.
    let login = app
        .login(
            fixture::C1_MANAGER,
            &fixture::password_of(fixture::C1_MANAGER),
        )
        .await;
    assert_eq!(login.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn error_bodies_carry_no_internals() {
    let admin = Admin::new().await;
    let mut responses = Vec::new();
    responses.push(admin.post_json_text("{\"name\": ").await);
    responses.push(
        admin
            .app
            .get("/api/v1/organizations?limit=abc", &admin.token)
            .await,
    );
    responses.push(
        admin
            .app
            .get("/api/v1/organizations/zzz", &admin.token)
            .await,
    );
    let duplicate = admin.valid_with(json!({"code": "C1"}));
    responses.push(
        admin
            .app
            .post_json("/api/v1/organizations", &admin.token, &duplicate)
            .await,
    );
    for response in responses {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!((400..500).contains(&status), "{status} {text}");
        for leak in [
            "SELECT",
            "INSERT",
            "diesel",
            "postgres",
            "src/",
            ".rs:",
            "panicked",
            "thidua::",
            "organizations_code_key",
        ] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}

#[tokio::test]
async fn cross_origin_requests_are_allowed_only_for_configured_origins() {
    let app = TestApp::spawn_with(|settings| {
        settings.cors_origins = vec!["https://app.thidua.test".to_owned()];
    })
    .await;
    let preflight = |origin: &str| {
        app.http
            .request(Method::OPTIONS, app.url("/api/v1/organizations"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.thidua.test").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.thidua.test"
    );

    let refused = preflight("https://evil.test").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert_problem(&app, refused, 400, "bad_request").await;

    let simple = app
        .http
        .get(app.url("/healthz"))
        .header("Origin", "https://evil.test")
        .send()
        .await
        .unwrap();
    assert!(!simple.headers().contains_key("access-control-allow-origin"));
}
