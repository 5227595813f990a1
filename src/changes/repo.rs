//! Reads of the outbox `change_events`, and the sequencer and retention that maintain it
//! (functions `r.sequence_changes` and `r.purge_changes` in `src/db/replaceable.sql`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Integer, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::Databases;

/// Events one sequencer call numbers at most (one transaction each).
pub const SEQUENCE_BATCH: i32 = 5_000;
/// Events one page request scans at most, visible to the caller or not: a page costs a bounded
/// index range even for a caller who sees little of the feed (its cursor still advances).
pub const SCAN_LIMIT: i64 = 1_000;
/// How often the service numbers new events, and purges old ones every this many ticks.
pub const SEQUENCE_INTERVAL: Duration = Duration::from_millis(500);
const PURGE_EVERY_TICKS: u32 = 7_200;

#[derive(Debug, Clone, QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub entity_type: String,
    #[diesel(sql_type = Text)]
    pub entity_id: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Nullable<Integer>)]
    pub version: Option<i32>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub path: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub old_path: Option<String>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    pub touched_paths: Option<Vec<String>>,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
}

#[derive(Debug, QueryableByName)]
pub struct FeedState {
    #[diesel(sql_type = BigInt)]
    pub purged_through: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Numbers at most `max_rows` committed events (0 when another sequencer holds the lock).
#[tracing::instrument(skip(conn))]
pub async fn sequence(conn: &mut AsyncPgConnection, max_rows: i32) -> QueryResult<i64> {
    let row: Count = diesel::sql_query("SELECT r.sequence_changes($1) AS count")
        .bind::<Integer, _>(max_rows)
        .get_result(conn)
        .await?;
    Ok(row.count)
}

/// Deletes at most `max_rows` numbered events older than `keep`.
#[tracing::instrument(skip(conn))]
pub async fn purge(
    conn: &mut AsyncPgConnection,
    keep: Duration,
    max_rows: i32,
) -> QueryResult<i64> {
    let keep = diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(keep.as_micros()).unwrap_or(i64::MAX),
    );
    let row: Count = diesel::sql_query("SELECT r.purge_changes($1, $2) AS count")
        .bind::<Interval, _>(keep)
        .bind::<Integer, _>(max_rows)
        .get_result(conn)
        .await?;
    Ok(row.count)
}

/// The numbered events after `after`, in order, at most `scan` of them, of `types` if given.
#[tracing::instrument(skip(conn))]
pub async fn events_after(
    conn: &mut AsyncPgConnection,
    after: i64,
    types: Option<&[String]>,
    scan: i64,
) -> QueryResult<Vec<EventRow>> {
    diesel::sql_query(
        "SELECT seq, entity_type, entity_id, action, version, organization_id, path, old_path, \
         touched_paths, at FROM change_events \
         WHERE seq > $1 AND ($2::text[] IS NULL OR entity_type = ANY ($2)) \
         ORDER BY seq LIMIT $3",
    )
    .bind::<BigInt, _>(after)
    .bind::<Nullable<Array<Text>>, _>(types)
    .bind::<BigInt, _>(scan)
    .load(conn)
    .await
}

/// The highest number purged so far (read after the events: it can only grow).
pub async fn feed_state(conn: &mut AsyncPgConnection) -> QueryResult<FeedState> {
    diesel::sql_query("SELECT purged_through FROM change_feed_state")
        .get_result(conn)
        .await
}

/// Numbers new events every [`SEQUENCE_INTERVAL`] (one instance at a time) and purges those
/// older than `retention` about hourly, in bounded batches that always drain the backlog.
pub async fn sequence_forever(databases: Databases, retention: Duration) {
    let mut ticker = tokio::time::interval(SEQUENCE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u32 = 0;
    loop {
        ticker.tick().await;
        let Ok(mut conn) = databases.write().await else {
            continue;
        };
        loop {
            match sequence(&mut conn, SEQUENCE_BATCH).await {
                Ok(numbered) if numbered >= i64::from(SEQUENCE_BATCH) => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "numbering change events failed; retrying");
                    break;
                }
            }
        }
        ticks = ticks.wrapping_add(1);
        if ticks % PURGE_EVERY_TICKS == 1 {
            loop {
                match purge(&mut conn, retention, 10_000).await {
                    Ok(purged) if purged >= 10_000 => continue,
                    Ok(purged) => {
                        if purged > 0 {
                            tracing::info!(purged, "change events past the retention purged");
                        }
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "purging change events failed");
                        break;
                    }
                }
            }
        }
    }
}
