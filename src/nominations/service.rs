//! Nomination rules: who may do what (through `auth::authorize`), content validation against
//! the campaign and the tree, duplicate detection, reviews and their tally, and the writes
//! themselves. Every function runs inside the caller's transaction.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{
    CommendBody, CreateNomination, CreateReview, NominationDto, ReviewDto, UpdateNomination,
};
use super::model::{NewNomination, NominationChanges, NominationRow, ReviewRow};
use super::repo::{self, Nominee};
use super::state::{NominationAction, NominationStatus, NominationWorkflow, NomineeType};
use crate::audit::{self, Change};
use crate::auth::authorize::{is_strictly_below, is_within};
use crate::auth::policy::{Operation, Target};
use crate::auth::principal::Principal;
use crate::awards::repo as awards_repo;
use crate::campaigns::repo::{CampaignRules, campaign_rules};
use crate::clock::today;
use crate::db::schema::{nomination_reviews, nominations, organizations};
use crate::error::{AppError, AppResult, ProblemCode};
use crate::organizations::repo as organization_repo;
use crate::text::{Checks, squash_spaces, trimmed};
use crate::workflow::{self, Appended, Creatable, Editable, Facts, Readable, Workflow, snapshot};

const NAME_MAX: usize = 300;
const POSITION_MAX: usize = 200;
const ACHIEVEMENTS_MAX: usize = 20_000;
const REASON_MAX: usize = 2_000;
const COMMENT_MAX: usize = 5_000;
const DECISION_NO_MAX: usize = 100;
const MEMBER_COUNT_MAX: i32 = 10_000_000;

/// The partial unique indexes that make duplicate detection exact under concurrency.
const DUPLICATE_INDEXES: [&str; 2] = [
    "nominations_nominee_key_unique",
    "nominations_nominee_organization_unique",
];

pub fn to_dto(row: NominationRow) -> NominationDto {
    NominationDto::from(row)
}

fn duplicate(existing: Option<Uuid>) -> AppError {
    let error = AppError::conflict(
        ProblemCode::DuplicateNomination,
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
        if info.constraint_name() == Some("nominations_award_once") {
            return AppError::field("/award_id", "already commends another nomination");
        }
    }
    AppError::from(error)
}

