//! `Idempotency-Key` on POST (IETF draft, Stripe's design): the key is claimed inside the very
//! transaction of the write, together with the response it produced. A retry with the same key
//! and body replays that response (status, body, `Location`, `ETag`); the same key with another
//! body is a 422; a concurrent duplicate waits for the first to commit and then replays it (or
//! gets 409 if the first takes too long). A request that fails rolls back and stores nothing.
//! Keys are scoped per principal and kept at least 7 days. A malformed key (empty, too long,
//! not visible ASCII) is refused with 400 on every route by [`refuse_malformed_keys`], also
//! where a route does not replay, so that a client never believes a key protects it in vain.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::auth::principal::Principal;
use crate::conditional::etag;
use crate::db::schema::idempotency_keys;
use crate::error::{AppError, AppResult, ProblemCode};

pub const HEADER: &str = "idempotency-key";
/// Keys older than this are forgotten (the contract promises at least 7 days).
pub const RETENTION_DAYS: i64 = 8;

/// The `Idempotency-Key` of a request, if it sent one, with the digest of what it asked.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(Option<String>);

impl IdempotencyKey {
    pub fn new(key: Option<String>) -> Self {
        Self(key)
    }
}

impl FromRequest for IdempotencyKey {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(parse_header(req).map(IdempotencyKey))
    }
}

fn parse_header(req: &HttpRequest) -> Result<Option<String>, AppError> {
    key_of(req.headers())
}

/// The key of `headers`; a present but malformed one (empty included) is a 400 naming it.
fn key_of(headers: &header::HeaderMap) -> Result<Option<String>, AppError> {
    let mut values = headers.get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed_key(
            "send one Idempotency-Key header, not several",
        ));
    }
    let valid = value
        .to_str()
        .ok()
        .filter(|key| (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()));
    match valid {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(malformed_key(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

fn malformed_key(detail: &str) -> AppError {
    AppError::bad_request(ProblemCode::InvalidHeader, detail)
        .with_extra("header", "Idempotency-Key")
}

/// Middleware: a request with a malformed `Idempotency-Key` is refused with 400 on any route.
pub async fn refuse_malformed_keys<B: actix_web::body::MessageBody + 'static>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    use actix_web::ResponseError;
    match key_of(req.headers()) {
        Err(problem) => Ok(req
            .into_response(problem.error_response())
            .map_into_right_body()),
        Ok(_) => next
            .call(req)
            .await
            .map(actix_web::dev::ServiceResponse::map_into_left_body),
    }
}

/// What a write answers; stored verbatim for replays.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub body: String,
    /// True when this reply comes from an earlier request with the same key.
    pub replayed: bool,
}

impl Reply {
    /// 201 with `Location` and the ETag of `version`.
    pub fn created<T: Serialize>(location: String, version: i32, body: &T) -> AppResult<Self> {
        Ok(Self {
            status: StatusCode::CREATED,
            location: Some(location),
            etag: Some(etag(version)),
            body: serde_json::to_string(body).map_err(AppError::internal)?,
            replayed: false,
        })
    }

    /// 200 with the ETag of `version` (transitions and other writes returning the resource).
    pub fn ok<T: Serialize>(version: i32, body: &T) -> AppResult<Self> {
        Ok(Self {
            status: StatusCode::OK,
            location: None,
            etag: Some(etag(version)),
            body: serde_json::to_string(body).map_err(AppError::internal)?,
            replayed: false,
        })
    }

    /// 200 without an ETag (e.g. an action that returns a non-versioned value).
    pub fn plain<T: Serialize>(status: StatusCode, body: &T) -> AppResult<Self> {
        Ok(Self {
            status,
            location: None,
            etag: None,
            body: serde_json::to_string(body).map_err(AppError::internal)?,
            replayed: false,
        })
    }

    pub fn into_response(self) -> HttpResponse {
        let replayed = self.replayed;
        let mut response = HttpResponse::build(self.status);
        response.content_type("application/json");
        if let Some(location) = self.location {
            response.insert_header((header::LOCATION, location));
        }
        if let Some(etag) = self.etag {
            response.insert_header((header::ETAG, etag));
        }
        if replayed {
            response.insert_header(("Idempotent-Replayed", "true"));
        }
        response.body(self.body)
    }
}

#[derive(Queryable)]
struct StoredKey {
    request_digest: Vec<u8>,
    status: Option<i16>,
    location: Option<String>,
    etag: Option<String>,
    body: Option<String>,
}

/// The idempotency context of one write: who, which key, what was asked.
///
/// Inside the write's transaction call [`Idempotency::replay`] first (it claims the key, or
/// returns the stored reply of an earlier request), then [`Idempotency::record`] with the reply.
#[derive(Debug, Clone)]
pub struct Idempotency {
    principal_id: Uuid,
    key: Option<String>,
    digest: Vec<u8>,
}

impl Idempotency {
    /// `digest` identifies the request (see `extract::request_digest`).
    pub fn new(principal: &Principal, key: IdempotencyKey, digest: Vec<u8>) -> Self {
        Self {
            principal_id: principal.id,
            key: key.0,
            digest,
        }
    }

    /// Claims the key, or returns the reply stored by an earlier request with it.
    pub async fn replay(&self, conn: &mut AsyncPgConnection) -> AppResult<Option<Reply>> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        claim(conn, self.principal_id, key, &self.digest)
            .await
            .map_err(lock_timeout_is_in_use)
    }

    /// Stores `reply` under the claimed key (same transaction) and hands it back.
    pub async fn record(&self, conn: &AsyncPgConnection, reply: Reply) -> AppResult<Reply> {
        if let Some(key) = &self.key {
            store(conn, self.principal_id, key, &reply).await?;
        }
        Ok(reply)
    }

    /// Ends a write: records `change` in the audit log and stores `reply` under the key, both
    /// statements sent before either answer comes back (diesel-async pipelines futures polled
    /// together on one connection): one round trip instead of two, as neither depends on the
    /// other. Answers `reply`; the first error wins (the second statement then fails on the
    /// aborted transaction, which rolls back).
    pub async fn record_audited(
        &self,
        conn: &AsyncPgConnection,
        actor: &Principal,
        change: Change<'_>,
        reply: Reply,
    ) -> AppResult<Reply> {
        let (audited, stored) = futures_util::future::join(
            audit::record(conn, Some(actor), change),
            self.record(conn, reply),
        )
        .await;
        audited?;
        stored
    }
}

