//! The committed spec is the served spec, and every served route is in it.

use crate::helpers::TestApp;
use crate::helpers::arrange::{concrete_path, get_anonymously, spec};

#[tokio::test]
async fn the_committed_spec_matches_the_generated_one() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed");
    let generated = thidua::openapi::document_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn the_served_spec_is_openapi_3_1_and_equals_the_generated_one() {
    let app = TestApp::spawn().await;
    let served: serde_json::Value = get_anonymously(&app, "/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(served, spec());
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test]
async fn every_operation_has_a_summary_a_tag_and_described_responses() {
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert!(operation["summary"].is_string(), "{name} has no summary");
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name} has no tag"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{name} {status} has no description"
                );
            }
        }
    }
}

/// Every operation of the spec is routed: calling it never falls through to the default
/// service (which answers `not_found` with detail "no such route" or 405).
#[tokio::test]
async fn every_operation_in_the_spec_is_served() {
    let app = TestApp::spawn().await;
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let concrete = concrete_path(path);
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .http
                .request(method.clone(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            assert_ne!(status, 405, "{method} {path} is not routed");
            assert!(
                body["detail"] != "no such route",
                "{method} {path} is not routed"
            );
        }
    }
}

/// The schema `value` is, or refers to from inside (`oneOf` with `null`), in `spec`.
fn resolved<'a>(
    spec: &'a serde_json::Value,
    value: &'a serde_json::Value,
) -> &'a serde_json::Value {
    let reference = value["$ref"].as_str().or_else(|| {
        value["oneOf"]
            .as_array()?
            .iter()
            .find_map(|choice| choice["$ref"].as_str())
    });
    match reference {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &spec["components"]["schemas"][name]
        }
        None => value,
    }
}

/// What a partner's generated client sees is what the service accepts: `grant_type` is one
/// of three values, a client's scopes and a token to revoke are bounded as the service bounds
/// them, and `/metrics` states its authorization as a security scheme (no `Authorization`
/// parameter the disabled route would ignore) with the 404 it answers when disabled.
#[tokio::test]
async fn the_partner_facing_bounds_and_the_metrics_authorization_are_documented() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let grant = resolved(&spec, &schemas["TokenRequest"]["properties"]["grant_type"]);
    assert_eq!(
        grant["enum"],
        serde_json::json!(["password", "refresh_token", "client_credentials"]),
        "{grant}"
    );
    assert_eq!(
        schemas["CreateClient"]["properties"]["scopes"]["maxItems"],
        thidua::auth::principal::Scope::ALL.len()
    );
    assert_eq!(
        schemas["Scope"]["enum"].as_array().unwrap().len(),
        thidua::auth::principal::Scope::ALL.len()
    );
    let token = &schemas["RevokeRequest"]["properties"]["token"];
    assert_eq!(token["maxLength"], thidua::auth::dto::REFRESH_TOKEN_MAX);

    let metrics = &spec["paths"]["/metrics"]["get"];
    let parameters = metrics["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !parameters.iter().any(|p| p["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("authorization"))),
        "{parameters:?}"
    );
    assert_eq!(
        metrics["security"],
        serde_json::json!([{"metrics_token": []}])
    );
    for status in ["200", "401", "404"] {
        assert!(
            metrics["responses"][status].is_object(),
            "/metrics {status}"
        );
    }
}

/// The rate limit headers are declared once, as header components, and referred to by the
/// responses of every limited operation (not by the exempt probes).
#[tokio::test]
async fn the_rate_limit_headers_are_shared_components_on_limited_responses() {
    let spec = spec();
    for name in ["RateLimit", "RateLimit-Policy"] {
        assert!(
            spec["components"]["headers"][name]["description"]
                .as_str()
                .is_some_and(|d| d.contains("draft-ietf-httpapi-ratelimit-headers")
                    || d.contains("RateLimit-Policy")),
            "{name}"
        );
        let reference = format!("#/components/headers/{name}");
        for (path, status) in [
            ("/api/v1/pledges", "200"),
            ("/api/v1/me", "401"),
            ("/api/v1/pledges/export.csv", "200"),
        ] {
            assert_eq!(
                spec["paths"][path]["get"]["responses"][status]["headers"][name]["$ref"],
                reference.as_str(),
                "{path} {status}"
            );
        }
        assert_eq!(
            spec["components"]["responses"]["RateLimited"]["headers"][name]["$ref"],
            reference.as_str()
        );
        assert!(spec["paths"]["/healthz"]["get"]["responses"]["200"]["headers"][name].is_null());
    }
    // A 429 of an operation's own (the login throttle) still says when to retry.
    assert!(
        spec["paths"]["/api/v1/auth/token"]["post"]["responses"]["429"]["headers"]["Retry-After"]
            .is_object()
    );
}

/// A generated client types a list's page: the list's 200 is JSON only; the exports are
/// operations of their own, each with its one media type.
#[tokio::test]
async fn a_lists_200_is_json_only_and_its_exports_have_their_own_operations() {
    let spec = spec();
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    for list in ["/api/v1/pledges", "/api/v1/nominations"] {
        let media = |path: &str| -> Vec<String> {
            spec["paths"][path]["get"]["responses"]["200"]["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{path}"))
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(media(list), vec!["application/json"], "{list}");
        assert_eq!(media(&format!("{list}/export.csv")), vec!["text/csv"]);
        assert_eq!(media(&format!("{list}/export.xlsx")), vec![xlsx]);
        // The exports take the list's parameters.
        let names = |path: &str| -> Vec<String> {
            spec["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(names(&format!("{list}/export.csv")), names(list));
        assert_eq!(names(&format!("{list}/export.xlsx")), names(list));
    }
}
