//! Arrange steps shared by the administration, auth, organization, restructuring and hardening
//! tests.

use reqwest::Response;
use serde_json::{Value, json};

use super::fixture::Fixture;
use super::{TestApp, status_and_json};

/// A fresh app with the docs/security.md fixture loaded, and a token of `username` in it.
pub async fn fixture_as(username: &str) -> (TestApp, Fixture, String) {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, username).await;
    (app, fixture, token)
}

/// How many audit events there are: what a refused or idempotent write must leave as it was.
pub async fn audit_total(app: &TestApp) -> i64 {
    app.db.count("SELECT count(*) FROM audit_events").await
}

/// A POST to the token endpoint, to be given its body.
fn token_request(app: &TestApp) -> reqwest::RequestBuilder {
    app.http.post(app.url("/api/v1/auth/token"))
}

/// The token endpoint's answer to a form body.
pub async fn token_form(app: &TestApp, form: &[(&str, &str)]) -> Response {
    token_request(app).form(form).send().await.unwrap()
}

/// The refresh grant with `refresh_token`: the status and the answer.
pub async fn refresh(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    let body = json!({"grant_type": "refresh_token", "refresh_token": refresh_token});
    status_and_json(token_json(app, &body).await).await
}

/// The token endpoint's answer to a JSON body.
pub async fn token_json(app: &TestApp, body: &Value) -> Response {
    token_request(app).json(body).send().await.unwrap()
}

/// `POST /auth/revoke` with a JSON body: the status and the answer.
pub async fn revoke_json(app: &TestApp, body: &Value) -> (u16, Value) {
    let request = app.http.post(app.url("/api/v1/auth/revoke")).json(body);
    status_and_json(request.send().await.unwrap()).await
}

/// The client-credentials grant of `client_id` with `secret` in the form: the status and the
/// answer.
pub async fn client_credentials(app: &TestApp, client_id: &str, secret: &str) -> (u16, Value) {
    status_and_json(client_credentials_response(app, client_id, secret).await).await
}

/// The client-credentials grant of `client_id` with `secret` in the form: the raw response.
pub async fn client_credentials_response(app: &TestApp, client_id: &str, secret: &str) -> Response {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    token_form(app, &form).await
}

/// The client-credentials grant of `client_id` with `secret` by HTTP Basic: the raw response.
pub async fn basic_client_credentials(app: &TestApp, client_id: &str, secret: &str) -> Response {
    token_request(app)
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// Logs `username` in (200 asserted) and returns its refresh token.
pub async fn refresh_token_of(app: &TestApp, username: &str, password: &str) -> String {
    let (status, body) = status_and_json(app.login(username, password).await).await;
    assert_eq!(status, 200, "login of {username}: {body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// Asserts an RFC 9457 problem with `status` and `code`; returns the body.
pub async fn problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status of {code}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{code}"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["type"], format!("/problems/{code}"), "{body}");
    body
}

/// The OpenAPI document the service serves.
pub fn spec() -> Value {
    serde_json::from_str(&thidua::openapi::document_json()).unwrap()
}

/// A spec path with every `{parameter}` segment filled with the nil UUID.
pub fn concrete_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "00000000-0000-0000-0000-000000000000"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The one unit of a page of organizations whose code is `code` (exactly one asserted).
pub fn the_unit_coded<'a>(page: &'a Value, code: &str) -> &'a Value {
    let found: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|unit| unit["code"] == code)
        .collect();
    assert_eq!(found.len(), 1, "{code}: {page}");
    found[0]
}

/// A fresh app with the docs/security.md fixture loaded.
pub async fn app_with_fixture() -> (TestApp, Fixture) {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    (app, fixture)
}

/// A GET of `path` with no credentials: the raw response.
pub async fn get_anonymously(app: &TestApp, path: &str) -> Response {
    app.http.get(app.url(path)).send().await.unwrap()
}
