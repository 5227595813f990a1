//! Framework failures answer problem+json with the right status.

use crate::helpers::TestApp;

#[tokio::test]
async fn an_unknown_route_is_a_problem_404() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["type"], "/problems/not_found");
}
