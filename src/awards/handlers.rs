//! HTTP handlers of council sessions, ballots, award decisions, revocations, the awards of a
//! subject and `/stats/awards`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Datelike, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::dto::{
    AwardGroup, AwardGrouping, AwardList, AwardStats, AwardStatsParams, CreateBallot,
    CreateDecision, CreateSession, DecisionDto, DecisionFilter, DecisionPage, RevokeAwards,
    SessionDto, SessionFilter, SessionPage,
};
use super::export::{DecisionHeader, DecisionListExport, DecisionListQuery};
use super::repo::{self, DecisionRow, NewAward, NewBallot, NewDecision, SessionRow};
use super::service;
use crate::audit::{self, Change};
use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::creation::{self, Created, Creation};
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::export::{self, Format};
use crate::extract::Body;
use crate::idempotency::{Idempotency, IdempotencyKey};
use crate::organizations::repo as organization_repo;
use crate::pagination;
use crate::state::AppState;
use crate::stats::handlers as stats_handlers;
use crate::stats::history::{self, RootAt};
use crate::stats::repo::{self as stats_repo, UnitRow};
use crate::text::Checks;
use crate::titles::repo as titles_repo;
use crate::titles::rules::SubjectType;
use crate::titles::service as titles;

/// The subtrees the caller reads as LIKE patterns (`None`: everything), and the narrowing by
/// `organization_id` (404 outside).
async fn scope(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    organization_id: Option<Uuid>,
) -> AppResult<(Option<Vec<String>>, Option<String>)> {
    let patterns = match policy::subtrees_allowing(principal, Operation::Read)? {
        Visibility::Everything => None,
        Visibility::Subtrees(roots) => Some(
            roots
                .iter()
                .map(|root| format!("{}%", crate::text::like_escape(root)))
                .collect(),
        ),
    };
    let within = match organization_id {
        Some(id) => {
            let path = organization_repo::path_of(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            policy::require(principal, Operation::Read, Target::unit(&path))?;
            Some(format!("{}%", crate::text::like_escape(&path)))
        }
        None => None,
    };
    Ok((patterns, within))
}

async fn session_dto(conn: &mut AsyncPgConnection, session: SessionRow) -> AppResult<SessionDto> {
    let rules = match titles_repo::rule_set_on(conn, session.held_on).await? {
        Some(row) => Some(titles::InForce {
            content: titles::content_of(&row)?,
            row,
        }),
        None => None,
    };
    let ballots = repo::ballots(conn, session.id)
        .await?
        .into_iter()
        .map(|ballot| service::ballot_dto(&session, rules.as_ref(), ballot))
        .collect();
    Ok(SessionDto {
        id: session.id,
        organization_id: session.organization_id,
        year: session.year,
        held_on: session.held_on,
        members_total: session.members_total,
        members_present: session.members_present,
        rule_set_code: rules.map(|rules| rules.row.code),
        ballots,
        created_at: session.created_at,
    })
}

fn check_day_of_year(checks: &mut Checks, pointer: &str, day: chrono::NaiveDate, year: i32) {
    if day.year() != year && day.year() != year + 1 {
        checks.fail(
            pointer,
            format!(
                "must fall in {year} or early in {} (the titles of {year} are decided then)",
                year + 1
            ),
        );
    }
}

/// Records a session of a unit's emulation and commendation council.
///
/// Managers of the unit or of a higher one. `members_present` may not exceed
/// `members_total`; `held_on` falls in `year` or the year after.
#[utoipa::path(
    tag = "titles",
    request_body = CreateSession,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = SessionDto,
            headers(("Location" = String, description = "URL of the session"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "More members present than members, a day outside the year, an unknown unit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/council-sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<CreateSession>,
) -> AppResult<HttpResponse> {
    let (request, digest) = body.into_parts();
    let mut checks = Checks::default();
    if request.members_present > request.members_total {
        checks.fail(
            "/members_present",
            format!(
                "must not exceed the {} members of the council",
                request.members_total
            ),
        );
    }
    check_day_of_year(&mut checks, "/held_on", request.held_on, request.year);
    checks.finish()?;
    let idempotency = Idempotency::new(&principal, key, digest);
    creation::create_once(&state.db, &principal, idempotency, &request).await
}

impl Creation for CreateSession {
    type Dto = SessionDto;
    const ACTION: &'static str = "council_session.create";
    const ENTITY: &'static str = "council_session";

    async fn create(
        &self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
    ) -> AppResult<Created<SessionDto>> {
        let request = self;
        let path = organization_repo::path_of(conn, request.organization_id)
            .await?
            .filter(|path| principal.can_see(path))
            .ok_or_else(|| {
                AppError::field("/organization_id", "no such organization in your subtree")
            })?;
        policy::require(principal, Operation::DecideAwards, Target::unit(&path))?;
        let id = Uuid::now_v7();
        repo::insert_session(conn, id, request, Some(principal.id)).await?;
        let session = repo::session(conn, id)
            .await?
            .ok_or_else(AppError::not_found)?;
        let dto = session_dto(conn, session).await?;
        Ok(Created {
            entity_id: dto.id,
            organization_id: Some(dto.organization_id),
            location: format!("/api/v1/council-sessions/{}", dto.id),
            version: None,
            dto,
        })
    }
}

/// Records the counts of a secret ballot on one candidate for one title.
///
/// The session answers every candidate's `share`, `quorum_met` and `passed`, computed from the
/// vote rule of the title in the rule set in force on `held_on` (threshold of all members or
/// of those present). approve + disapprove + invalid must equal the members present; the
/// candidate must be a subject of the unit's subtree; one ballot per candidate and title.
#[utoipa::path(
    tag = "titles",
    request_body = CreateBallot,
    params(("id" = Uuid, Path, description = "Council session id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded; the session with every result", body = SessionDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A ballot on this candidate and title is recorded", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Counts that are not the ballots of those present, a title that needs no vote or is unknown, a candidate outside the unit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/council-sessions/{id}/ballots")]
pub async fn create_ballot(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: Body<CreateBallot>,
) -> AppResult<HttpResponse> {
    let request = body.into_inner();
    let id = id.into_inner();
    let principal = &principal;
    let request = &request;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let session = repo::session(conn, id).await?.ok_or_else(AppError::not_found)?;
            policy::require(principal, Operation::Read, Target::unit(&session.path))?;
            policy::require(principal, Operation::DecideAwards, Target::unit(&session.path))?;
            let mut checks = Checks::default();
            let cast = request.approve + request.disapprove + request.invalid;
            if cast != session.members_present {
                checks.fail(
                    "/approve",
                    format!(
                        "approve + disapprove + invalid is {cast}: it must be the {} members present",
                        session.members_present
                    ),
                );
            }
            checks.finish()?;
            let rules = titles::in_force(conn, session.held_on, "/title_code").await?;
            let title = rules.title(&request.title_code, "/title_code")?;
            if title.vote.is_none() {
                return Err(AppError::field(
                    "/title_code",
                    format!("{} needs no council vote in {}", title.code, rules.row.code),
                ));
            }
            if title.subject != request.subject_type.title_subject() {
                return Err(AppError::field(
                    "/title_code",
                    format!("{} is a title of the {} subject", title.code, title.subject),
                ));
            }
            let subject = titles_repo::subjects(conn, request.subject_type, &[request.subject_id])
                .await?
                .into_iter()
                .next()
                .filter(|subject| subject.path.starts_with(&session.path))
                .ok_or_else(|| {
                    AppError::field(
                        "/subject_id",
                        format!("no such {} in the council's unit", request.subject_type),
                    )
                })?;
            repo::insert_ballot(
                conn,
                NewBallot {
                    session: session.id,
                    subject: (request.subject_type, subject.id),
                    title_code: &title.code,
                    approve: request.approve,
                    disapprove: request.disapprove,
                    invalid: request.invalid,
                    created_by: Some(principal.id),
                },
            )
            .await
            .map_err(|error| match &error {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => AppError::conflict(
                    ProblemCode::AlreadyExists,
                    format!("a ballot on {} for {} is recorded", subject.name, title.code),
                ),
                _ => error.into(),
            })?;
            let organization_id = session.organization_id;
            let dto = session_dto(conn, session).await?;
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "council_session.ballot",
                    entity_type: "council_session",
                    entity_id: id,
                    organization_id: Some(organization_id),
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

/// Reads a council session with every candidate's result.
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Council session id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The session", body = SessionDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/council-sessions/{id}")]
pub async fn get_session(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read_own_writes().await?;
    let session = repo::session(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(&principal, Operation::Read, Target::unit(&session.path))?;
    Ok(HttpResponse::Ok().json(session_dto(&mut conn, session).await?))
}

/// Lists the council sessions of the caller's subtree, newest first.
#[utoipa::path(
    tag = "titles",
    params(SessionFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
        (status = 400, description = "Bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner client without the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/council-sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<SessionFilter>,
) -> AppResult<HttpResponse> {
    let filter = filter.into_inner();
    crate::params::in_range("year", filter.year, crate::persons::handlers::YEARS)?;
    let limit = pagination::limit(filter.limit)?;
    let after: Option<(DateTime<Utc>, Uuid)> = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read().await?;
    let (patterns, within) = scope(&mut conn, &principal, filter.organization_id).await?;
    let rows = repo::sessions(&mut conn, patterns, within, filter.year, after, limit).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.created_at, row.id));
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(session_dto(&mut conn, row).await?);
    }
    Ok(HttpResponse::Ok().json(SessionPage { items, next_cursor }))
}

