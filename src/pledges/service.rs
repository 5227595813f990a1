//! Pledge rules: who may do what (through `auth::authorize`), content validation against the
//! campaign, and the writes themselves. Every function runs inside the caller's transaction.

use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{
    AssessBody, CreatePledge, CreateProgress, ExemplarRelation, PledgeDto, PledgeKind, ProgressDto,
    UpdatePledge,
};
use super::model::{NewPledge, PledgeChanges, PledgeRow};
use super::repo::{self, CampaignRules};
use super::state::{InvalidTransition, PledgeAction, PledgeStatus, next_status};
use crate::audit::{self, Change};
use crate::auth::authorize::{require_user, require_visible};
use crate::auth::principal::{Principal, Role, Scope};
use crate::db::schema::{organizations, pledge_progress, pledges};
use crate::error::{AppError, AppResult};
use crate::organizations::repo as organization_repo;
use crate::text::Checks;

const TITLE_MAX: usize = 300;
const DESCRIPTION_MAX: usize = 10_000;
const UNIT_MAX: usize = 50;
const REASON_MAX: usize = 2_000;
const NOTE_MAX: usize = 5_000;
const MAX_EVIDENCE: usize = 20;
const URL_MAX: usize = 2_000;

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub fn to_dto(row: PledgeRow) -> PledgeDto {
    PledgeDto::from_row(row, today())
}

fn snapshot(dto: &PledgeDto) -> Option<serde_json::Value> {
    serde_json::to_value(dto).ok()
}

/// 409 naming the current state and what it allows.
pub fn invalid_transition(error: InvalidTransition) -> AppError {
    AppError::conflict(
        "invalid_transition",
        format!(
            "a pledge in state {} cannot be {}; allowed: {}",
            error.from.as_str(),
            past_tense(error.action),
            if error.allowed.is_empty() {
                "nothing (final state)".to_owned()
            } else {
                error
                    .allowed
                    .iter()
                    .map(|action| action.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    )
    .with_extra("current_status", error.from.as_str())
    .with_extra(
        "allowed_actions",
        error
            .allowed
            .iter()
            .map(|action| action.as_str())
            .collect::<Vec<_>>(),
    )
}

fn past_tense(action: PledgeAction) -> &'static str {
    match action {
        PledgeAction::Submit => "submitted",
        PledgeAction::Approve => "approved",
        PledgeAction::Return => "returned",
        PledgeAction::Withdraw => "withdrawn",
        PledgeAction::Assess => "assessed",
    }
}

/// Who may take `action` on a pledge of the unit at `path` (DESIGN.md §3):
/// the unit's managers (or higher) write, submit and withdraw; only a *strictly higher*
/// unit's manager approves or returns, and its manager or reviewer assesses.
pub fn authorize_action(principal: &Principal, path: &str, action: PledgeAction) -> AppResult<()> {
    require_user(principal)?;
    let allowed = match action {
        PledgeAction::Submit | PledgeAction::Withdraw => {
            principal.has_role_over(path, &[Role::Manager])
        }
        PledgeAction::Approve | PledgeAction::Return => {
            principal.has_role_strictly_above(path, &[Role::Manager])
        }
        PledgeAction::Assess => {
            principal.has_role_strictly_above(path, &[Role::Manager, Role::Reviewer])
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::forbidden(match action {
            PledgeAction::Approve | PledgeAction::Return => {
                "only a manager of a higher unit may approve or return a pledge"
            }
            PledgeAction::Assess => {
                "only a manager or reviewer of a higher unit may assess a pledge"
            }
            _ => "only a manager of the unit or of a higher one may do this",
        }))
    }
}

/// Writing content (create, patch, delete): a manager of the unit or of a higher one.
fn authorize_write(principal: &Principal, path: &str) -> AppResult<()> {
    require_user(principal)?;
    if principal.has_role_over(path, &[Role::Manager]) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only a manager of the unit or of a higher one may write its pledges",
        ))
    }
}

/// Reporting progress: a member or manager of the unit (or above), or a partner client with
/// `progress:write` whose organization covers the unit.
fn authorize_progress(principal: &Principal, path: &str) -> AppResult<()> {
    let allowed = if principal.is_client() {
        principal.has_scope(Scope::ProgressWrite) && principal.can_see(path)
    } else {
        principal.has_role_over(path, &[Role::Member, Role::Manager])
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the unit's members and managers report its progress",
        ))
    }
}

