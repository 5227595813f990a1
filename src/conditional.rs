//! Conditional requests (RFC 9110 §13): strong ETags from the version column, `If-None-Match`
//! on reads (304) and `If-Match` on writes (412 naming the current ETag).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::AppError;

/// The strong ETag of version `version` of a resource.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The `If-Match` precondition of a write, if the client sent one.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    /// The version the client expects, when it named exactly one strong ETag of ours.
    /// `*` and absent headers impose nothing.
    pub fn expected_version(&self) -> Result<Option<i32>, AppError> {
        let Some(tags) = &self.0 else { return Ok(None) };
        if tags.iter().any(|tag| tag == "*") {
            return Ok(None);
        }
        // Several tags: the write must match one of them; we only ever have one current
        // version, so take the first well-formed one and let the others fail naturally.
        tags.iter()
            .find_map(|tag| tag.trim_matches('"').parse::<i32>().ok())
            .map(Some)
            .ok_or_else(|| AppError::precondition_failed("\"?\""))
    }

    /// Checks the precondition against the current version (for writes that lock first).
    pub fn check(&self, current_version: i32) -> Result<(), AppError> {
        let Some(tags) = &self.0 else { return Ok(()) };
        let current = etag(current_version);
        if tags.iter().any(|tag| tag == "*" || *tag == current) {
            Ok(())
        } else {
            Err(AppError::precondition_failed(&current))
        }
    }
}

impl FromRequest for IfMatch {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(IfMatch(entity_tags(req, header::IF_MATCH, true))))
    }
}

/// Entity tags listed in `name`; weak tags are dropped when `strong_only` (If-Match uses the
/// strong comparison).
fn entity_tags(
    req: &HttpRequest,
    name: header::HeaderName,
    strong_only: bool,
) -> Option<Vec<String>> {
    let mut tags = Vec::new();
    let mut present = false;
    for value in req.headers().get_all(name) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        for tag in value.split(',') {
            let tag = tag.trim();
            if tag.is_empty() {
                continue;
            }
            match tag.strip_prefix("W/") {
                Some(_) if strong_only => {}
                Some(weak) => tags.push(weak.to_owned()),
                None => tags.push(tag.to_owned()),
            }
        }
    }
    present.then_some(tags)
}

/// 200 with the body and its ETag, or 304 when `If-None-Match` already names it.
pub fn respond<T: Serialize>(req: &HttpRequest, version: i32, body: &T) -> HttpResponse {
    let tag = etag(version);
    if let Some(tags) = entity_tags(req, header::IF_NONE_MATCH, false)
        && tags
            .iter()
            .any(|candidate| candidate == "*" || *candidate == tag)
    {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, tag))
        .json(body)
}

/// Whether `If-None-Match` names `tag`, a weak or strong ETag of ours, by the weak comparison
/// (RFC 9110 §13.1.2: GET and HEAD), or is `*`.
pub fn not_modified(req: &HttpRequest, tag: &str) -> bool {
    let opaque = tag.strip_prefix("W/").unwrap_or(tag);
    entity_tags(req, header::IF_NONE_MATCH, false).is_some_and(|tags| {
        tags.iter()
            .any(|candidate| candidate == "*" || candidate == opaque)
    })
}

/// 201 with `Location` and ETag.
pub fn created<T: Serialize>(location: String, version: i32, body: &T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}

/// 200 after a write, with the new ETag.
pub fn updated<T: Serialize>(version: i32, body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}
