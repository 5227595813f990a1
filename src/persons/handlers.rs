//! HTTP handlers of `/persons` and of the year records of persons and organizations.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::dto::{
    CreatePerson, PersonDto, PersonFilter, PersonPage, PutYearRecord, UpdatePerson, YearRecordDto,
};
use super::repo::{self, ListQuery, NewPerson, PersonChanges, RecordWrite};
use crate::audit::{self, Change};
use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::conditional::{self, IfMatch};
use crate::creation::{self, Created, Creation};
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::extract::Body;
use crate::idempotency::{Idempotency, IdempotencyKey};
use crate::organizations::repo as organization_repo;
use crate::pagination;
use crate::state::AppState;
use crate::text::Checks;
use crate::titles::rules::SubjectType;

fn location(id: Uuid) -> String {
    format!("/api/v1/persons/{id}")
}

/// The path of a unit that exists and may take new persons (ended units name their
/// successor).
async fn unit_for_person(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    organization_id: Uuid,
    pointer: &str,
) -> AppResult<String> {
    let unit = organization_repo::find(conn, organization_id)
        .await?
        .ok_or_else(|| AppError::field(pointer, "no such organization in your subtree"))?;
    if !principal.can_see(&unit.path) {
        return Err(AppError::field(
            pointer,
            "no such organization in your subtree",
        ));
    }
    policy::require(principal, Operation::WritePerson, Target::unit(&unit.path))?;
    if !unit.active {
        let detail = organization_repo::inactive_detail(conn, organization_id).await?;
        return Err(AppError::field(pointer, detail));
    }
    Ok(unit.path)
}

fn check_person_text(checks: &mut Checks, full_name: Option<&str>, position: Option<&str>) {
    if let Some(full_name) = full_name {
        checks.length("/full_name", full_name, 1, 200);
    }
    if let Some(position) = position {
        checks.length("/position", position, 0, 200);
    }
}

fn optional_text(value: Option<&str>) -> Option<String> {
    value
        .map(|text| crate::text::nfc(text.trim()))
        .filter(|text| !text.is_empty())
}

