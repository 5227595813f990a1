//! Wire types of `/webhooks` (docs/api.md § Webhooks).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Array, ArrayBuilder};
use utoipa::openapi::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::changes::dto::{CHANGE_TYPES, ChangeDto};

crate::text_enum! {
    /// `active`: events are delivered; `disabled`: delivery stopped after an event failed for
    /// `THIDUA_WEBHOOK_RETRY_FOR_SECONDS` (or its partner client was deleted).
    pub enum WebhookStatus {
        Active = "active",
        Disabled = "disabled",
    }
}

crate::text_enum! {
    /// `pending`: waiting for its turn or its next attempt; `delivered`: a receiver answered
    /// 2xx; `failed`: given up (the subscription was disabled).
    pub enum WebhookDeliveryStatus {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
}

crate::text_enum! {
    /// `delivered`: answered 2xx; `failed`: another status, a redirect (never followed), a
    /// timeout or a connection error; `refused`: the target was not allowed when sent
    /// (`THIDUA_WEBHOOK_ALLOWED_HOSTS`, or a non-public address), nothing was sent.
    pub enum WebhookAttemptOutcome {
        Delivered = "delivered",
        Failed = "failed",
        Refused = "refused",
    }
}

/// The schema of `events`: feed types, each at most once.
pub fn event_types_schema() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(CHANGE_TYPES.iter().copied())),
        )
        .min_items(Some(1))
        .max_items(Some(CHANGE_TYPES.len()))
        .unique_items(true)
        .description(Some(
            "Entity types of the change feed (`GET /changes`) to deliver, each at most once",
        ))
        .build()
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: an http(s) URL whose host is in the operator's
    /// `THIDUA_WEBHOOK_ALLOWED_HOSTS` and does not resolve to a loopback, private or
    /// link-local address (unless the operator listed that address).
    #[schema(
        min_length = 1,
        max_length = 2000,
        example = "https://hooks.example.vn/thidua"
    )]
    pub url: String,
    #[schema(schema_with = event_types_schema)]
    pub events: Vec<String>,
}

/// A subscription (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookDto {
    pub id: Uuid,
    pub url: String,
    /// Entity types of the change feed delivered.
    pub events: Vec<String>,
    pub status: WebhookStatus,
    /// When and why delivery stopped (`status: disabled`).
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// The partner client it belongs to; `null`: the administrators' (it receives every
    /// event).
    pub owner_client_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    /// The feed position up to which events were taken into its outbox (events after it are
    /// still to come); with `GET /changes?after=` a subscriber can catch up on its own.
    pub feed_position: i64,
}

/// A new subscription with its signing secret: shown in this response only, never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhookDto {
    #[serde(flatten)]
    pub webhook: WebhookDto,
    /// `whsec_` and base64 of 32 random bytes: the key of the Standard Webhooks signature
    /// (`webhook-signature`); store it now.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=")]
    pub secret: String,
}

/// A page of subscriptions, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookPage {
    pub items: Vec<WebhookDto>,
    pub next_cursor: Option<String>,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookAttemptDto {
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub attempted_at: DateTime<Utc>,
    pub outcome: WebhookAttemptOutcome,
    /// The receiver's HTTP status, when it answered (its body is never kept).
    pub status_code: Option<i32>,
    /// What went wrong (timeout, connection, redirect not followed, refused target).
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// One event for one subscription, with every attempt to deliver it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveryDto {
    /// The event's position in the change feed; also the `webhook-id`, `msg_<seq>`.
    pub seq: i64,
    pub message_id: String,
    /// The entity type of the event.
    pub event_type: String,
    pub status: WebhookDeliveryStatus,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due (`pending` only).
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::json_dates::timestamp_opt")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookAttemptDto>,
}

/// A page of deliveries, newest event first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDeliveryDto>,
    pub next_cursor: Option<String>,
}

/// Filters of `GET /webhooks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookFilter {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Filters of `GET /webhooks/{id}/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookDeliveryFilter {
    /// Only deliveries in this state.
    pub status: Option<WebhookDeliveryStatus>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// What a receiver gets: the body of each delivery (Standard Webhooks: `type`, `timestamp`,
/// `data`). `data` is the change feed's item, as `GET /changes` shows it to the subscription's
/// owner.
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// `{entity type}.{action}`, e.g. `pledge.transitioned`.
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub timestamp: DateTime<Utc>,
    pub data: ChangeDto,
}

/// The `webhook-id` of the event at `seq`: the same for every attempt and subscription.
pub fn message_id(seq: i64) -> String {
    format!("msg_{seq}")
}
