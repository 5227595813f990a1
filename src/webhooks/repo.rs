//! Queries of the subscriptions (`webhooks`), their outbox (`webhook_deliveries`) and the
//! attempts (`webhook_attempts`), for the handlers and for the delivery worker.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::data_types::PgInterval;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{WebhookAttemptOutcome, WebhookDeliveryStatus, WebhookStatus};
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhooks};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<Option<String>>,
    pub secret: String,
    pub owner_client_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub version: i32,
    pub status: WebhookStatus,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub feed_cursor: i64,
}

#[derive(Insertable)]
#[diesel(table_name = webhooks)]
pub struct NewWebhook<'a> {
    pub id: Uuid,
    pub url: &'a str,
    pub events: Vec<Option<String>>,
    pub secret: &'a str,
    pub owner_client_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub feed_cursor: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: Uuid,
    pub seq: i64,
    pub event_type: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub webhook_id: Uuid,
    pub seq: i64,
    pub event_type: String,
    pub payload: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub outcome: WebhookAttemptOutcome,
    pub error: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct NewAttempt<'a> {
    pub delivery_id: i64,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub outcome: WebhookAttemptOutcome,
    pub error: Option<&'a str>,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: NewWebhook<'_>) -> QueryResult<WebhookRow> {
    diesel::insert_into(webhooks::table)
        .values(new)
        .returning(WebhookRow::as_returning())
        .get_result(conn)
        .await
}

/// The subscription `id`, of `owner` only when given (a partner client sees its own).
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: Option<Uuid>,
) -> QueryResult<Option<WebhookRow>> {
    let mut query = webhooks::table
        .filter(webhooks::id.eq(id))
        .select(WebhookRow::as_select())
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(webhooks::owner_client_id.eq(owner));
    }
    query.first(conn).await.optional()
}

/// Subscriptions (of `owner` only when given) after the cursor `after`, oldest first (ids are
/// UUIDv7), `limit + 1` of them.
pub async fn list(
    conn: &mut AsyncPgConnection,
    owner: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<WebhookRow>> {
    let mut query = webhooks::table
        .select(WebhookRow::as_select())
        .order(webhooks::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(webhooks::owner_client_id.eq(owner));
    }
    if let Some(after) = after {
        query = query.filter(webhooks::id.gt(after));
    }
    query.load(conn).await
}

/// Deletes a subscription with its outbox and attempts.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::delete(webhooks::table.find(id)).execute(conn).await
}

#[derive(QueryableByName)]
struct LastSeq {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
}

/// The last feed position numbered so far: a new subscription starts after it.
pub async fn last_seq(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    let row: LastSeq = diesel::sql_query("SELECT last_seq FROM change_feed_state")
        .get_result(conn)
        .await?;
    Ok(row.last_seq)
}

/// Deliveries of a subscription, newest event first, before the event `before`, `limit + 1`
/// of them.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    status: Option<WebhookDeliveryStatus>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::seq.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(status));
    }
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::seq.lt(before));
    }
    query.load(conn).await
}

/// The attempts of `deliveries`, oldest first.
pub async fn attempts_of(
    conn: &mut AsyncPgConnection,
    deliveries: &[i64],
) -> QueryResult<Vec<AttemptRow>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(deliveries))
        .select(AttemptRow::as_select())
        .order(webhook_attempts::id)
        .load(conn)
        .await
}

// --- The worker's side -------------------------------------------------------------------

fn interval(duration: Duration) -> PgInterval {
    PgInterval::from_microseconds(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX))
}

/// An active subscription whose outbox is behind the feed, locked for this transaction (the
/// others skip it), with what its owner may see.
#[derive(Debug, QueryableByName)]
pub struct Behind {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    pub events: Vec<Option<String>>,
    #[diesel(sql_type = BigInt)]
    pub feed_cursor: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub owner_client_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Array<Nullable<Text>>>)]
    pub client_scopes: Option<Vec<Option<String>>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub client_revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub client_organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub client_path: Option<String>,
}

