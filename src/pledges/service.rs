//! Pledge rules: who may do what (through `auth::authorize`), content validation against the
//! campaign, and the writes themselves. Every function runs inside the caller's transaction.

use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{AssessBody, CreatePledge, CreateProgress, PledgeDto, ProgressDto, UpdatePledge};
use super::model::{NewPledge, PledgeChanges, PledgeRow};
use super::repo;
use super::state::{ExemplarRelation, PledgeAction, PledgeKind, PledgeStatus, PledgeWorkflow};
use crate::audit::{self, Change};
use crate::auth::policy::Operation;
use crate::auth::principal::Principal;
use crate::campaigns::repo::{CampaignRules, campaign_rules};
use crate::clock::today;
use crate::db::schema::{pledge_progress, pledges};
use crate::error::{AppError, AppResult};
use crate::text::{Checks, trimmed};
use crate::workflow::{self, Appended, Creatable, Editable, Facts, Readable, Workflow};

const TITLE_MAX: usize = 300;
const DESCRIPTION_MAX: usize = 10_000;
const UNIT_MAX: usize = 50;
const REASON_MAX: usize = 2_000;
const NOTE_MAX: usize = 5_000;

pub fn to_dto(row: PledgeRow) -> PledgeDto {
    PledgeDto::from_row(row, today())
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
    rules.check_field(&mut checks, &content.field);
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
    // A target pledge may carry a title name too: it keeps the documented bound.
    if let (PledgeKind::Target, Some(name)) = (&content.kind, &content.title_name) {
        checks.length("/title_name", name, 1, TITLE_MAX);
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
            Some(status) if status.is_exemplar() => {}
            _ => checks.fail(
                "/exemplar_id",
                "must name a recognized or commended exemplar",
            ),
        },
    }
    checks.finish()
}

impl Creatable for PledgeWorkflow {
    type New = CreatePledge;

    fn location(id: Uuid) -> String {
        format!("/api/v1/pledges/{id}")
    }

    async fn create(
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        request: CreatePledge,
    ) -> AppResult<PledgeRow> {
        let workflow::Placement { path, root, rules } = workflow::place_new(
            conn,
            principal,
            Operation::WritePledge,
            ("/organization_id", request.organization_id),
            request.campaign_id,
        )
        .await?;
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
        let row: PledgeRow = diesel::insert_into(pledges::table)
            .values(NewPledge {
                id: Uuid::now_v7(),
                campaign_id: request.campaign_id,
                organization_id: request.organization_id,
                organization_path: &path,
                root_organization_id: root,
                year: request.year,
                kind: content.kind,
                field: &content.field,
                title: content.title.as_deref().unwrap_or_default(),
                description: content.description.as_deref(),
                target_value: content.target_value,
                target_unit: content.target_unit.as_deref(),
                title_name: content.title_name.as_deref(),
                deadline: content.deadline,
                exemplar_id: content.exemplar_id,
                exemplar_relation: content.exemplar_relation,
                created_by: principal.id,
            })
            .returning(PledgeRow::as_returning())
            .get_result(conn)
            .await?;
        Ok(row)
    }
}

impl Editable for PledgeWorkflow {
    type Patch = UpdatePledge;
    const WRITE: Operation = Operation::WritePledge;
    const EDITABLE: &'static [PledgeStatus] = &PledgeStatus::EDITABLE;
    const DELETABLE: &'static [PledgeStatus] = &[PledgeStatus::Draft];

    async fn edit(
        conn: &mut AsyncPgConnection,
        row: &PledgeRow,
        patch: UpdatePledge,
    ) -> AppResult<PledgeRow> {
        let rules = campaign_rules(conn, row.campaign_id)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("pledge without campaign")))?;
        let content = Content {
            kind: patch.kind.unwrap_or(row.kind),
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
            exemplar_relation: patch.exemplar_relation.unwrap_or(row.exemplar_relation),
        };
        validate(conn, &content, &rules, row.year, false).await?;
        let changes = PledgeChanges {
            kind: Some(content.kind),
            field: Some(content.field),
            title: content.title,
            description: Some(content.description),
            target_value: Some(content.target_value),
            target_unit: Some(content.target_unit),
            title_name: Some(content.title_name),
            deadline: Some(content.deadline),
            exemplar_id: Some(content.exemplar_id),
            exemplar_relation: Some(content.exemplar_relation),
        };
        Ok(diesel::update(pledges::table.find(row.id))
            .set((
                &changes,
                pledges::version.eq(pledges::version + 1),
                pledges::updated_at.eq(diesel::dsl::now),
            ))
            .returning(PledgeRow::as_returning())
            .get_result(conn)
            .await?)
    }

    async fn remove(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(pledges::table.find(id)).execute(conn).await
    }
}