/// The content of a pledge after a create or a merge patch, to validate as a whole.
struct Content {
    kind: PledgeKind,
    field: String,
    title: Option<String>,
    description: Option<String>,
    target_value: Option<f64>,
    target_unit: Option<String>,
    title_name: Option<String>,
    deadline: NaiveDate,
    exemplar_id: Option<Uuid>,
    exemplar_relation: Option<ExemplarRelation>,
}

fn trimmed(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// `new_year`: the year of a pledge being created, checked against the campaign in the same
/// 422 as the content (an existing pledge keeps its year even if the campaign is shortened).
async fn validate(
    conn: &mut AsyncPgConnection,
    content: &Content,
    rules: &CampaignRules,
    year: i32,
    new_year: bool,
) -> AppResult<()> {
    let mut checks = Checks::default();
    if new_year && !(rules.first_year..=rules.last_year).contains(&year) {
        checks.fail(
            "/year",
            format!(
                "must be within the campaign, {} to {}",
                rules.first_year, rules.last_year
            ),
        );
    }
    if !rules.field_codes.contains(&content.field) {
        checks.fail(
            "/field",
            format!(
                "must be a field code of the campaign: {}",
                rules.field_codes.join(", ")
            ),
        );
    }
    match content.kind {
        PledgeKind::Target => match &content.title {
            Some(title) => checks.length("/title", title, 1, TITLE_MAX),
            None => checks.fail("/title", "is required for a target pledge"),
        },
        PledgeKind::Title => match &content.title_name {
            Some(name) => checks.length("/title_name", name, 1, TITLE_MAX),
            None => checks.fail("/title_name", "is required for a title pledge"),
        },
    }
    if let Some(title) = &content.title {
        checks.length("/title", title, 1, TITLE_MAX);
    }
    if let Some(description) = &content.description {
        checks.length("/description", description, 0, DESCRIPTION_MAX);
    }
    if let Some(unit) = &content.target_unit {
        checks.length("/target_unit", unit, 0, UNIT_MAX);
    }
    if content
        .target_value
        .is_some_and(|value| !value.is_finite() || value < 0.0)
    {
        checks.fail("/target_value", "must be a number ≥ 0");
    }
    // "Within reach of the year": from the start of the year to the end of the next one.
    let earliest = NaiveDate::from_ymd_opt(year, 1, 1);
    let latest = NaiveDate::from_ymd_opt(year + 1, 12, 31);
    if earliest
        .zip(latest)
        .is_none_or(|(earliest, latest)| content.deadline < earliest || content.deadline > latest)
    {
        checks.fail(
            "/deadline",
            format!("must fall between {year}-01-01 and {}-12-31", year + 1),
        );
    }
    match (content.exemplar_id, content.exemplar_relation) {
        (None, None) => {}
        (Some(_), None) => checks.fail("/exemplar_relation", "is required with exemplar_id"),
        (None, Some(_)) => checks.fail("/exemplar_id", "is required with exemplar_relation"),
        (Some(exemplar_id), Some(_)) => match repo::nomination_status(conn, exemplar_id).await? {
            Some(status) if status == "recognized" || status == "commended" => {}
            _ => checks.fail(
                "/exemplar_id",
                "must name a recognized or commended exemplar",
            ),
        },
    }
    checks.finish()
}

/// Creates a draft pledge.
pub async fn create(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    request: CreatePledge,
) -> AppResult<PledgeDto> {
    require_user(principal)?;
    let organization: Option<(String, bool)> = organizations::table
        .find(request.organization_id)
        .select((organizations::path, organizations::active))
        // A move of this unit waits for us (and we for it), so the stored path is current.
        .for_share()
        .first(conn)
        .await
        .optional()?;
    let Some((path, active)) = organization else {
        return Err(AppError::field("/organization_id", "no such organization"));
    };
    if !principal.can_see(&path) {
        // Do not reveal units outside the caller's subtree.
        return Err(AppError::field("/organization_id", "no such organization"));
    }
    authorize_write(principal, &path)?;
    if !active {
        return Err(AppError::field(
            "/organization_id",
            "the organization is inactive",
        ));
    }
    let rules = repo::campaign_rules(conn, request.campaign_id)
        .await?
        .ok_or_else(|| AppError::field("/campaign_id", "no such campaign"))?;
    let content = Content {
        kind: request.kind,
        field: request.field.trim().to_owned(),
        title: trimmed(request.title).or_else(|| {
            (request.kind == PledgeKind::Title)
                .then(|| {
                    request
                        .title_name
                        .clone()
                        .map(|name| name.trim().to_owned())
                })
                .flatten()
        }),
        description: trimmed(request.description),
        target_value: request.target_value,
        target_unit: trimmed(request.target_unit),
        title_name: trimmed(request.title_name),
        deadline: request.deadline,
        exemplar_id: request.exemplar_id,
        exemplar_relation: request.exemplar_relation,
    };
    validate(conn, &content, &rules, request.year, true).await?;
    let root = organization_repo::root_of(conn, &path).await?;
    let row: PledgeRow = diesel::insert_into(pledges::table)
        .values(NewPledge {
            id: Uuid::now_v7(),
            campaign_id: request.campaign_id,
            organization_id: request.organization_id,
            organization_path: &path,
            root_organization_id: root,
            year: request.year,
            kind: content.kind.as_str(),
            field: &content.field,
            title: content.title.as_deref().unwrap_or_default(),
            description: content.description.as_deref(),
            target_value: content.target_value,
            target_unit: content.target_unit.as_deref(),
            title_name: content.title_name.as_deref(),
            deadline: content.deadline,
            exemplar_id: content.exemplar_id,
            exemplar_relation: content.exemplar_relation.map(ExemplarRelation::as_str),
            created_by: principal.id,
        })
        .returning(PledgeRow::as_returning())
        .get_result(conn)
        .await?;
    let organization_id = row.organization_id;
    let dto = to_dto(row);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "pledge.create",
            entity_type: "pledge",
            entity_id: dto.id,
            organization_id: Some(organization_id),
            before: None,
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Locks a pledge the caller may see (404 otherwise).
pub async fn lock_visible(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
) -> AppResult<PledgeRow> {
    let row = repo::find_for_update(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    require_visible(principal, &row.organization_path)?;
    Ok(row)
}

/// Applies a merge patch to a pledge in `draft` or `returned`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    row: PledgeRow,
    patch: UpdatePledge,
) -> AppResult<PledgeDto> {
    authorize_write(principal, &row.organization_path)?;
    let status = PledgeStatus::parse(&row.status).unwrap_or(PledgeStatus::Draft);
    if !status.is_editable() {
        return Err(AppError::conflict(
            "invalid_transition",
            format!(
                "a pledge in state {} can no longer be edited",
                status.as_str()
            ),
        )
        .with_extra("current_status", status.as_str()));
    }
    let rules = repo::campaign_rules(conn, row.campaign_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("pledge without campaign")))?;
    let content = Content {
        kind: patch
            .kind
            .unwrap_or(PledgeKind::parse(&row.kind).unwrap_or(PledgeKind::Target)),
        field: patch
            .field
            .clone()
            .map(|field| field.trim().to_owned())
            .unwrap_or_else(|| row.field.clone()),
        title: patch
            .title
            .clone()
            .map(|title| title.trim().to_owned())
            .or_else(|| Some(row.title.clone())),
        description: patch
            .description
            .clone()
            .map_or(row.description.clone(), trimmed),
        target_value: patch.target_value.unwrap_or(row.target_value),
        target_unit: patch
            .target_unit
            .clone()
            .map_or(row.target_unit.clone(), trimmed),
        title_name: patch
            .title_name
            .clone()
            .map_or(row.title_name.clone(), trimmed),
        deadline: patch.deadline.unwrap_or(row.deadline),
        exemplar_id: patch.exemplar_id.unwrap_or(row.exemplar_id),
        exemplar_relation: patch.exemplar_relation.unwrap_or(
            row.exemplar_relation
                .as_deref()
                .and_then(ExemplarRelation::parse),
        ),
    };
    validate(conn, &content, &rules, row.year, false).await?;
    let changes = PledgeChanges {
        kind: Some(content.kind.as_str().to_owned()),
        field: Some(content.field),
        title: content.title,
        description: Some(content.description),
        target_value: Some(content.target_value),
        target_unit: Some(content.target_unit),
        title_name: Some(content.title_name),
        deadline: Some(content.deadline),
        exemplar_id: Some(content.exemplar_id),
        exemplar_relation: Some(
            content
                .exemplar_relation
                .map(|relation| relation.as_str().to_owned()),
        ),
    };
    let before = to_dto(row.clone());
    let updated: PledgeRow = diesel::update(pledges::table.find(row.id))
        .set((
            &changes,
            pledges::version.eq(pledges::version + 1),
            pledges::updated_at.eq(diesel::dsl::now),
        ))
        .returning(PledgeRow::as_returning())
        .get_result(conn)
        .await?;
    let dto = to_dto(updated);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "pledge.update",
            entity_type: "pledge",
            entity_id: dto.id,
            organization_id: Some(dto.organization_id),
            before: snapshot(&before),
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Deletes a draft.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    row: PledgeRow,
) -> AppResult<()> {
    authorize_write(principal, &row.organization_path)?;
    if row.status != PledgeStatus::Draft.as_str() {
        return Err(AppError::conflict(
            "invalid_transition",
            format!(
                "only drafts can be deleted; this pledge is {} (withdraw it instead)",
                row.status
            ),
        )
        .with_extra("current_status", row.status.clone()));
    }
    diesel::delete(pledges::table.find(row.id))
        .execute(conn)
        .await?;
    let organization_id = row.organization_id;
    let id = row.id;
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "pledge.delete",
            entity_type: "pledge",
            entity_id: id,
            organization_id: Some(organization_id),
            before: snapshot(&to_dto(row)),
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// What a transition carries besides the action.
pub enum TransitionInput {
    None,
    Reason(String),
    Assessment(AssessBody),
}

/// Takes `action` on a locked pledge.
pub async fn transition(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    row: PledgeRow,
    action: PledgeAction,
    input: TransitionInput,
) -> AppResult<PledgeDto> {
    authorize_action(principal, &row.organization_path, action)?;
    let from = PledgeStatus::parse(&row.status).unwrap_or(PledgeStatus::Draft);
    let to = next_status(from, action).map_err(invalid_transition)?;
    let mut checks = Checks::default();
    match &input {
        TransitionInput::Reason(reason) => checks.length("/reason", reason, 1, REASON_MAX),
        TransitionInput::Assessment(assessment) => {
            if let Some(note) = &assessment.note {
                checks.length("/note", note, 0, NOTE_MAX);
            }
        }
        TransitionInput::None => {}
    }
    checks.finish()?;
    let before = to_dto(row.clone());
    let now = Utc::now();
    let target = pledges::table.find(row.id);
    let common = (
        pledges::status.eq(to.as_str()),
        pledges::version.eq(pledges::version + 1),
        pledges::updated_at.eq(diesel::dsl::now),
    );
    let query = diesel::update(target);
    let updated: PledgeRow = match (action, input) {
        (PledgeAction::Submit, _) => {
            query
                .set((
                    common,
                    pledges::submitted_at.eq(now),
                    pledges::status_reason.eq(None::<String>),
                ))
                .returning(PledgeRow::as_returning())
                .get_result(conn)
                .await?
        }
        (PledgeAction::Approve, _) => {
            query
                .set((
                    common,
                    pledges::approved_at.eq(now),
                    pledges::approved_by.eq(principal.id),
                ))
                .returning(PledgeRow::as_returning())
                .get_result(conn)
                .await?
        }
        (PledgeAction::Return | PledgeAction::Withdraw, TransitionInput::Reason(reason)) => {
            query
                .set((common, pledges::status_reason.eq(reason.trim().to_owned())))
                .returning(PledgeRow::as_returning())
                .get_result(conn)
                .await?
        }
        (PledgeAction::Assess, TransitionInput::Assessment(assessment)) => {
            query
                .set((
                    common,
                    pledges::assessed_at.eq(now),
                    pledges::result.eq(assessment.result.as_str()),
                    pledges::assessment_note.eq(assessment.note.map(|note| note.trim().to_owned())),
                ))
                .returning(PledgeRow::as_returning())
                .get_result(conn)
                .await?
        }
        _ => {
            return Err(AppError::internal(anyhow::anyhow!(
                "transition without its input"
            )));
        }
    };
    let dto = to_dto(updated);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: match action {
                PledgeAction::Submit => "pledge.submit",
                PledgeAction::Approve => "pledge.approve",
                PledgeAction::Return => "pledge.return",
                PledgeAction::Withdraw => "pledge.withdraw",
                PledgeAction::Assess => "pledge.assess",
            },
            entity_type: "pledge",
            entity_id: dto.id,
            organization_id: Some(dto.organization_id),
            before: snapshot(&before),
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Appends a progress report to an approved pledge and refreshes its latest figures.
pub async fn report_progress(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    row: PledgeRow,
    request: CreateProgress,
) -> AppResult<ProgressDto> {
    authorize_progress(principal, &row.organization_path)?;
    if row.status != PledgeStatus::Approved.as_str() {
        return Err(AppError::conflict(
            "invalid_transition",
            format!(
                "progress is reported on approved pledges; this one is {}",
                row.status
            ),
        )
        .with_extra("current_status", row.status.clone()));
    }
    let mut checks = Checks::default();
    if request.percent.is_none() && request.value.is_none() {
        checks.fail("/percent", "give percent and/or value");
    }
    if request
        .percent
        .is_some_and(|percent| !(0.0..=100.0).contains(&percent))
    {
        checks.fail("/percent", "must be between 0 and 100");
    }
    if request.value.is_some_and(|value| !value.is_finite()) {
        checks.fail("/value", "must be a finite number");
    }
    if request.reported_on > today() + chrono::Duration::days(1) {
        checks.fail("/reported_on", "must not be in the future");
    }
    if request.reported_on.year() < row.year - 1 {
        checks.fail("/reported_on", "is long before the pledge's year");
    }
    if let Some(note) = &request.note {
        checks.length("/note", note, 0, NOTE_MAX);
    }
    if request.evidence_urls.len() > MAX_EVIDENCE {
        checks.fail("/evidence_urls", format!("at most {MAX_EVIDENCE} links"));
    }
    for (index, link) in request.evidence_urls.iter().enumerate() {
        let valid = link.len() <= URL_MAX
            && url::Url::parse(link)
                .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
        if !valid {
            checks.fail(
                &format!("/evidence_urls/{index}"),
                "must be an http(s) URL of at most 2000 characters",
            );
        }
    }
    checks.finish()?;
    let id = Uuid::now_v7();
    let progress: super::model::ProgressRow = diesel::insert_into(pledge_progress::table)
        .values((
            pledge_progress::id.eq(id),
            pledge_progress::pledge_id.eq(row.id),
            pledge_progress::root_organization_id.eq(row.root_organization_id),
            pledge_progress::reported_on.eq(request.reported_on),
            pledge_progress::percent.eq(request.percent),
            pledge_progress::value.eq(request.value),
            pledge_progress::note.eq(request.note.as_deref().map(str::trim)),
            pledge_progress::evidence_urls.eq(&request.evidence_urls),
            pledge_progress::reported_by.eq(principal.id),
            pledge_progress::reporter_kind.eq(principal.kind_name()),
        ))
        .returning(super::model::ProgressRow::as_returning())
        .get_result(conn)
        .await?;
    // The pledge shows the latest report by date; an older, late-arriving report is kept but
    // does not overwrite newer figures.
    let is_latest = row
        .last_reported_on
        .is_none_or(|last| request.reported_on >= last);
    if is_latest {
        diesel::update(pledges::table.find(row.id))
            .set((
                pledges::progress_percent.eq(request.percent.or(row.progress_percent)),
                pledges::current_value.eq(request.value.or(row.current_value)),
                pledges::last_reported_on.eq(request.reported_on),
                pledges::version.eq(pledges::version + 1),
                pledges::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
    }
    let dto = ProgressDto::from(progress);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "pledge.progress",
            entity_type: "pledge",
            entity_id: row.id,
            organization_id: Some(row.organization_id),
            before: None,
            after: serde_json::to_value(&dto).ok(),
        },
    )
    .await?;
    Ok(dto)
}
