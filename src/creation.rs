//! The one creation of a resource that is not a workflow (persons, rule sets, registrations,
//! council sessions, award decisions): in one transaction, a stored reply of the same
//! `Idempotency-Key` is replayed, or the resource is created, its audit event recorded and
//! the 201 reply with `Location` stored for the next retry.

use std::future::Future;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::auth::principal::Principal;
use crate::db::Databases;
use crate::error::{AppError, AppResult};
use crate::idempotency::{Idempotency, Reply};

/// What a creation made.
pub struct Created<T> {
    /// The body of the 201.
    pub dto: T,
    /// The audit event's entity and unit.
    pub entity_id: Uuid,
    pub organization_id: Option<Uuid>,
    /// The URL of the new resource.
    pub location: String,
    /// The version its ETag names, for resources that carry one.
    pub version: Option<i32>,
}

/// A creation request: it authorizes, validates and writes, inside the transaction.
pub trait Creation: Sync {
    type Dto: Serialize + Send;
    /// The audit action (`person.create`) and entity type (`person`).
    const ACTION: &'static str;
    const ENTITY: &'static str;
    /// What the audit event keeps of the reply: all of it, unless it holds a secret shown only
    /// once (the audit log is kept forever and read by others).
    fn audit_snapshot(dto: &Self::Dto) -> Option<serde_json::Value> {
        audit::snapshot(dto)
    }
    fn create(
        &self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
    ) -> impl Future<Output = AppResult<Created<Self::Dto>>> + Send;
}

/// Creates `request` once per `Idempotency-Key` (see the module documentation).
pub async fn create_once<C: Creation>(
    db: &Databases,
    principal: &Principal,
    idempotency: Idempotency,
    request: &C,
) -> AppResult<HttpResponse> {
    let mut conn = db.write().await?;
    let reply = conn
        .transaction::<_, AppError, _>(async move |conn| {
            if let Some(stored) = idempotency.replay(conn).await? {
                return Ok(stored);
            }
            let created = request.create(conn, principal).await?;
            let change = Change {
                action: C::ACTION,
                entity_type: C::ENTITY,
                entity_id: created.entity_id,
                organization_id: created.organization_id,
                before: None,
                after: C::audit_snapshot(&created.dto),
            };
            let reply = match created.version {
                Some(version) => Reply::created(created.location, version, &created.dto)?,
                None => Reply {
                    location: Some(created.location),
                    ..Reply::plain(StatusCode::CREATED, &created.dto)?
                },
            };
            idempotency
                .record_audited(conn, principal, change, reply)
                .await
        })
        .await?;
    Ok(reply.into_response())
}