/// Locks one active subscription whose cursor is before `through` (call in a transaction).
pub async fn lock_one_behind(
    conn: &mut AsyncPgConnection,
    through: i64,
) -> QueryResult<Option<Behind>> {
    diesel::sql_query(
        "SELECT w.id, w.events, w.feed_cursor, w.owner_client_id, c.scopes AS client_scopes, \
                c.revoked_at AS client_revoked_at, c.organization_id AS client_organization_id, \
                o.path AS client_path \
         FROM webhooks AS w \
         LEFT JOIN clients AS c ON c.id = w.owner_client_id \
         LEFT JOIN organizations AS o ON o.id = c.organization_id \
         WHERE w.status = 'active' AND w.feed_cursor < $1 \
         ORDER BY w.feed_cursor, w.id \
         LIMIT 1 \
         FOR UPDATE OF w SKIP LOCKED",
    )
    .bind::<BigInt, _>(through)
    .get_result(conn)
    .await
    .optional()
}

/// Appends events to the outbox (an event already there is left as it is).
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    deliveries: &[NewDelivery],
) -> QueryResult<usize> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    diesel::insert_into(webhook_deliveries::table)
        .values(deliveries)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

pub async fn set_feed_cursor(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    cursor: i64,
) -> QueryResult<usize> {
    diesel::update(webhooks::table.find(id))
        .set(webhooks::feed_cursor.eq(cursor))
        .execute(conn)
        .await
}

/// Stops delivering to a subscription; the number of rows changed (0: already disabled).
pub async fn disable(conn: &mut AsyncPgConnection, id: Uuid, reason: &str) -> QueryResult<usize> {
    diesel::update(
        webhooks::table
            .find(id)
            .filter(webhooks::status.eq(WebhookStatus::Active)),
    )
    .set((
        webhooks::status.eq(WebhookStatus::Disabled),
        webhooks::disabled_at.eq(diesel::dsl::now),
        webhooks::disabled_reason.eq(reason),
        webhooks::version.eq(webhooks::version + 1),
        webhooks::lease_token.eq(None::<Uuid>),
    ))
    .execute(conn)
    .await
}

/// A subscription claimed for delivery.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
}

/// Takes the lease of one active subscription whose oldest pending event is due and whose
/// lease is free or expired (a worker that died), for `lease`, under `token`: one worker per
/// subscription across instances, so its events go out one at a time, in order. The
/// subscription served longest ago first.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    token: Uuid,
    lease: Duration,
) -> QueryResult<Option<Claimed>> {
    diesel::sql_query(
        "UPDATE webhooks AS w SET lease_token = $1, lease_until = now() + $2 \
         WHERE w.id = ( \
             SELECT c.id FROM webhooks AS c \
             WHERE c.status = 'active' \
               AND (c.lease_token IS NULL OR c.lease_until < now()) \
               AND (SELECT d.next_attempt_at FROM webhook_deliveries AS d \
                    WHERE d.webhook_id = c.id AND d.status = 'pending' \
                    ORDER BY d.seq LIMIT 1) <= now() \
             ORDER BY c.lease_until NULLS FIRST, c.id \
             LIMIT 1 \
             FOR UPDATE SKIP LOCKED) \
         RETURNING w.id, w.url, w.secret",
    )
    .bind::<SqlUuid, _>(token)
    .bind::<Interval, _>(interval(lease))
    .get_result(conn)
    .await
    .optional()
}

/// Extends a held lease; false when it was lost (expired and taken, or the subscription was
/// disabled or deleted).
pub async fn renew(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    token: Uuid,
    lease: Duration,
) -> QueryResult<bool> {
    let renewed = diesel::sql_query(
        "UPDATE webhooks SET lease_until = now() + $3 \
         WHERE id = $1 AND lease_token = $2 AND status = 'active'",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(token)
    .bind::<Interval, _>(interval(lease))
    .execute(conn)
    .await?;
    Ok(renewed == 1)
}

/// Gives a lease back (keeping when, for the fairness of [`claim`]).
pub async fn release(conn: &mut AsyncPgConnection, id: Uuid, token: Uuid) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE webhooks SET lease_token = NULL, lease_until = now() \
         WHERE id = $1 AND lease_token = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(token)
    .execute(conn)
    .await
}

