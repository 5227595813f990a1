//! Queries of pledges and progress reports.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::dto::{PledgeKind, ProgressDto};
use super::model::{PledgeRow, ProgressRow};
use super::state::{PledgeResult, PledgeStatus};
use crate::auth::authorize::Visibility;
use crate::db::schema::{nominations, pledge_progress, pledges};
use crate::nominations::state::NominationStatus;
use crate::organizations::repo::path_in_subtrees;
use crate::pagination::Direction;
use crate::text::like_escape;

/// The status of nomination `id`, if it exists (exemplars are recognized or commended).
pub async fn nomination_status(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<NominationStatus>> {
    nominations::table
        .find(id)
        .select(nominations::status)
        .first(conn)
        .await
        .optional()
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<PledgeRow>> {
    pledges::table
        .find(id)
        .select(PledgeRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<PledgeRow>> {
    pledges::table
        .find(id)
        .select(PledgeRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The documented sort keys.
pub const SORT_KEYS: [&str; 3] = ["created_at", "updated_at", "deadline"];

/// Position of the last row of a page, for the next one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SortPosition {
    CreatedAt(DateTime<Utc>, Uuid),
    UpdatedAt(DateTime<Utc>, Uuid),
    Deadline(NaiveDate, Uuid),
}

impl SortPosition {
    pub fn of(key: &str, row: &PledgeRow) -> Self {
        match key {
            "updated_at" => Self::UpdatedAt(row.updated_at, row.id),
            "deadline" => Self::Deadline(row.deadline, row.id),
            _ => Self::CreatedAt(row.created_at, row.id),
        }
    }

    /// The sort key this position belongs to.
    pub fn key(&self) -> &'static str {
        match self {
            Self::CreatedAt(..) => "created_at",
            Self::UpdatedAt(..) => "updated_at",
            Self::Deadline(..) => "deadline",
        }
    }
}

/// A validated list query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub visibility: Visibility,
    pub campaign_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    /// Path of `organization_id` when the whole subtree is asked for.
    pub subtree_path: Option<String>,
    pub year: Option<i32>,
    pub status: Option<PledgeStatus>,
    pub result: Option<PledgeResult>,
    pub kind: Option<PledgeKind>,
    pub field: Option<String>,
    pub overdue: Option<bool>,
    pub exemplar_id: Option<Uuid>,
    pub q: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    pub sort: (&'static str, Direction),
    pub after: Option<SortPosition>,
    pub limit: i64,
    pub today: NaiveDate,
}

/// One page (`limit + 1` rows, for the cursor) of the pledges `query` selects.
///
/// A deferred join: the page's ids are chosen first from what the path index holds
/// (`organization_path, created_at, id`: a subtree page by creation time never touches the
/// table), then only those rows are read. Selecting whole rows at once would fetch every row
/// of the subtree from the heap before sorting them.
pub async fn list(conn: &mut AsyncPgConnection, query: &ListQuery) -> QueryResult<Vec<PledgeRow>> {
    let mut statement = pledges::table.select(pledges::id).into_boxed();
    if let Visibility::Subtrees(roots) = &query.visibility {
        statement = statement.filter(path_in_subtrees("pledges.organization_path", roots));
    }
    if let Some(path) = &query.subtree_path {
        statement =
            statement.filter(pledges::organization_path.like(format!("{}%", like_escape(path))));
    } else if let Some(organization_id) = query.organization_id {
        statement = statement.filter(pledges::organization_id.eq(organization_id));
    }
    if let Some(campaign_id) = query.campaign_id {
        statement = statement.filter(pledges::campaign_id.eq(campaign_id));
    }
    if let Some(year) = query.year {
        statement = statement.filter(pledges::year.eq(year));
    }
    if let Some(status) = query.status {
        statement = statement.filter(pledges::status.eq(status));
    }
    if let Some(result) = query.result {
        statement = statement.filter(pledges::result.eq(result));
    }
    if let Some(kind) = query.kind {
        statement = statement.filter(pledges::kind.eq(kind));
    }
    if let Some(field) = &query.field {
        statement = statement.filter(pledges::field.eq(field.clone()));
    }
    if let Some(exemplar_id) = query.exemplar_id {
        statement = statement.filter(pledges::exemplar_id.eq(exemplar_id));
    }
    if let Some(overdue) = query.overdue {
        let closed: Vec<PledgeStatus> = PledgeStatus::ALL
            .into_iter()
            .filter(|status| !status.is_open())
            .collect();
        let open = pledges::status.ne_all(closed);
        if overdue {
            statement = statement.filter(pledges::deadline.lt(query.today).and(open));
        } else {
            statement = statement.filter(pledges::deadline.ge(query.today).or(open.eq(false)));
        }
    }
    for word in crate::text::search_words(query.q.as_deref().unwrap_or_default()) {
        statement = statement.filter(
            sql::<Bool>("search_text LIKE '%' || search_fold(")
                .bind::<diesel::sql_types::Text, _>(word)
                .sql(") || '%'"),
        );
    }
    if let Some(since) = query.updated_since {
        statement = statement.filter(pledges::updated_at.gt(since));
    }
    let (key, direction) = query.sort;
    let comparison = if direction == Direction::Asc {
        ">"
    } else {
        "<"
    };
    if let Some(after) = &query.after {
        statement = match after {
            SortPosition::CreatedAt(at, id) => statement.filter(
                sql::<Bool>(&format!("(pledges.created_at, pledges.id) {comparison} ("))
                    .bind::<Timestamptz, _>(*at)
                    .sql(", ")
                    .bind::<SqlUuid, _>(*id)
                    .sql(")"),
            ),
            SortPosition::UpdatedAt(at, id) => statement.filter(
                sql::<Bool>(&format!("(pledges.updated_at, pledges.id) {comparison} ("))
                    .bind::<Timestamptz, _>(*at)
                    .sql(", ")
                    .bind::<SqlUuid, _>(*id)
                    .sql(")"),
            ),
            SortPosition::Deadline(deadline, id) => statement.filter(
                sql::<Bool>(&format!("(pledges.deadline, pledges.id) {comparison} ("))
                    .bind::<Date, _>(*deadline)
                    .sql(", ")
                    .bind::<SqlUuid, _>(*id)
                    .sql(")"),
            ),
        };
    }
    // `key` is one of the sort whitelist's columns.
    let order = sql::<Bool>(&format!(
        "pledges.{key} {direction}, pledges.id {direction}",
        direction = if direction == Direction::Asc {
            "ASC"
        } else {
            "DESC"
        }
    ));
    let page = statement.order(order.clone()).limit(query.limit + 1);
    pledges::table
        .select(PledgeRow::as_select())
        .filter(pledges::id.eq_any(page))
        .order(order)
        .load(conn)
        .await
}

pub async fn progress_of(
    conn: &mut AsyncPgConnection,
    pledge_id: Uuid,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<ProgressDto>> {
    let mut statement = pledge_progress::table
        .filter(pledge_progress::pledge_id.eq(pledge_id))
        .select(ProgressRow::as_select())
        .order((
            pledge_progress::reported_on.desc(),
            pledge_progress::id.desc(),
        ))
        .limit(limit + 1)
        .into_boxed();
    if let Some((reported_on, id)) = after {
        statement = statement.filter(
            sql::<Bool>("(reported_on, id) < (")
                .bind::<Date, _>(reported_on)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    Ok(statement
        .load(conn)
        .await?
        .into_iter()
        .map(ProgressDto::from)
        .collect())
}
