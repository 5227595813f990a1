//! HTTP handlers of `/webhooks`: administrators manage every subscription, a partner client
//! (with scope `read`) its own; anyone else is refused by the policy
//! (`Operation::ManageWebhooks`).

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::dto::{
    CreateWebhook, CreatedWebhookDto, WebhookAttemptDto, WebhookDeliveryDto, WebhookDeliveryFilter,
    WebhookDeliveryPage, WebhookDeliveryStatus, WebhookDto, WebhookFilter, WebhookPage, message_id,
};
use super::repo::{self, NewWebhook, WebhookRow};
use super::signature;
use crate::audit::{self, Change};
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::changes::dto::CHANGE_TYPES;
use crate::conditional::{self, IfMatch};
use crate::creation::{self, Created, Creation};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::extract::Body;
use crate::idempotency::{Idempotency, IdempotencyKey};
use crate::pagination;
use crate::state::AppState;

fn location(id: Uuid) -> String {
    format!("/api/v1/webhooks/{id}")
}

/// The subscriptions `principal` manages: `None` for every one (administrators), else the
/// partner client's own. Refused for everyone else.
fn owner_scope(principal: &Principal) -> AppResult<Option<Uuid>> {
    policy::require(principal, Operation::ManageWebhooks, Target::default())?;
    Ok(principal.is_client().then_some(principal.id))
}

impl From<WebhookRow> for WebhookDto {
    fn from(row: WebhookRow) -> Self {
        Self {
            id: row.id,
            url: row.url,
            events: row.events.into_iter().flatten().collect(),
            status: row.status,
            disabled_at: row.disabled_at,
            disabled_reason: row.disabled_reason,
            owner_client_id: row.owner_client_id,
            created_by: row.created_by,
            created_at: row.created_at,
            feed_position: row.feed_cursor,
        }
    }
}

fn target_refused(detail: String) -> AppError {
    AppError::webhook_target_refused("/url", detail)
}

/// The events of a request: feed types, each once.
fn checked_events(events: &[String]) -> AppResult<Vec<String>> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    if events.is_empty() {
        errors.push(FieldError::new("/events", "name at least one entity type"));
    }
    for (index, event) in events.iter().enumerate() {
        if !CHANGE_TYPES.contains(&event.as_str()) {
            errors.push(FieldError::new(
                format!("/events/{index}"),
                format!("must be one of {}", CHANGE_TYPES.join(", ")),
            ));
        } else if !seen.insert(event.as_str()) {
            errors.push(FieldError::new(format!("/events/{index}"), "named twice"));
        }
    }
    if errors.is_empty() {
        Ok(events.to_vec())
    } else {
        Err(AppError::validation(errors))
    }
}

