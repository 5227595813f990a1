//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult, Problem};
use crate::state::AppState;

/// Health status.
#[derive(Serialize, ToSchema)]
pub struct HealthDto {
    /// `ok`.
    pub status: String,
}

/// Readiness status.
#[derive(Serialize, ToSchema)]
pub struct ReadyDto {
    /// `ready`.
    pub status: String,
    /// Newest migration applied to the database.
    pub migration: Option<String>,
}

/// Liveness: the process is up and serving HTTP (touches nothing else).
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthDto))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthDto {
        status: "ok".into(),
    })
}

/// Readiness: the database answers and every embedded migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyDto),
        (status = 503, description = "Database unreachable or migrations pending", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let mut conn = state.db.write().await?;
    let applied = crate::db::applied_migration_version(&mut conn)
        .await
        .map_err(|_| AppError::unavailable("the database does not answer"))?;
    let expected = crate::db::latest_migration_version();
    if applied.is_none() || applied < expected {
        return Err(AppError::unavailable(
            "database migrations are pending; run `thidua migrate`",
        ));
    }
    Ok(HttpResponse::Ok().json(ReadyDto {
        status: "ready".into(),
        migration: applied,
    }))
}
