//! Lookalike names: invisible format characters are dropped from stored text (so they cannot
//! slip a duplicate past a check), and sibling units may not share a name as people read it.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

const ORGANIZATIONS: &str = "/api/v1/organizations";

async fn create_unit(app: &TestApp, token: &str, parent: uuid::Uuid, name: &str) -> (u16, Value) {
    app.post_for_json(
        ORGANIZATIONS,
        token,
        &json!({"parent_id": parent, "kind": "commune", "name": name}),
    )
    .await
}

#[tokio::test]
async fn a_nominee_name_with_a_zero_width_space_is_the_same_nominee() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let campaign = fixture.campaign(&app, &[("van_hoa", "Văn hóa")]).await;
    let manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let body = |name: &str| {
        json!({
            "campaign_id": campaign, "nominating_organization_id": fixture.tree.c1.id,
            "year": 2022, "nominee_type": "individual", "nominee_name": name,
            "field": "van_hoa", "achievements": "Gương mẫu",
        })
    };
    let (status, first) = app
        .post_for_json("/api/v1/nominations", &manager, &body("Nguyễn Văn An"))
        .await;
    assert_eq!(status, 201, "{first}");

    let (status, problem) = app
        .post_for_json(
            "/api/v1/nominations",
            &manager,
            &body("Nguyễn\u{200B} Văn\u{2060} An\u{FEFF}"),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "duplicate_nomination");
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM nominations WHERE nominee_name ~ '[\\u200B\\u2060\\uFEFF]'"
            )
            .await,
        0
    );
}

#[tokio::test]
async fn a_sibling_unit_with_the_same_name_in_another_form_is_refused_naming_the_existing_one() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let district = fixture.tree.d1.id;
    let name = "Xã Phước Thủy";
    let (status, first) = create_unit(&app, &admin, district, name).await;
    assert_eq!(status, 201, "{first}");

    let nfd: String = unicode_normalization::UnicodeNormalization::nfd(name).collect();
    assert_ne!(nfd, name);
    for lookalike in [
        nfd.as_str(),
        "XÃ PHƯỚC THỦY",
        "Xã  Phước   Thủy ",     // extra spaces
        "Xã Phước\u{200B} Thủy", // zero-width space
    ] {
        let (status, problem) = create_unit(&app, &admin, district, lookalike).await;
        assert_eq!(status, 409, "{lookalike:?}: {problem}");
        assert_eq!(problem["code"], "already_exists");
        assert_eq!(
            problem["existing_organization_id"], first["id"],
            "{problem}"
        );
        assert!(problem["detail"].as_str().unwrap().contains(name));
    }
    // Under another parent the name is free, and so is another name here.
    assert_eq!(
        create_unit(&app, &admin, fixture.tree.d2.id, name).await.0,
        201
    );
    assert_eq!(
        create_unit(&app, &admin, district, "Xã Phước Tuy").await.0,
        201
    );
}

#[tokio::test]
async fn renaming_or_moving_a_unit_onto_a_siblings_name_is_refused() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let (_, taken) = create_unit(&app, &admin, fixture.tree.d1.id, "Xã Tân Xuân").await;
    let (_, other) = create_unit(&app, &admin, fixture.tree.d1.id, "Xã Tân Hưng").await;
    let path = format!("{ORGANIZATIONS}/{}", other["id"].as_str().unwrap());

    let (status, problem) = app
        .patch_for_json(&path, &admin, &json!({"name": "xã tân xuân"}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["existing_organization_id"], taken["id"]);
    // Renaming a unit to another form of its own name is no conflict.
    let (status, body) = app
        .patch_for_json(&path, &admin, &json!({"name": "Xã Tân Hưng "}))
        .await;
    assert_eq!(status, 200, "{body}");

    let (_, elsewhere) = create_unit(&app, &admin, fixture.tree.d2.id, "Xã Tân Xuân").await;
    let moved = app
        .post_json(
            &format!("{ORGANIZATIONS}/{}/move", elsewhere["id"].as_str().unwrap()),
            &admin,
            &json!({"parent_id": fixture.tree.d1.id}),
        )
        .await;
    let (status, problem) = status_and_json(moved).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["existing_organization_id"], taken["id"]);
}

#[tokio::test]
async fn concurrent_creations_of_one_root_name_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    // Roots have no parent row to lock: only the unique index stands between the racers.
    let attempts = join_all((0..8).map(|n| {
        let app = &app;
        let admin = &admin;
        async move {
            let name = if n % 2 == 0 {
                "Tỉnh Bến Tre Mới"
            } else {
                "TỈNH BẾN TRE MỚI"
            };
            app.post_for_json(
                ORGANIZATIONS,
                admin,
                &json!({"parent_id": null, "kind": "province", "name": name}),
            )
            .await
        }
    }))
    .await;
    let statuses: Vec<u16> = attempts.iter().map(|(status, _)| *status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{attempts:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{attempts:?}"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM organizations WHERE name_key = 'tỉnh bến tre mới'")
            .await,
        1
    );
}
