//! Nomination rules: who may do what (through `auth::authorize`), content validation against
//! the campaign and the tree, duplicate detection, reviews and their tally, and the writes
//! themselves. Every function runs inside the caller's transaction.

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{
    CommendBody, CreateNomination, CreateReview, NominationDto, NomineeType, ReviewDto,
    UpdateNomination,
};
use super::model::{NewNomination, NominationChanges, NominationRow, ReviewRow};
use super::repo::{self, Nominee};
use super::state::{InvalidTransition, NominationAction, NominationStatus, next_status};
use crate::audit::{self, Change};
use crate::auth::authorize::{is_strictly_below, is_within, require_user, require_visible};
use crate::auth::principal::{Principal, Role, Scope};
use crate::db::schema::{nomination_reviews, nominations, organizations};
use crate::error::{AppError, AppResult};
use crate::organizations::repo as organization_repo;
use crate::pledges::repo::{CampaignRules, campaign_rules};
use crate::text::{Checks, squash_spaces};

const NAME_MAX: usize = 300;
const POSITION_MAX: usize = 200;
const ACHIEVEMENTS_MAX: usize = 20_000;
const REASON_MAX: usize = 2_000;
const COMMENT_MAX: usize = 5_000;
const DECISION_NO_MAX: usize = 100;
const MAX_EVIDENCE: usize = 20;
const URL_MAX: usize = 2_000;
const MEMBER_COUNT_MAX: i32 = 10_000_000;

/// The partial unique indexes that make duplicate detection exact under concurrency.
const DUPLICATE_INDEXES: [&str; 2] = [
    "nominations_nominee_key_unique",
    "nominations_nominee_organization_unique",
];

pub fn to_dto(row: NominationRow) -> NominationDto {
    NominationDto::from(row)
}

fn snapshot<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

fn status_of(row: &NominationRow) -> NominationStatus {
    NominationStatus::parse(&row.status).unwrap_or(NominationStatus::Draft)
}

/// 409 naming the current state and what it allows.
pub fn invalid_transition(error: InvalidTransition) -> AppError {
    let allowed: Vec<&str> = error.allowed.iter().map(|action| action.as_str()).collect();
    AppError::conflict(
        "invalid_transition",
        format!(
            "a nomination in state {} does not allow {}; allowed: {}",
            error.from.as_str(),
            error.action.as_str(),
            if allowed.is_empty() {
                "nothing (final state)".to_owned()
            } else {
                allowed.join(", ")
            }
        ),
    )
    .with_extra("current_status", error.from.as_str())
    .with_extra("allowed_actions", allowed)
}

fn duplicate(existing: Option<Uuid>) -> AppError {
    let error = AppError::conflict(
        "duplicate_nomination",
        "this unit already nominated the same nominee for this campaign year",
    );
    match existing {
        Some(id) => error.with_extra("existing_id", id.to_string()),
        None => error,
    }
}

/// A unique violation of the duplicate indexes is the race the in-transaction check lost.
fn map_write_error(error: diesel::result::Error) -> AppError {
    use diesel::result::{DatabaseErrorKind, Error};
    if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &error {
        if info
            .constraint_name()
            .is_some_and(|name| DUPLICATE_INDEXES.contains(&name))
        {
            return duplicate(None);
        }
        if info.constraint_name() == Some("nomination_reviews_one_per_reviewer") {
            return already_reviewed();
        }
    }
    AppError::from(error)
}

fn already_reviewed() -> AppError {
    AppError::conflict(
        "already_reviewed",
        "you already reviewed this nomination; reviews are not edited",
    )
}