/// The oldest pending event of a subscription, if it is due.
#[derive(Debug, Clone, QueryableByName)]
pub struct Head {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub payload: String,
    /// Attempts made so far.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
}

pub async fn due_head(conn: &mut AsyncPgConnection, webhook_id: Uuid) -> QueryResult<Option<Head>> {
    diesel::sql_query(
        "SELECT h.id, h.seq, h.payload, h.attempts FROM ( \
             SELECT d.id, d.seq, d.payload, d.attempts, d.next_attempt_at FROM webhook_deliveries AS d \
             WHERE d.webhook_id = $1 AND d.status = 'pending' ORDER BY d.seq LIMIT 1) AS h \
         WHERE h.next_attempt_at <= now()",
    )
    .bind::<SqlUuid, _>(webhook_id)
    .get_result(conn)
    .await
    .optional()
}

pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    attempt: NewAttempt<'_>,
) -> QueryResult<usize> {
    diesel::insert_into(webhook_attempts::table)
        .values(attempt)
        .execute(conn)
        .await
}

/// When the first attempt of a delivery was made.
pub async fn first_attempt_at(
    conn: &mut AsyncPgConnection,
    delivery_id: i64,
) -> QueryResult<Option<DateTime<Utc>>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq(delivery_id))
        .select(diesel::dsl::min(webhook_attempts::attempted_at))
        .first(conn)
        .await
}

/// Marks a pending delivery delivered (once, whoever sent it).
pub async fn mark_delivered(conn: &mut AsyncPgConnection, delivery_id: i64) -> QueryResult<usize> {
    diesel::update(
        webhook_deliveries::table
            .find(delivery_id)
            .filter(webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending)),
    )
    .set((
        webhook_deliveries::status.eq(WebhookDeliveryStatus::Delivered),
        webhook_deliveries::delivered_at.eq(diesel::dsl::now),
        webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
    ))
    .execute(conn)
    .await
}

/// Counts a failed attempt of a pending delivery and schedules the next one; the attempts
/// made so far (None when it was no longer pending).
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    delivery_id: i64,
    next_attempt_at: DateTime<Utc>,
) -> QueryResult<Option<i32>> {
    diesel::update(
        webhook_deliveries::table
            .find(delivery_id)
            .filter(webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending)),
    )
    .set((
        webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
        webhook_deliveries::next_attempt_at.eq(next_attempt_at),
    ))
    .returning(webhook_deliveries::attempts)
    .get_result(conn)
    .await
    .optional()
}

/// Gives up a delivery (its subscription is disabled with it).
pub async fn mark_given_up(conn: &mut AsyncPgConnection, delivery_id: i64) -> QueryResult<usize> {
    diesel::update(webhook_deliveries::table.find(delivery_id))
        .set(webhook_deliveries::status.eq(WebhookDeliveryStatus::Failed))
        .execute(conn)
        .await
}

/// Deletes at most `max_rows` finished deliveries (delivered or given up) older than `keep`,
/// with their attempts; the number deleted.
pub async fn purge_finished(
    conn: &mut AsyncPgConnection,
    keep: Duration,
    max_rows: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM webhook_deliveries WHERE id = ANY (ARRAY( \
             SELECT d.id FROM webhook_deliveries AS d \
             WHERE d.status <> 'pending' AND d.created_at < now() - $1 \
             ORDER BY d.created_at LIMIT $2))",
    )
    .bind::<Interval, _>(interval(keep))
    .bind::<BigInt, _>(max_rows)
    .execute(conn)
    .await
}
