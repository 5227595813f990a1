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
use super::repo::{self, ExemplarPosition, ExemplarQuery};
use super::service::{self, TransitionInput};
use super::state::{NominationAction, NominationWorkflow};
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::error::{AppError, AppResult, Problem};
use crate::organizations::repo as organization_repo;
use crate::pagination::{self};
use crate::state::AppState;
use crate::workflow::handlers::{appended_handler, resource_handlers, transition_handlers};
use crate::workflow::{self, ReasonBody};

resource_handlers! {
    NominationWorkflow, NominationDto, NominationExport, tag "nominations", one "nomination",
        id "Nomination id", routes "/nominations", "/nominations/{id}", "/nominations/export.csv",
        "/nominations/export.xlsx",
    links ["GetNomination", "UpdateNomination", "DeleteNomination", "SubmitNomination" submit_nomination,
        "WithdrawNomination" withdraw_nomination, "ListReviews" list_reviews];

    /// Nominates an exemplar (starts as `draft`).
    ///
    /// A manager of the nominating unit (or of a higher one) puts forward an individual (with
    /// `nominee_position`, optionally `nominee_organization_id`) or a collective (with
    /// `member_count` ≥ 1 or `nominee_organization_id` inside the unit's subtree) for a campaign
    /// year and field. One unit nominates one nominee once per campaign year: the same name
    /// (ignoring case, diacritics and spacing) or the same collective organization, while the
    /// earlier nomination is neither rejected nor withdrawn, is a `duplicate_nomination`.
    create create_nomination(CreateNomination) "Nominated as a draft", location "URL of the nomination",
        conflict "`duplicate_nomination`, or the same Idempotency-Key is in use";

    /// Reads one nomination.
    ///
    /// Inside the caller's subtree in any state; recognized and commended nominations (exemplars)
    /// for every authenticated caller.
    get get_nomination not found "No such nomination in your subtree, and no such exemplar";

    /// Lists the nominations inside the caller's subtree.
    ///
    /// Every filter combines; `subtree=true` with `organization_id` covers the unit's whole subtree.
    /// Sorted by `created_at` unless `sort` says otherwise; keyset-paginated. With
    /// `Accept: text/csv` or the XLSX media type the same selection is exported, as by
    /// `GET /nominations/export.csv` and `GET /nominations/export.xlsx`, which generated clients
    /// should call. Exemplars of other subtrees are listed by `GET /exemplars`.
    list list_nominations(NominationFilter) NominationPage,
        csv export_nominations_csv "`attachment; filename=\"nominations.csv\"`",
        xlsx export_nominations_xlsx "`attachment; filename=\"nominations.xlsx\"`";

    /// Changes a draft nomination (JSON merge patch).
    update update_nomination(UpdateNomination) conflict "Not a draft, or `duplicate_nomination`",
        delete delete_nomination;
}

transition_handlers! {
    workflow: NominationWorkflow, action: NominationAction, input: TransitionInput,
    dto: NominationDto, tag: "nominations", one: "nomination", id: "Nomination id";

    /// Submits a draft nomination to the higher units (a manager of the nominating unit).
    submit_nomination: Submit at "/nominations/{id}/submit",
        ok "Submitted" ["StartReview" start_review, "RejectNomination" reject_nomination, "WithdrawNomination" withdraw_nomination],
        forbidden "Not a manager of the unit";

    /// Opens the review of a submitted nomination (a reviewer of a strictly higher unit).
    start_review: StartReview at "/nominations/{id}/start-review",
        ok "Under review" ["CreateReview" create_review, "RecognizeNomination" recognize_nomination, "RejectNomination" reject_nomination],
        forbidden "Not a reviewer of a higher unit (nobody reviews their own unit's nomination)";

    /// Recognizes a nomination under review as an exemplar (a reviewer of a strictly higher unit).
    ///
    /// Needs at least one endorsement and more endorsements than oppositions; otherwise 409
    /// `insufficient_endorsements` with the `tally`.
    recognize_nomination: Recognize at "/nominations/{id}/recognize",
        ok "Recognized: now an exemplar" ["CommendNomination" commend_nomination, "GetExemplar" get_exemplar],
        forbidden "Not a reviewer of a higher unit (nobody recognizes their own unit's nomination), or you created or submitted it (four eyes)",
        conflict "`invalid_transition`, or `insufficient_endorsements` with the `tally`";

    /// Records the commendation of a recognized exemplar (a reviewer or manager of a strictly
    /// higher unit); the issuer must be a higher unit of the nominating one.
    commend_nomination: Commend at "/nominations/{id}/commend" with CommendBody => TransitionInput::Commendation,
        ok "Commended", forbidden "Not a reviewer or manager of a higher unit or of the issuer, or you created or submitted it (four eyes)",
        invalid "Invalid decision, date or issuer";

    /// Rejects a submitted nomination or one under review, with a reason (a reviewer of a
    /// strictly higher unit).
    reject_nomination: Reject at "/nominations/{id}/reject" with ReasonBody => |body| TransitionInput::Reason(body.reason),
        ok "Rejected", forbidden "Not a reviewer of a higher unit", invalid "Missing reason";

    /// Withdraws a nomination that is not final yet, with a reason (a manager of the nominating
    /// unit or of a higher one).
    withdraw_nomination: Withdraw at "/nominations/{id}/withdraw" with ReasonBody => |body| TransitionInput::Reason(body.reason),
        ok "Withdrawn", forbidden "Not a manager of the unit", invalid "Missing reason";
}

appended_handler! {
    /// Reviews a nomination under review: `endorse`, `oppose` or `abstain` with a comment.
    ///
    /// Only reviewers of a strictly higher unit; one review per reviewer (a second one is 409
    /// `already_reviewed`); reviews are never edited.
    create_review("/nominations/{id}/reviews", CreateReview) ReviewDto, tag "nominations", id "Nomination id",
        location "The nomination's reviews", links ["ListReviews" list_reviews] on "$response.body#/nomination_id",
        forbidden "Not a reviewer of a higher unit (nobody reviews their own unit's nomination), or you created or submitted it (four eyes)",
        not found "No such nomination in your subtree", conflict "Not under review, or `already_reviewed`";
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
    let items = repo::reviews_of(&mut conn, row.id)
        .await?
        .into_iter()
        .map(ReviewDto::from)
        .collect();
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
    let after: Option<ExemplarPosition> = pagination::position(filter.cursor.as_deref())?;
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
