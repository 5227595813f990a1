//! Arrange steps shared by the administration, auth, organization, restructuring and hardening
//! tests.

use super::TestApp;
use super::fixture::Fixture;

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
