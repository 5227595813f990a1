//! HTTP handler of `/changes`.

use actix_web::{HttpResponse, get, web};

use super::dto::{ChangeDto, ChangeFilter, ChangePage};
use super::repo::{self, EventRow, SCAN_LIMIT, SEQUENCE_BATCH};
use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation};
use crate::auth::principal::Principal;
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::pagination;
use crate::state::AppState;

/// What the caller may see of the feed: the entities of its subtrees (like the lists), and the
/// restructurings touching the subtrees whose audit log it may read.
struct FeedView {
    entities: Visibility,
    restructurings: Option<Visibility>,
}

impl FeedView {
    /// The item `row` is for this caller, or `None` when it must not see it.
    fn item(&self, row: EventRow) -> Option<ChangeDto> {
        let (visible, tombstone) = if row.entity_type == "restructuring" {
            let touched = row.touched_paths.as_deref().unwrap_or_default();
            let visible = self
                .restructurings
                .as_ref()
                .is_some_and(|view| touched.iter().any(|path| view.includes(path)));
            (visible, false)
        } else {
            match row.path.as_deref() {
                // Reference data (rule sets, base salaries): every caller reads it.
                None => (true, row.action == "deleted"),
                Some(path) if self.entities.includes(path) => (true, row.action == "deleted"),
                // Left the caller's view: a tombstone for who saw it where it was.
                Some(_) => {
                    let saw = row
                        .old_path
                        .as_deref()
                        .is_some_and(|old| self.entities.includes(old));
                    (saw, true)
                }
            }
        };
        if !visible {
            return None;
        }
        let left_view = tombstone && row.action != "deleted";
        Some(ChangeDto {
            seq: row.seq,
            entity_type: row.entity_type,
            id: row.entity_id,
            action: row.action,
            version: row.version,
            // The unit it went to is none of the caller's business.
            organization_id: if left_view { None } else { row.organization_id },
            at: row.at,
            tombstone,
        })
    }
}

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
    let after: Option<i64> = filter
        .after
        .as_deref()
        .map(pagination::decode_cursor)
        .transpose()?;
    if after.is_some_and(|seq| seq < 0) {
        return Err(AppError::bad_request(
            ProblemCode::InvalidQuery,
            "cursor is not one this service issued",
        ));
    }
    let view = FeedView {
        entities: policy::subtrees_allowing(&principal, Operation::Read)?,
        restructurings: policy::subtrees_allowing(&principal, Operation::ReadAudit).ok(),
    };
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
    let rows = repo::events_after(&mut conn, start, types.as_deref(), SCAN_LIMIT).await?;
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
    let scanned_all = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= SCAN_LIMIT;
    let mut position = start;
    let mut items = Vec::with_capacity(limit);
    let mut full = false;
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
    let cursor = pagination::encode_cursor(&position);
    let next_cursor = (full || scanned_all).then(|| cursor.clone());
    Ok(HttpResponse::Ok().json(ChangePage {
        items,
        next_cursor,
        cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        entity_type: &str,
        action: &str,
        path: Option<&str>,
        old_path: Option<&str>,
    ) -> EventRow {
        EventRow {
            seq: 1,
            entity_type: entity_type.to_owned(),
            entity_id: "e".to_owned(),
            action: action.to_owned(),
            version: Some(1),
            organization_id: Some(uuid::Uuid::nil()),
            path: path.map(str::to_owned),
            old_path: old_path.map(str::to_owned),
            touched_paths: (entity_type == "restructuring").then(|| vec!["1.2.".to_owned()]),
            at: chrono::Utc::now(),
        }
    }

    /// (caller's view) × (event) → None (not shown), Some(false) item, Some(true) tombstone.
    #[test]
    fn each_event_is_an_item_a_tombstone_or_nothing_for_each_caller() {
        let district = FeedView {
            entities: Visibility::Subtrees(vec!["1.2.".into()]),
            restructurings: None,
        };
        let admin = FeedView {
            entities: Visibility::Everything,
            restructurings: Some(Visibility::Everything),
        };
        let cases = [
            (
                event("pledge", "created", Some("1.2.3."), None),
                Some(false),
                Some(false),
            ),
            (
                event("pledge", "created", Some("1.23."), None),
                None,
                Some(false),
            ),
            (
                event("pledge", "deleted", Some("1.2.3."), None),
                Some(true),
                Some(true),
            ),
            (
                event("pledge", "moved", Some("1.4."), Some("1.2.3.")),
                Some(true),
                Some(false),
            ),
            (
                event("pledge", "moved", Some("1.2.5."), Some("1.4.")),
                Some(false),
                Some(false),
            ),
            (
                event("pledge", "moved", Some("1.4."), Some("1.5.")),
                None,
                Some(false),
            ),
            (
                event("rule_set", "created", None, None),
                Some(false),
                Some(false),
            ),
            (
                event("restructuring", "created", None, None),
                None,
                Some(false),
            ),
        ];
        for (row, for_district, for_admin) in cases {
            let label = format!(
                "{} {} {:?} {:?}",
                row.entity_type, row.action, row.path, row.old_path
            );
            let shown = |view: &FeedView, row: EventRow| view.item(row).map(|item| item.tombstone);
            assert_eq!(
                shown(&district, row.clone()),
                for_district,
                "district: {label}"
            );
            assert_eq!(shown(&admin, row), for_admin, "admin: {label}");
        }
        // A tombstone of an entity that left the view does not say where it went.
        let gone = district
            .item(event("pledge", "moved", Some("1.4."), Some("1.2.3.")))
            .unwrap();
        assert_eq!(gone.organization_id, None);
    }
}
