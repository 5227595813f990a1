//! Arrange steps shared by the administration, auth, organization, restructuring and hardening
//! tests.

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

/// The token endpoint's answer to a form body.
pub async fn token_form(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/auth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The refresh grant with `refresh_token`: the status and the answer.
pub async fn refresh(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    status_and_json(
        app.http
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "refresh_token", "refresh_token": refresh_token}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The client-credentials grant of `client_id` with `secret` in the form: the status and the
/// answer.
pub async fn client_credentials(app: &TestApp, client_id: &str, secret: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    status_and_json(token_form(app, &form).await).await
}

/// Logs `username` in (200 asserted) and returns its refresh token.
pub async fn refresh_token_of(app: &TestApp, username: &str, password: &str) -> String {
    let (status, body) = status_and_json(app.login(username, password).await).await;
    assert_eq!(status, 200, "login of {username}: {body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}
