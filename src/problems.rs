//! The catalogue of problem codes and the `/problems/{code}` pages their `type` URIs name.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use crate::error::{AppError, AppResult};

/// (code, title, explanation): the stable codes clients branch on.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    (
        "bad_request",
        "Bad request",
        "The request was refused before it reached the service (for example a malformed header).",
    ),
    (
        "malformed_json",
        "Malformed JSON",
        "The request body is not valid JSON, is nested too deeply, or holds a number out of range.",
    ),
    (
        "invalid_query",
        "Invalid query parameter",
        "A query parameter is unknown to the operation, has a value of the wrong type or outside its range, or the `sort` key is not documented. `parameter` names it.",
    ),
    (
        "export_too_large",
        "Export too large for a spreadsheet",
        "An XLSX export is limited to 200 000 rows; narrow the filters or ask for `text/csv`, which streams any number of rows.",
    ),
    (
        "invalid_path",
        "Invalid path parameter",
        "A path segment does not have the expected form (ids are UUIDs). `parameter` names it.",
    ),
    (
        "invalid_header",
        "Invalid header",
        "A request header has a value that cannot be used (for example an `Idempotency-Key` that is too long).",
    ),
    (
        "validation_failed",
        "Validation failed",
        "Members of the request body are missing, unknown, owned by the server, or invalid. `errors` lists each with a JSON Pointer.",
    ),
    (
        "unauthorized",
        "Authentication required",
        "Send `Authorization: Bearer <access token>`; obtain one from `POST /api/v1/auth/token`.",
    ),
    (
        "invalid_token",
        "Invalid access token",
        "The access token is malformed, expired, not yet valid, or not signed by this service.",
    ),
    (
        "invalid_grant",
        "Invalid grant",
        "The credentials, or the refresh token, are not valid (RFC 6749 §5.2).",
    ),
    (
        "invalid_client",
        "Invalid client",
        "The client id or secret is not valid (RFC 6749 §5.2).",
    ),
    (
        "invalid_scope",
        "Invalid scope",
        "The client asked for a scope it was not granted (RFC 6749 §5.2).",
    ),
    (
        "unsupported_grant_type",
        "Unsupported grant type",
        "`grant_type` must be `password`, `refresh_token` or `client_credentials`.",
    ),
    (
        "invalid_request",
        "Invalid token request",
        "A parameter of the token request is missing or repeated (RFC 6749 §5.2).",
    ),
    (
        "forbidden",
        "Forbidden",
        "You are authenticated but your role does not allow this operation on this resource.",
    ),
    (
        "not_found",
        "Not found",
        "No such resource, or it is outside the part of the organization tree you may see.",
    ),
    (
        "method_not_allowed",
        "Method not allowed",
        "The resource exists but does not support this method; `Allow` lists the ones it does.",
    ),
    (
        "not_acceptable",
        "Not acceptable",
        "None of the media types in `Accept` can be produced for this resource.",
    ),
    (
        "already_exists",
        "Already exists",
        "A resource with the same unique key (code, username, …) already exists.",
    ),
    (
        "last_admin",
        "Last administrator",
        "The change would leave no enabled administrator; give someone else the admin role first.",
    ),
    (
        "concurrent_update",
        "Concurrent update",
        "Another request changed the same data at the same time; read it again and retry.",
    ),
    (
        "still_referenced",
        "Still referenced",
        "The resource is referenced by others, or references one that does not exist.",
    ),
    (
        "invalid_transition",
        "Invalid transition",
        "The action is not allowed from the resource's current state; the body names the state and the allowed actions.",
    ),
    (
        "duplicate_nomination",
        "Duplicate nomination",
        "The unit already nominated the same nominee (same name ignoring case, diacritics and spacing, or the same collective organization) for this campaign year; `existing_id` names it when known. A rejected or withdrawn nomination does not count.",
    ),
    (
        "already_reviewed",
        "Already reviewed",
        "You already reviewed this nomination; there is one review per reviewer and reviews are not edited.",
    ),
    (
        "insufficient_endorsements",
        "Insufficient endorsements",
        "Recognition needs at least one endorsement and more endorsements than oppositions; `tally` gives the current counts.",
    ),
    (
        "idempotency_key_in_use",
        "Idempotency key in use",
        "A request with the same `Idempotency-Key` is still being processed; retry later.",
    ),
    (
        "idempotency_key_reused",
        "Idempotency key reused",
        "The `Idempotency-Key` was already used with a different request body.",
    ),
    (
        "precondition_failed",
        "Precondition failed",
        "`If-Match` does not match the current ETag; the body names the current one.",
    ),
    (
        "request_timeout",
        "Request timeout",
        "The request body did not arrive in time (`THIDUA_BODY_READ_TIMEOUT_MS`); the connection is closed.",
    ),
    (
        "payload_too_large",
        "Payload too large",
        "The request body is larger than the service accepts.",
    ),
    (
        "unsupported_media_type",
        "Unsupported media type",
        "Send `Content-Type: application/json` (or a form body on the token endpoint).",
    ),
    (
        "too_many_requests",
        "Too many requests",
        "Slow down; `Retry-After` says when to try again.",
    ),
    (
        "rate_limited",
        "Rate limited",
        "Too many requests from your address or with your user's (or client's) tokens in a short time; retry after the seconds `Retry-After` gives. Limits are counted per service instance.",
    ),
    (
        "internal_error",
        "Internal error",
        "The service failed; the failure is logged with the request id.",
    ),
    (
        "service_unavailable",
        "Service unavailable",
        "The database is unreachable or the service is saturated; `Retry-After` says when to retry.",
    ),
];

