//! Queries of pledges and progress reports.

use chrono::NaiveDate;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::PledgeFilter;
use super::model::{PledgeRow, ProgressRow};
use super::state::PledgeStatus;
use crate::db::schema::{nominations, pledge_progress, pledges};
use crate::listing;
use crate::nominations::state::NominationStatus;

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

crate::db::row_by_id!(pledges, PledgeRow);

/// The documented sort keys.
pub const SORT_KEYS: [&str; 3] = ["created_at", "updated_at", "deadline"];

/// A validated list query.
pub type ListQuery = listing::Query<PledgeFilter>;

listing::scoped_filter!(PledgeFilter, SORT_KEYS);

/// One page (`limit + 1` rows, for the cursor) of the pledges `query` selects.
///
/// A deferred join: the page's ids are chosen first from what the path index holds
/// (`organization_path, created_at, id`: a subtree page by creation time never touches the
/// table), then only those rows are read. Selecting whole rows at once would fetch every row
/// of the subtree from the heap before sorting them.
pub async fn list(conn: &mut AsyncPgConnection, query: &ListQuery) -> QueryResult<Vec<PledgeRow>> {
    let mut statement = pledges::table.select(pledges::id).into_boxed();
    for condition in query.scope.conditions("pledges", "organization_id") {
        statement = statement.filter(condition);
    }
    if let Some(year) = query.filter.year {
        statement = statement.filter(pledges::year.eq(year));
    }
    if let Some(status) = query.filter.status {
        statement = statement.filter(pledges::status.eq(status));
    }
    if let Some(result) = query.filter.result {
        statement = statement.filter(pledges::result.eq(result));
    }
    if let Some(kind) = query.filter.kind {
        statement = statement.filter(pledges::kind.eq(kind));
    }
    if let Some(field) = &query.filter.field {
        statement = statement.filter(pledges::field.eq(field.clone()));
    }
    if let Some(exemplar_id) = query.filter.exemplar_id {
        statement = statement.filter(pledges::exemplar_id.eq(exemplar_id));
    }
    if let Some(overdue) = query.filter.overdue {
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
    for word in crate::text::search_words(query.filter.q.as_deref().unwrap_or_default()) {
        statement = statement.filter(
            sql::<Bool>("search_text LIKE '%' || search_fold(")
                .bind::<diesel::sql_types::Text, _>(word)
                .sql(") || '%'"),
        );
    }
    if let Some(since) = query.filter.updated_since {
        statement = statement.filter(pledges::updated_at.gt(since));
    }
    let order = query.scope.order("pledges");
    let page = statement.order(order.clone()).limit(query.scope.limit + 1);
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
) -> QueryResult<Vec<ProgressRow>> {
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
    statement.load(conn).await
}
