//! The append-only audit log: one event per change, written in the change's transaction, and
//! `GET /api/v1/audit-events` to read it (admins everywhere, managers for their subtree).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation};
use crate::auth::principal::Principal;
use crate::db::schema::audit_events;
use crate::error::{AppResult, REQUEST_CONTEXT};
use crate::organizations::repo::organization_in_subtrees;
use crate::pagination;
use crate::state::AppState;

/// A change about to be recorded.
pub struct Change<'a> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Uuid,
    /// The organization the entity belongs to (for subtree reads of the log).
    pub organization_id: Option<Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditEvent<'a> {
    id: Uuid,
    actor_id: Option<Uuid>,
    actor_kind: &'a str,
    action: &'a str,
    entity_type: &'a str,
    entity_id: Uuid,
    organization_id: Option<Uuid>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
}

/// Records `change` by `actor` (None: the system, e.g. the CLI). Call inside the transaction
/// of the change itself so both commit or neither does.
pub async fn record(
    conn: &AsyncPgConnection,
    actor: Option<&Principal>,
    change: Change<'_>,
) -> QueryResult<()> {
    let request_id = REQUEST_CONTEXT
        .try_with(|context| context.request_id.clone())
        .ok();
    diesel::insert_into(audit_events::table)
        .values(NewAuditEvent {
            id: Uuid::now_v7(),
            actor_id: actor.map(|principal| principal.id),
            actor_kind: actor.map_or("system", Principal::kind_name),
            action: change.action,
            entity_type: change.entity_type,
            entity_id: change.entity_id,
            organization_id: change.organization_id,
            before: change.before,
            after: change.after,
            request_id,
        })
        .execute(&mut &*conn)
        .await?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct AuditEventRow {
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    actor_kind: String,
    action: String,
    entity_type: String,
    entity_id: Uuid,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
}

/// One recorded change.
#[derive(Serialize, ToSchema)]
pub struct AuditEventDto {
    pub id: Uuid,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    /// `user`, `client` or `system`.
    pub actor_kind: String,
    /// e.g. `organization.create`, `pledge.approve`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

/// A page of audit events, oldest first.
#[derive(Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEventDto>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditEventFilter {
    /// e.g. `organization`, `pledge`.
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    /// Only events that occurred strictly after this instant.
    pub after: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Lists audit events.
///
/// Administrators read every event; managers read the events of entities inside their subtree.
#[utoipa::path(
    tag = "administration",
    params(AuditEventFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of audit events", body = AuditEventPage),
        (status = 400, description = "Bad filter value", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor manager", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<AuditEventFilter>,
) -> AppResult<HttpResponse> {
    let visibility = policy::subtrees_allowing(&principal, Operation::ReadAudit)?;
    let limit = pagination::limit(filter.limit)?;
    let after_cursor: Option<(DateTime<Utc>, Uuid)> =
        pagination::position(filter.cursor.as_deref())?;

    let mut query = audit_events::table
        .select(AuditEventRow::as_select())
        .order((audit_events::occurred_at.asc(), audit_events::id.asc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some(entity_type) = &filter.entity_type {
        query = query.filter(audit_events::entity_type.eq(entity_type));
    }
    if let Some(entity_id) = filter.entity_id {
        query = query.filter(audit_events::entity_id.eq(entity_id));
    }
    if let Some(actor_id) = filter.actor_id {
        query = query.filter(audit_events::actor_id.eq(actor_id));
    }
    if let Some(after) = filter.after {
        query = query.filter(audit_events::occurred_at.gt(after));
    }
    if let Some((occurred_at, id)) = after_cursor {
        query = query.filter(
            audit_events::occurred_at
                .gt(occurred_at)
                .or(audit_events::occurred_at
                    .eq(occurred_at)
                    .and(audit_events::id.gt(id))),
        );
    }
    if let Visibility::Subtrees(roots) = visibility {
        query = query.filter(organization_in_subtrees(
            "audit_events.organization_id",
            &roots,
        ));
    }
    let mut conn = state.db.read().await?;
    let rows = query.load(&mut conn).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.occurred_at, row.id));
    let items = rows
        .into_iter()
        .map(|row| AuditEventDto {
            id: row.id,
            occurred_at: row.occurred_at,
            actor_id: row.actor_id,
            actor_kind: row.actor_kind,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            before: row.before,
            after: row.after,
            request_id: row.request_id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditEventPage { items, next_cursor }))
}

/// The JSON snapshot of a resource for `before`/`after` (None if it cannot be serialized).
pub fn snapshot<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}
