//! HTTP handlers of `/restructurings`: administrators apply them; managers read the ones that
//! touched their subtree.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::dto::{RestructuringDto, RestructuringFilter, RestructuringPage, RestructuringRequest};
use super::repo::{self, RestructuringRow};
use super::service;
use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation, require_admin};
use crate::auth::principal::Principal;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::Body;
use crate::idempotency::{Idempotency, IdempotencyKey, Reply};
use crate::pagination;
use crate::state::AppState;

fn location(id: Uuid) -> String {
    format!("/api/v1/restructurings/{id}")
}

fn to_dto(row: RestructuringRow) -> RestructuringDto {
    RestructuringDto {
        id: Some(row.id),
        effective_on: row.effective_on,
        legal_basis: row.legal_basis,
        dry_run: false,
        steps: row.steps,
        preview: serde_json::from_value(row.preview).unwrap_or_default(),
        created_by: row.created_by,
        created_at: Some(row.created_at),
    }
}

/// How the transaction of a restructuring ends: committed with a reply, or rolled back with
/// an error or with the preview of a dry run.
enum Ending {
    Failed(AppError),
    DryRun(Box<RestructuringDto>),
}

impl From<diesel::result::Error> for Ending {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(service::conflict_of(error))
    }
}

impl From<AppError> for Ending {
    fn from(error: AppError) -> Self {
        Self::Failed(error)
    }
}

/// Applies a restructuring, or previews it (`dry_run`).
///
/// Administrators only. All steps or none, in one transaction; a step that names an ended
/// unit, an unknown `ref`, a code already valid that day, a cycle, or a date before a unit's
/// `valid_from` is a 422 whose pointer names the step (`/steps/3/from/1`). Units that a merge,
/// split or dissolve ends get `valid_to` = the day before `effective_on`; their open work of
/// that year, their later work, members and partner clients go to the (primary) successor,
/// and their continuing children are placed under it. `Idempotency-Key` is honoured.
#[utoipa::path(
    tag = "restructurings",
    request_body = RestructuringRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Dry run: what would happen; nothing was written", body = RestructuringDto),
        (status = 201, description = "Applied", body = RestructuringDto,
            headers(("Location" = String, description = "URL of the restructuring"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change took a code or a name the restructuring needs", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A step is invalid; the pointer names it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/restructurings")]
pub async fn create_restructuring(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<RestructuringRequest>,
) -> AppResult<HttpResponse> {
    require_admin(&principal)?;
    let (request, digest) = body.into_parts();
    service::validate(&request, crate::clock::today())?;
    let idempotency = Idempotency::new(&principal, key, digest);
    let mut conn = state.db.write().await?;
    let principal = &principal;
    let request = &request;
    let outcome = conn
        .transaction::<_, Ending, _>(async move |conn| {
            if !request.dry_run
                && let Some(stored) = idempotency.replay(conn).await?
            {
                return Ok(stored);
            }
            let applied = service::apply(conn, Some(principal), request).await?;
            let dto = RestructuringDto {
                id: (!request.dry_run).then_some(applied.id),
                effective_on: request.effective_on,
                legal_basis: request.legal_basis.trim().to_owned(),
                dry_run: request.dry_run,
                steps: serde_json::to_value(&request.steps).unwrap_or_default(),
                preview: applied.preview,
                created_by: Some(principal.id),
                created_at: None,
            };
            if request.dry_run {
                return Err(Ending::DryRun(Box::new(dto)));
            }
            let reply = Reply {
                location: Some(location(applied.id)),
                ..Reply::plain(StatusCode::CREATED, &dto)?
            };
            Ok(idempotency.record(conn, reply).await?)
        })
        .await;
    match outcome {
        Ok(reply) => {
            state.lineage.set();
            Ok(reply.into_response())
        }
        Err(Ending::DryRun(dto)) => Ok(HttpResponse::Ok().json(dto)),
        Err(Ending::Failed(error)) => Err(error),
    }
}

/// Lists restructurings, newest first.
///
/// Administrators read all; managers those that touched a unit of their subtree.
#[utoipa::path(
    tag = "restructurings",
    params(RestructuringFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of restructurings", body = RestructuringPage),
        (status = 400, description = "Bad filter value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` names no unit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/restructurings")]
pub async fn list_restructurings(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<RestructuringFilter>,
) -> AppResult<HttpResponse> {
    let visibility = policy::subtrees_allowing(&principal, Operation::ReadAudit)?;
    let limit = pagination::limit(filter.limit)?;
    let after = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read().await?;
    let within = match filter.organization_id {
        Some(id) => Some(
            crate::organizations::repo::path_of(&mut conn, id)
                .await?
                .ok_or_else(AppError::not_found)?,
        ),
        None => None,
    };
    let visible = match &visibility {
        Visibility::Everything => None,
        Visibility::Subtrees(roots) => Some(roots.as_slice()),
    };
    let rows = repo::list(&mut conn, visible, within.as_deref(), after, limit).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.created_at, row.id));
    Ok(HttpResponse::Ok().json(RestructuringPage {
        items: rows.into_iter().map(to_dto).collect(),
        next_cursor,
    }))
}

/// Reads one restructuring: its request and what it did.
#[utoipa::path(
    tag = "restructurings",
    params(("id" = Uuid, Path, description = "Restructuring id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The restructuring", body = RestructuringDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such restructuring, or none touching your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/restructurings/{id}")]
pub async fn get_restructuring(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let visibility = policy::subtrees_allowing(&principal, Operation::ReadAudit)?;
    let mut conn = state.db.read().await?;
    let row = repo::find(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !row
        .touched_paths
        .iter()
        .flatten()
        .any(|path| visibility.includes(path))
    {
        return Err(AppError::not_found());
    }
    Ok(HttpResponse::Ok().json(to_dto(row)))
}
