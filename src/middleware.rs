//! Cross-cutting HTTP behaviour: request ids, access logs, security headers, and the
//! conversion of any non-problem error response (actix's own included) to problem+json.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{AppError, PROBLEM_JSON, ProblemCode, REQUEST_CONTEXT, RequestContext};
use crate::openapi::RouteInventory;

pub const REQUEST_ID: &str = "x-request-id";

/// A client-supplied request id is echoed when it is short and printable; otherwise a new one.
fn request_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

/// Whether `GET` is served at the request's path (so `HEAD` is too).
fn serves_get(req: &ServiceRequest) -> bool {
    req.app_data::<web::Data<RouteInventory>>()
        .is_some_and(|inventory| inventory.methods_for(req.path()).iter().any(|m| m == "GET"))
}

/// The body of a `HEAD` response: the size of the `GET` body, none of its bytes (RFC 9110
/// §9.3.2). The GET body itself is dropped unread, so an export is never produced for it.
struct HeadBody(BodySize);

impl MessageBody for HeadBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        self.0
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(None)
    }
}

/// The outermost middleware: every response passes through it. `HEAD` on a path that serves
/// `GET` is answered by the `GET` handler, without the body.
pub async fn request_envelope(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = request_id_of(&req);
    let authenticated = req.headers().contains_key(header::AUTHORIZATION);
    let method = req.method().clone();
    let path = req.path().to_owned();
    let head = method == Method::HEAD && serves_get(&req);
    if head {
        req.head_mut().method = Method::GET;
    }
    let context = RequestContext {
        request_id: request_id.clone(),
        method: method.clone(),
        path,
    };
    // JSON lines name the request from `context` (telemetry::JsonLines); a span costs an eighth
    // of a small request's instructions (docs/benchmarks.md), so only pretty lines get one.
    let span = if crate::telemetry::request_spans() {
        tracing::info_span!("request", request_id = %request_id, method = %method, path = %context.path)
    } else {
        tracing::Span::none()
    };
    // PostgreSQL refuses NUL in text: a `%00` in any query parameter would reach a query as a
    // 500, so it is refused here for every route at once.
    let outcome = if req.query_string().contains("%00") {
        let problem = REQUEST_CONTEXT.sync_scope(context.clone(), || {
            crate::error::AppError::bad_request(
                ProblemCode::InvalidQuery,
                "the query string contains a NUL character (%00)",
            )
            .error_response()
        });
        Ok(req.into_response(problem))
    } else {
        REQUEST_CONTEXT
            .scope(context.clone(), next.call(req).instrument(span.clone()))
            .await
            .map(ServiceResponse::map_into_boxed_body)
    };
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            // Errors escaping the service chain still become problems; the request itself is
            // gone, so build the response from the error alone.
            let response = REQUEST_CONTEXT.sync_scope(context.clone(), || error.error_response());
            return Err(actix_web::error::InternalError::from_response(error, response).into());
        }
    };
    let mut response = if response.status().as_u16() >= 400 && !is_problem(&response) {
        REQUEST_CONTEXT.sync_scope(context.clone(), || into_problem(response))
    } else {
        response
    };
    if head {
        response = response.map_body(|_, body| BoxBody::new(HeadBody(body.size())));
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(header::HeaderName::from_static(REQUEST_ID), value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if authenticated && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if is_html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                 script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            ),
        );
    }
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    REQUEST_CONTEXT.sync_scope(context, || {
        span.in_scope(|| {
            if status >= 500 {
                tracing::warn!(status, elapsed_ms, "request served");
            } else {
                tracing::info!(status, elapsed_ms, "request served");
            }
        })
    });
    Ok(response)
}

fn is_problem(response: &ServiceResponse<BoxBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
        || response.status() == StatusCode::NOT_MODIFIED
}

/// Replaces the body of an error response that did not come from `AppError`.
fn into_problem(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let (code, detail) = match status {
        // Not necessarily a body: actix and its middleware (CORS) answer 400 for other reasons.
        StatusCode::BAD_REQUEST => (ProblemCode::BadRequest, "the request was refused"),
        StatusCode::NOT_FOUND => (ProblemCode::NotFound, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ProblemCode::MethodNotAllowed,
            "this method is not allowed here",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ProblemCode::PayloadTooLarge,
            "the request body is too large",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ProblemCode::UnsupportedMediaType,
            "unsupported content type",
        ),
        StatusCode::UNAUTHORIZED => (ProblemCode::Unauthorized, "authentication required"),
        StatusCode::FORBIDDEN => (ProblemCode::Forbidden, "not allowed"),
        StatusCode::NOT_ACCEPTABLE => (ProblemCode::NotAcceptable, "no acceptable representation"),
        StatusCode::TOO_MANY_REQUESTS => (ProblemCode::TooManyRequests, "slow down"),
        StatusCode::SERVICE_UNAVAILABLE => {
            (ProblemCode::ServiceUnavailable, "temporarily unavailable")
        }
        status if status.is_server_error() => (
            ProblemCode::InternalError,
            "the service failed to handle the request",
        ),
        _ => (ProblemCode::BadRequest, "the request was refused"),
    };
    let problem = AppError::new(status, code, detail);
    let mut replacement = problem.error_response();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    let (request, _) = response.into_parts();
    ServiceResponse::new(request, replacement)
}

/// The default service: 405 with `Allow` when the path exists with other methods, else 404.
pub async fn no_route(req: HttpRequest, inventory: web::Data<RouteInventory>) -> HttpResponse {
    let methods = inventory.methods_for(req.path());
    if methods.is_empty() {
        return AppError::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "no such route",
        )
        .error_response();
    }
    if req.method() == Method::OPTIONS {
        return HttpResponse::NoContent()
            .insert_header((header::ALLOW, methods.join(", ")))
            .finish();
    }
    method_not_allowed(req.method(), &methods).error_response()
}

/// 405 naming the methods served at the path, in `Allow` too.
pub fn method_not_allowed(method: &Method, methods: &[String]) -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ProblemCode::MethodNotAllowed,
        format!("{method} is not allowed here; use {}", methods.join(", ")),
    )
    .with_header(header::ALLOW, methods.join(", "))
}
