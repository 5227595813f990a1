//! HTTP handlers of `/users` and `/clients`: thin wrappers over `users::service`, which holds
//! the rules and the transactions.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use uuid::Uuid;

use super::dto::{
    ClientDto, ClientFilter, ClientPage, CreateClient, CreateUser, CreatedClientDto,
    ReplaceMemberships, UpdateUser, UserDto, UserFilter, UserPage,
};
use super::repo::{self, ClientListQuery, UserListQuery, UserScope};
use super::service;
use crate::auth::authorize::is_within;
use crate::auth::policy::{require_admin, require_user};
use crate::auth::principal::Principal;
use crate::conditional::{self, IfMatch};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::Body;
use crate::pagination;
use crate::state::AppState;

/// Lists users.
///
/// Administrators list every user; managers list the users with at least one membership inside
/// their subtree. Sorted by username ignoring case; `q` searches username and display name
/// ignoring case and Vietnamese diacritics.
#[utoipa::path(
    tag = "administration",
    params(UserFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "Bad filter value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither administrator nor manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` names no organization the caller manages", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<UserFilter>,
) -> AppResult<HttpResponse> {
    require_user(&principal)?;
    let filter = filter.into_inner();
    let scope = if principal.is_admin() {
        UserScope::Everyone
    } else {
        let roots = service::manager_roots(&principal);
        if roots.is_empty() {
            return Err(AppError::forbidden(
                "only administrators and managers list users",
            ));
        }
        UserScope::MembersOf(roots)
    };
    let limit = pagination::limit(filter.limit)?;
    let after: Option<(String, Uuid)> = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read().await?;
    let (organization_id, organization_subtree) = match filter.organization_id {
        None => (None, None),
        Some(organization_id) => {
            let path = crate::organizations::repo::path_of(&mut conn, organization_id)
                .await?
                .ok_or_else(AppError::not_found)?;
            if let UserScope::MembersOf(roots) = &scope
                && !roots.iter().any(|root| is_within(&path, root))
            {
                return Err(AppError::not_found());
            }
            if filter.subtree.unwrap_or(false) {
                (None, Some(path))
            } else {
                (Some(organization_id), None)
            }
        }
    };
    let rows = repo::list(
        &mut conn,
        UserListQuery {
            scope,
            organization_id,
            organization_subtree,
            q: filter.q.as_deref(),
            disabled: filter.disabled,
            after,
            limit,
        },
    )
    .await?;
    let (rows, next_cursor) =
        pagination::paginate(rows, limit, |row| (row.username.to_lowercase(), row.id));
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut memberships = repo::memberships_of(&mut conn, &ids).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let held = memberships.remove(&row.id).unwrap_or_default();
            service::user_dto(row, &held)
        })
        .collect();
    Ok(HttpResponse::Ok().json(UserPage { items, next_cursor }))
}