/// Who may take `action` on a nomination of the unit at `path` (DESIGN.md §3): the unit's
/// managers (or higher) submit and withdraw; reviewers of a *strictly higher* unit start the
/// review, recognize and reject; their reviewers or managers record the commendation. Nobody
/// decides on their own unit's nomination.
pub fn authorize_action(
    principal: &Principal,
    path: &str,
    action: NominationAction,
) -> AppResult<()> {
    require_user(principal)?;
    let allowed = match action {
        NominationAction::Submit | NominationAction::Withdraw => {
            principal.has_role_over(path, &[Role::Manager])
        }
        NominationAction::StartReview | NominationAction::Recognize | NominationAction::Reject => {
            principal.has_role_strictly_above(path, &[Role::Reviewer])
        }
        NominationAction::Commend => {
            principal.has_role_strictly_above(path, &[Role::Reviewer, Role::Manager])
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::forbidden(match action {
            NominationAction::StartReview
            | NominationAction::Recognize
            | NominationAction::Reject => {
                "only a reviewer of a higher unit may review, recognize or reject a nomination"
            }
            NominationAction::Commend => {
                "only a reviewer or manager of a higher unit may record a commendation"
            }
            _ => "only a manager of the nominating unit or of a higher one may do this",
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
            "only a manager of the unit or of a higher one may write its nominations",
        ))
    }
}

/// Reviewing: a reviewer of a strictly higher unit.
fn authorize_review(principal: &Principal, path: &str) -> AppResult<()> {
    require_user(principal)?;
    if principal.has_role_strictly_above(path, &[Role::Reviewer]) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only a reviewer of a higher unit may review a nomination",
        ))
    }
}

/// Reading one nomination: inside the caller's subtree, or anywhere once it is an exemplar.
pub fn require_readable(principal: &Principal, row: &NominationRow) -> AppResult<()> {
    if status_of(row).is_exemplar() && principal.has_scope(Scope::Read) {
        return Ok(());
    }
    require_visible(principal, &row.organization_path)
}

/// The content of a nomination after a create or a merge patch, to validate as a whole.
struct Content {
    nominee_type: NomineeType,
    nominee_name: String,
    nominee_organization_id: Option<Uuid>,
    nominee_position: Option<String>,
    member_count: Option<i32>,
    field: String,
    achievements: Option<String>,
    evidence_urls: Vec<String>,
}

