//! HTTP handlers of rule sets, base salaries, title registrations and eligibility.

use actix_web::{HttpResponse, get, post, web};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::dto::{
    BaseSalaryDto, BaseSalaryList, CandidatePage, CandidateParams, CreateBaseSalary,
    CreateRegistration, EligibilityDto, EligibilityParams, RegistrationDto, RegistrationFilter,
    RegistrationPage, RuleSetDto, RuleSetFilter, RuleSetList,
};
use super::repo::{self, BaseSalaryRow, NewRuleSet, RegistrationQuery, RegistrationRow};
use super::rules::{RuleSetContent, SubjectType};
use super::service::{self, end_of};
use crate::audit::{self, Change};
use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation, Target, require_admin};
use crate::auth::principal::Principal;
use crate::creation::{self, Created, Creation};
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::extract::Body;
use crate::idempotency::{Idempotency, IdempotencyKey};
use crate::organizations::repo as organization_repo;
use crate::pagination;
use crate::state::AppState;
use crate::text::Checks;

/// Lists the rule sets, oldest first.
///
/// Readable by every authenticated caller. `on` keeps the one in force that day;
/// superseded versions only with `include_superseded=true`.
#[utoipa::path(
    tag = "titles",
    params(RuleSetFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rule sets", body = RuleSetList),
        (status = 400, description = "Bad filter value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rule-sets")]
pub async fn list_rule_sets(
    state: web::Data<AppState>,
    _principal: Principal,
    filter: web::Query<RuleSetFilter>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read().await?;
    let rows = repo::rule_sets(
        &mut conn,
        filter.on,
        filter.include_superseded.unwrap_or(false),
    )
    .await?;
    let items = rows
        .into_iter()
        .map(service::to_dto)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(RuleSetList { items }))
}

/// Reads one rule set (any version).
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Rule set id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rule set", body = RuleSetDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule set", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rule-sets/{id}")]
pub async fn get_rule_set(
    state: web::Data<AppState>,
    _principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read_own_writes().await?;
    let row = repo::rule_set(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(HttpResponse::Ok().json(service::to_dto(row)?))
}

/// Publishes a rule set, or the next version of one (same `code`).
///
/// Administrators only. Rule sets never change: a correction is a new version that
/// supersedes the current one of its code, refused with 409 `rule_set_in_use` once an award
/// was conferred under that one. Conditions come from the closed set; every title they name
/// must be a title of the set; no two current rule sets may be in force on the same day.
#[utoipa::path(
    tag = "titles",
    request_body = RuleSetContent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Published", body = RuleSetDto,
            headers(("Location" = String, description = "URL of the rule set"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`rule_set_in_use` (its current version decided awards), `rule_set_overlap` (another rule set is in force on one of its days), or the same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members: an unknown condition, a title unknown to the set, a bad fraction …", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rule-sets")]
pub async fn create_rule_set(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<RuleSetContent>,
) -> AppResult<HttpResponse> {
    require_admin(&principal)?;
    let (content, digest) = body.into_parts();
    let mut checks = Checks::default();
    content.check(&mut checks);
    checks.finish()?;
    let idempotency = Idempotency::new(&principal, key, digest);
    creation::create_once(&state.db, &principal, idempotency, &content).await
}

impl Creation for RuleSetContent {
    type Dto = RuleSetDto;
    const ACTION: &'static str = "rule_set.create";
    const ENTITY: &'static str = "rule_set";

    async fn create(
        &self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
    ) -> AppResult<Created<RuleSetDto>> {
        let content = self;
        let current = repo::current_version_for_update(conn, &content.code).await?;
        if let Some(current) = &current {
            if repo::rule_set_used(conn, current.id).await? {
                return Err(AppError::conflict(
                    ProblemCode::RuleSetInUse,
                    format!(
                        "version {} of {} decided awards and stays as it is; publish the correction under a new code from the day it applies",
                        current.version, current.code
                    ),
                ));
            }
            repo::supersede(conn, current.id).await?;
        }
        let version = repo::newest_version(conn, &content.code).await? + 1;
        let row = repo::insert_rule_set(
            conn,
            NewRuleSet {
                id: Uuid::now_v7(),
                version,
                content,
                supersedes: current.as_ref().map(|row| row.id),
                created_by: Some(principal.id),
            },
        )
        .await
        .map_err(overlap)?;
        let dto = service::to_dto(row)?;
        Ok(Created {
            entity_id: dto.id,
            organization_id: None,
            location: format!("/api/v1/rule-sets/{}", dto.id),
            version: None,
            dto,
        })
    }
}

fn overlap(error: diesel::result::Error) -> AppError {
    match &error {
        diesel::result::Error::DatabaseError(_, info)
            if info.constraint_name() == Some("rule_sets_no_overlap") =>
        {
            AppError::conflict(
                ProblemCode::RuleSetOverlap,
                "another current rule set is in force on one of these days; end it first (publish its version with an effective_to)",
            )
        }
        _ => error.into(),
    }
}

fn salary_dto(row: BaseSalaryRow) -> BaseSalaryDto {
    BaseSalaryDto {
        effective_from: row.effective_from,
        amount: row.amount,
        legal_basis: row.legal_basis,
        created_at: row.created_at,
    }
}

/// Lists the base salaries (lương cơ sở), oldest first.
#[utoipa::path(
    tag = "titles",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The base salaries", body = BaseSalaryList),
        (status = 400, description = "A query parameter (this operation has none)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/base-salaries")]
