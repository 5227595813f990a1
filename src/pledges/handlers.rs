//! HTTP handlers of `/pledges`: transactions, idempotency and conditional requests around the
//! rules of `service`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

use super::dto::{
    AssessBody, CreatePledge, CreateProgress, PledgeDto, PledgeFilter, PledgePage, ProgressDto,
    ProgressPage, ProgressParams, UpdatePledge,
};
use super::export::PledgeExport;
use super::repo;
use super::service::TransitionInput;
use super::state::{PledgeAction, PledgeWorkflow};
use crate::auth::principal::Principal;
use crate::error::{AppResult, Problem};
use crate::pagination::{self};
use crate::state::AppState;
use crate::workflow::handlers::{appended_handler, resource_handlers, transition_handlers};
use crate::workflow::{self, ReasonBody};

resource_handlers! {
    PledgeWorkflow, PledgeDto, PledgeExport, tag "pledges", one "pledge", id "Pledge id",
        routes "/pledges", "/pledges/{id}", "/pledges/export.csv", "/pledges/export.xlsx",
    links ["GetPledge", "UpdatePledge", "DeletePledge", "SubmitPledge" submit_pledge,
        "WithdrawPledge" withdraw_pledge, "ListProgress" list_progress];

    /// Registers a pledge (starts as `draft`).
    ///
    /// A manager of the unit (or of a higher one) registers concrete content (`kind: target`) or a
    /// title to attain (`kind: title`) for a campaign year. `field` must be one of the campaign's
    /// field codes; `deadline` must fall in the year or the next; `exemplar_id` names a recognized
    /// or commended exemplar to `learn` from, `catch_up` with or `surpass`.
    create create_pledge(CreatePledge) "Registered as a draft", location "URL of the pledge",
        conflict "The same Idempotency-Key is in use";

    /// Reads one pledge.
    get get_pledge;

    /// Lists the pledges the caller may see.
    ///
    /// Every filter combines; `subtree=true` with `organization_id` covers the unit's whole subtree.
    /// Sorted by `created_at` unless `sort` says otherwise; keyset-paginated. With
    /// `Accept: text/csv` or the XLSX media type the same selection is exported, as by
    /// `GET /pledges/export.csv` and `GET /pledges/export.xlsx`, which generated clients should call.
    list list_pledges(PledgeFilter) PledgePage, csv export_pledges_csv "`attachment; filename=\"pledges.csv\"`",
        xlsx export_pledges_xlsx "`attachment; filename=\"pledges.xlsx\"`";

    /// Changes a pledge in `draft` or `returned` (JSON merge patch).
    update update_pledge(UpdatePledge) conflict "Not editable in its current state", delete delete_pledge;
}

transition_handlers! {
    workflow: PledgeWorkflow, action: PledgeAction, input: TransitionInput,
    dto: PledgeDto, tag: "pledges", one: "pledge", id: "Pledge id";

    /// Submits a draft or returned pledge to the higher unit.
    submit_pledge: Submit at "/pledges/{id}/submit", ok "Submitted" ["ApprovePledge" approve_pledge, "ReturnPledge" return_pledge, "WithdrawPledge" withdraw_pledge], forbidden "Not a manager of the unit";

    /// Approves a submitted pledge (a manager of a strictly higher unit).
    approve_pledge: Approve at "/pledges/{id}/approve", ok "Approved" ["ReportProgress" report_progress, "AssessPledge" assess_pledge, "WithdrawPledge" withdraw_pledge],
        forbidden "Not a manager of a higher unit (nobody approves their own unit's pledge), or you created or submitted it (four eyes)";

    /// Returns a submitted pledge to its unit for changes, with a reason.
    return_pledge: Return at "/pledges/{id}/return" with ReasonBody => |body| TransitionInput::Reason(body.reason), ok "Returned" ["UpdatePledge" update_pledge, "SubmitPledge" submit_pledge], forbidden "Not a manager of a higher unit", invalid "Missing reason";

    /// Withdraws a pledge that is not yet assessed, with a reason.
    withdraw_pledge: Withdraw at "/pledges/{id}/withdraw" with ReasonBody => |body| TransitionInput::Reason(body.reason), ok "Withdrawn", forbidden "Not a manager of the unit", invalid "Missing reason";

    /// Assesses an approved pledge (a manager or reviewer of a strictly higher unit).
    assess_pledge: Assess at "/pledges/{id}/assess" with AssessBody => TransitionInput::Assessment, ok "Assessed",
        forbidden "Not a manager or reviewer of a higher unit, or you created or submitted it (four eyes)", invalid "Missing or unknown result";
}

appended_handler! {
    /// Reports progress on an approved pledge (append-only).
    ///
    /// Members and managers of the unit, or a partner client with `progress:write`, report a
    /// `percent` (0–100) and/or a `value` with evidence links; the pledge then shows the latest
    /// figures by `reported_on`.
    report_progress("/pledges/{id}/progress", CreateProgress) ProgressDto, tag "pledges", id "Pledge id",
        location "The pledge's progress list", links ["ListProgress" list_progress, "GetPledge" get_pledge] on "$response.body#/pledge_id",
        forbidden "Not a member or manager of the unit", not found "No such pledge in your subtree", conflict "The pledge is not approved";
}

/// Lists a pledge's progress reports, newest first.
#[utoipa::path(
    tag = "pledges",
    params(("id" = Uuid, Path, description = "Pledge id"), ProgressParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of progress reports", body = ProgressPage),
        (status = 400, description = "Bad paging value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/pledges/{id}/progress")]
pub async fn list_progress(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    params: web::Query<ProgressParams>,
) -> AppResult<HttpResponse> {
    let limit = pagination::limit(params.limit)?;
    let after = pagination::position(params.cursor.as_deref())?;
    let mut conn = state.db.read_own_writes().await?;
    let row = workflow::find_in_subtree::<PledgeWorkflow>(&mut conn, &principal, *id).await?;
    let rows = repo::progress_of(&mut conn, row.id, after, limit).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.reported_on, row.id));
    let items = rows.into_iter().map(ProgressDto::from).collect();
    Ok(HttpResponse::Ok().json(ProgressPage { items, next_cursor }))
}
