//! The one list of a workflow resource (pledges, nominations, and whatever comes next): the
//! filters every list shares (visibility, unit or subtree, campaign, sort, cursor, limit), the
//! keyset page in SQL, the JSON page and the two exports of the same selection.
//!
//! A resource names its rows, how it fetches one page of them, its columns and cells
//! ([`Listed`]); [`respond`] answers `GET /<resource>` in JSON, CSV or XLSX, and
//! [`export_page`] pages the one export (`crate::export`).

use std::future::Future;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::BoxableExpression;
use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::pg::Pg;
use diesel::sql_types::{Bool, Date, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::db::Databases;
use crate::error::{AppError, AppResult, ProblemCode};
use crate::export::{self, Cell, Column, Export, Format, PAGE, Page};
use crate::organizations::repo::{self as organization_repo, path_in_subtrees};
use crate::pagination::{self, Direction};
use crate::state::AppState;
use crate::text::like_escape;

/// Position of the last row of a page, for the next one (what a cursor holds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Position {
    CreatedAt(DateTime<Utc>, Uuid),
    UpdatedAt(DateTime<Utc>, Uuid),
    Deadline(NaiveDate, Uuid),
}

impl Position {
    /// The sort key this position belongs to.
    pub fn key(&self) -> &'static str {
        match self {
            Self::CreatedAt(..) => "created_at",
            Self::UpdatedAt(..) => "updated_at",
            Self::Deadline(..) => "deadline",
        }
    }
}

/// The filters, order and page every list shares, validated.
#[derive(Debug, Clone)]
pub struct Scope {
    pub visibility: Visibility,
    pub campaign_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    /// Path of `organization_id` when the whole subtree is asked for.
    pub subtree_path: Option<String>,
    pub sort: (&'static str, Direction),
    pub after: Option<Position>,
    pub limit: i64,
}

/// The shared query parameters as the caller sent them.
#[derive(Debug, Clone, Copy)]
pub struct ScopeParams<'f> {
    pub organization_id: Option<Uuid>,
    pub subtree: Option<bool>,
    pub campaign_id: Option<Uuid>,
    pub sort: Option<&'f str>,
    pub cursor: Option<&'f str>,
    pub limit: Option<i64>,
}

/// A validated list request: the scope every list shares and the resource's own filter.
#[derive(Debug, Clone)]
pub struct Query<F> {
    pub scope: Scope,
    pub filter: F,
    /// The day the list is judged on (what is overdue), the same for every page of an export.
    pub today: NaiveDate,
}

/// A resource's list filter: the members of [`ScopeParams`] and its own ones
/// (see [`scoped_filter!`]).
pub trait Filter: Clone + Send + 'static {
    /// The documented sort keys.
    const SORT_KEYS: &'static [&'static str];

    fn scope_params(&self) -> ScopeParams<'_>;
}

/// Implements [`Filter`] for a filter type with the shared members (`organization_id`,
/// `subtree`, `campaign_id`, `sort`, `cursor`, `limit`) and the sort keys `$sort_keys`.
macro_rules! scoped_filter {
    ($filter:ty, $sort_keys:expr) => {
        impl $crate::listing::Filter for $filter {
            const SORT_KEYS: &'static [&'static str] = &$sort_keys;

            fn scope_params(&self) -> $crate::listing::ScopeParams<'_> {
                $crate::listing::ScopeParams {
                    organization_id: self.organization_id,
                    subtree: self.subtree,
                    campaign_id: self.campaign_id,
                    sort: self.sort.as_deref(),
                    cursor: self.cursor.as_deref(),
                    limit: self.limit,
                }
            }
        }
    };
}
pub(crate) use scoped_filter;

impl<F: Filter> Query<F> {
    /// Validates the shared members of `filter` (see [`Scope::parse`]) and keeps the rest.
    pub async fn parse(db: &Databases, principal: &Principal, filter: F) -> AppResult<Self> {
        let scope = Scope::parse(db, principal, filter.scope_params(), F::SORT_KEYS).await?;
        Ok(Self {
            scope,
            filter,
            today: crate::clock::today(),
        })
    }
}