pub async fn list_base_salaries(
    state: web::Data<AppState>,
    _principal: Principal,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read().await?;
    let items = repo::base_salaries(&mut conn)
        .await?
        .into_iter()
        .map(salary_dto)
        .collect();
    Ok(HttpResponse::Ok().json(BaseSalaryList { items }))
}

/// Records a base salary from a day on.
///
/// Administrators only; one amount per day (409 `already_exists`).
#[utoipa::path(
    tag = "titles",
    request_body = CreateBaseSalary,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = BaseSalaryDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A base salary from that day exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/base-salaries")]
pub async fn create_base_salary(
    state: web::Data<AppState>,
    principal: Principal,
    body: Body<CreateBaseSalary>,
) -> AppResult<HttpResponse> {
    require_admin(&principal)?;
    let request = body.into_inner();
    let mut checks = Checks::default();
    checks.length("/legal_basis", &request.legal_basis, 1, 300);
    if !(1..=1_000_000_000).contains(&request.amount) {
        checks.fail("/amount", "must be 1 to 1 000 000 000 VND");
    }
    checks.finish()?;
    let principal = &principal;
    let request = &request;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let row = repo::insert_base_salary(
                conn,
                request.effective_from,
                request.amount,
                request.legal_basis.trim(),
                Some(principal.id),
            )
            .await
            .map_err(|error| match &error {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => AppError::conflict(
                    ProblemCode::AlreadyExists,
                    format!("a base salary from {} is recorded", request.effective_from),
                ),
                _ => error.into(),
            })?;
            let dto = salary_dto(row);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "base_salary.create",
                    entity_type: "base_salary",
                    entity_id: Uuid::nil(),
                    organization_id: None,
                    before: None,
                    after: audit::snapshot(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(HttpResponse::Created().json(dto))
}

fn registration_dto(row: RegistrationRow) -> RegistrationDto {
    let (subject_type, subject_id) = row.subject();
    RegistrationDto {
        id: row.id,
        subject_type,
        subject_id,
        title_code: row.title_code,
        year: row.year,
        created_at: row.created_at,
    }
}

/// Registers a person or a unit for a title of a year (đăng ký danh hiệu).
///
/// Managers of the subject's unit or of a higher one. The title must be one of the rule set
/// in force at the end of `year`, for the subject's kind (individual or collective); a unit
/// ended before `year` takes none (422 naming its successor). A second registration of the
/// same title and year is a 409 `already_exists`.
#[utoipa::path(
    tag = "titles",
    request_body = CreateRegistration,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = RegistrationDto,
            headers(("Location" = String, description = "URL of the registrations of the subject"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the subject's unit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already registered for that title and year, or the same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown subject, a title unknown to the rule set in force or of the other kind of subject, no rule set in force", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/title-registrations")]
pub async fn create_registration(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<CreateRegistration>,
) -> AppResult<HttpResponse> {
    let (request, digest) = body.into_parts();
    let idempotency = Idempotency::new(&principal, key, digest);
    creation::create_once(&state.db, &principal, idempotency, &request).await
}

impl Creation for CreateRegistration {
    type Dto = RegistrationDto;
    const ACTION: &'static str = "title_registration.create";
    const ENTITY: &'static str = "title_registration";

    async fn create(
        &self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
    ) -> AppResult<Created<RegistrationDto>> {
        let request = self;
        let subject = repo::subjects(conn, request.subject_type, &[request.subject_id])
            .await?
            .into_iter()
            .next()
            .filter(|subject| principal.can_see(&subject.path))
            .ok_or_else(|| {
                AppError::field(
                    "/subject_id",
                    format!("no such {} in your subtree", request.subject_type),
                )
            })?;
        policy::require(
            principal,
            Operation::RegisterTitle,
            Target::unit(&subject.path),
        )?;
        if request.subject_type == SubjectType::Organization
            && let Some(unit) = organization_repo::find(conn, subject.id).await?
            && unit
                .valid_to
                .is_some_and(|to| to < service::start_of(request.year))
        {
            let detail = organization_repo::inactive_detail(conn, subject.id).await?;
            return Err(AppError::field("/subject_id", detail));
        }
        let rules = service::in_force(conn, end_of(request.year), "/year").await?;
        let title = rules.title(&request.title_code, "/title_code")?;
        if title.subject != request.subject_type.title_subject() {
            return Err(AppError::field(
                "/title_code",
                format!(
                    "{} is a title of the {} subject; a {} cannot hold it",
                    title.code, title.subject, request.subject_type
                ),
            ));
        }
        let row = repo::insert_registration(
            conn,
            Uuid::now_v7(),
            (request.subject_type, request.subject_id),
            &title.code,
            request.year,
            Some(principal.id),
        )
        .await
        .map_err(|error| match &error {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => AppError::conflict(
                ProblemCode::AlreadyExists,
                format!(
                    "{} is already registered for {} in {}",
                    subject.name, request.title_code, request.year
                ),
            ),
            _ => error.into(),
        })?;
        let dto = registration_dto(row);
        Ok(Created {
            entity_id: dto.id,
            organization_id: Some(subject.organization_id),
            location: format!("/api/v1/title-registrations?subject_id={}", dto.subject_id),
            version: None,
            dto,
        })
    }
}

/// The subtrees the caller reads, and the narrowing by `organization_id` (404 outside).
async fn subtree_scope(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    organization_id: Option<Uuid>,
    subtree: bool,
) -> AppResult<(Option<Vec<String>>, Option<Uuid>, Option<String>)> {
    let visible = match policy::subtrees_allowing(principal, Operation::Read)? {
        Visibility::Everything => None,
        Visibility::Subtrees(roots) => Some(roots),
    };
    let Some(id) = organization_id else {
        return Ok((visible, None, None));
    };
    let path = organization_repo::path_of(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(principal, Operation::Read, Target::unit(&path))?;
    Ok(if subtree {
        (visible, None, Some(path))
    } else {
        (visible, Some(id), None)
    })
}

/// Lists title registrations the caller may see, in the order they were made.
#[utoipa::path(
    tag = "titles",
    params(RegistrationFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of registrations", body = RegistrationPage),
        (status = 400, description = "Bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner client without the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/title-registrations")]
pub async fn list_registrations(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<RegistrationFilter>,
) -> AppResult<HttpResponse> {
    let filter = filter.into_inner();
    crate::params::in_range("year", filter.year, crate::persons::handlers::YEARS)?;
    crate::params::at_most("title_code", filter.title_code.as_deref(), 64)?;
    let limit = pagination::limit(filter.limit)?;
    let after: Option<Uuid> = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read().await?;
    let (visible, organization_id, within) = subtree_scope(
        &mut conn,
        &principal,
        filter.organization_id,
        filter.subtree.unwrap_or(false),
    )
    .await?;
    let rows = repo::registrations(
        &mut conn,
        &RegistrationQuery {
            visible,
            organization_id,
            within,
            subject_id: filter.subject_id,
            title_code: filter.title_code,
            year: filter.year,
            after,
            limit,
        },
    )
    .await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| row.id);
    Ok(HttpResponse::Ok().json(RegistrationPage {
        items: rows.into_iter().map(registration_dto).collect(),
        next_cursor,
    }))
}

/// Whether a subject may be proposed for a title of a year, condition by condition.
///
/// Judged by the rule set in force on `on` (default: 31 December of `year`). "Holds title T"
/// is met by an unrevoked award of T that year or, in the year being decided, by being
/// registered for T and eligible for it (a chien_si_thi_dua_co_so is proposed together with
/// its lao_dong_tien_tien); earlier years count awards only. Each check says what was
/// required and what was found.
#[utoipa::path(
    tag = "titles",
    params(EligibilityParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verdict with every check", body = EligibilityDto),
        (status = 400, description = "A missing or bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subject in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No rule set in force on the day, or a title unknown to it or of the other kind of subject", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/eligibility")]
pub async fn eligibility(
    state: web::Data<AppState>,
    principal: Principal,
    params: web::Query<EligibilityParams>,
) -> AppResult<HttpResponse> {
    let params = params.into_inner();
    crate::params::in_range("year", Some(params.year), crate::persons::handlers::YEARS)?;
    crate::params::at_most("title_code", Some(&params.title_code), 64)?;
    let mut conn = state.db.read().await?;
    let subject = repo::subjects(&conn, params.subject_type, &[params.subject_id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(AppError::not_found)?;
    policy::require(&principal, Operation::Read, Target::unit(&subject.path))?;
    let on = params.on.unwrap_or_else(|| end_of(params.year));
    let rules = service::in_force(&mut conn, on, "/on").await?;
    let title = rules.title(&params.title_code, "/title_code")?;
    if title.subject != params.subject_type.title_subject() {
        return Err(AppError::field(
            "/title_code",
            format!(
                "{} is a title of the {} subject; a {} cannot hold it",
                title.code, title.subject, params.subject_type
            ),
        ));
    }
    let loaded = service::load(
        &mut conn,
        &rules.content,
        params.subject_type,
        &[params.subject_id],
        params.year,
    )
    .await?;
    let loaded = loaded.first().ok_or_else(AppError::not_found)?;
    Ok(HttpResponse::Ok().json(service::verdict(
        &rules,
        title,
        params.subject_type,
        params.year,
        on,
        loaded,
    )))
}

/// How many registrations one candidates request reads at most.
const CANDIDATE_SCAN: i64 = 2000;
const CANDIDATE_BATCH: i64 = 500;

/// The subjects of a subtree registered for a title of a year who may be proposed for it
/// (`eligible=false`: those who may not, with what fails), each with its checks.
///
/// In the order they registered. A page reads at most 2 000 registrations, so it may hold
/// fewer than `limit` items while `next_cursor` is set: continue until it is `null`.
#[utoipa::path(
    tag = "titles",
    params(CandidateParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of candidates", body = CandidatePage),
        (status = 400, description = "A missing or bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No rule set in force on the day, or a title unknown to it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/eligibility/candidates")]
pub async fn candidates(
    state: web::Data<AppState>,
    principal: Principal,
    params: web::Query<CandidateParams>,
) -> AppResult<HttpResponse> {
    let params = params.into_inner();
    crate::params::in_range("year", Some(params.year), crate::persons::handlers::YEARS)?;
    crate::params::at_most("title_code", Some(&params.title_code), 64)?;
    let limit = pagination::limit(params.limit)?;
    let mut after: Option<Uuid> = pagination::position(params.cursor.as_deref())?;
    let wanted = params.eligible.unwrap_or(true);
    let mut conn = state.db.read().await?;
    let (visible, _, within) =
        subtree_scope(&mut conn, &principal, Some(params.organization_id), true).await?;
    let on = params.on.unwrap_or_else(|| end_of(params.year));
    let rules = service::in_force(&mut conn, on, "/on").await?;
    let title = rules.title(&params.title_code, "/title_code")?;
    let subject_type = match title.subject {
        super::rules::TitleSubject::Individual => SubjectType::Person,
        super::rules::TitleSubject::Collective => SubjectType::Organization,
    };
    let mut items: Vec<EligibilityDto> = Vec::new();
    let mut scanned = 0;
    let mut next_cursor = None;
    // Every subject of a batch has its facts loaded, and most registrants of a common title are
    // eligible: the first batch is about a page (a batch of 500 for a page of 50 cost 40 ms at
    // the root of the 1M data set), and each later one doubles, up to CANDIDATE_BATCH.
    let mut batch_size = (limit + limit / 4 + 1).min(CANDIDATE_BATCH);
    loop {
        let batch = batch_size.min(CANDIDATE_SCAN - scanned);
        batch_size = (batch_size * 2).min(CANDIDATE_BATCH);
        let rows = repo::registrations(
            &mut conn,
            &RegistrationQuery {
                visible: visible.clone(),
                within: within.clone(),
                title_code: Some(title.code.clone()),
                year: Some(params.year),
                after,
                limit: batch,
                ..RegistrationQuery::default()
            },
        )
        .await?;
        let more = rows.len() as i64 > batch;
        let rows: Vec<RegistrationRow> = rows.into_iter().take(batch as usize).collect();
        scanned += rows.len() as i64;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.subject().1).collect();
        let loaded =
            service::load(&mut conn, &rules.content, subject_type, &ids, params.year).await?;
        let by_id: std::collections::HashMap<Uuid, &service::Loaded> = loaded
            .iter()
            .map(|entry| (entry.subject.id, entry))
            .collect();
        for row in &rows {
            after = Some(row.id);
            let Some(entry) = by_id.get(&row.subject().1) else {
                continue;
            };
            let verdict = service::verdict(&rules, title, subject_type, params.year, on, entry);
            if verdict.eligible == wanted {
                items.push(verdict);
                if items.len() as i64 == limit {
                    break;
                }
            }
        }
        let page_full = items.len() as i64 == limit;
        let exhausted = !more && after == rows.last().map(|row| row.id);
        if page_full {
            // More may follow unless this was the very last registration.
            if !exhausted {
                next_cursor = after.map(|id| pagination::encode_cursor(&id));
            }
            break;
        }
        if !more {
            break;
        }
        if scanned >= CANDIDATE_SCAN {
            next_cursor = after.map(|id| pagination::encode_cursor(&id));
            break;
        }
    }
    Ok(HttpResponse::Ok().json(CandidatePage {
        title_code: title.code.clone(),
        title_name: title.name.clone(),
        year: params.year,
        on,
        rule_set: rules.reference(),
        items,
        next_cursor,
    }))
}
