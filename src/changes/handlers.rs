//! HTTP handler of `/changes`.

use actix_web::{HttpResponse, get, web};

use super::dto::{ChangeFilter, ChangePage};
use super::repo::{self, SCAN_LIMIT, SEQUENCE_BATCH};
use super::view::FeedView;
use crate::auth::principal::Principal;
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::pagination;
use crate::state::AppState;

/// Follows every change you may see, in commit order.
///
/// Every create, update, status transition, move and delete of pledges (and their progress
/// reports), nominations (and their reviews), organizations, restructurings, persons, year
/// records, title registrations, rule sets and base salaries, numbered in the order their
/// transactions committed: reading from a cursor never skips or repeats an event, even while
/// others write. Deleted entities, and entities that moved out of your subtree, come as
/// tombstones (`tombstone: true`). Store `cursor` and pass it as `after` on the next sync;
/// `next_cursor` is `null` once you have caught up. A page scans at most 1 000 events, so a
/// page may hold fewer than `limit` items while `next_cursor` is still set. Events are kept
/// for `THIDUA_CHANGES_RETENTION_DAYS` (at least 30 days); an older cursor gets 410
/// `resync_required`: reload the lists and start again without `after`.
#[utoipa::path(
    tag = "sync",
    params(ChangeFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the feed", body = ChangePage),
        (status = 400, description = "Bad cursor, types or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner client without the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cursor is older than the retention: resync", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/changes")]
pub async fn list_changes(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<ChangeFilter>,
) -> AppResult<HttpResponse> {
    let filter = filter.into_inner();
    let limit = usize::try_from(pagination::limit(filter.limit)?).unwrap_or(1);
    let types = filter.types()?;
    let after: Option<i64> = pagination::position(filter.after.as_deref())?;
    if after.is_some_and(|seq| seq < 0) {
        return Err(pagination::foreign_cursor());
    }
    let view = FeedView::of(&principal)?;
    // Number what has committed since the last tick, so a writer's own change shows at once
    // (the background sequencer does the same every half second; one at a time).
    {
        let mut conn = state.db.write().await?;
        repo::sequence(&mut conn, SEQUENCE_BATCH).await?;
    }
    let mut conn = state.db.read().await?;
    let start = match after {
        Some(seq) => seq,
        None => repo::feed_state(&mut conn).await?.purged_through,
    };
    // Read in growing batches (the page's size first, then four times more, up to SCAN_LIMIT
    // in all): a caller who sees most events, an administrator or a partner on its own subtree's
    // busy feed, reads about one page of rows; one who sees few still scans at most SCAN_LIMIT.
    let mut position = start;
    let mut items = Vec::with_capacity(limit);
    let mut full = false;
    let mut scanned = 0_i64;
    let mut caught_up = false;
    let mut batch = i64::try_from(limit).unwrap_or(SCAN_LIMIT).min(SCAN_LIMIT);
    while !full && scanned < SCAN_LIMIT {
        let want = batch.min(SCAN_LIMIT - scanned);
        let rows = repo::events_after(&mut conn, position, types.as_deref(), want).await?;
        let got = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        scanned += got;
        for row in rows {
            let seq = row.seq;
            if let Some(item) = view.item(row) {
                items.push(item);
            }
            position = seq;
            if items.len() == limit {
                full = true;
                break;
            }
        }
        if got < want {
            caught_up = true;
            break;
        }
        batch = batch.saturating_mul(4);
    }
    // Read after the events: a purge that removed any of them is seen here.
    let purged_through = repo::feed_state(&mut conn).await?.purged_through;
    if after.is_some() && start < purged_through {
        return Err(AppError::new(
            actix_web::http::StatusCode::GONE,
            ProblemCode::ResyncRequired,
            "events after this cursor are past the retention; reload the lists and follow \
             /changes again without `after`",
        ));
    }
    let scanned_all = !caught_up && scanned >= SCAN_LIMIT;
    let cursor = pagination::encode_cursor(&position);
    let next_cursor = (full || scanned_all).then(|| cursor.clone());
    Ok(HttpResponse::Ok().json(ChangePage {
        items,
        next_cursor,
        cursor,
    }))
}
