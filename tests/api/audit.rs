//! The audit log is append-only, also for the application's own database connections.

use diesel_async::RunQueryDsl;

use crate::helpers::TestApp;
use crate::helpers::fixture::{self, Fixture};

#[tokio::test]
async fn audit_events_cannot_be_updated_or_deleted_through_the_application_pool() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let (status, _) = app.post_for_json(
            "/api/v1/organizations",
            &admin,
            &serde_json::json!({"parent_id": fixture.tree.c3.id, "kind": "hamlet", "name": "Ấp Mới"}),
        )
    .await;
    assert_eq!(status, 201);
    let before = app.db.rows("audit_events").await;
    assert!(before >= 1);

    let mut conn = app.state.db.write().await.unwrap();
    let update = diesel::sql_query("UPDATE audit_events SET action = 'forged'")
        .execute(&mut conn)
        .await;
    let delete = diesel::sql_query("DELETE FROM audit_events")
        .execute(&mut conn)
        .await;
    let truncate = diesel::sql_query("TRUNCATE audit_events")
        .execute(&mut conn)
        .await;

    assert!(update.is_err(), "UPDATE must be refused");
    assert!(delete.is_err(), "DELETE must be refused");
    assert!(truncate.is_err(), "TRUNCATE must be refused");
    assert_eq!(app.db.rows("audit_events").await, before);
    assert_eq!(app.db.rows("audit_events WHERE action = 'forged'").await, 0);
}

#[tokio::test]
async fn managers_read_the_audit_log_of_their_subtree_only() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    for (parent, name) in [
        (fixture.tree.c1.id, "Ấp của C1"),
        (fixture.tree.c2.id, "Ấp của C2"),
    ] {
        let (status, _) = app
            .post_for_json(
                "/api/v1/organizations",
                &admin,
                &serde_json::json!({"parent_id": parent, "kind": "hamlet", "name": name}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let d1_manager = fixture.token(&app, fixture::D1_MANAGER).await;
    let (status, body) = app
        .get_json("/api/v1/audit-events?entity_type=organization", &d1_manager)
        .await;
    assert_eq!(status, 200);
    let names: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            event["after"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(names, vec!["Ấp của C1".to_owned()]);

    let (status, body) = app.get_json("/api/v1/audit-events", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 2);

    let member = fixture.token(&app, fixture::C1_MEMBER).await;
    let (status, _) = app.get_json("/api/v1/audit-events", &member).await;
    assert_eq!(status, 403);
}

/// The audit log keeps a pledge as JSON (jsonb), which writes a number out in full: f64::MAX is
/// 309 digits. serde_json read such a number back as infinity unless it parses floats exactly
/// (its `float_roundtrip` feature), and one such event made every page of the log a 500 (found
/// by the conformance fuzzer).
#[tokio::test]
async fn extreme_numbers_in_recorded_changes_read_back_exactly() {
    let (app, fixture, campaign) = Fixture::app_with_campaign().await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let values = [
        f64::MAX,
        1e308,
        5e-324,
        123_456_789_012_345_680_000_000_000_000.0,
    ];
    for (index, value) in values.iter().enumerate() {
        let body = crate::helpers::ctx::merged(
            crate::helpers::ctx::target_pledge(
                campaign,
                fixture.tree.c1.id,
                &format!("Số {index}"),
            ),
            serde_json::json!({"target_value": value}),
        );
        let (status, created) = app.post_for_json("/api/v1/pledges", &admin, &body).await;
        assert_eq!(status, 201, "{created}");
    }
    let (status, body) = app
        .get_json("/api/v1/audit-events?entity_type=pledge", &admin)
        .await;
    assert_eq!(status, 200, "{body}");
    let read: Vec<f64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["after"]["target_value"].as_f64())
        .collect();
    assert_eq!(read, values);
}