async fn decision_dtos(
    conn: &mut AsyncPgConnection,
    rows: Vec<DecisionRow>,
) -> AppResult<Vec<DecisionDto>> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut awards = repo::awards_of_decisions(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (mine, rest): (Vec<_>, Vec<_>) = awards
                .drain(..)
                .partition(|award| award.decision_id == Some(row.id));
            awards = rest;
            let recovery_total = mine.iter().filter_map(|award| award.recovery_amount).sum();
            DecisionDto {
                id: row.id,
                issuer_organization_id: row.issuer_organization_id,
                decision_no: row.decision_no,
                year: row.year,
                decided_on: row.decided_on,
                signer_name: row.signer_name,
                council_session_id: row.council_session_id,
                rule_set_code: row.rule_set_code,
                base_salary: row.base_salary,
                reward_total: row.reward_total,
                recovery_total,
                awards: mine.into_iter().map(service::award_dto).collect(),
                created_at: row.created_at,
            }
        })
        .collect())
}

/// Issues an award decision (quyết định) of the head of a unit.
///
/// Managers of the issuing unit or of a higher one. Every award must be eligible under the
/// rule set in force on `decided_on` (registered, every condition), have passed the vote of
/// the named session of the issuing unit when its title needs one, be conferred by the
/// issuer's kind of unit, fit the title's quota over the issuer's decisions of the year, lie
/// in the issuer's subtree and not repeat a title the subject holds that year (a title that
/// requires another of the same year may be conferred in the same decision). Otherwise 422
/// `award_not_allowed` names every refused award with its failed checks, and nothing is
/// stored. Rewards are the title's multiple of the base salary in force on `decided_on`.
/// Decisions are final: they are only revoked. Two decisions of one issuer and year are
/// decided one after the other, so quotas hold under concurrency.
#[utoipa::path(
    tag = "titles",
    request_body = CreateDecision,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Issued, with each award's reward", body = DecisionDto,
            headers(("Location" = String, description = "URL of the decision"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the issuing unit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The decision number is taken for this issuer and year, or the same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`award_not_allowed` (every refused award with its failed checks), or no rule set or base salary in force on `decided_on`, a session of another unit or year", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/award-decisions")]
