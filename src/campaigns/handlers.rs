//! HTTP handlers of `/campaigns`: every authenticated caller reads campaigns; administrators
//! and managers of the owner organization (or a higher unit) write them (the rules are in
//! `service`).

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::dto::{CampaignDto, CampaignFilter, CampaignPage, CreateCampaign, UpdateCampaign};
use super::service;
use crate::auth::principal::Principal;
use crate::conditional::{self, IfMatch};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::Body;
use crate::state::AppState;

/// Lists campaigns.
///
/// Every authenticated caller may read campaigns. Sorted by `starts_on` descending (latest
/// first), then newest first; `q` ignores case and diacritics.
#[utoipa::path(
    tag = "campaigns",
    params(CampaignFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of campaigns", body = CampaignPage),
        (status = 400, description = "Bad filter value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner client without scope `read`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/campaigns")]
pub async fn list_campaigns(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<CampaignFilter>,
) -> AppResult<HttpResponse> {
    let page = service::list(&state.db, &principal, filter.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Reads one campaign with its fields.
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The campaign", body = CampaignDto,
            headers(("ETag" = String, description = "Strong entity tag of this version"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner client without scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/campaigns/{id}")]
pub async fn get_campaign(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let dto = service::get(&state.db, &principal, *id).await?;
    Ok(conditional::respond(&req, dto.version, &dto))
}

/// Creates a campaign.
///
/// Administrators, or managers of the owner organization or of a higher unit. Every invalid
/// member is reported in one 422.
#[utoipa::path(
    tag = "campaigns",
    request_body = CreateCampaign,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CampaignDto,
            headers(("Location" = String, description = "URL of the new campaign"), ("ETag" = String, description = "Entity tag")),
            links(
                ("GetCampaign" = (operation_id = "get_campaign", parameters(("path.id" = "$response.body#/id")))),
                ("UpdateCampaign" = (operation_id = "update_campaign", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
            )),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the owner organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members, or no such owner organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/campaigns")]
pub async fn create_campaign(
    state: web::Data<AppState>,
    principal: Principal,
    body: Body<CreateCampaign>,
) -> AppResult<HttpResponse> {
    let request = body.into_inner();
    let checks = service::check_new(&request);
    let mut conn = state.db.write().await?;
    let principal = &principal;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            service::create(conn, principal, request, checks).await
        })
        .await?;
    Ok(conditional::created(
        format!("/api/v1/campaigns/{}", dto.id),
        dto.version,
        &dto,
    ))
}

/// Updates a campaign (JSON merge patch).
///
/// Administrators, or managers of the owner organization or of a higher unit. `fields`
/// replaces the whole list. `code` and `owner_organization_id` never change.
#[utoipa::path(
    tag = "campaigns",
    request_body = UpdateCampaign,
    params(
        ("id" = Uuid, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = CampaignDto,
            headers(("ETag" = String, description = "Entity tag of the new version"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the owner organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match; the body names the current one", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, unknown or immutable members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/campaigns/{id}")]
pub async fn update_campaign(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<UpdateCampaign>,
) -> AppResult<HttpResponse> {
    let request = body.into_inner();
    let id = id.into_inner();
    let checked = service::check_patch(&request);
    let principal = &principal;
    let if_match = &if_match;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            service::update(conn, principal, id, if_match, request, checked).await
        })
        .await?;
    Ok(conditional::updated(dto.version, &dto))
}
