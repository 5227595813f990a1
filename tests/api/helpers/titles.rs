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