fn trimmed(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// Validates `content` for a nomination of the unit at `unit_path`.
async fn validate(
    conn: &mut AsyncPgConnection,
    content: &Content,
    rules: &CampaignRules,
    unit_path: &str,
) -> AppResult<()> {
    let mut checks = Checks::default();
    if !rules.field_codes.contains(&content.field) {
        checks.fail(
            "/field",
            format!(
                "must be a field code of the campaign: {}",
                rules.field_codes.join(", ")
            ),
        );
    }
    checks.length("/nominee_name", &content.nominee_name, 1, NAME_MAX);
    if let Some(position) = &content.nominee_position {
        checks.length("/nominee_position", position, 0, POSITION_MAX);
    }
    if let Some(achievements) = &content.achievements {
        checks.length("/achievements", achievements, 0, ACHIEVEMENTS_MAX);
    }
    if let Some(count) = content.member_count
        && !(1..=MEMBER_COUNT_MAX).contains(&count)
    {
        checks.fail(
            "/member_count",
            format!("must be between 1 and {MEMBER_COUNT_MAX}"),
        );
    }
    match content.nominee_type {
        NomineeType::Individual => {
            if content.member_count.is_some() {
                checks.fail("/member_count", "applies to collectives only");
            }
        }
        NomineeType::Collective => {
            if content.member_count.is_none() && content.nominee_organization_id.is_none() {
                checks.fail(
                    "/member_count",
                    "a collective needs member_count (≥ 1) or nominee_organization_id",
                );
            }
        }
    }
    if let Some(organization_id) = content.nominee_organization_id {
        let path: Option<String> = organizations::table
            .find(organization_id)
            .select(organizations::path)
            .first(conn)
            .await
            .optional()?;
        if !path.is_some_and(|path| is_within(&path, unit_path)) {
            checks.fail(
                "/nominee_organization_id",
                "must be the nominating unit or an organization below it",
            );
        }
    }
    if content.evidence_urls.len() > MAX_EVIDENCE {
        checks.fail("/evidence_urls", format!("at most {MAX_EVIDENCE} links"));
    }
    for (index, link) in content.evidence_urls.iter().enumerate() {
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
    checks.finish()
}

fn validate_year(rules: &CampaignRules, year: i32) -> AppResult<()> {
    if (rules.first_year..=rules.last_year).contains(&year) {
        Ok(())
    } else {
        Err(AppError::field(
            "/year",
            format!(
                "must be within the campaign, {} to {}",
                rules.first_year, rules.last_year
            ),
        ))
    }
}

async fn refuse_duplicate(conn: &mut AsyncPgConnection, nominee: &Nominee<'_>) -> AppResult<()> {
    match repo::live_duplicate(conn, nominee).await? {
        Some(existing) => Err(duplicate(Some(existing))),
        None => Ok(()),
    }
}

/// Creates a draft nomination.
pub async fn create(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    request: CreateNomination,
) -> AppResult<NominationDto> {
    require_user(principal)?;
    let organization: Option<(String, bool)> = organizations::table
        .find(request.nominating_organization_id)
        .select((organizations::path, organizations::active))
        // A move of this unit waits for us (and we for it), so the stored path is current.
        .for_share()
        .first(conn)
        .await
        .optional()?;
    let Some((path, active)) = organization else {
        return Err(AppError::field(
            "/nominating_organization_id",
            "no such organization",
        ));
    };
    if !principal.can_see(&path) {
        // Do not reveal units outside the caller's subtree.
        return Err(AppError::field(
            "/nominating_organization_id",
            "no such organization",
        ));
    }
    authorize_write(principal, &path)?;
    if !active {
        return Err(AppError::field(
            "/nominating_organization_id",
            "the organization is inactive",
        ));
    }
    let rules = campaign_rules(conn, request.campaign_id)
        .await?
        .ok_or_else(|| AppError::field("/campaign_id", "no such campaign"))?;
    validate_year(&rules, request.year)?;
    let content = Content {
        nominee_type: request.nominee_type,
        nominee_name: squash_spaces(&request.nominee_name),
        nominee_organization_id: request.nominee_organization_id,
        nominee_position: trimmed(request.nominee_position),
        member_count: request.member_count,
        field: request.field.trim().to_owned(),
        achievements: trimmed(request.achievements),
        evidence_urls: request.evidence_urls,
    };
    validate(conn, &content, &rules, &path).await?;
    refuse_duplicate(
        conn,
        &Nominee {
            nominating_organization_id: request.nominating_organization_id,
            campaign_id: request.campaign_id,
            year: request.year,
            nominee_type: content.nominee_type,
            nominee_name: &content.nominee_name,
            nominee_organization_id: content.nominee_organization_id,
            except: None,
        },
    )
    .await?;
    let root = organization_repo::root_of(conn, &path).await?;
    let row: NominationRow = diesel::insert_into(nominations::table)
        .values(NewNomination {
            id: Uuid::now_v7(),
            campaign_id: request.campaign_id,
            nominating_organization_id: request.nominating_organization_id,
            organization_path: &path,
            root_organization_id: root,
            year: request.year,
            nominee_type: content.nominee_type.as_str(),
            nominee_name: &content.nominee_name,
            nominee_organization_id: content.nominee_organization_id,
            nominee_position: content.nominee_position.as_deref(),
            member_count: content.member_count,
            field: &content.field,
            achievements: content.achievements.as_deref(),
            evidence_urls: &content.evidence_urls,
            created_by: principal.id,
        })
        .returning(NominationRow::as_returning())
        .get_result(conn)
        .await
        .map_err(map_write_error)?;
    let dto = to_dto(row);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "nomination.create",
            entity_type: "nomination",
            entity_id: dto.id,
            organization_id: Some(dto.nominating_organization_id),
            before: None,
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Locks a nomination inside the caller's subtree (404 otherwise, also for foreign
/// exemplars: reading them is public, acting on them is not).
pub async fn lock_visible(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
) -> AppResult<NominationRow> {
    let row = repo::find_for_update(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    require_visible(principal, &row.organization_path)?;
    Ok(row)
}

fn only_in_draft(row: &NominationRow, what: &str) -> AppResult<()> {
    if row.status == NominationStatus::Draft.as_str() {
        Ok(())
    } else {
        Err(AppError::conflict(
            "invalid_transition",
            format!(
                "only draft nominations can be {what}; this one is {}",
                row.status
            ),
        )
        .with_extra("current_status", row.status.clone()))
    }
}

/// Applies a merge patch to a draft.
pub async fn update(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    row: NominationRow,
    patch: UpdateNomination,
) -> AppResult<NominationDto> {
    authorize_write(principal, &row.organization_path)?;
    only_in_draft(&row, "edited")?;
    let rules = campaign_rules(conn, row.campaign_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("nomination without campaign")))?;
    let content = Content {
        nominee_type: patch
            .nominee_type
            .unwrap_or(NomineeType::parse(&row.nominee_type).unwrap_or(NomineeType::Individual)),
        nominee_name: patch
            .nominee_name
            .as_deref()
            .map_or(row.nominee_name.clone(), squash_spaces),
        nominee_organization_id: patch
            .nominee_organization_id
            .unwrap_or(row.nominee_organization_id),
        nominee_position: patch
            .nominee_position
            .clone()
            .map_or(row.nominee_position.clone(), trimmed),
        member_count: patch.member_count.unwrap_or(row.member_count),
        field: patch
            .field
            .clone()
            .map(|field| field.trim().to_owned())
            .unwrap_or_else(|| row.field.clone()),
        achievements: patch
            .achievements
            .clone()
            .map_or(row.achievements.clone(), trimmed),
        evidence_urls: patch
            .evidence_urls
            .clone()
            .unwrap_or_else(|| row.evidence_urls.iter().flatten().cloned().collect()),
    };
    validate(conn, &content, &rules, &row.organization_path).await?;
    refuse_duplicate(
        conn,
        &Nominee {
            nominating_organization_id: row.nominating_organization_id,
            campaign_id: row.campaign_id,
            year: row.year,
            nominee_type: content.nominee_type,
            nominee_name: &content.nominee_name,
            nominee_organization_id: content.nominee_organization_id,
            except: Some(row.id),
        },
    )
    .await?;
    let changes = NominationChanges {
        nominee_type: content.nominee_type.as_str().to_owned(),
        nominee_name: content.nominee_name,
        nominee_organization_id: content.nominee_organization_id,
        nominee_position: content.nominee_position,
        member_count: content.member_count,
        field: content.field,
        achievements: content.achievements,
        evidence_urls: content.evidence_urls,
    };
    let before = to_dto(row.clone());
    let updated: NominationRow = diesel::update(nominations::table.find(row.id))
        .set((
            &changes,
            nominations::version.eq(nominations::version + 1),
            nominations::updated_at.eq(diesel::dsl::now),
        ))
        .returning(NominationRow::as_returning())
        .get_result(conn)
        .await
        .map_err(map_write_error)?;
    let dto = to_dto(updated);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "nomination.update",
            entity_type: "nomination",
            entity_id: dto.id,
            organization_id: Some(dto.nominating_organization_id),
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
    row: NominationRow,
) -> AppResult<()> {
    authorize_write(principal, &row.organization_path)?;
    only_in_draft(&row, "deleted (withdraw it instead)")?;
    diesel::delete(nominations::table.find(row.id))
        .execute(conn)
        .await?;
    let organization_id = row.nominating_organization_id;
    let id = row.id;
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "nomination.delete",
            entity_type: "nomination",
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
    Commendation(CommendBody),
}

/// Validates a commendation: bounded decision number, a plausible date, and an issuer that is
/// an ancestor of the nominating unit.
async fn validate_commendation(
    conn: &mut AsyncPgConnection,
    row: &NominationRow,
    body: &CommendBody,
) -> AppResult<()> {
    let mut checks = Checks::default();
    checks.length("/decision_no", &body.decision_no, 1, DECISION_NO_MAX);
    if body.decided_on > today() + chrono::Duration::days(1) {
        checks.fail("/decided_on", "must not be in the future");
    }
    let issuer_path: Option<String> = organizations::table
        .find(body.issuer_organization_id)
        .select(organizations::path)
        .first(conn)
        .await
        .optional()?;
    if !issuer_path.is_some_and(|issuer| is_strictly_below(&row.organization_path, &issuer)) {
        checks.fail(
            "/issuer_organization_id",
            "must be a higher unit of the nominating organization",
        );
    }
    checks.finish()
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Takes `action` on a locked nomination.
pub async fn transition(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    row: NominationRow,
    action: NominationAction,
    input: TransitionInput,
) -> AppResult<NominationDto> {
    authorize_action(principal, &row.organization_path, action)?;
    let to = next_status(status_of(&row), action).map_err(invalid_transition)?;
    match &input {
        TransitionInput::Reason(reason) => {
            let mut checks = Checks::default();
            checks.length("/reason", reason, 1, REASON_MAX);
            checks.finish()?;
        }
        TransitionInput::Commendation(body) => validate_commendation(conn, &row, body).await?,
        TransitionInput::None => {}
    }
    if action == NominationAction::Recognize {
        let tally = repo::tally(conn, row.id).await?;
        if !tally.allows_recognition() {
            return Err(AppError::conflict(
                "insufficient_endorsements",
                format!(
                    "recognition needs at least one endorsement and more endorsements than oppositions \
                     ({} endorse, {} oppose, {} abstain)",
                    tally.endorse, tally.oppose, tally.abstain
                ),
            )
            .with_extra("tally", serde_json::to_value(tally).unwrap_or_default()));
        }
    }
    let before = to_dto(row.clone());
    let now = Utc::now();
    let common = (
        nominations::status.eq(to.as_str()),
        nominations::version.eq(nominations::version + 1),
        nominations::updated_at.eq(diesel::dsl::now),
    );
    let query = diesel::update(nominations::table.find(row.id));
    let updated: NominationRow = match (action, input) {
        (NominationAction::Submit, _) => {
            query
                .set((common, nominations::submitted_at.eq(now)))
                .returning(NominationRow::as_returning())
                .get_result(conn)
                .await?
        }
        (NominationAction::StartReview, _) => {
            query
                .set((common, nominations::review_started_at.eq(now)))
                .returning(NominationRow::as_returning())
                .get_result(conn)
                .await?
        }
        (NominationAction::Recognize, _) => {
            query
                .set((common, nominations::recognized_at.eq(now)))
                .returning(NominationRow::as_returning())
                .get_result(conn)
                .await?
        }
        (
            NominationAction::Reject | NominationAction::Withdraw,
            TransitionInput::Reason(reason),
        ) => {
            query
                .set((
                    common,
                    nominations::status_reason.eq(reason.trim().to_owned()),
                ))
                .returning(NominationRow::as_returning())
                .get_result(conn)
                .await?
        }
        (NominationAction::Commend, TransitionInput::Commendation(body)) => {
            query
                .set((
                    common,
                    nominations::commended_at.eq(now),
                    nominations::commendation_form.eq(body.form.as_str()),
                    nominations::issuer_organization_id.eq(body.issuer_organization_id),
                    nominations::decision_no.eq(body.decision_no.trim().to_owned()),
                    nominations::decided_on.eq(body.decided_on),
                ))
                .returning(NominationRow::as_returning())
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
                NominationAction::Submit => "nomination.submit",
                NominationAction::StartReview => "nomination.start_review",
                NominationAction::Recognize => "nomination.recognize",
                NominationAction::Commend => "nomination.commend",
                NominationAction::Reject => "nomination.reject",
                NominationAction::Withdraw => "nomination.withdraw",
            },
            entity_type: "nomination",
            entity_id: dto.id,
            organization_id: Some(dto.nominating_organization_id),
            before: snapshot(&before),
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Records a review of a locked nomination under review.
pub async fn review(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    row: NominationRow,
    request: CreateReview,
) -> AppResult<ReviewDto> {
    authorize_review(principal, &row.organization_path)?;
    if row.status != NominationStatus::UnderReview.as_str() {
        return Err(AppError::conflict(
            "invalid_transition",
            format!(
                "reviews are taken while a nomination is under_review; this one is {}",
                row.status
            ),
        )
        .with_extra("current_status", row.status.clone()));
    }
    let mut checks = Checks::default();
    if let Some(comment) = &request.comment {
        checks.length("/comment", comment, 0, COMMENT_MAX);
    }
    checks.finish()?;
    if repo::has_reviewed(conn, row.id, principal.id).await? {
        return Err(already_reviewed());
    }
    let review: ReviewRow = diesel::insert_into(nomination_reviews::table)
        .values((
            nomination_reviews::id.eq(Uuid::now_v7()),
            nomination_reviews::nomination_id.eq(row.id),
            nomination_reviews::reviewer_id.eq(principal.id),
            nomination_reviews::decision.eq(request.decision.as_str()),
            nomination_reviews::comment.eq(trimmed(request.comment)),
        ))
        .returning(ReviewRow::as_returning())
        .get_result(conn)
        .await
        .map_err(map_write_error)?;
    let dto = ReviewDto::from(review);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "nomination.review",
            entity_type: "nomination",
            entity_id: row.id,
            organization_id: Some(row.nominating_organization_id),
            before: None,
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}