impl Scope {
    /// Validates `params` against the documented `sort_keys` (400) and the unit against what
    /// the caller may read (404).
    pub async fn parse(
        db: &Databases,
        principal: &Principal,
        params: ScopeParams<'_>,
        sort_keys: &[&'static str],
    ) -> AppResult<Self> {
        policy::require(principal, Operation::Read, Target::default())?;
        let limit = pagination::limit(params.limit)?;
        let sort = pagination::parse_sort(params.sort, sort_keys, ("created_at", Direction::Asc))?;
        let after: Option<Position> = pagination::position(params.cursor)?;
        // A cursor of another sort key would compare one column and order by another: rows
        // skipped.
        if after
            .as_ref()
            .is_some_and(|position| position.key() != sort.0)
        {
            return Err(AppError::bad_request(
                ProblemCode::InvalidQuery,
                "the cursor belongs to another sort order",
            ));
        }
        let mut subtree_path = None;
        if let Some(organization_id) = params.organization_id {
            let mut conn = db.read().await?;
            let path = organization_repo::path_of(&mut conn, organization_id)
                .await?
                .ok_or_else(AppError::not_found)?;
            policy::require(principal, Operation::Read, Target::unit(&path))?;
            if params.subtree.unwrap_or(false) {
                subtree_path = Some(path);
            }
        }
        Ok(Self {
            visibility: principal.visibility(),
            campaign_id: params.campaign_id,
            organization_id: params.organization_id,
            subtree_path,
            sort,
            after,
            limit,
        })
    }

    /// `ORDER BY` of the sort key, ties broken by `id`, for the rows of `table`.
    pub fn order(&self, table: &str) -> SqlLiteral<Bool> {
        let (key, direction) = self.sort;
        let direction = if direction == Direction::Asc {
            "ASC"
        } else {
            "DESC"
        };
        // `key` is one of the sort whitelist's columns.
        sql::<Bool>(&format!(
            "{table}.{key} {direction}, {table}.id {direction}"
        ))
    }

    /// The conditions every list puts on the rows of `table`: what the caller sees, the unit
    /// (`organization_column`) or its subtree, the campaign, and what lies after the cursor.
    pub fn conditions<QS: 'static>(
        &self,
        table: &str,
        organization_column: &str,
    ) -> Vec<Box<dyn BoxableExpression<QS, Pg, SqlType = Bool>>> {
        let mut conditions: Vec<Box<dyn BoxableExpression<QS, Pg, SqlType = Bool>>> = Vec::new();
        if let Visibility::Subtrees(roots) = &self.visibility {
            match (roots.as_slice(), &self.subtree_path) {
                // The asked subtree lies inside what the caller sees: nothing more to check,
                // and one condition fewer to keep the planner off the ordered index.
                (_, Some(path)) if self.visibility.includes(path) => {}
                // One visible subtree: the same condition as a subtree list, so a list
                // without a unit reads one page in index order too.
                ([root], _) => conditions.push(subtree_condition(table, root)),
                _ => {
                    let column = format!("{table}.organization_path");
                    conditions.push(Box::new(path_in_subtrees(&column, roots)));
                }
            }
        }
        if let Some(path) = &self.subtree_path {
            conditions.push(subtree_condition(table, path));
        } else if let Some(organization_id) = self.organization_id {
            conditions.push(Box::new(
                sql::<Bool>(&format!("{table}.{organization_column} = "))
                    .bind::<SqlUuid, _>(organization_id),
            ));
        }
        if let Some(campaign_id) = self.campaign_id {
            conditions.push(Box::new(
                sql::<Bool>(&format!("{table}.campaign_id = ")).bind::<SqlUuid, _>(campaign_id),
            ));
        }
        conditions.extend(self.after(table));
        conditions
    }

    /// The rows of `table` after the cursor's position in the sort order, if there is one.
    fn after<QS: 'static>(
        &self,
        table: &str,
    ) -> Option<Box<dyn BoxableExpression<QS, Pg, SqlType = Bool>>> {
        let comparison = if self.sort.1 == Direction::Asc {
            ">"
        } else {
            "<"
        };
        let position = self.after.as_ref()?;
        let head = sql::<Bool>(&format!(
            "({table}.{column}, {table}.id) {comparison} (",
            column = position.key()
        ));
        Some(match *position {
            Position::CreatedAt(at, id) | Position::UpdatedAt(at, id) => Box::new(
                head.bind::<Timestamptz, _>(at)
                    .sql(", ")
                    .bind::<SqlUuid, _>(id)
                    .sql(")"),
            ),
            Position::Deadline(deadline, id) => Box::new(
                head.bind::<Date, _>(deadline)
                    .sql(", ")
                    .bind::<SqlUuid, _>(id)
                    .sql(")"),
            ),
        })
    }
}

/// Deepest head the list indexes are keyed by (migration `2026-12-06-000500_speed`): the root
/// (1 label), a province (2) and a commune (3).
pub const INDEXED_HEAD_LABELS: usize = 3;