pub async fn create_decision(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<CreateDecision>,
) -> AppResult<HttpResponse> {
    let (request, digest) = body.into_parts();
    let year = request.year.unwrap_or_else(|| request.decided_on.year());
    let mut checks = Checks::default();
    checks.length("/decision_no", &request.decision_no, 1, 100);
    checks.length("/signer_name", &request.signer_name, 1, 200);
    check_day_of_year(&mut checks, "/decided_on", request.decided_on, year);
    checks.finish()?;
    let idempotency = Idempotency::new(&principal, key, digest);
    creation::create_once(&state.db, &principal, idempotency, &request).await
}

impl Creation for CreateDecision {
    type Dto = DecisionDto;
    const ACTION: &'static str = "award_decision.create";
    const ENTITY: &'static str = "award_decision";

    async fn create(
        &self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
    ) -> AppResult<Created<DecisionDto>> {
        let request = self;
        let dto = issue(conn, Some(principal), request).await?;
        Ok(Created {
            entity_id: dto.id,
            organization_id: Some(dto.issuer_organization_id),
            location: format!("/api/v1/award-decisions/{}", dto.id),
            version: None,
            dto,
        })
    }
}

/// Issues the decision `request` (see [`create_decision`]) inside the caller's transaction;
/// `principal` None: the system (the demo), which the policy does not ask.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    principal: Option<&Principal>,
    request: &CreateDecision,
) -> AppResult<DecisionDto> {
    let year = request.year.unwrap_or_else(|| request.decided_on.year());
    let issuer = organization_repo::find(conn, request.issuer_organization_id)
        .await?
        .filter(|unit| principal.is_none_or(|principal| principal.can_see(&unit.path)))
        .ok_or_else(|| {
            AppError::field(
                "/issuer_organization_id",
                "no such organization in your subtree",
            )
        })?;
    if let Some(principal) = principal {
        policy::require(
            principal,
            Operation::DecideAwards,
            Target::unit(&issuer.path),
        )?;
    }
    if !issuer.valid_on(request.decided_on) {
        let detail = organization_repo::inactive_detail(conn, issuer.id).await?;
        return Err(AppError::field("/issuer_organization_id", detail));
    }
    let rules = titles::in_force(conn, request.decided_on, "/decided_on").await?;
    let base_salary = titles_repo::base_salaries(conn)
        .await?
        .into_iter()
        .rev()
        .find(|salary| salary.effective_from <= request.decided_on)
        .map(|salary| salary.amount)
        .ok_or_else(|| {
            AppError::field(
                "/decided_on",
                format!("no base salary is in force on {}", request.decided_on),
            )
        })?;
    let session = match request.council_session_id {
        Some(id) => {
            let session = repo::session(conn, id)
                .await?
                .filter(|session| session.organization_id == issuer.id && session.year == year)
                .ok_or_else(|| {
                    AppError::field(
                        "/council_session_id",
                        format!("not a session of the issuing unit's council for {year}"),
                    )
                })?;
            Some(session)
        }
        None => None,
    };
    repo::lock_issuer_year(conn, issuer.id, year).await?;
    let approved = service::check_decision(
        conn,
        request,
        year,
        issuer.kind.as_str(),
        &issuer.path,
        &rules,
        base_salary,
        session.as_ref(),
    )
    .await?;
    let decision = NewDecision {
        id: Uuid::now_v7(),
        request,
        year,
        rule_set_id: rules.row.id,
        base_salary,
        reward_total: approved.reward_total,
        created_by: principal.map(|principal| principal.id),
    };
    repo::insert_decision(conn, &decision)
        .await
        .map_err(|error| match &error {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => AppError::conflict(
                ProblemCode::AlreadyExists,
                format!(
                    "decision {} of {} for {year} exists",
                    request.decision_no.trim(),
                    issuer.name
                ),
            ),
            _ => error.into(),
        })?;
    let awards: Vec<NewAward<'_>> = approved
        .awards
        .iter()
        .map(
            |(subject_type, subject_id, title_code, reward_amount)| NewAward {
                subject: (*subject_type, *subject_id),
                title_code,
                reward_amount: *reward_amount,
            },
        )
        .collect();
    repo::insert_awards(conn, &decision, &awards).await?;
    let row = repo::decision(conn, decision.id)
        .await?
        .ok_or_else(AppError::not_found)?;
    decision_dtos(conn, vec![row])
        .await?
        .pop()
        .ok_or_else(AppError::not_found)
}

