//! HTTP handlers of `/pledges`: transactions, idempotency and conditional requests around the
//! rules of `service`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

use super::dto::{
    AssessBody, CreatePledge, CreateProgress, PledgeDto, PledgeFilter, PledgePage, ProgressDto,
    ProgressPage, ProgressParams, UpdatePledge,
};
use super::export::PledgeExport;
use super::repo::{self, ListQuery, SORT_KEYS};
use super::service::TransitionInput;
use super::state::{PledgeAction, PledgeWorkflow};
use crate::auth::principal::Principal;
use crate::conditional::{self, IfMatch};
use crate::error::{AppResult, Problem};
use crate::export::{self, Format};
use crate::extract::Body;
use crate::idempotency::{Idempotency, IdempotencyKey};
use crate::listing::{self, Scope, ScopeParams};
use crate::pagination::{self};
use crate::state::AppState;
use crate::workflow::{self, Act, ReasonBody};

/// Registers a pledge (starts as `draft`).
///
/// A manager of the unit (or of a higher one) registers concrete content (`kind: target`) or a
/// title to attain (`kind: title`) for a campaign year. `field` must be one of the campaign's
/// field codes; `deadline` must fall in the year or the next; `exemplar_id` names a recognized
/// or commended exemplar to `learn` from, `catch_up` with or `surpass`.
#[utoipa::path(
    tag = "pledges",
    request_body = CreatePledge,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered as a draft", body = PledgeDto,
            headers(("Location" = String, description = "URL of the pledge"), ("ETag" = String, description = "Entity tag")),
            links(
                ("GetPledge" = (operation_id = "get_pledge", parameters(("path.id" = "$response.body#/id")))),
                ("UpdatePledge" = (operation_id = "update_pledge", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("DeletePledge" = (operation_id = "delete_pledge", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("SubmitPledge" = (operation_id = "submit_pledge", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("WithdrawPledge" = (operation_id = "withdraw_pledge", parameters(("path.id" = "$response.body#/id")))),
                ("ListProgress" = (operation_id = "list_progress", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members, or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pledges")]
pub async fn create_pledge(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<CreatePledge>,
) -> AppResult<HttpResponse> {
    let (request, digest) = body.into_parts();
    let idempotency = Idempotency::new(&principal, key, digest);
    workflow::create::<PledgeWorkflow>(&state.db, &principal, idempotency, request).await
}

/// Reads one pledge.
#[utoipa::path(
    tag = "pledges",
    params(("id" = Uuid, Path, description = "Pledge id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pledge", body = PledgeDto, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/pledges/{id}")]
pub async fn get_pledge(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    workflow::read::<PledgeWorkflow>(&state.db, &principal, *id, &req).await
}

/// Lists the pledges the caller may see.
///
/// Every filter combines; `subtree=true` with `organization_id` covers the unit's whole subtree.
/// Sorted by `created_at` unless `sort` says otherwise; keyset-paginated. With
/// `Accept: text/csv` or the XLSX media type the same selection is exported, as by
/// `GET /pledges/export.csv` and `GET /pledges/export.xlsx`, which generated clients should call.
#[utoipa::path(
    tag = "pledges",
    params(PledgeFilter),
    security(("bearer" = [])),
    responses(
        // Only JSON is listed (the export media types still answer): generated clients type
        // the page, and the exports have their own operations.
        (status = 200, description = "A page of pledges", body = PledgePage),
        (status = 400, description = "Bad filter, sort or limit, or `export_too_large` (an XLSX of more than 200 000 rows)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every spreadsheet export slot of the instance stayed busy for 30 s (XLSX only); retry after `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[get("/pledges")]
pub async fn list_pledges(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<PledgeFilter>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let query = list_query(&state, &principal, filter.into_inner()).await?;
    listing::respond::<PledgeExport>(&state, query, &req).await
}

/// Exports the pledges of the list as CSV: every page of the selection `GET /pledges` would list
/// with the same parameters, streamed, UTF-8 with a BOM so Excel shows Vietnamese correctly.
///
/// A failure after the first rows breaks the download (never a short file).
#[utoipa::path(
    tag = "pledges",
    params(PledgeFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pledges as CSV", body = String, content_type = "text/csv",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"pledges.csv\"`"))),
        (status = 400, description = "Bad filter or sort", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/pledges/export.csv")]
pub async fn export_pledges_csv(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<PledgeFilter>,
) -> AppResult<HttpResponse> {
    let query = list_query(&state, &principal, filter.into_inner()).await?;
    export::respond::<PledgeExport>(state.db.clone(), &state.exports, query, Format::Csv).await
}

/// Exports the pledges of the list as an XLSX workbook: every row `GET /pledges` would list with
/// the same parameters, typed (numbers, dates, booleans), with a named sheet and a bold,
/// frozen, filtered header row.
#[utoipa::path(
    tag = "pledges",
    params(PledgeFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pledges as a workbook", body = String, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"pledges.xlsx\"`"))),
        (status = 400, description = "Bad filter or sort, or `export_too_large` (more than 200 000 rows: narrow the filters or export CSV)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every spreadsheet export slot of the instance stayed busy for 30 s; retry after `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[get("/pledges/export.xlsx")]
pub async fn export_pledges_xlsx(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<PledgeFilter>,
) -> AppResult<HttpResponse> {
    let query = list_query(&state, &principal, filter.into_inner()).await?;
    export::respond::<PledgeExport>(state.db.clone(), &state.exports, query, Format::Xlsx).await
}

async fn list_query(
    state: &AppState,
    principal: &Principal,
    filter: PledgeFilter,
) -> AppResult<ListQuery> {
    let params = ScopeParams {
        organization_id: filter.organization_id,
        subtree: filter.subtree,
        campaign_id: filter.campaign_id,
        sort: filter.sort.as_deref(),
        cursor: filter.cursor.as_deref(),
        limit: filter.limit,
    };
    let scope = Scope::parse(&state.db, principal, params, &SORT_KEYS).await?;
    Ok(ListQuery {
        scope,
        year: filter.year,
        status: filter.status,
        result: filter.result,
        kind: filter.kind,
        field: filter.field,
        overdue: filter.overdue,
        exemplar_id: filter.exemplar_id,
        q: filter.q,
        updated_since: filter.updated_since,
        today: crate::clock::today(),
    })
}

/// Changes a pledge in `draft` or `returned` (JSON merge patch).
#[utoipa::path(
    tag = "pledges",
    request_body(content = UpdatePledge, content_type = "application/merge-patch+json", description = "Members to change; `null` clears"),
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = PledgeDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not editable in its current state", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, unknown or server-owned members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/pledges/{id}")]
pub async fn update_pledge(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<UpdatePledge>,
) -> AppResult<HttpResponse> {
    let (version, dto) = workflow::update::<PledgeWorkflow>(
        &state.db,
        &principal,
        *id,
        &if_match,
        body.into_inner(),
    )
    .await?;
    Ok(conditional::updated(version, &dto))
}

/// Deletes a draft pledge.
#[utoipa::path(
    tag = "pledges",
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("If-Match" = Option<String>, Header, description = "ETag the deletion is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (withdraw it instead)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/pledges/{id}")]
pub async fn delete_pledge(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    workflow::delete::<PledgeWorkflow>(&state.db, &principal, *id, &if_match).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Submits a draft or returned pledge to the higher unit.
#[utoipa::path(
    tag = "pledges",
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted", body = PledgeDto,
            links(
                ("ApprovePledge" = (operation_id = "approve_pledge", parameters(("path.id" = "$response.body#/id")))),
                ("ReturnPledge" = (operation_id = "return_pledge", parameters(("path.id" = "$response.body#/id")))),
                ("WithdrawPledge" = (operation_id = "withdraw_pledge", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pledges/{id}/submit")]
pub async fn submit_pledge(state: web::Data<AppState>, act: Act) -> AppResult<HttpResponse> {
    act.run::<PledgeWorkflow>(&state.db, PledgeAction::Submit, TransitionInput::None)
        .await
}

/// Approves a submitted pledge (a manager of a strictly higher unit).
#[utoipa::path(
    tag = "pledges",
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved", body = PledgeDto,
            links(
                ("ReportProgress" = (operation_id = "report_progress", parameters(("path.id" = "$response.body#/id")))),
                ("AssessPledge" = (operation_id = "assess_pledge", parameters(("path.id" = "$response.body#/id")))),
                ("WithdrawPledge" = (operation_id = "withdraw_pledge", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of a higher unit (nobody approves their own unit's pledge), or you created or submitted it (four eyes)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pledges/{id}/approve")]
pub async fn approve_pledge(state: web::Data<AppState>, act: Act) -> AppResult<HttpResponse> {
    act.run::<PledgeWorkflow>(&state.db, PledgeAction::Approve, TransitionInput::None)
        .await
}

/// Returns a submitted pledge to its unit for changes, with a reason.
#[utoipa::path(
    tag = "pledges",
    request_body = ReasonBody,
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Returned", body = PledgeDto,
            links(
                ("UpdatePledge" = (operation_id = "update_pledge", parameters(("path.id" = "$response.body#/id")))),
                ("SubmitPledge" = (operation_id = "submit_pledge", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of a higher unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pledges/{id}/return")]
pub async fn return_pledge(
    state: web::Data<AppState>,
    act: Act,
    body: Body<ReasonBody>,
) -> AppResult<HttpResponse> {
    act.run_with::<PledgeWorkflow, _>(&state.db, body, PledgeAction::Return, |body| {
        TransitionInput::Reason(body.reason)
    })
    .await
}

/// Withdraws a pledge that is not yet assessed, with a reason.
#[utoipa::path(
    tag = "pledges",
    request_body = ReasonBody,
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Withdrawn", body = PledgeDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pledges/{id}/withdraw")]
pub async fn withdraw_pledge(
    state: web::Data<AppState>,
    act: Act,
    body: Body<ReasonBody>,
) -> AppResult<HttpResponse> {
    act.run_with::<PledgeWorkflow, _>(&state.db, body, PledgeAction::Withdraw, |body| {
        TransitionInput::Reason(body.reason)
    })
    .await
}

/// Assesses an approved pledge (a manager or reviewer of a strictly higher unit).
#[utoipa::path(
    tag = "pledges",
    request_body = AssessBody,
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Assessed", body = PledgeDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager or reviewer of a higher unit, or you created or submitted it (four eyes)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown result", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pledges/{id}/assess")]
pub async fn assess_pledge(
    state: web::Data<AppState>,
    act: Act,
    body: Body<AssessBody>,
) -> AppResult<HttpResponse> {
    act.run_with::<PledgeWorkflow, _>(
        &state.db,
        body,
        PledgeAction::Assess,
        TransitionInput::Assessment,
    )
    .await
}

/// Reports progress on an approved pledge (append-only).
///
/// Members and managers of the unit, or a partner client with `progress:write`, report a
/// `percent` (0–100) and/or a `value` with evidence links; the pledge then shows the latest
/// figures by `reported_on`.
#[utoipa::path(
    tag = "pledges",
    request_body = CreateProgress,
    params(
        ("id" = Uuid, Path, description = "Pledge id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = ProgressDto, headers(("Location" = String, description = "The pledge's progress list")),
            links(
                ("ListProgress" = (operation_id = "list_progress", parameters(("path.id" = "$response.body#/pledge_id")))),
                ("GetPledge" = (operation_id = "get_pledge", parameters(("path.id" = "$response.body#/pledge_id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member or manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pledge in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The pledge is not approved", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pledges/{id}/progress")]
pub async fn report_progress(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Body<CreateProgress>,
) -> AppResult<HttpResponse> {
    workflow::append::<CreateProgress>(&state.db, &principal, *id, key, body).await
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
    let after = params
        .cursor
        .as_deref()
        .map(pagination::decode_cursor)
        .transpose()?;
    let mut conn = state.db.read_own_writes().await?;
    let row = workflow::find_in_subtree::<PledgeWorkflow>(&mut conn, &principal, *id).await?;
    let items = repo::progress_of(&mut conn, row.id, after, limit).await?;
    let (items, next_cursor) =
        pagination::paginate(items, limit, |item| (item.reported_on, item.id));
    Ok(HttpResponse::Ok().json(ProgressPage { items, next_cursor }))
}