/// `{table}.organization_path` lies in the subtree of `path` (a materialized path, "1.7.").
///
/// Down to a commune (at most [`INDEXED_HEAD_LABELS`] labels) it is written
/// `path_head({table}.organization_path, n) = path`, the expression of the list indexes
/// `(path_head(organization_path, n), created_at, id)`: the subtree's rows are one equality in
/// creation order, so a page reads its own rows whatever the subtree's size (a root list of 1M
/// pledges: 1 170 ms sorting the subtree, 5 ms this way). Deeper subtrees are small and the
/// path index's range (`LIKE 'path%'`) serves them. The label count is written into the SQL
/// text, not bound, or the expression would not match the index's.
pub fn subtree_condition<QS: 'static>(
    table: &str,
    path: &str,
) -> Box<dyn BoxableExpression<QS, Pg, SqlType = Bool>> {
    let labels = path.bytes().filter(|&b| b == b'.').count();
    if (1..=INDEXED_HEAD_LABELS).contains(&labels) && path.ends_with('.') {
        Box::new(
            sql::<Bool>(&format!(
                "path_head({table}.organization_path, {labels}) = "
            ))
            .bind::<Text, _>(path.to_owned()),
        )
    } else {
        Box::new(
            sql::<Bool>(&format!("{table}.organization_path LIKE "))
                .bind::<Text, _>(format!("{}%", like_escape(path))),
        )
    }
}

/// A resource's list: its filter, its rows, its page of them, its cells. It is an [`Export`]
/// (file, sheet and columns here; pages by [`export_page`]) without writing one.
pub trait Listed: Send + Sync + 'static {
    /// File name of the export without extension (`pledges`).
    const FILE_NAME: &'static str;
    /// The sheet's name in the workbook.
    const SHEET_NAME: &'static str;
    const COLUMNS: &'static [Column];
    type Filter: Filter;
    type Row: Send;
    /// The JSON page of `GET /<resource>`.
    type JsonPage: Serialize;

    /// `limit + 1` rows after the query's position (the extra one tells a next page exists).
    fn fetch(
        conn: &mut AsyncPgConnection,
        query: &Query<Self::Filter>,
    ) -> impl Future<Output = diesel::QueryResult<Vec<Self::Row>>> + Send;

    /// The position of `row` under sort key `key`.
    fn position(key: &str, row: &Self::Row) -> Position;

    /// The unit whose name the export shows next to the row.
    fn organization(row: &Self::Row) -> Uuid;

    /// The export's cells of `row`, one per column.
    fn cells(row: Self::Row, organization_name: Option<String>) -> Vec<Cell>;

    fn json_page(rows: Vec<Self::Row>, next_cursor: Option<String>) -> Self::JsonPage;
}

impl<L: Listed> Export for L {
    const FILE_NAME: &'static str = L::FILE_NAME;
    const SHEET_NAME: &'static str = L::SHEET_NAME;
    const COLUMNS: &'static [Column] = L::COLUMNS;
    type Query = Query<L::Filter>;

    async fn page(db: &Databases, query: Self::Query) -> AppResult<Page<Self::Query>> {
        export_page::<L>(db, query).await
    }
}

/// Answers `GET /<resource>`: a JSON page, or the whole selection as CSV or XLSX when the
/// `Accept` header asks for it.
pub async fn respond<L: Listed>(
    state: &AppState,
    query: Query<L::Filter>,
    req: &HttpRequest,
) -> AppResult<HttpResponse> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    match export::negotiate(accept) {
        format @ (Format::Csv | Format::Xlsx) => {
            export::respond::<L>(state.db.clone(), &state.exports, query, format).await
        }
        Format::Json => {
            let mut conn = state.db.read().await?;
            let rows = L::fetch(&mut conn, &query).await?;
            let key = query.scope.sort.0;
            let (rows, next_cursor) =
                pagination::paginate(rows, query.scope.limit, |row| L::position(key, row));
            Ok(HttpResponse::Ok().json(L::json_page(rows, next_cursor)))
        }
    }
}

/// One page of the export of `L`: at most [`PAGE`] rows after the query's position, as cells,
/// and the query of the next page.
pub async fn export_page<L: Listed>(
    db: &Databases,
    mut query: Query<L::Filter>,
) -> AppResult<Page<Query<L::Filter>>> {
    let mut conn = db.read().await?;
    query.scope.limit = PAGE;
    let mut rows = L::fetch(&mut conn, &query).await?;
    let page = usize::try_from(PAGE).unwrap_or(usize::MAX);
    let more = rows.len() > page;
    rows.truncate(page);
    let names =
        organization_repo::names_of(&mut conn, rows.iter().map(L::organization).collect()).await?;
    let next = match (more, rows.last()) {
        (true, Some(last)) => {
            query.scope.after = Some(L::position(query.scope.sort.0, last));
            Some(query)
        }
        _ => None,
    };
    let cells = rows
        .into_iter()
        .map(|row| {
            let name = names.get(&L::organization(&row)).cloned();
            L::cells(row, name)
        })
        .collect();
    Ok((cells, next))
}