/// Reads an award decision with its awards.
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Award decision id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decision", body = DecisionDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such decision in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/award-decisions/{id}")]
pub async fn get_decision(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read_own_writes().await?;
    let row = repo::decision(&mut conn, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(&principal, Operation::Read, Target::unit(&row.path))?;
    let dto = decision_dtos(&mut conn, vec![row])
        .await?
        .pop()
        .ok_or_else(AppError::not_found)?;
    Ok(HttpResponse::Ok().json(dto))
}

/// The decision `id` as its list's export starts it: visible to the caller, with its issuer's
/// name and the names of its rule set's titles.
async fn decision_list(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> AppResult<DecisionListQuery> {
    let mut conn = state.db.read_own_writes().await?;
    let row = repo::decision(&mut conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(principal, Operation::Read, Target::unit(&row.path))?;
    let issuer = organization_repo::find(&mut conn, row.issuer_organization_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let titles = match titles_repo::rule_set(&mut conn, row.rule_set_id).await? {
        Some(rule_set) => titles::content_of(&rule_set)?
            .titles
            .into_iter()
            .map(|title| (title.code, title.name))
            .collect(),
        None => HashMap::new(),
    };
    Ok(DecisionListQuery {
        header: Arc::new(DecisionHeader {
            id: row.id,
            decision_no: row.decision_no,
            decided_on: row.decided_on,
            issuer_name: issuer.name,
            titles,
        }),
        after: None,
        written: 0,
    })
}

/// Exports the list of an award decision as CSV: every award in the order conferred, numbered,
/// with the subject, its unit, the title's name, the reward and any revocation (UTF-8 with a
/// BOM, so Excel shows Vietnamese correctly). A failure midway breaks the download.
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Award decision id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decision's list as CSV", body = String, content_type = "text/csv",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"award-decision.csv\"`"))),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such decision in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/award-decisions/{id}/export.csv")]
pub async fn export_decision_csv(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let query = decision_list(&state, &principal, *id).await?;
    export::respond::<DecisionListExport>(state.db.clone(), &state.exports, query, Format::Csv)
        .await
}

/// Exports the list of an award decision as an XLSX workbook: the columns of the CSV, typed
/// (numbers and dates), with a named sheet and a bold, frozen, filtered header row.
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Award decision id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decision's list as a workbook", body = String, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"award-decision.xlsx\"`"))),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such decision in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every spreadsheet export slot of the instance stayed busy for 30 s; retry after `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[get("/award-decisions/{id}/export.xlsx")]
pub async fn export_decision_xlsx(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let query = decision_list(&state, &principal, *id).await?;
    export::respond::<DecisionListExport>(state.db.clone(), &state.exports, query, Format::Xlsx)
        .await
}

/// Lists the award decisions issued in the caller's subtree, newest first.
#[utoipa::path(
    tag = "titles",
    params(DecisionFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of decisions", body = DecisionPage),
        (status = 400, description = "Bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner client without the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/award-decisions")]
pub async fn list_decisions(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<DecisionFilter>,
) -> AppResult<HttpResponse> {
    let filter = filter.into_inner();
    crate::params::in_range("year", filter.year, crate::persons::handlers::YEARS)?;
    let limit = pagination::limit(filter.limit)?;
    let after: Option<(DateTime<Utc>, Uuid)> = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read().await?;
    let (patterns, within) = scope(&mut conn, &principal, filter.organization_id).await?;
    let rows = repo::decisions(&mut conn, patterns, within, filter.year, after, limit).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.created_at, row.id));
    let items = decision_dtos(&mut conn, rows).await?;
    Ok(HttpResponse::Ok().json(DecisionPage { items, next_cursor }))
}

/// Revokes awards of a decision (Law 06/2022/QH15, chapter VII).
///
/// Managers of the issuing unit or of a higher one. Records the reason, the note and the
/// amount to recover (the reward paid); a revoked title no longer counts, towards consecutive
/// years included. `award_ids` names the awards (default: every award still held).
#[utoipa::path(
    tag = "titles",
    request_body = RevokeAwards,
    params(("id" = Uuid, Path, description = "Award decision id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decision after the revocation", body = DecisionDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the issuing unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such decision in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An award id not of this decision or already revoked, or nothing left to revoke", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/award-decisions/{id}/revoke")]
pub async fn revoke_decision(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: Body<RevokeAwards>,
) -> AppResult<HttpResponse> {
    let request = body.into_inner();
    let id = id.into_inner();
    let mut checks = Checks::default();
    checks.length("/note", &request.note, 1, 2000);
    checks.finish()?;
    let principal = &principal;
    let request = &request;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let row = repo::decision(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            policy::require(principal, Operation::Read, Target::unit(&row.path))?;
            policy::require(principal, Operation::DecideAwards, Target::unit(&row.path))?;
            let revoked = repo::revoke(
                conn,
                id,
                request.award_ids.as_deref(),
                request.reason,
                request.note.trim(),
                Some(principal.id),
            )
            .await?;
            let wanted = request.award_ids.as_ref().map_or(1, Vec::len).max(1);
            if revoked == 0 || (request.award_ids.is_some() && revoked != wanted) {
                return Err(AppError::field(
                    "/award_ids",
                    "names an award that is not a held award of this decision",
                ));
            }
            let issuer = row.issuer_organization_id;
            let dto = decision_dtos(conn, vec![row])
                .await?
                .pop()
                .ok_or_else(AppError::not_found)?;
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "award_decision.revoke",
                    entity_type: "award_decision",
                    entity_id: id,
                    organization_id: Some(issuer),
                    before: None,
                    after: audit::snapshot(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(HttpResponse::Ok().json(dto))
}

async fn awards_of(
    state: &AppState,
    principal: &Principal,
    subject_type: SubjectType,
    id: Uuid,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read().await?;
    let subject = titles_repo::subjects(&conn, subject_type, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(AppError::not_found)?;
    policy::require(principal, Operation::Read, Target::unit(&subject.path))?;
    let items = repo::awards_of_subject(&mut conn, id)
        .await?
        .into_iter()
        .map(service::award_dto)
        .collect();
    Ok(HttpResponse::Ok().json(AwardList { items }))
}

/// The titles a person holds and held, newest year first, with decision and state.
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Person id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The awards", body = AwardList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/persons/{id}/awards")]
pub async fn person_awards(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    awards_of(&state, &principal, SubjectType::Person, *id).await
}

/// The titles a unit holds and held as a collective, newest year first.
#[utoipa::path(
    tag = "titles",
    params(("id" = Uuid, Path, description = "Organization id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The awards", body = AwardList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{id}/awards")]
pub async fn organization_awards(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    awards_of(&state, &principal, SubjectType::Organization, *id).await
}

/// The direct children of `roots` as they stood (`historical`) or today, as (child id, subtree
/// path) pairs: one for each child's subtree and one for each ended unit it answers for whose
/// awards would otherwise count under `self` (`history::taken_predecessors`). Records each
/// child's name in `names`.
async fn child_subtrees(
    conn: &mut AsyncPgConnection,
    roots: &[RootAt],
    historical: bool,
    names: &mut HashMap<String, String>,
) -> AppResult<Vec<(String, String)>> {
    let mut children: Vec<UnitRow> = Vec::new();
    for root in roots {
        if historical {
            children.extend(
                history::children_at(conn, root)
                    .await?
                    .into_iter()
                    .map(|child| child.unit),
            );
        } else {
            children.extend(stats_repo::children(conn, root.id).await?);
        }
    }
    let ids: Vec<Uuid> = children.iter().map(|child| child.id).collect();
    let key_of: HashMap<Uuid, String> = children
        .iter()
        .map(|child| (child.id, child.id.to_string()))
        .collect();
    let path_of: HashMap<Uuid, String> = children
        .iter()
        .map(|child| (child.id, child.path.clone()))
        .collect();
    let led: Vec<(String, String)> = history::ended_predecessors_of(conn, &ids)
        .await?
        .into_iter()
        .filter_map(|(child, predecessor)| {
            path_of.get(&child).map(|path| (path.clone(), predecessor))
        })
        .collect();
    let root_paths: Vec<String> = roots.iter().map(|root| root.path.clone()).collect();
    let child_paths: Vec<String> = children.iter().map(|child| child.path.clone()).collect();
    let key_of_path: HashMap<&str, &str> = children
        .iter()
        .filter_map(|child| {
            key_of
                .get(&child.id)
                .map(|key| (child.path.as_str(), key.as_str()))
        })
        .collect();
    let mut subtrees: Vec<(String, String)> = children
        .iter()
        .map(|child| (child.id.to_string(), child.path.clone()))
        .collect();
    for (predecessor, child) in history::taken_predecessors(&root_paths, &child_paths, &led) {
        if let Some(key) = key_of_path.get(child.as_str()) {
            subtrees.push(((*key).to_owned(), predecessor));
        }
    }
    for child in children {
        names.insert(child.id.to_string(), child.name);
    }
    Ok(subtrees)
}

/// Counts and reward totals of the awards over a subtree.
///
/// An award counts where its subject stood when it was conferred (a person at their unit, a
/// collective at itself), and a year is read on the structure it ended with: a unit answers
/// for its predecessors' awards, and a report of a year before a restructuring reads as it
/// did. `group_by`: `title` (default), `child` (the units directly below, `self` for the
/// unit's own subjects) or `subject_type`.
/// Revoked awards are counted apart with the amounts to recover.
///
/// Kept like the other aggregates (`stats::handlers::kept_or_computed`): every award statement
/// moves the tally version (`r.tally_awards`).
#[utoipa::path(
    tag = "stats",
    params(AwardStatsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The groups", body = AwardStats, headers(("ETag" = String, description = "Weak entity tag of the answer: the same while the data it reads stands"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "A missing or bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/awards")]
pub async fn award_stats(
    state: web::Data<AppState>,
    principal: Principal,
    params: web::Query<AwardStatsParams>,
    request: HttpRequest,
) -> AppResult<HttpResponse> {
    let params = params.into_inner();
    crate::params::in_range("year", params.year, crate::persons::handlers::YEARS)?;
    let group_by = params.group_by.unwrap_or(AwardGrouping::Title);
    let key = stats_handlers::request_key("awards", params.organization_id, &request);
    let today = key.today;
    stats_handlers::kept_or_computed(&state, &principal, &request, Some(key), async |conn| {
        let unit = organization_repo::find(conn, params.organization_id)
            .await?
            .ok_or_else(AppError::not_found)?;
        policy::require(&principal, Operation::Read, Target::unit(&unit.path))?;
        // All years over a subtree with lineage: each year on the structure it ended with.
        let years: Vec<Option<i32>> = match params.year {
            Some(year) => vec![Some(year)],
            None if state.lineage.any(conn).await? && state.lineage.spans(conn, &unit).await? => {
                repo::award_years(conn)
                    .await?
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            None => vec![None],
        };
        // The grouping column of the award tallies; by child, the subtrees are read one by one.
        let key = match group_by {
            AwardGrouping::Title => Some("t.title_code"),
            AwardGrouping::SubjectType => Some("t.subject_type"),
            AwardGrouping::Child => None,
        };
        let mut names: HashMap<String, String> = HashMap::new();
        let mut merged: BTreeMap<String, AwardGroup> = BTreeMap::new();
        for year in years {
            let historical = history::is_historical(conn, year, today).await?;
            let roots = match year {
                Some(year) if historical => {
                    history::structure(conn, &unit, year, today).await?.roots
                }
                _ => vec![history::current_root(&unit, today)],
            };
            let paths: Vec<String> = roots.iter().map(|root| root.path.clone()).collect();
            let rows = match key {
                Some(key) => repo::award_stats(conn, &paths, year, key).await?,
                None => {
                    let subtrees = child_subtrees(conn, &roots, historical, &mut names).await?;
                    repo::award_stats_by_child(conn, &paths, year, &subtrees).await?
                }
            };
            for row in rows {
                let group = merged.entry(row.key.clone()).or_insert_with(|| AwardGroup {
                    name: names.get(&row.key).cloned(),
                    key: row.key,
                    awards: 0,
                    reward_total: 0,
                    revoked: 0,
                    recovery_total: 0,
                });
                group.awards += row.awards;
                group.reward_total += row.reward_total;
                group.revoked += row.revoked;
                group.recovery_total += row.recovery_total;
            }
        }
        let groups: Vec<AwardGroup> = merged.into_values().collect();
        Ok((
            unit.path,
            AwardStats {
                organization_id: unit.id,
                year: params.year,
                group_by,
                awards: groups.iter().map(|group| group.awards).sum(),
                reward_total: groups.iter().map(|group| group.reward_total).sum(),
                groups,
            },
        ))
    })
    .await
}
