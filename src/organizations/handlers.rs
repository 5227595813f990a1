//! HTTP handlers of `/organizations`: the directory is readable by every authenticated caller;
//! writes follow the rules of `service`.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::dto::{
    CreateOrganization, LineageDto, LineageEntry, LinkedUnitDto, MoveOrganization, OrganizationDto,
    OrganizationFilter, OrganizationPage, PageParams, UpdateOrganization,
};
use super::repo::{self, ListQuery};
use super::service;
use crate::auth::principal::Principal;
use crate::conditional::{self, IfMatch};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::Body;
use crate::pagination;
use crate::state::AppState;

async fn list_page(state: &AppState, query: ListQuery<'_>) -> AppResult<OrganizationPage> {
    let limit = query.limit;
    let mut conn = state.db.read().await?;
    let rows = repo::list(&mut conn, query).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.name.clone(), row.id));
    let mut items: Vec<OrganizationDto> = rows
        .into_iter()
        .map(|row| OrganizationDto::from_row(row, None))
        .collect();
    with_lineage(&mut conn, &mut items).await?;
    Ok(OrganizationPage { items, next_cursor })
}

/// Fills the direct `predecessors` and `successors` of `units` (one query).
pub async fn with_lineage(
    conn: &mut diesel_async::AsyncPgConnection,
    units: &mut [OrganizationDto],
) -> AppResult<()> {
    let ids: Vec<Uuid> = units.iter().map(|unit| unit.id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let links = repo::direct_links(conn, &ids).await?;
    for unit in units.iter_mut() {
        for link in &links {
            if link.successor_id == unit.id {
                unit.predecessors.push(LinkedUnitDto {
                    id: link.predecessor_id,
                    name: link.predecessor_name.clone(),
                });
            }
            if link.predecessor_id == unit.id {
                unit.successors.push(LinkedUnitDto {
                    id: link.successor_id,
                    name: link.successor_name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The predecessors and successors of an organization, transitively.
///
/// Each with the restructuring that linked it, its date, legal basis, change and share.
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lineage, nearest first", body = LineageDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{id}/lineage")]
pub async fn get_lineage(
    state: web::Data<AppState>,
    _principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read().await?;
    let row = repo::find(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let entries = |rows: Vec<repo::LineageRow>| -> Vec<LineageEntry> {
        rows.into_iter()
            .map(|row| LineageEntry {
                id: row.id,
                name: row.name,
                code: row.code,
                valid_from: row.valid_from,
                valid_to: row.valid_to,
                restructuring_id: row.restructuring_id,
                effective_on: row.effective_on,
                legal_basis: row.legal_basis,
                change: row.change,
                share: row.share,
                distance: row.distance,
            })
            .collect()
    };
    let predecessors = entries(repo::lineage(&mut conn, row.id, true).await?);
    let successors = entries(repo::lineage(&mut conn, row.id, false).await?);
    Ok(HttpResponse::Ok().json(LineageDto {
        organization_id: row.id,
        name: row.name,
        valid_from: row.valid_from,
        valid_to: row.valid_to,
        predecessors,
        successors,
    }))
}

/// Lists the organization directory.
///
/// Every authenticated caller may read the directory. Sorted by name in Vietnamese collation;
/// `q` ignores case and diacritics.
#[utoipa::path(
    tag = "organizations",
    params(OrganizationFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationPage),
        (status = 400, description = "Bad filter value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations")]
pub async fn list_organizations(
    state: web::Data<AppState>,
    _principal: Principal,
    filter: web::Query<OrganizationFilter>,
) -> AppResult<HttpResponse> {
    let filter = filter.into_inner();
    let query = ListQuery {
        parent_id: filter.parent_id,
        kind: filter.kind,
        q: filter.q.as_deref(),
        active: filter.active,
        // The directory is today's tree unless a day is asked; `active=false` asks for the
        // inactive units of any day (deactivated or ended), unless a day is given too.
        valid_on: filter
            .valid_on
            .or_else(|| (filter.active != Some(false)).then(crate::clock::today)),
        after: pagination::position(filter.cursor.as_deref())?,
        limit: pagination::limit(filter.limit)?,
    };
    Ok(HttpResponse::Ok().json(list_page(&state, query).await?))
}

/// Reads one organization with its ancestors.
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization, with `ancestors` root first", body = OrganizationDto,
            headers(("ETag" = String, description = "Strong entity tag of this version"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{id}")]
pub async fn get_organization(
    state: web::Data<AppState>,
    _principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read().await?;
    let row = repo::find(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let ancestors = repo::ancestors(&mut conn, &row.path).await?;
    let version = row.version;
    let mut dto = [OrganizationDto::from_row(row, Some(ancestors))];
    with_lineage(&mut conn, &mut dto).await?;
    let [dto] = dto;
    Ok(conditional::respond(&req, version, &dto))
}

/// Lists the direct children of an organization.
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id"), PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of child organizations", body = OrganizationPage),
        (status = 400, description = "Bad paging value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{id}/children")]
pub async fn list_children(
    state: web::Data<AppState>,
    _principal: Principal,
    id: web::Path<Uuid>,
    params: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    {
        let mut conn = state.db.read().await?;
        repo::path_of(&mut conn, *id)
            .await?
            .ok_or_else(AppError::not_found)?;
    }
    let query = ListQuery {
        parent_id: Some(*id),
        kind: None,
        q: None,
        active: None,
        valid_on: None,
        after: pagination::position(params.cursor.as_deref())?,
        limit: pagination::limit(params.limit)?,
    };
    Ok(HttpResponse::Ok().json(list_page(&state, query).await?))
}

/// Creates an organization.
///
/// Administrators may create anywhere (and roots); managers may create children of units in
/// their subtree.
#[utoipa::path(
    tag = "organizations",
    request_body = CreateOrganization,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = OrganizationDto,
            headers(("Location" = String, description = "URL of the new organization"), ("ETag" = String, description = "Entity tag")),
            links(
                ("GetOrganization" = (operation_id = "get_organization", parameters(("path.id" = "$response.body#/id")))),
                ("UpdateOrganization" = (operation_id = "update_organization", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("ListChildren" = (operation_id = "list_children", parameters(("path.id" = "$response.body#/id")))),
                ("MoveOrganization" = (operation_id = "move_organization", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("DeactivateOrganization" = (operation_id = "deactivate_organization", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
            )),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the parent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code is taken, or an active sibling unit has the same name (compared without case, accents, spacing and invisible characters)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/organizations")]
pub async fn create_organization(
    state: web::Data<AppState>,
    principal: Principal,
    body: Body<CreateOrganization>,
) -> AppResult<HttpResponse> {
    let request = body.into_inner();
    service::check_new(&request)?;
    let mut conn = state.db.write().await?;
    let principal = &principal;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            service::create(conn, principal, request).await
        })
        .await?;
    Ok(conditional::created(
        format!("/api/v1/organizations/{}", dto.id),
        dto.version,
        &dto,
    ))
}

/// Updates name, code or kind (JSON merge patch).
///
/// Administrators, or managers of the organization or of a higher unit.
#[utoipa::path(
    tag = "organizations",
    request_body(content = UpdateOrganization, content_type = "application/merge-patch+json", description = "Members to change"),
    params(
        ("id" = Uuid, Path, description = "Organization id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = OrganizationDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code is taken, or an active sibling unit has the same name (compared without case, accents, spacing and invisible characters)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/organizations/{id}")]
pub async fn update_organization(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<UpdateOrganization>,
) -> AppResult<HttpResponse> {
    let request = body.into_inner();
    service::check_patch(&request)?;
    let id = id.into_inner();
    let principal = &principal;
    let if_match = &if_match;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            service::update(conn, principal, id, if_match, request).await
        })
        .await?;
    Ok(conditional::updated(dto.version, &dto))
}

/// Moves an organization and its whole subtree under another parent (administrators).
///
/// Ids, memberships, pledges and history stay; access follows the new tree at the latest when
/// current access tokens expire.
#[utoipa::path(
    tag = "organizations",
    request_body = MoveOrganization,
    params(
        ("id" = Uuid, Path, description = "Organization id"),
        ("If-Match" = Option<String>, Header, description = "ETag the move is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Moved", body = OrganizationDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An active unit under the new parent has the same name", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new parent is missing, inactive, or inside the moved subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/organizations/{id}/move")]
pub async fn move_organization(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<MoveOrganization>,
) -> AppResult<HttpResponse> {
    service::require_move(&principal)?;
    let request = body.into_inner();
    let id = id.into_inner();
    let principal = &principal;
    let if_match = &if_match;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            service::move_subtree(conn, principal, id, if_match, request).await
        })
        .await?;
    state.lineage.set();
    Ok(conditional::updated(dto.version, &dto))
}

/// Deactivates an organization, keeping its history.
///
/// Administrators, or managers of a strictly higher unit. Inactive units are no longer expected
/// to register; units with active children must have them moved first.
#[utoipa::path(
    tag = "organizations",
    params(
        ("id" = Uuid, Path, description = "Organization id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deactivated", body = OrganizationDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already inactive, or still has active children", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/organizations/{id}/deactivate")]
pub async fn deactivate_organization(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let principal = &principal;
    let if_match = &if_match;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            service::deactivate(conn, principal, id, if_match).await
        })
        .await?;
    Ok(conditional::updated(dto.version, &dto))
}
