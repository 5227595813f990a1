//! What the tests of the title cycle share: reads that must succeed, and the demo's persons
//! and units by name or code.

use serde_json::Value;

use super::TestApp;

/// The JSON of a GET that must answer 200.
pub async fn get_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.get_json(path, token).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The JSON of GETs of `paths` that must answer 200, in order.
pub async fn get_all_ok(app: &TestApp, token: &str, paths: &[String]) -> Vec<Value> {
    let mut answers = Vec::new();
    for path in paths {
        answers.push(get_ok(app, token, path).await);
    }
    answers
}

/// The answers of `kept` (an instance and its token) to `paths`, asserted equal, path by path,
/// to those of `computing` (another instance on the same database that keeps nothing).
pub async fn kept_as_computed(
    kept: (&TestApp, &str),
    computing: (&TestApp, &str),
    paths: &[String],
    step: &str,
) -> Vec<Value> {
    let answers = get_all_ok(kept.0, kept.1, paths).await;
    let computed = get_all_ok(computing.0, computing.1, paths).await;
    for (index, path) in paths.iter().enumerate() {
        assert_eq!(answers[index], computed[index], "{step}: {path}");
    }
    answers
}

/// The status and JSON of a PUT of `body`.
pub async fn put(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = app
        .request(reqwest::Method::PUT, path, Some(token))
        .json(body)
        .send()
        .await
        .expect("request");
    super::status_and_json(response).await
}

/// The id of the one person whose name or position matches `name`.
pub async fn person_named(app: &TestApp, token: &str, name: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let page = get_ok(app, token, &format!("/api/v1/persons?q={q}")).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{name}: {page}");
    super::ctx::id_of(&items[0])
}

/// The id of the one unit holding `code` today.
pub async fn unit_coded(app: &TestApp, token: &str, code: &str) -> String {
    let page = get_ok(
        app,
        token,
        &format!("/api/v1/organizations?q={code}&limit=200"),
    )
    .await;
    let found: Vec<&Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|unit| unit["code"] == code)
        .collect();
    assert_eq!(found.len(), 1, "{code}: {page}");
    super::ctx::id_of(found[0])
}

/// The status and JSON of a POST of `body`.
pub async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    app.post_for_json(path, token, body).await
}

/// The demo loaded; the admin's token.
pub async fn seed_demo(app: &TestApp) -> String {
    thidua::demo::seed(&app.state).await.unwrap();
    app.token("admin", thidua::demo::ADMIN_PASSWORD).await
}

/// The demo loaded; the admin's token and the id of the demo's commune.
pub async fn demo_commune(app: &TestApp) -> (String, String) {
    let admin = seed_demo(app).await;
    let commune = unit_coded(app, &admin, thidua::demo::titles::COMMUNE_CODE).await;
    (admin, commune)
}

/// A person named `full_name` created by `token` in `unit`; its id (asserts 201).
pub async fn create_person(
    app: &TestApp,
    token: &str,
    unit: impl serde::Serialize,
    full_name: &str,
) -> String {
    let body = serde_json::json!({"organization_id": unit, "full_name": full_name});
    let (status, person) = post(app, token, "/api/v1/persons", &body).await;
    assert_eq!(status, 201, "{person}");
    super::ctx::id_of(&person)
}

/// The detail of a problem's first error.
pub fn first_error_detail(problem: &Value) -> &str {
    problem["errors"][0]["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no error detail in {problem}"))
}

/// Where title registrations are listed and made.
pub const REGISTRATIONS: &str = "/api/v1/title-registrations";

/// Registers `person` for `title` in `year`: the status and body of the answer.
pub async fn register_person(
    app: &TestApp,
    token: &str,
    person: &str,
    title: &str,
    year: i32,
) -> (u16, Value) {
    let body = serde_json::json!({"subject_type": "person", "subject_id": person,
                                  "title_code": title, "year": year});
    post(app, token, REGISTRATIONS, &body).await
}

/// Records the 2025 year of `person` (`record`: the completion rating and more) for the first
/// time (asserts 201).
pub async fn record_2025(app: &TestApp, token: &str, person: &str, record: Value) {
    let path = format!("/api/v1/persons/{person}/years/2025");
    let (status, body) = put(app, token, &path, &record).await;
    assert_eq!(status, 201, "{path}: {body}");
}
