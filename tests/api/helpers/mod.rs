//! Test support: a database per test, the real app on a random port, the docs/security.md fixture.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod arrange;
pub mod ctx;
pub mod db;
pub mod fixture;
pub mod process;
pub mod receiver;
pub mod titles;

pub use app::{TestApp, status_and_json};
pub use fixture::Fixture;

/// The audit events recorded, for one entity and/or one action (`pledge.update`) when given.
pub async fn audit_count(app: &TestApp, entity_id: Option<&str>, action: Option<&str>) -> i64 {
    let mut sql = "SELECT count(*) FROM audit_events WHERE true".to_owned();
    if let Some(id) = entity_id {
        sql.push_str(&format!(" AND entity_id = '{id}'"));
    }
    if let Some(action) = action {
        sql.push_str(&format!(" AND action = '{action}'"));
    }
    app.db.count(&sql).await
}