fn already_reviewed() -> AppError {
    AppError::conflict(
        ProblemCode::AlreadyReviewed,
        "you already reviewed this nomination; reviews are not edited",
    )
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

/// Validates `content` for a nomination of the unit at `unit_path`.
async fn validate(
    conn: &mut AsyncPgConnection,
    content: &Content,
    rules: &CampaignRules,
    unit_path: &str,
) -> AppResult<()> {
    let mut checks = Checks::default();
    rules.check_field(&mut checks, &content.field);
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
    checks.evidence_links("/evidence_urls", &content.evidence_urls);
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

impl Creatable for NominationWorkflow {
    type New = CreateNomination;

    fn location(id: Uuid) -> String {
        format!("/api/v1/nominations/{id}")
    }

    async fn create(
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        request: CreateNomination,
    ) -> AppResult<NominationRow> {
        let workflow::Placement { path, root, rules } = workflow::place_new(
            conn,
            principal,
            Operation::WriteNomination,
            (
                "/nominating_organization_id",
                request.nominating_organization_id,
            ),
            request.campaign_id,
        )
        .await?;
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
        let row: NominationRow = diesel::insert_into(nominations::table)
            .values(NewNomination {
                id: Uuid::now_v7(),
                campaign_id: request.campaign_id,
                nominating_organization_id: request.nominating_organization_id,
                organization_path: &path,
                root_organization_id: root,
                year: request.year,
                nominee_type: content.nominee_type,
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
        Ok(row)
    }
}

impl Editable for NominationWorkflow {
    type Patch = UpdateNomination;
    const WRITE: Operation = Operation::WriteNomination;
    const EDITABLE: &'static [NominationStatus] = &[NominationStatus::Draft];
    const DELETABLE: &'static [NominationStatus] = &[NominationStatus::Draft];

    async fn edit(
        conn: &mut AsyncPgConnection,
        row: &NominationRow,
        patch: UpdateNomination,
    ) -> AppResult<NominationRow> {
        let rules = campaign_rules(conn, row.campaign_id)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("nomination without campaign")))?;
        let content = Content {
            nominee_type: patch.nominee_type.unwrap_or(row.nominee_type),
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
            nominee_type: content.nominee_type,
            nominee_name: content.nominee_name,
            nominee_organization_id: content.nominee_organization_id,
            nominee_position: content.nominee_position,
            member_count: content.member_count,
            field: content.field,
            achievements: content.achievements,
            evidence_urls: content.evidence_urls,
        };
        diesel::update(nominations::table.find(row.id))
            .set((
                &changes,
                nominations::version.eq(nominations::version + 1),
                nominations::updated_at.eq(diesel::dsl::now),
            ))
            .returning(NominationRow::as_returning())
            .get_result(conn)
            .await
            .map_err(map_write_error)
    }

    async fn remove(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(nominations::table.find(id))
            .execute(conn)
            .await
    }
}

/// What a transition carries besides the action.
pub enum TransitionInput {
    None,
    Reason(String),
    Commendation(CommendBody),
}

/// A cited award must be the one the commendation describes (issuer, number, date), of this
/// nominee and year, still held, and cited by no other nomination: one achievement is rewarded
/// once. The award's row is share-locked, so a concurrent revocation waits for this commit.
async fn check_citation(
    conn: &mut AsyncPgConnection,
    row: &NominationRow,
    body: &CommendBody,
) -> AppResult<()> {
    let Some(award_id) = body.award_id else {
        return Ok(());
    };
    let Some(award) = awards_repo::citation(conn, award_id, row.id).await? else {
        return Err(AppError::field("/award_id", "no such award"));
    };
    let mut checks = Checks::default();
    if award.decision_id.is_none() {
        checks.fail(
            "/award_id",
            "was recorded from a paper decision, not conferred by an award decision of this service",
        );
    }
    if award.issuer_organization_id != Some(body.issuer_organization_id) {
        checks.fail(
            "/issuer_organization_id",
            "differs from the issuer of the cited award's decision",
        );
    }
    if award.decision_no.as_deref() != Some(body.decision_no.trim()) {
        checks.fail(
            "/decision_no",
            "differs from the cited award's decision number",
        );
    }
    if award.decided_on != Some(body.decided_on) {
        checks.fail(
            "/decided_on",
            "differs from the cited award's decision date",
        );
    }
    if award.year != row.year {
        checks.fail(
            "/award_id",
            format!(
                "is an award of {}; the nomination is of {}",
                award.year, row.year
            ),
        );
    }
    if award.revoked {
        checks.fail("/award_id", "was revoked");
    }
    let same_nominee = match row.nominee_type {
        NomineeType::Individual => award.person_named_as_nominee,
        NomineeType::Collective => {
            award.organization_id.is_some() && award.organization_id == row.nominee_organization_id
        }
    };
    if !same_nominee {
        checks.fail(
            "/award_id",
            "was conferred on another subject than the nominee",
        );
    }
    if let Some(other) = award.cited_by {
        checks.fail("/award_id", format!("already commends nomination {other}"));
    }
    checks.finish()
}

/// Validates a commendation: a bounded decision number and a plausible date (the issuer is
/// checked before the policy, in `issuer_path`).
fn validate_commendation(body: &CommendBody) -> AppResult<()> {
    let mut checks = Checks::default();
    checks.length("/decision_no", &body.decision_no, 1, DECISION_NO_MAX);
    if body.decided_on > today() + chrono::Duration::days(1) {
        checks.fail("/decided_on", "must not be in the future");
    }
    checks.finish()
}

impl Workflow for NominationWorkflow {
    type Row = NominationRow;
    type Dto = NominationDto;
    type Input = TransitionInput;

    async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<NominationRow>> {
        repo::find_for_update(conn, id).await
    }

    fn facts(row: &NominationRow) -> Facts<'_, NominationStatus> {
        Facts {
            id: row.id,
            path: &row.organization_path,
            organization_id: row.nominating_organization_id,
            status: row.status,
            version: row.version,
            created_by: row.created_by,
            submitted_by: row.submitted_by,
        }
    }

    fn operation(action: NominationAction) -> Operation {
        match action {
            NominationAction::Submit => Operation::SubmitNomination,
            NominationAction::StartReview => Operation::StartReview,
            NominationAction::Recognize => Operation::RecognizeNomination,
            NominationAction::Commend => Operation::CommendNomination,
            NominationAction::Reject => Operation::RejectNomination,
            NominationAction::Withdraw => Operation::WithdrawNomination,
        }
    }

    /// A commendation is issued in the name of `issuer_organization_id`, a higher unit of the
    /// nominating one.
    async fn issuer_path(
        conn: &mut AsyncPgConnection,
        row: &NominationRow,
        input: &TransitionInput,
    ) -> AppResult<Option<String>> {
        let TransitionInput::Commendation(body) = input else {
            return Ok(None);
        };
        let refusal = || {
            AppError::field(
                "/issuer_organization_id",
                "must be a higher unit of the nominating organization or of its successor",
            )
        };
        let Some(issuer) = organization_repo::path_of(conn, body.issuer_organization_id).await?
        else {
            return Err(refusal());
        };
        if is_strictly_below(&row.organization_path, &issuer) {
            return Ok(Some(issuer));
        }
        // The work of a unit that has ended is decided by the higher units of its successors
        // (a nomination of Mỹ Hòa, ended 30/6/2025, is commended by Tỉnh Vĩnh Long).
        let successors =
            crate::restructurings::repo::successor_paths(conn, row.nominating_organization_id)
                .await?;
        if successors
            .iter()
            .any(|successor| is_strictly_below(successor, &issuer))
        {
            return Ok(Some(issuer));
        }
        Err(refusal())
    }

    async fn apply(
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        row: NominationRow,
        action: NominationAction,
        to: NominationStatus,
        input: TransitionInput,
    ) -> AppResult<NominationRow> {
        match &input {
            TransitionInput::Reason(reason) => {
                let mut checks = Checks::default();
                checks.length("/reason", reason, 1, REASON_MAX);
                checks.finish()?;
            }
            TransitionInput::Commendation(body) => {
                validate_commendation(body)?;
                check_citation(conn, &row, body).await?;
            }
            TransitionInput::None => {}
        }
        if action == NominationAction::Recognize {
            let tally = repo::tally(conn, row.id).await?;
            if !tally.allows_recognition() {
                return Err(AppError::conflict(
                    ProblemCode::InsufficientEndorsements,
                    format!(
                        "recognition needs at least one endorsement and more endorsements than oppositions \
                         ({} endorse, {} oppose, {} abstain)",
                        tally.endorse, tally.oppose, tally.abstain
                    ),
                )
                .with_extra("tally", serde_json::to_value(tally).unwrap_or_default()));
            }
        }
        let now = Utc::now();
        let common = (
            nominations::status.eq(to),
            nominations::version.eq(nominations::version + 1),
            nominations::updated_at.eq(diesel::dsl::now),
        );
        let query = diesel::update(nominations::table.find(row.id));
        let updated = match (action, input) {
            (NominationAction::Submit, _) => {
                query
                    .set((
                        common,
                        nominations::submitted_at.eq(now),
                        nominations::submitted_by.eq(principal.id),
                    ))
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
            (NominationAction::Commend, TransitionInput::Commendation(body)) => query
                .set((
                    common,
                    nominations::commended_at.eq(now),
                    nominations::commendation_form.eq(body.form),
                    nominations::issuer_organization_id.eq(body.issuer_organization_id),
                    nominations::decision_no.eq(body.decision_no.trim().to_owned()),
                    nominations::decided_on.eq(body.decided_on),
                    nominations::award_id.eq(body.award_id),
                ))
                .returning(NominationRow::as_returning())
                .get_result(conn)
                .await
                .map_err(map_write_error)?,
            _ => return Err(workflow::missing_input::<Self>(action)),
        };
        Ok(updated)
    }

    fn to_dto(row: NominationRow) -> NominationDto {
        to_dto(row)
    }
}

impl Readable for NominationWorkflow {
    async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<NominationRow>> {
        repo::find(conn, id).await
    }

    /// Inside the caller's subtree, or anywhere once it is an exemplar (exemplars exist to be
    /// learned from).
    fn read_target(row: &NominationRow) -> Target<'_> {
        if row.status.is_exemplar() {
            Target::default()
        } else {
            Target::unit(&row.organization_path)
        }
    }
}

/// A review, recorded on a nomination under review.
impl Appended for CreateReview {
    type Workflow = NominationWorkflow;
    type Dto = ReviewDto;
    // The row's lock orders reviews and `recognize` on one nomination, so the tally that
    // recognition checks is the one that commits.
    const OPERATION: Operation = Operation::ReviewNomination;
    const ALLOWED_IN: &'static [NominationStatus] = &[NominationStatus::UnderReview];
    const NAME: &'static str = "reviews";
    const COLLECTION: &'static str = "reviews";

    async fn append(
        self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        row: NominationRow,
    ) -> AppResult<ReviewDto> {
        let mut checks = Checks::default();
        if let Some(comment) = &self.comment {
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
                nomination_reviews::decision.eq(self.decision),
                nomination_reviews::comment.eq(trimmed(self.comment)),
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
}