/// Subscribes to events of the change feed.
///
/// Administrators, and partner clients with scope `read` (for themselves: a client's
/// subscription delivers what it may read, an administrators' every event). From the next event
/// of the feed on, every event of the named `events` types is POSTed to `url`, in `seq` order,
/// signed as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with
/// the `secret` of this response, which is shown only here. Failed attempts are retried with
/// exponential backoff; an event that still fails after `THIDUA_WEBHOOK_RETRY_FOR_SECONDS`
/// (more than a day) disables the subscription. `url` must be http(s) on a host the operator
/// listed in `THIDUA_WEBHOOK_ALLOWED_HOSTS`, and must not resolve to a loopback, private or
/// link-local address the operator did not list: else 422 `webhook_target_refused`.
/// `Idempotency-Key` is honoured.
#[utoipa::path(
    tag = "sync",
    request_body = CreateWebhook,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Subscribed; the only response that shows the secret", body = CreatedWebhookDto,
            headers(("Location" = String, description = "URL of the subscription"), ("ETag" = String, description = "Entity tag")),
            links(
                ("GetWebhook" = (operation_id = "get_webhook", parameters(("path.id" = "$response.body#/id")))),
                ("ListWebhookDeliveries" = (operation_id = "list_deliveries", parameters(("path.id" = "$response.body#/id")))),
                ("DeleteWebhook" = (operation_id = "delete_webhook", parameters(("path.id" = "$response.body#/id")))),
            )),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an administrator nor a partner client with the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same Idempotency-Key is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid members (`validation_failed`), a target that is not allowed (`webhook_target_refused`), or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    key: IdempotencyKey,
    body: Body<CreateWebhook>,
) -> AppResult<HttpResponse> {
    owner_scope(&principal)?;
    let (request, digest) = body.into_parts();
    let events = checked_events(&request.events)?;
    let settings = &state.settings.webhooks;
    let url = settings
        .allowed
        .check_url(request.url.trim())
        .map_err(|refused| target_refused(refused.0))?;
    // Checked now so that a mistake is told at once; checked again at every attempt.
    match tokio::time::timeout(settings.timeout, settings.allowed.resolve(&url)).await {
        Ok(Ok(_)) => {}
        Ok(Err(refused)) => return Err(target_refused(refused.0)),
        Err(_) => {
            return Err(target_refused(format!(
                "{} did not resolve within {} ms",
                url.host_str().unwrap_or_default(),
                settings.timeout.as_millis()
            )));
        }
    }
    let idempotency = Idempotency::new(&principal, key, digest);
    let subscription = Subscription {
        url: url.to_string(),
        events,
    };
    creation::create_once(&state.db, &principal, idempotency, &subscription).await
}

/// A checked subscription request.
struct Subscription {
    url: String,
    events: Vec<String>,
}

impl Creation for Subscription {
    type Dto = CreatedWebhookDto;
    const ACTION: &'static str = "webhook.create";
    const ENTITY: &'static str = "webhook";

    /// The secret stays out of the audit log.
    fn audit_snapshot(dto: &CreatedWebhookDto) -> Option<serde_json::Value> {
        audit::snapshot(&dto.webhook)
    }

    async fn create(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        principal: &Principal,
    ) -> AppResult<Created<CreatedWebhookDto>> {
        let secret = signature::new_secret();
        // Starts after the last event numbered: what happens from now on.
        let feed_cursor = repo::last_seq(conn).await?;
        let row = repo::insert(
            conn,
            NewWebhook {
                id: Uuid::now_v7(),
                url: &self.url,
                events: self.events.iter().cloned().map(Some).collect(),
                secret: &secret,
                owner_client_id: principal.is_client().then_some(principal.id),
                created_by: Some(principal.id),
                feed_cursor,
            },
        )
        .await?;
        let organization_id = if principal.is_client() {
            principal
                .home_organization()
                .map(|grant| grant.organization_id)
        } else {
            None
        };
        let version = row.version;
        let dto = CreatedWebhookDto {
            webhook: WebhookDto::from(row),
            secret,
        };
        Ok(Created {
            entity_id: dto.webhook.id,
            organization_id,
            location: location(dto.webhook.id),
            version: Some(version),
            dto,
        })
    }
}

/// Lists the subscriptions you manage, oldest first.
///
/// Administrators see every subscription (their own and the partner clients'); a partner
/// client sees its own. Secrets are never shown again.
#[utoipa::path(
    tag = "sync",
    params(WebhookFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of subscriptions", body = WebhookPage),
        (status = 400, description = "Bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an administrator nor a partner client with the scope `read`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<WebhookFilter>,
) -> AppResult<HttpResponse> {
    let owner = owner_scope(&principal)?;
    let filter = filter.into_inner();
    let limit = pagination::limit(filter.limit)?;
    let after: Option<Uuid> = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read().await?;
    let rows = repo::list(&mut conn, owner, after, limit).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| row.id);
    Ok(HttpResponse::Ok().json(WebhookPage {
        items: rows.into_iter().map(WebhookDto::from).collect(),
        next_cursor,
    }))
}

