//! The `/problems/{code}` pages that the `type` URIs of problems name, read from the one
//! catalogue of codes (`crate::error::ProblemCode`).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use crate::error::{AppError, AppResult, ProblemCode};

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
    let code = ProblemCode::parse(&code).ok_or_else(AppError::not_found)?;
    let (title, text) = (code.title(), code.explanation());
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
