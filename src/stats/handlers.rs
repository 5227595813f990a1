//! HTTP handlers of `/stats/*`: the aggregates leaders read over their whole subtree.

use std::collections::HashMap;

use actix_web::http::header::{self, ContentType};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use diesel_async::AsyncPgConnection;
use serde::Serialize;
use uuid::Uuid;

use super::cache::{AnswerKey, KeptAnswer};
use super::dto::{
    CoverageDto, CoverageParams, CoverageSummary, CoverageUnit, KeyCount, LeaderboardDto,
    LeaderboardEntry, LeaderboardParams, NominationGroup, NominationGroupParams,
    NominationGrouping, NominationGroupsDto, OverdueUnit, OverviewDto, PledgeGroup,
    PledgeGroupParams, PledgeGrouping, PledgeGroupsDto, Scope, ScopeDto, TitleParams, TitleUnit,
    TitlesDto,
};
use super::history::{self, Structure, UnitAt};
use super::repo::{self, Window};
use super::tallies::{self, ACHIEVED, EXEMPLARS, OverviewAnswer, REGISTERED};
use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::conditional;
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::organizations::dto::OrganizationKind;
use crate::organizations::repo as organization_repo;
use crate::pagination;
use crate::state::AppState;

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The subtree root and window of a request, after the visibility check.
struct Resolved {
    scope: ScopeDto,
    window: Window,
    /// A past year read on the structure it ended with (None: today's structure).
    history: Option<Structure>,
    /// All years over a subtree with lineage: each year on its own structure (empty: the
    /// request is one year, or the subtree has no lineage and today's tree answers them all).
    per_year: Vec<Resolved>,
}

impl Resolved {
    /// One window per subtree the request covers.
    fn windows(&self) -> Vec<Window> {
        match &self.history {
            None => vec![self.window.clone()],
            Some(structure) => structure
                .roots
                .iter()
                .map(|root| Window {
                    root_path: root.path.clone(),
                    ..self.window.clone()
                })
                .collect(),
        }
    }

    /// The direct children of the subtrees, as they stood (history) or today.
    async fn children(&self, conn: &mut AsyncPgConnection) -> AppResult<Vec<UnitAt>> {
        match &self.history {
            None => Ok(repo::children(conn, self.scope.organization_id)
                .await?
                .into_iter()
                .map(|unit| UnitAt {
                    unit,
                    counted: true,
                })
                .collect()),
            Some(structure) => {
                let mut children = Vec::new();
                for root in &structure.roots {
                    children.extend(history::children_at(conn, root).await?);
                }
                Ok(children)
            }
        }
    }

