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
    let (title, text) = (html_text(code.title()), html_text(code.explanation()));
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
        for code in ProblemCode::ALL {
            assert!(!html_text(code.title()).contains('`'), "{code}");
            assert!(!html_text(code.explanation()).contains('`'), "{code}");
        }
    }
}
