//! The organization tree: directory, search, create, move, deactivate.

use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

#[tokio::test]
async fn search_ignores_case_and_vietnamese_diacritics() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::C2_MANAGER).await;
    for q in ["xa%20my%20hoa", "M%E1%BB%B8%20HO%C3%80", "my%20hoa"] {
        let (status, body) = status_and_json(
            app.get(&format!("/api/v1/organizations?q={q}"), &token)
                .await,
        )
        .await;
        assert_eq!(status, 200);
        let names: Vec<_> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec!["Xã Mỹ Hòa"], "q={q}");
    }
}
