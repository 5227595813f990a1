//! HTTP handlers of `/nominations` and `/exemplars`: transactions, idempotency and conditional
//! requests around the rules of `service`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

use super::dto::{
    CommendBody, CreateNomination, CreateReview, ExemplarDto, ExemplarFilter, ExemplarPage,
    NominationDto, NominationFilter, NominationPage, ReviewDto, ReviewList, UpdateNomination,
};
use super::export::NominationExport;
use super::model::NominationRow;
use super::repo::{self, ExemplarPosition, ExemplarQuery, ListQuery, SORT_KEYS};
use super::service::{self, TransitionInput};
use super::state::{NominationAction, NominationWorkflow};
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::conditional::{self, IfMatch};
use crate::error::{AppError, AppResult, Problem};
use crate::export::{self, Format};
use crate::extract::Body;
use crate::idempotency::{Idempotency, IdempotencyKey};
use crate::listing::{self, Scope, ScopeParams};
use crate::organizations::repo as organization_repo;
use crate::pagination::{self};
use crate::state::AppState;
use crate::workflow::{self, Act, ReasonBody};

/// Nominates an exemplar (starts as `draft`).
///
/// A manager of the nominating unit (or of a higher one) puts forward an individual (with
/// `nominee_position`, optionally `nominee_organization_id`) or a collective (with
/// `member_count` ≥ 1 or `nominee_organization_id` inside the unit's subtree) for a campaign
/// year and field. One unit nominates one nominee once per campaign year: the same name
/// (ignoring case, diacritics and spacing) or the same collective organization, while the
/// earlier nomination is neither rejected nor withdrawn, is a `duplicate_nomination`.
#[utoipa::path(
    tag = "nominations",
    request_body = CreateNomination,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Nominated as a draft", body = NominationDto,
            headers(("Location" = String, description = "URL of the nomination"), ("ETag" = String, description = "Entity tag")),
            links(
                ("GetNomination" = (operation_id = "get_nomination", parameters(("path.id" = "$response.body#/id")))),
                ("UpdateNomination" = (operation_id = "update_nomination", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("DeleteNomination" = (operation_id = "delete_nomination", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("SubmitNomination" = (operation_id = "submit_nomination", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("WithdrawNomination" = (operation_id = "withdraw_nomination", parameters(("path.id" = "$response.body#/id")))),
                ("ListReviews" = (operation_id = "list_reviews", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`duplicate_nomination`, or the same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members, or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations")]
pub async fn create_nomination(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<CreateNomination>,
) -> AppResult<HttpResponse> {
    let (request, digest) = body.into_parts();
    let idempotency = Idempotency::new(&principal, key, digest);
    workflow::create::<NominationWorkflow>(&state.db, &principal, idempotency, request).await
}

/// Reads one nomination.
///
/// Inside the caller's subtree in any state; recognized and commended nominations (exemplars)
/// for every authenticated caller.
#[utoipa::path(
    tag = "nominations",
    params(("id" = Uuid, Path, description = "Nomination id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The nomination", body = NominationDto, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree, and no such exemplar", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/nominations/{id}")]
pub async fn get_nomination(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    workflow::read::<NominationWorkflow>(&state.db, &principal, *id, &req).await
}

/// Lists the nominations inside the caller's subtree.
///
/// Every filter combines; `subtree=true` with `organization_id` covers the unit's whole subtree.
/// Sorted by `created_at` unless `sort` says otherwise; keyset-paginated. With
/// `Accept: text/csv` or the XLSX media type the same selection is exported, as by
/// `GET /nominations/export.csv` and `GET /nominations/export.xlsx`, which generated clients
/// should call. Exemplars of other subtrees are listed by `GET /exemplars`.
#[utoipa::path(
    tag = "nominations",
    params(NominationFilter),
    security(("bearer" = [])),
    responses(
        // Only JSON is listed (the export media types still answer): generated clients type
        // the page, and the exports have their own operations.
        (status = 200, description = "A page of nominations", body = NominationPage),
        (status = 400, description = "Bad filter, sort or limit, or `export_too_large` (an XLSX of more than 200 000 rows)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every spreadsheet export slot of the instance stayed busy for 30 s (XLSX only); retry after `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[get("/nominations")]
pub async fn list_nominations(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<NominationFilter>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let query = list_query(&state, &principal, filter.into_inner()).await?;
    listing::respond::<NominationExport>(&state, query, &req).await
}

/// Exports the nominations of the list as CSV: every page of the selection `GET /nominations` would list
/// with the same parameters, streamed, UTF-8 with a BOM so Excel shows Vietnamese correctly.
///
/// A failure after the first rows breaks the download (never a short file).
#[utoipa::path(
    tag = "nominations",
    params(NominationFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The nominations as CSV", body = String, content_type = "text/csv",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"nominations.csv\"`"))),
        (status = 400, description = "Bad filter or sort", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/nominations/export.csv")]
pub async fn export_nominations_csv(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<NominationFilter>,
) -> AppResult<HttpResponse> {
    let query = list_query(&state, &principal, filter.into_inner()).await?;
    export::respond::<NominationExport>(state.db.clone(), &state.exports, query, Format::Csv).await
}

/// Exports the nominations of the list as an XLSX workbook: every row `GET /nominations` would list with
/// the same parameters, typed (numbers, dates, booleans), with a named sheet and a bold,
/// frozen, filtered header row.
#[utoipa::path(
    tag = "nominations",
    params(NominationFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The nominations as a workbook", body = String, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"nominations.xlsx\"`"))),
        (status = 400, description = "Bad filter or sort, or `export_too_large` (more than 200 000 rows: narrow the filters or export CSV)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every spreadsheet export slot of the instance stayed busy for 30 s; retry after `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[get("/nominations/export.xlsx")]
pub async fn export_nominations_xlsx(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<NominationFilter>,
) -> AppResult<HttpResponse> {
    let query = list_query(&state, &principal, filter.into_inner()).await?;
    export::respond::<NominationExport>(state.db.clone(), &state.exports, query, Format::Xlsx).await
}

async fn list_query(
    state: &AppState,
    principal: &Principal,
    filter: NominationFilter,
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
        nominee_type: filter.nominee_type,
        field: filter.field,
        q: filter.q,
        updated_since: filter.updated_since,
    })
}

/// Changes a draft nomination (JSON merge patch).
#[utoipa::path(
    tag = "nominations",
    request_body(content = UpdateNomination, content_type = "application/merge-patch+json", description = "Members to change; `null` clears"),
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = NominationDto, headers(("ETag" = String, description = "New entity tag"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft, or `duplicate_nomination`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, unknown or server-owned members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/nominations/{id}")]
pub async fn update_nomination(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: Body<UpdateNomination>,
) -> AppResult<HttpResponse> {
    let (version, dto) = workflow::update::<NominationWorkflow>(
        &state.db,
        &principal,
        *id,
        &if_match,
        body.into_inner(),
    )
    .await?;
    Ok(conditional::updated(version, &dto))
}

/// Deletes a draft nomination.
#[utoipa::path(
    tag = "nominations",
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the deletion is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (withdraw it instead)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/nominations/{id}")]
pub async fn delete_nomination(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    workflow::delete::<NominationWorkflow>(&state.db, &principal, *id, &if_match).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Submits a draft nomination to the higher units (a manager of the nominating unit).
#[utoipa::path(
    tag = "nominations",
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted", body = NominationDto,
            links(
                ("StartReview" = (operation_id = "start_review", parameters(("path.id" = "$response.body#/id")))),
                ("RejectNomination" = (operation_id = "reject_nomination", parameters(("path.id" = "$response.body#/id")))),
                ("WithdrawNomination" = (operation_id = "withdraw_nomination", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations/{id}/submit")]
pub async fn submit_nomination(state: web::Data<AppState>, act: Act) -> AppResult<HttpResponse> {
    act.run::<NominationWorkflow>(&state.db, NominationAction::Submit, TransitionInput::None)
        .await
}

/// Opens the review of a submitted nomination (a reviewer of a strictly higher unit).
#[utoipa::path(
    tag = "nominations",
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Under review", body = NominationDto,
            links(
                ("CreateReview" = (operation_id = "create_review", parameters(("path.id" = "$response.body#/id")))),
                ("RecognizeNomination" = (operation_id = "recognize_nomination", parameters(("path.id" = "$response.body#/id")))),
                ("RejectNomination" = (operation_id = "reject_nomination", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reviewer of a higher unit (nobody reviews their own unit's nomination)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations/{id}/start-review")]
pub async fn start_review(state: web::Data<AppState>, act: Act) -> AppResult<HttpResponse> {
    act.run::<NominationWorkflow>(
        &state.db,
        NominationAction::StartReview,
        TransitionInput::None,
    )
    .await
}

/// Recognizes a nomination under review as an exemplar (a reviewer of a strictly higher unit).
///
/// Needs at least one endorsement and more endorsements than oppositions; otherwise 409
/// `insufficient_endorsements` with the `tally`.
#[utoipa::path(
    tag = "nominations",
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recognized: now an exemplar", body = NominationDto,
            links(
                ("CommendNomination" = (operation_id = "commend_nomination", parameters(("path.id" = "$response.body#/id")))),
                ("GetExemplar" = (operation_id = "get_exemplar", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reviewer of a higher unit (nobody recognizes their own unit's nomination), or you created or submitted it (four eyes)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`, or `insufficient_endorsements` with the `tally`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations/{id}/recognize")]
pub async fn recognize_nomination(state: web::Data<AppState>, act: Act) -> AppResult<HttpResponse> {
    act.run::<NominationWorkflow>(
        &state.db,
        NominationAction::Recognize,
        TransitionInput::None,
    )
    .await
}

/// Records the commendation of a recognized exemplar (a reviewer or manager of a strictly
/// higher unit); the issuer must be a higher unit of the nominating one.
#[utoipa::path(
    tag = "nominations",
    request_body = CommendBody,
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Commended", body = NominationDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reviewer or manager of a higher unit or of the issuer, or you created or submitted it (four eyes)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid decision, date or issuer", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations/{id}/commend")]
pub async fn commend_nomination(
    state: web::Data<AppState>,
    act: Act,
    body: Body<CommendBody>,
) -> AppResult<HttpResponse> {
    act.run_with::<NominationWorkflow, _>(
        &state.db,
        body,
        NominationAction::Commend,
        TransitionInput::Commendation,
    )
    .await
}

/// Rejects a submitted nomination or one under review, with a reason (a reviewer of a
/// strictly higher unit).
#[utoipa::path(
    tag = "nominations",
    request_body = ReasonBody,
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rejected", body = NominationDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reviewer of a higher unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations/{id}/reject")]
pub async fn reject_nomination(
    state: web::Data<AppState>,
    act: Act,
    body: Body<ReasonBody>,
) -> AppResult<HttpResponse> {
    act.run_with::<NominationWorkflow, _>(&state.db, body, NominationAction::Reject, |body| {
        TransitionInput::Reason(body.reason)
    })
    .await
}

/// Withdraws a nomination that is not final yet, with a reason (a manager of the nominating
/// unit or of a higher one).
#[utoipa::path(
    tag = "nominations",
    request_body = ReasonBody,
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Withdrawn", body = NominationDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the state does not allow it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations/{id}/withdraw")]
pub async fn withdraw_nomination(
    state: web::Data<AppState>,
    act: Act,
    body: Body<ReasonBody>,
) -> AppResult<HttpResponse> {
    act.run_with::<NominationWorkflow, _>(&state.db, body, NominationAction::Withdraw, |body| {
        TransitionInput::Reason(body.reason)
    })
    .await
}

/// Reviews a nomination under review: `endorse`, `oppose` or `abstain` with a comment.
///
/// Only reviewers of a strictly higher unit; one review per reviewer (a second one is 409
/// `already_reviewed`); reviews are never edited.
#[utoipa::path(
    tag = "nominations",
    request_body = CreateReview,
    params(
        ("id" = Uuid, Path, description = "Nomination id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = ReviewDto, headers(("Location" = String, description = "The nomination's reviews")),
            links(
                ("ListReviews" = (operation_id = "list_reviews", parameters(("path.id" = "$response.body#/nomination_id")))),
            )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reviewer of a higher unit (nobody reviews their own unit's nomination), or you created or submitted it (four eyes)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not under review, or `already_reviewed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nominations/{id}/reviews")]
pub async fn create_review(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: Body<CreateReview>,
) -> AppResult<HttpResponse> {
    workflow::append::<CreateReview>(&state.db, &principal, *id, key, body).await
}

/// Lists a nomination's reviews, oldest first, with their tally.
#[utoipa::path(
    tag = "nominations",
    params(("id" = Uuid, Path, description = "Nomination id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The reviews and their tally", body = ReviewList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such nomination in your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/nominations/{id}/reviews")]
pub async fn list_reviews(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read_own_writes().await?;
    // Reviews are the higher units' internal deliberation: subtree only, even for exemplars.
    let row = workflow::find_in_subtree::<NominationWorkflow>(&mut conn, &principal, *id).await?;
    let items = repo::reviews_of(&mut conn, row.id).await?;
    let tally = repo::tally(&mut conn, row.id).await?;
    Ok(HttpResponse::Ok().json(ReviewList { items, tally }))
}

/// Attaches followers to exemplar rows.
async fn with_followers(
    conn: &mut diesel_async::AsyncPgConnection,
    rows: Vec<NominationRow>,
) -> AppResult<Vec<ExemplarDto>> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut followers = repo::followers(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (count, units) = followers.remove(&row.id).unwrap_or_default();
            ExemplarDto {
                nomination: service::to_dto(row),
                followers: count,
                following_units: units,
            }
        })
        .collect())
}

/// Lists exemplars: recognized and commended nominations, most recently recognized first.
///
/// Exemplars exist to be learned from: every authenticated caller reads all of them, whatever
/// their subtree. Each carries `followers` (pledges, not withdrawn, naming it) and up to 50
/// `following_units`. `organization_id` narrows to exemplars nominated within that unit's
/// subtree.
#[utoipa::path(
    tag = "nominations",
    params(ExemplarFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of exemplars", body = ExemplarPage),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/exemplars")]
pub async fn list_exemplars(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<ExemplarFilter>,
) -> AppResult<HttpResponse> {
    policy::require(&principal, Operation::Read, Target::default())?;
    let filter = filter.into_inner();
    let limit = pagination::limit(filter.limit)?;
    let after: Option<ExemplarPosition> = filter
        .cursor
        .as_deref()
        .map(pagination::decode_cursor)
        .transpose()?;
    let mut conn = state.db.read().await?;
    let subtree_path = match filter.organization_id {
        Some(organization_id) => Some(
            organization_repo::path_of(&mut conn, organization_id)
                .await?
                .ok_or_else(AppError::not_found)?,
        ),
        None => None,
    };
    let query = ExemplarQuery {
        campaign_id: filter.campaign_id,
        subtree_path,
        field: filter.field,
        after,
        limit,
    };
    let rows = repo::exemplars(&mut conn, &query).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| {
        (row.recognized_at.unwrap_or(row.updated_at), row.id)
    });
    let items = with_followers(&mut conn, rows).await?;
    Ok(HttpResponse::Ok().json(ExemplarPage { items, next_cursor }))
}

/// Reads one exemplar with its followers (every authenticated caller).
#[utoipa::path(
    tag = "nominations",
    params(("id" = Uuid, Path, description = "Nomination id of the exemplar")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The exemplar", body = ExemplarDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such exemplar (not recognized or commended)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/exemplars/{id}")]
pub async fn get_exemplar(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    if policy::decide(&principal, Operation::Read, Target::default()).is_err() {
        return Err(AppError::not_found());
    }
    let mut conn = state.db.read_own_writes().await?;
    let row = repo::find(&mut conn, *id)
        .await?
        .filter(|row| row.status.is_exemplar())
        .ok_or_else(AppError::not_found)?;
    let mut items = with_followers(&mut conn, vec![row]).await?;
    let exemplar = items.pop().ok_or_else(AppError::not_found)?;
    Ok(HttpResponse::Ok().json(exemplar))
}