    /// The direct children ([`Self::children`]) with the counts of each one's subtree, and of
    /// the ended units it answers for whose records would otherwise fall under `self` (see
    /// [`history::taken_predecessors`]).
    async fn children_counts(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> AppResult<(Vec<UnitAt>, Vec<tallies::SubtreeSums>)> {
        let children = self.children(conn).await?;
        let counts = self.counts_of(conn, &children).await?;
        Ok((children, counts))
    }

    /// [`Self::children_counts`] of `children` (those of [`Self::children`]), keyed by their
    /// path (a past year's: on the day read), with the ended units they answer for, in one
    /// query.
    async fn counts_of(
        &self,
        conn: &mut AsyncPgConnection,
        children: &[UnitAt],
    ) -> AppResult<Vec<tallies::SubtreeSums>> {
        // (key: the child's path, the path of a subtree counted under it)
        let mut subtrees: Vec<(String, String)> = children
            .iter()
            .map(|child| (child.unit.path.clone(), child.unit.path.clone()))
            .collect();
        let ids: Vec<Uuid> = children.iter().map(|child| child.unit.id).collect();
        let path_of: HashMap<Uuid, &str> = children
            .iter()
            .map(|child| (child.unit.id, child.unit.path.as_str()))
            .collect();
        let led: Vec<(String, String)> = history::ended_predecessors_of(conn, &ids)
            .await?
            .into_iter()
            .filter_map(|(child, predecessor)| {
                path_of
                    .get(&child)
                    .map(|path| ((*path).to_owned(), predecessor))
            })
            .collect();
        if !led.is_empty() {
            let roots: Vec<String> = self
                .windows()
                .into_iter()
                .map(|window| window.root_path)
                .collect();
            let child_paths: Vec<String> = children
                .iter()
                .map(|child| child.unit.path.clone())
                .collect();
            subtrees.extend(
                history::taken_predecessors(&roots, &child_paths, &led)
                    .into_iter()
                    .map(|(predecessor, child)| (child, predecessor)),
            );
        }
        Ok(tallies::subtrees_sums(conn, &subtrees, &self.window).await?)
    }

    /// Counts of the whole request, organizations as they stood included.
    async fn subtree_counts(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> AppResult<Vec<tallies::TallyRow>> {
        if !self.per_year.is_empty() {
            // Today's organizations, and every year's records as that year's structure holds them.
            let mut rows: Vec<tallies::TallyRow> = tallies::subtree_counts(conn, &self.window)
                .await?
                .into_iter()
                .filter(|row| row.entity == "o")
                .collect();
            for year in &self.per_year {
                rows.extend(
                    Box::pin(year.subtree_counts(conn))
                        .await?
                        .into_iter()
                        .filter(|row| row.entity != "o"),
                );
            }
            return Ok(rows);
        }
        let Some(structure) = &self.history else {
            return Ok(tallies::subtree_counts(conn, &self.window).await?);
        };
        let mut rows = Vec::new();
        for (root, window) in structure.roots.iter().zip(self.windows()) {
            rows.extend(
                tallies::subtree_counts(conn, &window)
                    .await?
                    .into_iter()
                    .filter(|row| row.entity != "o"),
            );
            rows.extend(history::unit_counts_at(conn, root).await?);
        }
        Ok(rows)
    }

    /// Counts of the whole request in the facets `facets` of `entity` (`p` or `n`), each year
    /// and structure as [`Self::subtree_counts`] reads them, as tally rows keyed by value.
    async fn facet_counts(
        &self,
        conn: &mut AsyncPgConnection,
        entity: &str,
        facets: &[String],
    ) -> AppResult<Vec<tallies::TallyRow>> {
        let mut rows = Vec::new();
        if self.per_year.is_empty() {
            for window in self.windows() {
                rows.extend(tallies::facet_counts(conn, &window, entity, facets).await?);
            }
        } else {
            for year in &self.per_year {
                rows.extend(Box::pin(year.facet_counts(conn, entity, facets)).await?);
            }
        }
        Ok(rows)
    }
}

/// The subtree root a request names, or the caller's own unit.
fn scope_root(principal: &Principal, scope: &Scope) -> AppResult<Uuid> {
    match scope.organization_id {
        Some(id) => Ok(id),
        None => principal
            .home_organization()
            .map(|grant| grant.organization_id)
            .ok_or_else(|| {
                AppError::bad_request(ProblemCode::InvalidQuery, "organization_id is required")
            }),
    }
}

/// The key an answer of `endpoint` to `request` is kept under (see [`kept_or_computed`]).
fn answer_key(
    endpoint: &'static str,
    principal: &Principal,
    scope: &Scope,
    request: &HttpRequest,
) -> AppResult<AnswerKey> {
    Ok(request_key(
        endpoint,
        scope_root(principal, scope)?,
        request,
    ))
}

/// The key an answer of `endpoint` about the unit `organization_id` to `request` is kept
/// under (see [`kept_or_computed`]): the request's query string as sent, and today.
pub(crate) fn request_key(
    endpoint: &'static str,
    organization_id: Uuid,
    request: &HttpRequest,
) -> AnswerKey {
    AnswerKey {
        endpoint,
        organization_id,
        query: request.query_string().to_owned(),
        today: crate::clock::today(),
    }
}

/// The key of a grouping's answer, if it can be kept: not the fields of a campaign, whose names
/// (the labels) the version does not cover.
fn grouping_key(
    endpoint: &'static str,
    grouping: &str,
    principal: &Principal,
    scope: &Scope,
    request: &HttpRequest,
) -> AppResult<Option<AnswerKey>> {
    if grouping == "field" && scope.campaign_id.is_some() {
        return Ok(None);
    }
    answer_key(endpoint, principal, scope, request).map(Some)
}

/// Answers an aggregate that reads nothing but what `history::kept_version` covers (every
/// tally and pending delta, the units' names, places and states, the restructurings): the
/// answer kept under the current version when this instance has one, else `compute`'s, kept
/// for the next request. Without a `key` (an answer that reads more), always `compute`'s.
/// Answers with a key carry a weak ETag of the request and version; `If-None-Match` naming it
/// is answered 304, by any instance, after the visibility check.
///
/// `compute` returns the path of the request's unit with the answer: a kept answer is served
/// after the same visibility check [`resolve`] makes (a unit that moved changed the version).
/// The version is read before computing: a change landing in between makes a newer version,
/// so the answer is at least as new as the version it is kept under, and is recomputed on the
/// next request.
pub(crate) async fn kept_or_computed<T: Serialize>(
    state: &AppState,
    principal: &Principal,
    request: &HttpRequest,
    key: Option<AnswerKey>,
    compute: impl AsyncFnOnce(&mut AsyncPgConnection) -> AppResult<(String, T)>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.read().await?;
    let kept_under = match key {
        Some(key) => {
            let version = history::kept_version(&mut conn).await?;
            if let Some(kept) = state.answers.get(&key)
                && kept.version == version
            {
                policy::require(principal, Operation::Read, Target::unit(&kept.path))?;
                return Ok(tagged(request, &key, &version, kept.body.clone()));
            }
            let tag = key.etag(&version);
            if conditional::not_modified(request, &tag) {
                let unit = organization_repo::find(&mut conn, key.organization_id)
                    .await?
                    .ok_or_else(AppError::not_found)?;
                policy::require(principal, Operation::Read, Target::unit(&unit.path))?;
                return Ok(json_body(Bytes::new(), Some(tag), true));
            }
            Some((key, version))
        }
        None => None,
    };
    let (path, answer) = compute(&mut conn).await?;
    drop(conn);
    let body = Bytes::from(serde_json::to_vec(&answer).map_err(AppError::internal)?);
    let Some((key, version)) = kept_under else {
        return Ok(json_body(body, None, false));
    };
    let response = tagged(request, &key, &version, body.clone());
    state.answers.put(
        key,
        KeptAnswer {
            version,
            path,
            body,
        },
    );
    Ok(response)
}

/// A kept or computed answer to `request` (keyed `key`) at `version` of the data: with its
/// ETag, or 304 when `If-None-Match` names it.
fn tagged(request: &HttpRequest, key: &AnswerKey, version: &str, body: Bytes) -> HttpResponse {
    let tag = key.etag(version);
    let unchanged = conditional::not_modified(request, &tag);
    json_body(body, Some(tag), unchanged)
}

/// 200 with a JSON body and its ETag if it has one, or 304 when `unchanged` (the request's
/// `If-None-Match` named that ETag).
fn json_body(body: Bytes, etag: Option<String>, unchanged: bool) -> HttpResponse {
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    if let Some(etag) = etag {
        response.insert_header((header::ETAG, etag));
    }
    if unchanged {
        return response.finish();
    }
    response.content_type(ContentType::json()).body(body)
}

async fn resolve(
    conn: &mut AsyncPgConnection,
    lineage: &history::LineageFlag,
    principal: &Principal,
    scope: &Scope,
) -> AppResult<Resolved> {
    let organization_id = scope_root(principal, scope)?;
    let row = organization_repo::find(conn, organization_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(principal, Operation::Read, Target::unit(&row.path))?;
    let today = crate::clock::today();
    let history = match scope.year {
        Some(year) if history::is_historical(conn, Some(year), today).await? => {
            Some(history::structure(conn, &row, year, today).await?)
        }
        _ => None,
    };
    let mut per_year = Vec::new();
    if scope.year.is_none() && lineage.any(conn).await? && lineage.spans(conn, &row).await? {
        let latest = history::latest_restructuring(conn).await?;
        for year in history::record_years(conn, scope.campaign_id, today).await? {
            let history = if history::historical_after(Some(year), latest, today) {
                Some(history::structure(conn, &row, year, today).await?)
            } else {
                None
            };
            per_year.push(Resolved {
                history,
                per_year: Vec::new(),
                scope: ScopeDto {
                    organization_id: row.id,
                    organization_name: row.name.clone(),
                    campaign_id: scope.campaign_id,
                    year: Some(year),
                },
                window: Window {
                    root_path: row.path.clone(),
                    campaign_id: scope.campaign_id,
                    year: Some(year),
                    today,
                },
            });
        }
    }
    Ok(Resolved {
        history,
        per_year,
        scope: ScopeDto {
            organization_id: row.id,
            organization_name: row.name,
            campaign_id: scope.campaign_id,
            year: scope.year,
        },
        window: Window {
            root_path: row.path,
            campaign_id: scope.campaign_id,
            year: scope.year,
            today,
        },
    })
}

/// A page of the coverage of `resolved`: (expected, registered, units, next cursor).
async fn coverage_of(
    conn: &mut AsyncPgConnection,
    resolved: &Resolved,
    kind: Option<&str>,
    after: Option<repo::CoveragePosition>,
    limit: i64,
) -> AppResult<(i64, i64, Vec<CoverageUnit>, Option<String>)> {
    let position = |unit: &CoverageUnit| (unit.registered, unit.name.clone(), unit.organization_id);
    let Some(structure) = &resolved.history else {
        let rows = repo::coverage_page(
            conn,
            resolved.scope.organization_id,
            &resolved.window,
            kind,
            after.as_ref(),
            limit + 1,
        )
        .await?;
        let (expected, registered) = rows
            .first()
            .map_or((0, 0), |row| (row.expected, row.registered));
        let units = rows
            .into_iter()
            .filter_map(|row| {
                let pledge_count = row.pledge_count.unwrap_or(0);
                Some(CoverageUnit {
                    organization_id: row.id?,
                    name: row.name?,
                    kind: row.kind?,
                    registered: pledge_count > 0,
                    pledge_count,
                })
            })
            .collect();
        let (units, next) = pagination::paginate(units, limit, position);
        return Ok((expected, registered, units, next));
    };
    // A past year on the structure it ended with: a frozen list, assembled here and paged by
    // the place of the cursor's unit in it.
    let mut units: Vec<repo::UnitRow> = Vec::new();
    for root in &structure.roots {
        let found = match kind {
            None => history::children_at(conn, root).await?,
            Some(kind) => history::descendants_at(conn, root, kind).await?,
        };
        units.extend(
            found
                .into_iter()
                .filter(|unit| unit.counted)
                .map(|unit| unit.unit),
        );
    }
    let mut seen = std::collections::HashSet::new();
    units.retain(|unit| seen.insert(unit.id));
    let ids: Vec<Uuid> = units.iter().map(|unit| unit.id).collect();
    let counts: HashMap<Uuid, i64> = repo::registered_counts(conn, &resolved.window, &ids)
        .await?
        .into_iter()
        .map(|count| (count.organization_id, count.count))
        .collect();
    let mut items: Vec<CoverageUnit> = units
        .into_iter()
        .map(|unit| {
            let pledge_count = counts.get(&unit.id).copied().unwrap_or(0);
            CoverageUnit {
                organization_id: unit.id,
                name: unit.name,
                kind: unit.kind,
                registered: pledge_count > 0,
                pledge_count,
            }
        })
        .collect();
    // Units that have not registered come first: they are what a leader acts on.
    items.sort_by_key(|unit| unit.registered);
    let expected = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let registered =
        i64::try_from(items.iter().filter(|unit| unit.registered).count()).unwrap_or(0);
    let start = match after {
        None => 0,
        Some((_, _, id)) => {
            1 + items
                .iter()
                .position(|unit| unit.organization_id == id)
                .ok_or_else(pagination::foreign_cursor)?
        }
    };
    let page: Vec<CoverageUnit> = items
        .into_iter()
        .skip(start)
        .take(usize::try_from(limit + 1).unwrap_or(usize::MAX))
        .collect();
    let (page, next) = pagination::paginate(page, limit, position);
    Ok((expected, registered, page, next))
}

/// Coverage: how many expected units registered, and which did not.
///
/// Expected units are the direct active children of the organization, or with `kind` all its
/// active descendants of that kind. A unit has registered when it has a pledge in the campaign
/// and year that was submitted and not withdrawn (`submitted`, `approved`, `assessed`).
#[utoipa::path(
    tag = "stats",
    params(Scope, CoverageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Coverage of the subtree", body = CoverageDto, headers(("ETag" = String, description = "Weak entity tag of the answer: the same while the data it reads stands"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The organization is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/coverage")]
pub async fn stats_coverage(
    state: web::Data<AppState>,
    principal: Principal,
    scope: web::Query<Scope>,
    params: web::Query<CoverageParams>,
    request: HttpRequest,
) -> AppResult<HttpResponse> {
    let kind = params.kind.map(|kind| kind.as_str());
    let limit = pagination::limit(params.limit)?;
    let after = pagination::position(params.cursor.as_deref())?;
    let key = answer_key("coverage", &principal, &scope, &request)?;
    kept_or_computed(&state, &principal, &request, Some(key), async |conn| {
        let resolved = resolve(conn, &state.lineage, &principal, &scope).await?;
        let (expected, registered, units, next_cursor) =
            coverage_of(conn, &resolved, kind, after, limit).await?;
        Ok((
            resolved.window.root_path,
            CoverageDto {
                scope: resolved.scope,
                expected,
                registered,
                ratio: ratio(registered, expected),
                units,
                next_cursor,
            },
        ))
    })
    .await
}

/// The subtree's tallies, and when grouping by child, the children with their tallies.
async fn tallied(
    conn: &mut AsyncPgConnection,
    resolved: &Resolved,
    grouping: &str,
) -> AppResult<(
    Vec<tallies::TallyRow>,
    Vec<UnitAt>,
    Vec<tallies::SubtreeSums>,
)> {
    let subtree = resolved.subtree_counts(conn).await?;
    let (children, counts) = if grouping == "child" {
        resolved.children_counts(conn).await?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok((subtree, children, counts))
}

/// `T`'s counts over `resolved` grouped by `grouping` (from the facet tallies or the tallies),
/// and the labels of their keys.
async fn groups_of<T: tallies::GroupCounts>(
    conn: &mut AsyncPgConnection,
    resolved: &Resolved,
    grouping: &str,
) -> AppResult<(Vec<T>, GroupLabels)> {
    let (rows, children) = if tallies::answers_by_facet(T::ENTITY, grouping) {
        let values = resolved
            .facet_counts(conn, T::ENTITY, &[grouping.to_owned()])
            .await?;
        (
            tallies::grouped(tallies::FACET_VALUE, &values, &[]),
            Vec::new(),
        )
    } else {
        let (subtree, children, counts) = tallied(conn, resolved, grouping).await?;
        (tallies::grouped(grouping, &subtree, &counts), children)
    };
    let labels = GroupLabels::load(conn, resolved, grouping, children).await?;
    Ok((rows, labels))
}

/// Human labels of group keys: a child's path becomes its id and name, the root's own rows
/// are `self`, a field code becomes the campaign's field name; other keys label themselves.
struct GroupLabels {
    children: HashMap<String, (Uuid, String)>,
    fields: HashMap<String, String>,
    root_name: String,
}

impl GroupLabels {
    /// The labels of `grouping`'s keys; `children`: the children [`tallied`] read (none unless
    /// grouping by child).
    async fn load(
        conn: &mut AsyncPgConnection,
        resolved: &Resolved,
        grouping: &str,
        children: Vec<UnitAt>,
    ) -> AppResult<Self> {
        let children = children
            .into_iter()
            .map(|child| (child.unit.path, (child.unit.id, child.unit.name)))
            .collect();
        let fields = match (grouping, resolved.scope.campaign_id) {
            ("field", Some(campaign_id)) => repo::field_names(conn, campaign_id)
                .await?
                .into_iter()
                .collect(),
            _ => HashMap::new(),
        };
        Ok(Self {
            children,
            fields,
            root_name: resolved.scope.organization_name.clone(),
        })
    }

    /// (key, label) of a raw group key.
    fn of(&self, raw: &str) -> (String, String) {
        match self.children.get(raw) {
            Some((id, name)) => (id.to_string(), name.clone()),
            None if raw == "self" => ("self".to_owned(), self.root_name.clone()),
            None => (
                raw.to_owned(),
                self.fields
                    .get(raw)
                    .cloned()
                    .unwrap_or_else(|| raw.to_owned()),
            ),
        }
    }
}

/// Pledge counts of the subtree grouped by one dimension.
///
/// Each group has `total`, `registered` (submitted, approved or assessed), `assessed`,
/// `achieved` (assessed achieved or exceeded) and `overdue`. `child` groups by the direct child
/// unit holding the pledge (`self` for the organization's own pledges; the pledges an ended unit
/// kept count under the child that answers for it); `month` by the month
/// of the deadline.
#[utoipa::path(
    tag = "stats",
    params(Scope, PledgeGroupParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Grouped pledge counts", body = PledgeGroupsDto, headers(("ETag" = String, description = "Weak entity tag of the answer (not when grouped by a campaign's fields): the same while the data it reads stands"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The organization is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/pledges")]
pub async fn stats_pledges(
    state: web::Data<AppState>,
    principal: Principal,
    scope: web::Query<Scope>,
    params: web::Query<PledgeGroupParams>,
    request: HttpRequest,
) -> AppResult<HttpResponse> {
    let grouping = match params.group_by.unwrap_or(PledgeGrouping::Status) {
        PledgeGrouping::Status => "status",
        PledgeGrouping::Result => "result",
        PledgeGrouping::Field => "field",
        PledgeGrouping::Kind => "kind",
        PledgeGrouping::Child => "child",
        PledgeGrouping::OrganizationKind => "organization_kind",
        PledgeGrouping::Month => "month",
    };
    let key = grouping_key("pledges", grouping, &principal, &scope, &request)?;
    kept_or_computed(&state, &principal, &request, key, async |conn| {
        let resolved = resolve(conn, &state.lineage, &principal, &scope).await?;
        let (rows, labels) = groups_of::<repo::PledgeCounts>(conn, &resolved, grouping).await?;
        let total = rows.iter().map(|row| row.total).sum();
        let groups = rows
            .into_iter()
            .map(|row| {
                let (key, label) = labels.of(&row.key);
                PledgeGroup {
                    key,
                    label,
                    total: row.total,
                    registered: row.registered,
                    assessed: row.assessed,
                    achieved: row.achieved,
                    overdue: row.overdue,
                }
            })
            .collect();
        Ok((
            resolved.window.root_path,
            PledgeGroupsDto {
                scope: resolved.scope,
                group_by: grouping.to_owned(),
                total,
                groups,
            },
        ))
    })
    .await
}

/// Titles registered versus achieved, per unit ("4/5 party cells").
///
/// `registered` counts title pledges submitted and not withdrawn; `achieved` those assessed
/// `achieved` or `exceeded`.
#[utoipa::path(
    tag = "stats",
    params(Scope, TitleParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Title counts", body = TitlesDto, headers(("ETag" = String, description = "Weak entity tag of the answer: the same while the data it reads stands"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The organization is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/titles")]
pub async fn stats_titles(
    state: web::Data<AppState>,
    principal: Principal,
    scope: web::Query<Scope>,
    params: web::Query<TitleParams>,
    request: HttpRequest,
) -> AppResult<HttpResponse> {
    let key = Some(answer_key("titles", &principal, &scope, &request)?);
    kept_or_computed(&state, &principal, &request, key, async |conn| {
        let resolved = resolve(conn, &state.lineage, &principal, &scope).await?;
        let title_name = params.title_name.as_deref().map(crate::text::nfc);
        let limit = pagination::limit(params.limit)?;
        let after: Option<repo::TitlePosition> = pagination::position(params.cursor.as_deref())?;
        let windows = resolved.windows();
        let filter = repo::TitleFilter {
            windows: &windows,
            organization_kind: params.organization_kind.map(|kind| kind.as_str()),
            title_name: title_name.as_deref().map(str::trim),
        };
        // The totals from the facet tallies of the title pledges, per kind of unit holding them.
        let facets: Vec<String> = match filter.organization_kind {
            Some(kind) => vec![tallies::title_facet(kind)],
            None => OrganizationKind::ALL
                .iter()
                .map(|kind| tallies::title_facet(kind.as_str()))
                .collect(),
        };
        let (mut registered, mut achieved) = (0, 0);
        for window in &windows {
            for counts in tallies::facet_counts(conn, window, "p", &facets).await? {
                // A title pledge without a title name counts under '', which no filter names.
                let named = filter
                    .title_name
                    .is_none_or(|name| !name.is_empty() && counts.kind == name);
                if named && REGISTERED.contains(&counts.status.as_str()) {
                    registered += counts.count;
                    if ACHIEVED.contains(&counts.result.as_str()) {
                        achieved += counts.count;
                    }
                }
            }
        }
        // Fewer title pledges than a page: the pledges, without counting units.
        let walk = if registered <= limit {
            repo::TitleWalk::Pledges
        } else {
            let units = repo::unit_counts(conn, &windows).await?;
            repo::TitleWalk::cheaper(limit, units.subtree, units.everywhere, registered)
        };
        let units = repo::titles_page(conn, &filter, after.as_ref(), limit + 1, walk)
            .await?
            .into_iter()
            .map(|row| TitleUnit {
                organization_id: row.organization_id,
                name: row.name,
                kind: row.kind,
                title_name: row.title_name,
                registered: row.registered,
                achieved: row.achieved,
            })
            .collect();
        let (units, next_cursor) = pagination::paginate(units, limit, |unit| {
            (
                unit.name.clone(),
                unit.title_name.clone(),
                unit.organization_id,
            )
        });
        Ok((
            resolved.window.root_path,
            TitlesDto {
                scope: resolved.scope,
                registered,
                achieved,
                ratio: ratio(achieved, registered),
                units,
                next_cursor,
            },
        ))
    })
    .await
}

/// Nomination counts of the subtree grouped by one dimension.
#[utoipa::path(
    tag = "stats",
    params(Scope, NominationGroupParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Grouped nomination counts", body = NominationGroupsDto, headers(("ETag" = String, description = "Weak entity tag of the answer (not when grouped by a campaign's fields): the same while the data it reads stands"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The organization is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/nominations")]
pub async fn stats_nominations(
    state: web::Data<AppState>,
    principal: Principal,
    scope: web::Query<Scope>,
    params: web::Query<NominationGroupParams>,
    request: HttpRequest,
) -> AppResult<HttpResponse> {
    let grouping = match params.group_by.unwrap_or(NominationGrouping::Status) {
        NominationGrouping::Status => "status",
        NominationGrouping::NomineeType => "nominee_type",
        NominationGrouping::Field => "field",
        NominationGrouping::Child => "child",
    };
    let key = grouping_key("nominations", grouping, &principal, &scope, &request)?;
    kept_or_computed(&state, &principal, &request, key, async |conn| {
        let resolved = resolve(conn, &state.lineage, &principal, &scope).await?;
        let (rows, labels) = groups_of::<repo::NominationCounts>(conn, &resolved, grouping).await?;
        let total = rows.iter().map(|row| row.total).sum();
        let groups = rows
            .into_iter()
            .map(|row| {
                let (key, label) = labels.of(&row.key);
                NominationGroup {
                    key,
                    label,
                    total: row.total,
                    exemplars: row.exemplars,
                }
            })
            .collect();
        Ok((
            resolved.window.root_path,
            NominationGroupsDto {
                scope: resolved.scope,
                group_by: grouping.to_owned(),
                total,
                groups,
            },
        ))
    })
    .await
}

/// Child units ranked by achievement rate (achieved ÷ registered pledges in their subtree).
#[utoipa::path(
    tag = "stats",
    params(Scope, LeaderboardParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ranking", body = LeaderboardDto, headers(("ETag" = String, description = "Weak entity tag of the answer: the same while the data it reads stands"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The organization is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/leaderboard")]
pub async fn stats_leaderboard(
    state: web::Data<AppState>,
    principal: Principal,
    scope: web::Query<Scope>,
    params: web::Query<LeaderboardParams>,
    request: HttpRequest,
) -> AppResult<HttpResponse> {
    let limit = usize::try_from(pagination::limit(params.limit)?).unwrap_or(50);
    let key = Some(answer_key("leaderboard", &principal, &scope, &request)?);
    kept_or_computed(&state, &principal, &request, key, async |conn| {
        let resolved = resolve(conn, &state.lineage, &principal, &scope).await?;
        let (children, child_counts) = resolved.children_counts(conn).await?;
        let counts: HashMap<String, repo::PledgeCounts> =
            tallies::grouped::<repo::PledgeCounts>("child", &[], &child_counts)
                .into_iter()
                .map(|row| (row.key.clone(), row))
                .collect();
        let mut entries: Vec<LeaderboardEntry> = children
            .into_iter()
            .map(|child| child.unit)
            .map(|child| {
                let (registered, achieved) = counts
                    .get(&child.path)
                    .map_or((0, 0), |row| (row.registered, row.achieved));
                LeaderboardEntry {
                    rank: 0,
                    organization_id: child.id,
                    name: child.name,
                    kind: child.kind,
                    registered,
                    achieved,
                    achievement_rate: ratio(achieved, registered).unwrap_or(0.0),
                }
            })
            .collect();
        entries.sort_by(|a, b| {
            b.achievement_rate
                .total_cmp(&a.achievement_rate)
                .then(b.achieved.cmp(&a.achieved))
                .then(a.name.cmp(&b.name))
        });
        entries.truncate(limit);
        for (index, entry) in entries.iter_mut().enumerate() {
            entry.rank = i64::try_from(index + 1).unwrap_or(i64::MAX);
        }
        Ok((
            resolved.window.root_path,
            LeaderboardDto {
                scope: resolved.scope,
                entries,
            },
        ))
    })
    .await
}

/// Everything a leader reads first about the subtree.
///
/// Organizations, coverage (direct children) with the units that have not registered, pledges
/// by status and result, overdue pledges and the units holding most of them, titles registered
/// and achieved, nominations by status and nominee type, and exemplars.
#[utoipa::path(
    tag = "stats",
    params(Scope),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The overview", body = OverviewDto, headers(("ETag" = String, description = "Weak entity tag of the answer: the same while the data it reads stands"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The organization is outside your subtree", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/overview")]
pub async fn stats_overview(
    state: web::Data<AppState>,
    principal: Principal,
    scope: web::Query<Scope>,
    request: HttpRequest,
) -> AppResult<HttpResponse> {
    let organization_id = scope_root(&principal, &scope)?;
    if policy::decide(&principal, Operation::Read, Target::default()).is_err() {
        return Err(AppError::not_found());
    }
    // A past year read on the structure it ended with, and all years where lineage spans
    // (each year on its own structure): kept like today's overviews, under a version checked
    // on every request (history::kept_version), so never stale.
    let past_year = scope
        .year
        .is_some_and(|year| year < chrono::Datelike::year(&crate::clock::today()));
    if past_year || scope.year.is_none() {
        let mut conn = state.db.read().await?;
        let historical = if past_year {
            history::is_historical(&mut conn, scope.year, crate::clock::today()).await?
        } else {
            state.lineage.any(&mut conn).await?
        };
        if historical {
            let key = AnswerKey::overview(
                organization_id,
                scope.campaign_id,
                scope.year,
                crate::clock::today(),
            );
            // A past year is always read on its structure; all years only where lineage spans
            // the subtree, which an answer kept under a history version tells without asking
            // (today's overview of an untouched unit pays no query for it).
            let kept = state.answers.get(&key);
            let mut version = None;
            if past_year
                || kept
                    .as_ref()
                    .is_some_and(|kept| kept.version.starts_with(history::KEPT_PREFIX))
            {
                let current = history::kept_version(&mut conn).await?;
                if let Some(kept) = &kept
                    && kept.version == current
                {
                    policy::require(&principal, Operation::Read, Target::unit(&kept.path))?;
                    return Ok(tagged(&request, &key, &current, kept.body.clone()));
                }
                version = Some(current);
            }
            let resolved = resolve(&mut conn, &state.lineage, &principal, &scope).await?;
            // All years of a subtree no restructuring touched: today's tallies answer them.
            if past_year || !resolved.per_year.is_empty() {
                // Read before the answer is computed: a change after it makes a new version.
                let version = match version {
                    Some(version) => version,
                    None => history::kept_version(&mut conn).await?,
                };
                let body = Bytes::from(
                    serde_json::to_vec(&historical_overview(&mut conn, &resolved).await?)
                        .map_err(AppError::internal)?,
                );
                let response = tagged(&request, &key, &version, body.clone());
                state.answers.put(
                    key,
                    KeptAnswer {
                        version,
                        path: resolved.window.root_path.clone(),
                        body,
                    },
                );
                return Ok(response);
            }
        }
    }
    let visible = match principal.visibility() {
        Visibility::Everything => None,
        Visibility::Subtrees(roots) => Some(roots),
    };
    let today = crate::clock::today();
    let key = AnswerKey::overview(organization_id, scope.campaign_id, scope.year, today);
    let kept = state.answers.get(&key);
    let mut conn = state.db.read().await?;
    let answer = tallies::overview(
        &mut conn,
        organization_id,
        visible.as_deref(),
        scope.campaign_id,
        scope.year,
        today,
        kept.as_ref().map(|kept| kept.version.as_str()),
    )
    .await?;
    drop(conn);
    let found = match (answer, kept) {
        (OverviewAnswer::Unchanged, Some(kept)) => {
            // The unit has not moved since (a move changes the version): same rule, same path.
            policy::require(&principal, Operation::Read, Target::unit(&kept.path))?;
            return Ok(tagged(&request, &key, &kept.version, kept.body.clone()));
        }
        (OverviewAnswer::Computed(found), _) => found,
        (OverviewAnswer::NotFound, _) => return Err(AppError::not_found()),
        (OverviewAnswer::Unchanged, None) => {
            return Err(AppError::internal(anyhow::anyhow!(
                "overview_of answered unchanged to a caller that named no version"
            )));
        }
    };
    // The function checked visibility already; this is the same rule, on the path it found.
    policy::require(&principal, Operation::Read, Target::unit(&found.path))?;
    let scope = ScopeDto {
        organization_id,
        organization_name: found.name,
        campaign_id: scope.campaign_id,
        year: scope.year,
    };
    let body = Bytes::from(
        serde_json::to_vec(&overview(scope, &found.counts, &found.children))
            .map_err(AppError::internal)?,
    );
    let response = tagged(&request, &key, &found.version, body.clone());
    state.answers.put(
        key,
        KeptAnswer {
            version: found.version,
            path: found.path,
            body,
        },
    );
    Ok(response)
}

/// The overview of a past year on the structure it ended with (see `history`): the same
/// answer as `r.overview_of`, assembled from the tallies of each subtree it covers.
async fn historical_overview(
    conn: &mut AsyncPgConnection,
    resolved: &Resolved,
) -> AppResult<OverviewDto> {
    let counts = resolved.subtree_counts(conn).await?;
    let units = resolved.children(conn).await?;
    let ids: Vec<Uuid> = units.iter().map(|child| child.unit.id).collect();
    let registered: HashMap<Uuid, i64> = repo::registered_counts(conn, &resolved.window, &ids)
        .await?
        .into_iter()
        .map(|count| (count.organization_id, count.count))
        .collect();
    let mut overdue: HashMap<String, i64> = HashMap::new();
    for row in resolved.counts_of(conn, &units).await? {
        *overdue.entry(row.key).or_default() += row.overdue;
    }
    let children: Vec<tallies::ChildRow> = units
        .into_iter()
        .map(|child| tallies::ChildRow {
            id: child.unit.id,
            registered: registered
                .get(&child.unit.id)
                .is_some_and(|count| *count > 0),
            overdue: overdue.get(&child.unit.path).copied().unwrap_or(0),
            name: child.unit.name,
            active: child.counted,
        })
        .collect();
    Ok(overview(resolved.scope.clone(), &counts, &children))
}

/// Sums of `rows` by a key, in key order.
fn sum_by<'a>(
    rows: impl Iterator<Item = &'a tallies::TallyRow>,
    key: impl Fn(&tallies::TallyRow) -> &str,
) -> Vec<KeyCount> {
    let mut sums: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for row in rows {
        *sums.entry(key(row).to_owned()).or_default() += row.count;
    }
    sums.into_iter()
        .filter(|(_, count)| *count != 0)
        .map(|(key, count)| KeyCount { key, count })
        .collect()
}

/// The overview from the subtree's counts and its direct children.
fn overview(
    scope: ScopeDto,
    counts: &[tallies::TallyRow],
    children: &[tallies::ChildRow],
) -> OverviewDto {
    let of = |entity: &'static str| counts.iter().filter(move |row| row.entity == entity);
    let total =
        |rows: &mut dyn Iterator<Item = &tallies::TallyRow>| rows.map(|row| row.count).sum();
    let registered = |row: &&tallies::TallyRow| REGISTERED.contains(&row.status.as_str());
    let titles = || of("p").filter(|row| row.kind == "title").filter(registered);
    let overdue: i64 = of("p").map(|row| row.overdue).sum();

    let expected: Vec<&tallies::ChildRow> = children.iter().filter(|child| child.active).collect();
    let covered = expected.iter().filter(|child| child.registered).count();
    let mut overdue_by_unit: Vec<OverdueUnit> = children
        .iter()
        .map(|child| OverdueUnit {
            organization_id: child.id,
            name: child.name.clone(),
            overdue: child.overdue,
        })
        .collect();
    // The root's own pledges: what its children's subtrees do not hold.
    overdue_by_unit.push(OverdueUnit {
        organization_id: scope.organization_id,
        name: scope.organization_name.clone(),
        overdue: overdue - children.iter().map(|child| child.overdue).sum::<i64>(),
    });
    overdue_by_unit.retain(|unit| unit.overdue > 0);
    // Most overdue first; the sort is stable, so ties keep the name order of the children.
    overdue_by_unit.sort_by_key(|unit| std::cmp::Reverse(unit.overdue));
    overdue_by_unit.truncate(10);

    let expected_count = i64::try_from(expected.len()).unwrap_or(i64::MAX);
    let covered = i64::try_from(covered).unwrap_or(0);
    let nominations_total = total(&mut of("n"));
    OverviewDto {
        organizations: total(&mut of("o").filter(|row| row.status == "active")),
        coverage: CoverageSummary {
            expected: expected_count,
            registered: covered,
            ratio: ratio(covered, expected_count),
            not_registered: expected
                .iter()
                .filter(|child| !child.registered)
                .take(50)
                .map(|child| child.name.clone())
                .collect(),
        },
        pledges_total: total(&mut of("p")),
        pledges_by_status: sum_by(of("p"), |row| &row.status),
        pledges_by_result: sum_by(of("p"), |row| &row.result),
        overdue,
        overdue_by_unit,
        titles_registered: total(&mut titles()),
        titles_achieved: total(&mut titles().filter(|row| ACHIEVED.contains(&row.result.as_str()))),
        nominations_total,
        exemplars: total(&mut of("n").filter(|row| EXEMPLARS.contains(&row.status.as_str()))),
        nominations_by_status: sum_by(of("n"), |row| &row.status),
        nominations_by_nominee_type: sum_by(of("n"), |row| &row.kind),
        scope,
    }
}