/// What a transition carries besides the action.
pub enum TransitionInput {
    None,
    Reason(String),
    Assessment(AssessBody),
}

impl Workflow for PledgeWorkflow {
    type Row = PledgeRow;
    type Dto = PledgeDto;
    type Input = TransitionInput;

    async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<PledgeRow>> {
        repo::find_for_update(conn, id).await
    }

    fn facts(row: &PledgeRow) -> Facts<'_, PledgeStatus> {
        Facts {
            id: row.id,
            path: &row.organization_path,
            organization_id: row.organization_id,
            status: row.status,
            version: row.version,
            created_by: row.created_by,
            submitted_by: row.submitted_by,
        }
    }

    fn operation(action: PledgeAction) -> Operation {
        match action {
            PledgeAction::Submit => Operation::SubmitPledge,
            PledgeAction::Approve => Operation::ApprovePledge,
            PledgeAction::Return => Operation::ReturnPledge,
            PledgeAction::Withdraw => Operation::WithdrawPledge,
            PledgeAction::Assess => Operation::AssessPledge,
        }
    }

    async fn apply(
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        row: PledgeRow,
        action: PledgeAction,
        to: PledgeStatus,
        input: TransitionInput,
    ) -> AppResult<PledgeRow> {
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
        let now = Utc::now();
        let common = (
            pledges::status.eq(to),
            pledges::version.eq(pledges::version + 1),
            pledges::updated_at.eq(diesel::dsl::now),
        );
        let query = diesel::update(pledges::table.find(row.id));
        let updated = match (action, input) {
            (PledgeAction::Submit, _) => {
                query
                    .set((
                        common,
                        pledges::submitted_at.eq(now),
                        pledges::submitted_by.eq(principal.id),
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
                        pledges::result.eq(assessment.result),
                        pledges::assessment_note
                            .eq(assessment.note.map(|note| note.trim().to_owned())),
                    ))
                    .returning(PledgeRow::as_returning())
                    .get_result(conn)
                    .await?
            }
            _ => return Err(workflow::missing_input::<Self>(action)),
        };
        Ok(updated)
    }

    fn to_dto(row: PledgeRow) -> PledgeDto {
        to_dto(row)
    }
}

impl Readable for PledgeWorkflow {
    async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<PledgeRow>> {
        repo::find(conn, id).await
    }
}

/// A progress report, appended to an approved pledge; it refreshes the pledge's latest figures.
impl Appended for CreateProgress {
    type Workflow = PledgeWorkflow;
    type Dto = ProgressDto;
    const OPERATION: Operation = Operation::ReportProgress;
    const ALLOWED_IN: &'static [PledgeStatus] = &[PledgeStatus::Approved];
    const NAME: &'static str = "progress reports";
    const COLLECTION: &'static str = "progress";

    async fn append(
        self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        row: PledgeRow,
    ) -> AppResult<ProgressDto> {
        let mut checks = Checks::default();
        if self.percent.is_none() && self.value.is_none() {
            checks.fail("/percent", "give percent and/or value");
        }
        if self
            .percent
            .is_some_and(|percent| !(0.0..=100.0).contains(&percent))
        {
            checks.fail("/percent", "must be between 0 and 100");
        }
        if self.value.is_some_and(|value| !value.is_finite()) {
            checks.fail("/value", "must be a finite number");
        }
        if self.reported_on > today() + chrono::Duration::days(1) {
            checks.fail("/reported_on", "must not be in the future");
        }
        if self.reported_on.year() < row.year - 1 {
            checks.fail("/reported_on", "is long before the pledge's year");
        }
        if let Some(note) = &self.note {
            checks.length("/note", note, 0, NOTE_MAX);
        }
        checks.evidence_links("/evidence_urls", &self.evidence_urls);
        checks.finish()?;
        let id = Uuid::now_v7();
        let progress: super::model::ProgressRow = diesel::insert_into(pledge_progress::table)
            .values((
                pledge_progress::id.eq(id),
                pledge_progress::pledge_id.eq(row.id),
                pledge_progress::root_organization_id.eq(row.root_organization_id),
                pledge_progress::reported_on.eq(self.reported_on),
                pledge_progress::percent.eq(self.percent),
                pledge_progress::value.eq(self.value),
                pledge_progress::note.eq(self.note.as_deref().map(str::trim)),
                pledge_progress::evidence_urls.eq(&self.evidence_urls),
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
            .is_none_or(|last| self.reported_on >= last);
        if is_latest {
            diesel::update(pledges::table.find(row.id))
                .set((
                    pledges::progress_percent.eq(self.percent.or(row.progress_percent)),
                    pledges::current_value.eq(self.value.or(row.current_value)),
                    pledges::last_reported_on.eq(self.reported_on),
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
}