/// Reads one subscription (never its secret).
///
/// `status` tells whether events are delivered; a disabled subscription says when and why.
#[utoipa::path(
    tag = "sync",
    params(("id" = Uuid, Path, description = "Subscription id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription", body = WebhookDto,
            headers(("ETag" = String, description = "Strong entity tag of this state"))),
        (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an administrator nor a partner client with the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription among yours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let owner = owner_scope(&principal)?;
    let mut conn = state.db.read_own_writes().await?;
    let row = repo::find(&mut conn, *id, owner)
        .await?
        .ok_or_else(AppError::not_found)?;
    let version = row.version;
    Ok(conditional::respond(&req, version, &WebhookDto::from(row)))
}

/// Deletes a subscription, with its pending deliveries and their history.
///
/// Nothing more is sent to it (an attempt already on its way may still arrive).
#[utoipa::path(
    tag = "sync",
    params(
        ("id" = Uuid, Path, description = "Subscription id"),
        ("If-Match" = Option<String>, Header, description = "ETag the deletion is based on"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an administrator nor a partner client with the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription among yours", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let owner = owner_scope(&principal)?;
    let id = id.into_inner();
    let mut conn = state.db.write().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let row = repo::find(conn, id, owner)
            .await?
            .ok_or_else(AppError::not_found)?;
        if_match.check(row.version)?;
        repo::delete(conn, id).await?;
        let organization_id = if principal.is_client() {
            principal
                .home_organization()
                .map(|grant| grant.organization_id)
        } else {
            None
        };
        audit::record(
            conn,
            Some(&principal),
            Change {
                action: "webhook.delete",
                entity_type: "webhook",
                entity_id: id,
                organization_id,
                before: audit::snapshot(&WebhookDto::from(row)),
                after: None,
            },
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lists the deliveries of a subscription, newest event first, each with every attempt.
///
/// One delivery per event: `pending` (waiting for its turn, or for `next_attempt_at` after a
/// failed attempt), `delivered`, or `failed` (given up; the subscription was disabled). Each
/// attempt says when, how long, the receiver's status code, and what went wrong; the
/// receiver's body is never kept.
#[utoipa::path(
    tag = "sync",
    params(("id" = Uuid, Path, description = "Subscription id"), WebhookDeliveryFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveryPage),
        (status = 400, description = "Bad status, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an administrator nor a partner client with the scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription among yours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    filter: web::Query<WebhookDeliveryFilter>,
) -> AppResult<HttpResponse> {
    let owner = owner_scope(&principal)?;
    let filter = filter.into_inner();
    let limit = pagination::limit(filter.limit)?;
    let before: Option<i64> = pagination::position(filter.cursor.as_deref())?;
    let mut conn = state.db.read_own_writes().await?;
    repo::find(&mut conn, *id, owner)
        .await?
        .ok_or_else(AppError::not_found)?;
    let rows = repo::deliveries(&mut conn, *id, filter.status, before, limit).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| row.seq);
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut attempts: HashMap<i64, Vec<WebhookAttemptDto>> = HashMap::new();
    for attempt in repo::attempts_of(&mut conn, &ids).await? {
        attempts
            .entry(attempt.delivery_id)
            .or_default()
            .push(WebhookAttemptDto {
                attempted_at: attempt.attempted_at,
                outcome: attempt.outcome,
                status_code: attempt.status_code,
                error: attempt.error,
                duration_ms: attempt.duration_ms,
            });
    }
    let items = rows
        .into_iter()
        .map(|row| WebhookDeliveryDto {
            seq: row.seq,
            message_id: message_id(row.seq),
            event_type: row.event_type,
            status: row.status,
            created_at: row.created_at,
            next_attempt_at: (row.status == WebhookDeliveryStatus::Pending)
                .then_some(row.next_attempt_at),
            delivered_at: row.delivered_at,
            attempts: attempts.remove(&row.id).unwrap_or_default(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(WebhookDeliveryPage { items, next_cursor }))
}
