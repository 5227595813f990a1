//! Authentication: tokens, refresh rotation, throttling, JWT hardening.

use serde_json::json;

use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

#[tokio::test]
async fn a_user_logs_in_and_reads_me() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::C1_MANAGER).await;
    let (status, body) = status_and_json(app.get("/api/v1/me", &token).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], fixture::C1_MANAGER);
    assert_eq!(body["memberships"][0]["role"], "manager");
    assert_eq!(
        body["memberships"][0]["organization_id"],
        json!(fixture.tree.c1.id)
    );
}