/// Adds a person to a unit.
///
/// Managers of the unit or of a higher one. Names are stored in NFC; `position` and `gender`
/// are optional. `Idempotency-Key` is honoured.
#[utoipa::path(
    tag = "titles",
    request_body = CreatePerson,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = PersonDto,
            headers(("Location" = String, description = "URL of the person"), ("ETag" = String, description = "Entity tag"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members, an unknown or ended unit, or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/persons")]
pub async fn create_person(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<CreatePerson>,
) -> AppResult<HttpResponse> {
    let (request, digest) = body.into_parts();
    let mut checks = Checks::default();
    check_person_text(
        &mut checks,
        Some(&request.full_name),
        request.position.as_deref(),
    );
    checks.finish()?;
    let idempotency = Idempotency::new(&principal, key, digest);
    creation::create_once(&state.db, &principal, idempotency, &request).await
}

impl Creation for CreatePerson {
    type Dto = PersonDto;
    const ACTION: &'static str = "person.create";
    const ENTITY: &'static str = "person";

    async fn create(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        principal: &Principal,
    ) -> AppResult<Created<PersonDto>> {
        unit_for_person(conn, principal, self.organization_id, "/organization_id").await?;
        let full_name = crate::text::squash_spaces(&crate::text::nfc(&self.full_name));
        let position = optional_text(self.position.as_deref());
        let row = repo::insert(
            conn,
            NewPerson {
                id: Uuid::now_v7(),
                organization_id: self.organization_id,
                full_name: &full_name,
                position: position.as_deref(),
                gender: self.gender,
                created_by: Some(principal.id),
            },
        )
        .await?;
        let dto = PersonDto::from(row);
        Ok(Created {
            entity_id: dto.id,
            organization_id: Some(dto.organization_id),
            location: location(dto.id),
            version: Some(dto.version),
            dto,
        })
    }
}

/// Lists the persons the caller may see, in the order they were added.
///
/// `organization_id` (with `subtree=true`, its whole subtree) narrows the list; `q` finds
/// words of the name or position in any order, ignoring case and diacritics.
#[utoipa::path(
    tag = "titles",
    params(PersonFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of persons", body = PersonPage),
        (status = 400, description = "Bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner client without the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/persons")]
pub async fn list_persons(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<PersonFilter>,
) -> AppResult<HttpResponse> {
    let filter = filter.into_inner();
    crate::params::at_most("q", filter.q.as_deref(), 200)?;
    let limit = pagination::limit(filter.limit)?;
    let after: Option<Uuid> = pagination::position(filter.cursor.as_deref())?;
    let visible = match policy::subtrees_allowing(&principal, Operation::Read)? {
        Visibility::Everything => None,
        Visibility::Subtrees(roots) => Some(roots),
    };
    let mut conn = state.db.read().await?;
    let (organization_id, within) = match filter.organization_id {
        Some(id) => {
            let path = organization_repo::path_of(&mut conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            policy::require(&principal, Operation::Read, Target::unit(&path))?;
            if filter.subtree.unwrap_or(false) {
                (None, Some(path))
            } else {
                (Some(id), None)
            }
        }
        None => (None, None),
    };
    let rows = repo::list(
        &mut conn,
        ListQuery {
            visible,
            organization_id,
            within,
            q: filter.q,
            after,
            limit,
        },
    )
    .await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| row.id);
    Ok(HttpResponse::Ok().json(PersonPage {
        items: rows.into_iter().map(PersonDto::from).collect(),
        next_cursor,
    }))
}

/// Reads one person.
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Person id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The person", body = PersonDto, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/persons/{id}")]
pub async fn get_person(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read_own_writes().await?;
    let (row, path) = repo::find(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(&principal, Operation::Read, Target::unit(&path))?;
    let dto = PersonDto::from(row);
    Ok(conditional::respond(&req, dto.version, &dto))
}

/// Changes a person (JSON merge patch).
///
/// Managers of the person's unit or of a higher one; moving the person to another unit needs
/// the same role over that unit.
#[utoipa::path(
    tag = "titles",
    request_body(content = UpdatePerson, content_type = "application/merge-patch+json", description = "Members to change; `null` clears"),
    params(
        ("id" = Uuid, Path, description = "Person id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = PersonDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match; the body names the current one", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/persons/{id}")]
pub async fn update_person(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<UpdatePerson>,
) -> AppResult<HttpResponse> {
    let request = body.into_inner();
    let id = id.into_inner();
    let mut checks = Checks::default();
    if matches!(request.full_name, Some(None)) {
        checks.fail("/full_name", "must not be null");
    }
    if matches!(request.organization_id, Some(None)) {
        checks.fail("/organization_id", "must not be null");
    }
    check_person_text(
        &mut checks,
        request.full_name.as_ref().and_then(Option::as_deref),
        request.position.as_ref().and_then(Option::as_deref),
    );
    checks.finish()?;
    let principal = &principal;
    let if_match = &if_match;
    let request = &request;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let (before, path) = repo::find_for_update(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            policy::require(principal, Operation::WritePerson, Target::unit(&path))?;
            if_match.check(before.version)?;
            let organization_id = request.organization_id.flatten();
            if let Some(target) = organization_id
                && target != before.organization_id
            {
                unit_for_person(conn, principal, target, "/organization_id").await?;
            }
            let changes = PersonChanges {
                organization_id,
                full_name: request
                    .full_name
                    .clone()
                    .flatten()
                    .map(|name| crate::text::squash_spaces(&crate::text::nfc(&name))),
                position: request
                    .position
                    .as_ref()
                    .map(|position| optional_text(position.as_deref())),
                gender: request.gender,
            };
            let row = repo::update(conn, id, &changes).await?;
            let before = PersonDto::from(before);
            let dto = PersonDto::from(row);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "person.update",
                    entity_type: "person",
                    entity_id: id,
                    organization_id: Some(dto.organization_id),
                    before: audit::snapshot(&before),
                    after: audit::snapshot(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(conditional::updated(dto.version, &dto))
}

/// The years a record may be kept for.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

fn checked_year(year: i32) -> AppResult<i32> {
    if YEARS.contains(&year) {
        Ok(year)
    } else {
        Err(AppError::bad_request(
            ProblemCode::InvalidPath,
            "year must be between 2000 and 2100",
        )
        .with_extra("parameter", "year"))
    }
}

/// A subject of a year record: who it is and the unit whose subtree sees it.
struct RecordSubject {
    subject_type: SubjectType,
    id: Uuid,
    /// Path of the person's unit, or of the organization itself.
    path: String,
    organization_id: Uuid,
}

async fn record_subject(
    conn: &mut diesel_async::AsyncPgConnection,
    subject_type: SubjectType,
    id: Uuid,
) -> AppResult<RecordSubject> {
    let (path, organization_id) = match subject_type {
        SubjectType::Person => {
            let (row, path) = repo::find(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            (path, row.organization_id)
        }
        SubjectType::Organization => (
            organization_repo::path_of(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?,
            id,
        ),
    };
    Ok(RecordSubject {
        subject_type,
        id,
        path,
        organization_id,
    })
}

async fn read_year(
    state: &AppState,
    principal: &Principal,
    subject_type: SubjectType,
    id: Uuid,
    year: i32,
    req: &HttpRequest,
) -> AppResult<HttpResponse> {
    let year = checked_year(year)?;
    let mut conn = state.db.read_own_writes().await?;
    let subject = record_subject(&mut conn, subject_type, id).await?;
    policy::require(principal, Operation::Read, Target::unit(&subject.path))?;
    let row = repo::year_record(&mut conn, id, year)
        .await?
        .ok_or_else(AppError::not_found)?;
    let dto = YearRecordDto::from(row);
    Ok(conditional::respond(req, dto.version, &dto))
}

async fn write_year(
    state: &AppState,
    principal: &Principal,
    subject_type: SubjectType,
    id: Uuid,
    year: i32,
    if_match: &IfMatch,
    request: PutYearRecord,
) -> AppResult<HttpResponse> {
    let year = checked_year(year)?;
    let mut checks = Checks::default();
    if let Some(initiative) = &request.initiative {
        checks.length("/initiative", initiative, 0, 1000);
    }
    checks.finish()?;
    let initiative = optional_text(request.initiative.as_deref());
    let mut conn = state.db.write().await?;
    let (dto, created) = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let subject = record_subject(conn, subject_type, id).await?;
            let operation = match subject_type {
                SubjectType::Person => Operation::WritePerson,
                SubjectType::Organization => Operation::RateOrganization,
            };
            policy::require(principal, operation, Target::unit(&subject.path))?;
            let before = repo::year_record(conn, id, year).await?;
            match &before {
                Some(before) => if_match.check(before.version)?,
                None if if_match.expected_version()?.is_some() => {
                    return Err(AppError::precondition_failed("\"0\""));
                }
                None => {}
            }
            let row = repo::put_year_record(
                conn,
                RecordWrite {
                    subject_type: subject.subject_type,
                    subject_id: subject.id,
                    year,
                    completion_rating: request.completion_rating,
                    initiative: initiative.as_deref(),
                    discipline: request.discipline,
                    updated_by: Some(principal.id),
                },
            )
            .await?;
            let created = before.is_none();
            let before = before.map(YearRecordDto::from);
            let dto = YearRecordDto::from(row);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "year_record.put",
                    entity_type: "year_record",
                    entity_id: id,
                    organization_id: Some(subject.organization_id),
                    before: before.as_ref().and_then(audit::snapshot),
                    after: audit::snapshot(&dto),
                },
            )
            .await?;
            Ok((dto, created))
        })
        .await?;
    let path = match subject_type {
        SubjectType::Person => format!("/api/v1/persons/{id}/years/{year}"),
        SubjectType::Organization => format!("/api/v1/organizations/{id}/years/{year}"),
    };
    Ok(if created {
        conditional::created(path, dto.version, &dto)
    } else {
        conditional::updated(dto.version, &dto)
    })
}

/// Reads a person's record of a year.
#[utoipa::path(
    tag = "titles",
    params(
        ("id" = Uuid, Path, description = "Person id"),
        ("year" = i32, Path, minimum = 2000, maximum = 2100, description = "The year"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record", body = YearRecordDto, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "A year outside 2000–2100", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person in your subtree, or no record of that year", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/persons/{id}/years/{year}")]
pub async fn get_person_year(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, i32)>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let (id, year) = path.into_inner();
    read_year(&state, &principal, SubjectType::Person, id, year, &req).await
}

/// Records a person's year: completion rating, initiative, discipline (the whole record).
///
/// Managers of the person's unit or of a higher one. 201 when the year had no record yet.
#[utoipa::path(
    tag = "titles",
    request_body = PutYearRecord,
    params(
        ("id" = Uuid, Path, description = "Person id"),
        ("year" = i32, Path, minimum = 2000, maximum = 2100, description = "The year"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = YearRecordDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 201, description = "Recorded", body = YearRecordDto,
            headers(("Location" = String, description = "URL of the record"), ("ETag" = String, description = "Entity tag"))),
        (status = 400, description = "Malformed JSON, or a year outside 2000–2100", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the person's unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match; the body names the current one", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rating or discipline outside the lists, or invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/persons/{id}/years/{year}")]
pub async fn put_person_year(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, i32)>,
    if_match: IfMatch,
    body: Body<PutYearRecord>,
) -> AppResult<HttpResponse> {
    let (id, year) = path.into_inner();
    write_year(
        &state,
        &principal,
        SubjectType::Person,
        id,
        year,
        &if_match,
        body.into_inner(),
    )
    .await
}

/// Reads a unit's record of a year.
#[utoipa::path(
    tag = "titles",
    params(
        ("id" = Uuid, Path, description = "Organization id"),
        ("year" = i32, Path, minimum = 2000, maximum = 2100, description = "The year"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record", body = YearRecordDto, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "A year outside 2000–2100", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit in your subtree, or no record of that year", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{id}/years/{year}")]
pub async fn get_organization_year(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, i32)>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let (id, year) = path.into_inner();
    read_year(
        &state,
        &principal,
        SubjectType::Organization,
        id,
        year,
        &req,
    )
    .await
}

/// Records a unit's year: completion rating, initiative, discipline (the whole record).
///
/// Managers of a higher unit: a unit is rated by those above it. 201 when the year had no
/// record yet.
#[utoipa::path(
    tag = "titles",
    request_body = PutYearRecord,
    params(
        ("id" = Uuid, Path, description = "Organization id"),
        ("year" = i32, Path, minimum = 2000, maximum = 2100, description = "The year"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = YearRecordDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 201, description = "Recorded", body = YearRecordDto,
            headers(("Location" = String, description = "URL of the record"), ("ETag" = String, description = "Entity tag"))),
        (status = 400, description = "Malformed JSON, or a year outside 2000–2100", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of a higher unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match; the body names the current one", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rating or discipline outside the lists, or invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/organizations/{id}/years/{year}")]
pub async fn put_organization_year(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, i32)>,
    if_match: IfMatch,
    body: Body<PutYearRecord>,
) -> AppResult<HttpResponse> {
    let (id, year) = path.into_inner();
    write_year(
        &state,
        &principal,
        SubjectType::Organization,
        id,
        year,
        &if_match,
        body.into_inner(),
    )
    .await
}