/// Claims `key`; returns the stored reply when an earlier request already completed with it.
async fn claim(
    conn: &mut AsyncPgConnection,
    principal_id: Uuid,
    key: &str,
    digest: &[u8],
) -> AppResult<Option<Reply>> {
    // Inserts the key, or takes over an expired one (a very old key behaves like a new one),
    // in one statement: one round trip fewer per write than deleting expired keys first.
    // Blocks while a concurrent request holds the same key uncommitted; then conflicts (it
    // committed: replay) or inserts (it rolled back: run).
    let inserted = diesel::sql_query(
        "INSERT INTO idempotency_keys (principal_id, key, request_digest) VALUES ($1, $2, $3) \
         ON CONFLICT (principal_id, key) DO UPDATE SET request_digest = EXCLUDED.request_digest, \
           status = NULL, location = NULL, etag = NULL, body = NULL, created_at = now() \
         WHERE idempotency_keys.created_at < $4",
    )
    .bind::<diesel::sql_types::Uuid, _>(principal_id)
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<diesel::sql_types::Bytea, _>(digest)
    .bind::<diesel::sql_types::Timestamptz, _>(
        chrono::Utc::now() - chrono::Duration::days(RETENTION_DAYS),
    )
    .execute(conn)
    .await?;
    if inserted == 1 {
        return Ok(None);
    }
    let stored: StoredKey = idempotency_keys::table
        .find((principal_id, key))
        .select((
            idempotency_keys::request_digest,
            idempotency_keys::status,
            idempotency_keys::location,
            idempotency_keys::etag,
            idempotency_keys::body,
        ))
        .first(conn)
        .await?;
    if stored.request_digest != digest {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request",
        ));
    }
    let status = stored
        .status
        .and_then(|status| u16::try_from(status).ok())
        .and_then(|status| StatusCode::from_u16(status).ok())
        .ok_or_else(|| {
            AppError::conflict(
                ProblemCode::IdempotencyKeyInUse,
                "a request with this Idempotency-Key is still running",
            )
        })?;
    Ok(Some(Reply {
        status,
        location: stored.location,
        etag: stored.etag,
        body: stored.body.unwrap_or_default(),
        replayed: true,
    }))
}

async fn store(
    conn: &AsyncPgConnection,
    principal_id: Uuid,
    key: &str,
    reply: &Reply,
) -> AppResult<()> {
    diesel::update(idempotency_keys::table.find((principal_id, key)))
        .set((
            idempotency_keys::status.eq(i16::try_from(reply.status.as_u16()).unwrap_or(200)),
            idempotency_keys::location.eq(&reply.location),
            idempotency_keys::etag.eq(&reply.etag),
            idempotency_keys::body.eq(&reply.body),
        ))
        .execute(&mut &*conn)
        .await?;
    Ok(())
}

/// A duplicate that waited longer than `lock_timeout` for the first request: 409, retry later.
fn lock_timeout_is_in_use(error: AppError) -> AppError {
    if error.code() == "concurrent_update" {
        AppError::conflict(
            ProblemCode::IdempotencyKeyInUse,
            "a request with this Idempotency-Key is still running",
        )
        .with_header(header::RETRY_AFTER, "1")
    } else {
        error
    }
}

/// Deletes keys past their retention; run periodically by `serve`.
pub async fn purge_expired(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table.filter(
            idempotency_keys::created_at
                .lt(chrono::Utc::now() - chrono::Duration::days(RETENTION_DAYS)),
        ),
    )
    .execute(conn)
    .await
}