/// Creates a user with its memberships.
///
/// Administrators create anyone anywhere. Managers create users with at least one membership,
/// every membership inside their subtree and at most `manager`.
#[utoipa::path(
    tag = "administration",
    request_body = CreateUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = UserDto,
            headers(("Location" = String, description = "URL of the new user"), ("ETag" = String, description = "Entity tag")),
            links(
                ("GetUser" = (operation_id = "get_user", parameters(("path.id" = "$response.body#/id")))),
                ("UpdateUser" = (operation_id = "update_user", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("ReplaceMemberships" = (operation_id = "replace_memberships", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
            )),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A membership outside the caller's subtree or above its role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    principal: Principal,
    body: Body<CreateUser>,
) -> AppResult<HttpResponse> {
    let dto = service::create_user(&state, &principal, body.into_inner()).await?;
    Ok(conditional::created(
        format!("/api/v1/users/{}", dto.id),
        dto.version,
        &dto,
    ))
}

/// Reads one user with its memberships.
///
/// Visible to administrators, to the user, and to managers of a unit the user belongs to;
/// anyone else gets 404.
#[utoipa::path(
    tag = "administration",
    params(("id" = Uuid, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserDto,
            headers(("ETag" = String, description = "Strong entity tag of this version"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Partner clients may not read users", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read_own_writes().await?;
    let (row, memberships) = service::visible_user(&mut conn, &principal, *id).await?;
    let version = row.version;
    Ok(conditional::respond(
        &req,
        version,
        &service::user_dto(row, &memberships),
    ))
}

/// Updates display name, disabled flag or password (JSON merge patch).
///
/// Administrators, or managers of every unit the user belongs to (never an administrator's
/// account). Users change their own display name and password (giving `current_password`) but
/// not their own `disabled`. Disabling a user or changing a password revokes every refresh
/// token of the user; access tokens already issued expire within their lifetime.
#[utoipa::path(
    tag = "administration",
    request_body(content = UpdateUser, content_type = "application/merge-patch+json", description = "Members to change"),
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = UserDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last enabled administrator cannot be disabled", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members, or a wrong current password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords for this account (throttled like logins)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<UpdateUser>,
) -> AppResult<HttpResponse> {
    let dto = service::update_user(
        &state,
        &principal,
        id.into_inner(),
        &if_match,
        body.into_inner(),
        crate::ratelimit::client_address(&req),
    )
    .await?;
    Ok(conditional::updated(dto.version, &dto))
}

/// Replaces the memberships of a user.
///
/// Administrators set any memberships. Managers add, remove and change memberships inside their
/// subtree, never above `manager`; the user's memberships outside the caller's subtree must be
/// sent unchanged. Nobody but an administrator changes their own memberships.
#[utoipa::path(
    tag = "administration",
    request_body = ReplaceMemberships,
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user with its new memberships", body = UserDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A change outside the caller's subtree or above its role, or of the caller's own memberships", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last enabled administrator cannot lose the role", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members (unknown or inactive organization, one listed twice)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/users/{id}/memberships")]
pub async fn replace_memberships(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<ReplaceMemberships>,
) -> AppResult<HttpResponse> {
    let dto = service::replace_memberships(
        &state,
        &principal,
        id.into_inner(),
        &if_match,
        body.into_inner(),
    )
    .await?;
    Ok(conditional::updated(dto.version, &dto))
}

/// Lists partner clients (administrators).
#[utoipa::path(
    tag = "administration",
    params(ClientFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of clients, oldest first; secrets are never shown", body = ClientPage),
        (status = 400, description = "Bad filter value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clients")]
pub async fn list_clients(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<ClientFilter>,
) -> AppResult<HttpResponse> {
    require_admin(&principal)?;
    let filter = filter.into_inner();
    let limit = pagination::limit(filter.limit)?;
    let after = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read().await?;
    let rows = repo::list_clients(
        &mut conn,
        ClientListQuery {
            organization_id: filter.organization_id,
            revoked: filter.revoked,
            after,
            limit,
        },
    )
    .await?;
    let (rows, next_cursor) =
        pagination::paginate(rows, limit, |(row, _)| (row.created_at, row.id));
    let items: Vec<ClientDto> = rows
        .into_iter()
        .map(|(row, organization_name)| service::client_dto(row, organization_name))
        .collect();
    Ok(HttpResponse::Ok().json(ClientPage { items, next_cursor }))
}

/// Creates a partner client (administrators).
///
/// The response carries `client_secret`, shown this once and stored only as a digest.
#[utoipa::path(
    tag = "administration",
    request_body = CreateClient,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the only response that shows the secret", body = CreatedClientDto,
            headers(("Location" = String, description = "URL of the new client"), ("ETag" = String, description = "Entity tag")),
            links(
                ("GetClient" = (operation_id = "get_client", parameters(("path.id" = "$response.body#/id")))),
                ("DeleteClient" = (operation_id = "delete_client", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
            )),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    principal: Principal,
    body: Body<CreateClient>,
) -> AppResult<HttpResponse> {
    let created = service::create_client(&state, &principal, body.into_inner()).await?;
    // A new client is in its first state (see `service::client_version`).
    Ok(conditional::created(
        format!("/api/v1/clients/{}", created.client.id),
        1,
        &created,
    ))
}

/// Reads one partner client (administrators); never its secret.
#[utoipa::path(
    tag = "administration",
    params(("id" = Uuid, Path, description = "Client id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client", body = ClientDto,
            headers(("ETag" = String, description = "Strong entity tag of this state"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clients/{id}")]
pub async fn get_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    require_admin(&principal)?;
    let mut conn = state.db.read_own_writes().await?;
    let (row, organization_name) = repo::find_client(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let version = service::client_version(&row);
    Ok(conditional::respond(
        &req,
        version,
        &service::client_dto(row, organization_name),
    ))
}

/// Deletes a partner client (administrators).
///
/// The client can no longer obtain tokens; access tokens it already holds expire within their
/// lifetime. The record stays, with `revoked_at`, for the audit trail; deleting it again
/// changes nothing.
#[utoipa::path(
    tag = "administration",
    params(
        ("id" = Uuid, Path, description = "Client id"),
        ("If-Match" = Option<String>, Header, description = "ETag the deletion is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/clients/{id}")]
pub async fn delete_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    service::revoke_client(&state, &principal, id.into_inner(), &if_match).await?;
    Ok(HttpResponse::NoContent().finish())
}