/// The human title of a problem code.
pub fn title(code: &str) -> &'static str {
    CATALOGUE
        .iter()
        .find(|(known, _, _)| *known == code)
        .map_or("Error", |(_, title, _)| title)
}

/// Explains one problem code: what it means and what to do about it.
#[utoipa::path(
    tag = "operations",
    params(("code" = String, Path, description = "A problem code, e.g. `validation_failed`")),
    responses(
        (status = 200, description = "An HTML page explaining the problem", content_type = "text/html", body = String),
        (status = 404, description = "Unknown problem code", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/problems/{code}")]
pub async fn problem_page(code: web::Path<String>) -> AppResult<HttpResponse> {
    let (code, title, text) = CATALOGUE
        .iter()
        .find(|(known, _, _)| *known == code.as_str())
        .ok_or_else(AppError::not_found)?;
    let (title, text) = (html_text(title), html_text(text));
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p><code>{code}</code></p><p>{text}</p></body></html>"
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(page))
}

/// The catalogue's text as HTML: escaped, and each `code span` (Markdown's backticks, as the
/// catalogue is written) rendered as `<code>`, not shown as literal backticks.
fn html_text(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mut html = String::with_capacity(escaped.len() + 32);
    let mut parts = escaped.split('`');
    if let Some(first) = parts.next() {
        html.push_str(first);
    }
    let rest: Vec<&str> = parts.collect();
    let mut pairs = rest.chunks_exact(2);
    for pair in pairs.by_ref() {
        html.push_str("<code>");
        html.push_str(pair[0]);
        html.push_str("</code>");
        html.push_str(pair[1]);
    }
    // An unpaired backtick is kept as typed.
    for part in pairs.remainder() {
        html.push('`');
        html.push_str(part);
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_are_html_code_and_text_is_escaped() {
        assert_eq!(
            html_text("ask for `text/csv` or <b> & `sort`"),
            "ask for <code>text/csv</code> or &lt;b&gt; &amp; <code>sort</code>"
        );
        assert_eq!(html_text("one ` alone"), "one ` alone");
        for (_, title, text) in CATALOGUE {
            assert!(!html_text(title).contains('`'), "{title}");
            assert!(!html_text(text).contains('`'), "{text}");
        }
    }

    #[test]
    fn every_code_is_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (code, _, _) in CATALOGUE {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(seen.insert(code), "{code} twice");
        }
    }
}
