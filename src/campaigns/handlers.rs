//! HTTP handlers of `/campaigns`: every authenticated caller reads campaigns; administrators
//! and managers of the owner organization (or a higher unit) write them.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{CampaignDto, CampaignFilter, CampaignPage, CreateCampaign, UpdateCampaign};
use super::model::{CampaignChanges, CampaignRow, NewCampaign};
use super::repo::{self, ListQuery};
use super::rules::{self, DatePointers};
use crate::audit::{self, Change};
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::conditional::{self, IfMatch};
use crate::db::schema::campaigns;
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::extract::Body;
use crate::organizations;
use crate::pagination;
use crate::state::AppState;
use crate::text::Checks;

fn to_json(dto: &CampaignDto) -> Option<serde_json::Value> {
    serde_json::to_value(dto).ok()
}

/// Campaigns are public within the service, but a partner client still needs scope `read`.
fn require_read(principal: &Principal) -> AppResult<()> {
    policy::require(principal, Operation::Read, Target::default())
}

fn code_conflict(error: diesel::result::Error) -> AppError {
    match &error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => AppError::conflict(ProblemCode::AlreadyExists, "another campaign has this code"),
        _ => error.into(),
    }
}

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
    require_read(&principal)?;
    let filter = filter.into_inner();
    let limit = pagination::limit(filter.limit)?;
    let query = ListQuery {
        owner_organization_id: filter.owner_organization_id,
        q: filter.q.as_deref(),
        active_on: filter.active_on,
        after: filter
            .cursor
            .as_deref()
            .map(pagination::decode_cursor)
            .transpose()?,
        limit,
    };
    let mut conn = state.db.read().await?;
    let rows = repo::list(&mut conn, query).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.starts_on, row.id));
    Ok(HttpResponse::Ok().json(CampaignPage {
        items: rows.into_iter().map(CampaignDto::from_row).collect(),
        next_cursor,
    }))
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
    require_read(&principal)?;
    let mut conn = state.db.read().await?;
    let row = repo::find(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let version = row.version;
    Ok(conditional::respond(
        &req,
        version,
        &CampaignDto::from_row(row),
    ))
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
    let mut checks = Checks::default();
    rules::check_code(&mut checks, &request.code);
    rules::check_name(&mut checks, &request.name);
    if let Some(directive) = &request.directive {
        rules::check_directive(&mut checks, directive);
    }
    if let Some(description) = &request.description {
        rules::check_description(&mut checks, description);
    }
    rules::check_dates(
        &mut checks,
        request.starts_on,
        request.ends_on,
        request.vision_year,
        &rules::CREATE_POINTERS,
    );
    rules::check_fields(&mut checks, &request.fields);
    let mut conn = state.db.write().await?;
    let principal = &principal;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let owner = organizations::repo::find(conn, request.owner_organization_id).await?;
            let Some(owner) = owner else {
                checks.fail("/owner_organization_id", "no such organization");
                return Err(AppError::validation(checks.errors));
            };
            policy::require(
                principal,
                Operation::WriteCampaign,
                Target::unit(&owner.path),
            )?;
            if !owner.active {
                checks.fail(
                    "/owner_organization_id",
                    "the owner organization is inactive",
                );
            }
            checks.finish()?;
            let directive = rules::optional_text(request.directive.as_deref());
            let description = rules::optional_text(request.description.as_deref());
            let row = repo::insert(
                conn,
                NewCampaign {
                    id: Uuid::now_v7(),
                    code: &request.code,
                    name: request.name.trim(),
                    directive: directive.as_deref(),
                    owner_organization_id: owner.id,
                    starts_on: request.starts_on,
                    ends_on: request.ends_on,
                    vision_year: request.vision_year,
                    description: description.as_deref(),
                    fields: rules::stored_fields(&request.fields),
                    created_by: Some(principal.id),
                },
            )
            .await
            .map_err(code_conflict)?;
            let dto = CampaignDto::from_row(row);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "campaign.create",
                    entity_type: "campaign",
                    entity_id: dto.id,
                    organization_id: Some(dto.owner_organization_id),
                    before: None,
                    after: to_json(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(conditional::created(
        format!("/api/v1/campaigns/{}", dto.id),
        dto.version,
        &dto,
    ))
}

/// A merge-patch member that may be absent but not `null`.
fn required<T>(checks: &mut Checks, pointer: &str, value: Option<Option<T>>) -> Option<T> {
    match value {
        Some(None) => {
            checks.fail(pointer, "must not be null");
            None
        }
        Some(Some(value)) => Some(value),
        None => None,
    }
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
    let mut checks = Checks::default();
    let name = required(&mut checks, "/name", request.name);
    let starts_on = required(&mut checks, "/starts_on", request.starts_on);
    let ends_on = required(&mut checks, "/ends_on", request.ends_on);
    let fields = required(&mut checks, "/fields", request.fields);
    if let Some(name) = &name {
        rules::check_name(&mut checks, name);
    }
    if let Some(Some(directive)) = &request.directive {
        rules::check_directive(&mut checks, directive);
    }
    if let Some(Some(description)) = &request.description {
        rules::check_description(&mut checks, description);
    }
    if let Some(fields) = &fields {
        rules::check_fields(&mut checks, fields);
    }
    let pointers = DatePointers {
        order: if ends_on.is_some() {
            "/ends_on"
        } else {
            "/starts_on"
        },
        vision_year: if request.vision_year.is_none() && ends_on.is_some() {
            "/ends_on"
        } else {
            "/vision_year"
        },
    };
    let principal = &principal;
    let if_match = &if_match;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let before = repo::find_for_update(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            let owner_path = organizations::repo::path_of(conn, before.owner_organization_id)
                .await?
                .ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("campaign {id} has no owner organization"))
                })?;
            policy::require(
                principal,
                Operation::WriteCampaign,
                Target::unit(&owner_path),
            )?;
            if_match.check(before.version)?;
            let dates_changed =
                starts_on.is_some() || ends_on.is_some() || request.vision_year.is_some();
            if dates_changed {
                rules::check_dates(
                    &mut checks,
                    starts_on.unwrap_or(before.starts_on),
                    ends_on.unwrap_or(before.ends_on),
                    request.vision_year.unwrap_or(before.vision_year),
                    &pointers,
                );
            }
            checks.finish()?;
            let changes = CampaignChanges {
                name: name.map(|name| name.trim().to_owned()),
                directive: request
                    .directive
                    .map(|directive| rules::optional_text(directive.as_deref())),
                description: request
                    .description
                    .map(|description| rules::optional_text(description.as_deref())),
                starts_on,
                ends_on,
                vision_year: request.vision_year,
                fields: fields.as_deref().map(rules::stored_fields),
            };
            let row: CampaignRow = diesel::update(campaigns::table.find(id))
                .set((
                    &changes,
                    campaigns::version.eq(campaigns::version + 1),
                    campaigns::updated_at.eq(diesel::dsl::now),
                ))
                .returning(CampaignRow::as_returning())
                .get_result(conn)
                .await?;
            let before_dto = CampaignDto::from_row(before);
            let dto = CampaignDto::from_row(row);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "campaign.update",
                    entity_type: "campaign",
                    entity_id: id,
                    organization_id: Some(dto.owner_organization_id),
                    before: to_json(&before_dto),
                    after: to_json(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(conditional::updated(dto.version, &dto))
}
