//! The one mapping from failures to RFC 9457 `application/problem+json` responses.
//!
//! Every 4xx/5xx of the service goes through [`AppError`]: handlers return it, the extractors'
//! error handlers build it, and the middleware converts what actix produces on its own.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

mod codes;
pub use codes::ProblemCode;

pub const PROBLEM_JSON: &str = "application/problem+json";

tokio::task_local! {
    /// The request being served: for the `instance` of problems and the `span` of log lines.
    pub static REQUEST_CONTEXT: RequestContext;
}

/// What a problem needs to know about the request it answers (and a log line, its method).
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub method: actix_web::http::Method,
    pub path: String,
}

/// One invalid member of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the member, e.g. `/deadline`.
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// A problem details body (RFC 9457) as the service sends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `/problems/<code>`: a page that explains the problem.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case code clients can branch on.
    pub code: String,
    /// The request path.
    pub instance: Option<String>,
    /// The `X-Request-Id` of the request, for support.
    pub request_id: Option<String>,
    /// Invalid members, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The query or path parameter at fault, for `invalid_query` and `invalid_path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The request header at fault, for `invalid_header`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// A failure on its way to becoming a problem+json response (boxed: errors stay one pointer
/// wide on the happy path's `Result`s).
pub struct AppError(Box<ErrorParts>);

/// The parts of an [`AppError`].
pub struct ErrorParts {
    status: StatusCode,
    code: ProblemCode,
    detail: String,
    errors: Vec<FieldError>,
    extra: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    source: Option<anyhow::Error>,
}

impl std::ops::Deref for AppError {
    type Target = ErrorParts;
    fn deref(&self) -> &ErrorParts {
        &self.0
    }
}

impl std::ops::DerefMut for AppError {
    fn deref_mut(&mut self) -> &mut ErrorParts {
        &mut self.0
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, code: ProblemCode, detail: impl Into<String>) -> Self {
        Self(Box::new(ErrorParts {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: Map::new(),
            headers: Vec::new(),
            source: None,
        }))
    }

    pub fn bad_request(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422 naming every invalid member.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.pointer, one.detail),
            many => format!("{} members of the request are invalid", many.len()),
        };
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::ValidationFailed,
            detail,
        );
        error.errors = errors;
        error
    }

    /// 422 `award_not_allowed`: the refused awards of a decision, each at its pointer.
    pub fn award_not_allowed(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::AwardNotAllowed,
            detail,
        );
        error.errors = errors;
        error
    }

    /// 422 `webhook_target_refused`: the target URL at `pointer` may not be delivered to.
    pub fn webhook_target_refused(pointer: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::WebhookTargetRefused,
            format!("{pointer}: {detail}"),
        );
        error.errors = vec![FieldError::new(pointer, detail)];
        error
    }

    pub fn field(pointer: &str, detail: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(pointer, detail)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ProblemCode::Unauthorized, detail)
            .with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    /// `invalid_token` as RFC 6750 §3.1 names it, for a presented but unusable token.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ProblemCode::InvalidToken,
            "the access token is missing, malformed, expired or revoked",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ProblemCode::Forbidden, detail)
    }

    /// 404 that does not reveal whether the resource exists outside the caller's subtree.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "no such resource",
        )
    }

    pub fn conflict(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn precondition_failed(current_etag: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            ProblemCode::PreconditionFailed,
            "the resource changed since you read it; re-read it and retry",
        )
        .with_extra("current_etag", current_etag)
        .with_header(header::ETAG, current_etag)
    }

    pub fn too_many_requests(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ProblemCode::TooManyRequests,
            detail,
        )
        .with_header(header::RETRY_AFTER, retry_after_secs.max(1).to_string())
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ProblemCode::ServiceUnavailable,
            detail,
        )
        .with_header(header::RETRY_AFTER, "1")
    }

    /// 500 whose cause goes to the log, never to the client.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::InternalError,
            "the service failed to handle the request; it has been logged",
        );
        error.source = Some(source.into());
        error
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: impl TryInto<HeaderValue>) -> Self {
        if let Ok(value) = value.try_into() {
            self.headers.push((name, value));
        }
        self
    }

    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The JSON body of this problem.
    pub fn body(&self) -> Value {
        let context = REQUEST_CONTEXT.try_with(Clone::clone).ok();
        let mut body = json!({
            "type": format!("/problems/{}", self.code),
            "title": self.code.title(),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code.as_str(),
            "instance": context.as_ref().map(|c| c.path.clone()),
            "request_id": context.map(|c| c.request_id),
        });
        if let Value::Object(map) = &mut body {
            if !self.errors.is_empty() {
                map.insert("errors".into(), json!(self.errors));
            }
            for (key, value) in &self.extra {
                map.insert(key.clone(), value.clone());
            }
        }
        body
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)?;
        if let Some(source) = &self.source {
            write!(f, " ({source:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.source {
            tracing::error!(error = ?source, "request failed");
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(self.body().to_string())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            Error::NotFound => Self::not_found(),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let constraint = info.constraint_name().unwrap_or("unique").to_owned();
                Self::conflict(
                    ProblemCode::AlreadyExists,
                    "a resource with the same key already exists",
                )
                .with_extra("constraint", constraint)
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Self::conflict(
                ProblemCode::ConcurrentUpdate,
                "another request changed the same data at the same time; retry",
            ),
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => Self::conflict(
                ProblemCode::StillReferenced,
                "the resource is referenced by others or references a missing one",
            ),
            // diesel-async reports a connection that died under the query (PostgreSQL restarted,
            // network cut) as UnableToSendCommand ("connection closed"), or passes on the
            // server's FATAL 57P01–57P03 ("terminating connection due to administrator
            // command", "the database system is shutting down") as Unknown.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                tracing::warn!(%error, "database connection lost");
                Self::unavailable("the database is unreachable; retry shortly")
            }
            Error::DatabaseError(_, info)
                if info.message().starts_with("terminating connection")
                    || info.message().starts_with("the database system is") =>
            {
                tracing::warn!(%error, "database connection lost");
                Self::unavailable("the database is unreachable; retry shortly")
            }
            Error::DatabaseError(_, info) if info.message().contains("lock timeout") => {
                Self::conflict(
                    ProblemCode::ConcurrentUpdate,
                    "another request holds the same data; retry shortly",
                )
                .with_header(header::RETRY_AFTER, "1")
            }
            Error::DatabaseError(_, info) if info.message().contains("statement timeout") => {
                tracing::warn!(%error, "statement timeout");
                Self::unavailable("the database took too long to answer; retry shortly")
            }
            _ => Self::internal(error),
        }
    }
}

impl From<crate::db::PoolError> for AppError {
    fn from(error: crate::db::PoolError) -> Self {
        tracing::warn!(%error, "no database connection available");
        Self::unavailable("the service is busy or the database is unreachable; retry shortly")
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> AppError {
        AppError::from(Error::DatabaseError(kind, Box::new(message.to_owned())))
    }

    #[test]
    fn a_lost_database_connection_is_a_503_with_retry_after() {
        // What diesel-async and PostgreSQL report when the server restarts under a query.
        for (kind, message) in [
            (DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            (
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection",
            ),
            (
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            (
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
            ),
        ] {
            let error = database_error(kind, message);
            assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{message}");
            assert!(
                error
                    .headers
                    .iter()
                    .any(|(name, _)| name == header::RETRY_AFTER),
                "{message}"
            );
        }
        let other = database_error(DatabaseErrorKind::Unknown, "division by zero");
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
