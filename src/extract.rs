//! Request extraction with problem+json errors.
//!
//! [`Body<T>`] is the JSON body extractor of every write: it enforces the size limit before
//! parsing (413), the media type (415), JSON syntax and depth (400), refuses NUL characters,
//! NFC-normalizes every string, and names *every* missing, mistyped, unknown or server-owned
//! member in one 422, in plain words, by checking the body against its operation's schema in the
//! OpenAPI document first ([`shape`], app data [`BodyRules`]) and only then reading it with serde.
//! Every body is read within [`BodyReadTimeout`] (408 beyond it), so a client that trickles a
//! byte a second cannot hold a worker's connection open for ever.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AppError, FieldError, ProblemCode};
use crate::text::nfc;

mod shape;

pub use shape::{BodyRules, shape_errors};

/// Maximum accepted JSON body, in bytes (app data; defaults to 256 KiB).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Longest time to read a whole request body (app data; defaults to 5 s).
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub std::time::Duration);

/// The body read timeout configured for `req`.
pub fn body_read_timeout(req: &HttpRequest) -> std::time::Duration {
    req.app_data::<BodyReadTimeout>()
        .map_or(std::time::Duration::from_secs(5), |timeout| timeout.0)
}

/// A validated JSON request body.
#[derive(Debug)]
pub struct Body<T> {
    value: T,
    digest: Vec<u8>,
}

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Digest of method, path and raw body: what an `Idempotency-Key` is bound to.
    pub fn digest(&self) -> Vec<u8> {
        self.digest.clone()
    }

    /// Both parts at once.
    pub fn into_parts(self) -> (T, Vec<u8>) {
        (self.value, self.digest)
    }
}

/// Digest of what a request asks: method, path and body. An idempotency key may only be
/// reused for the very same request.
pub fn request_digest(req: &HttpRequest, body: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().to_vec()
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(262_144, |limit| limit.0);
        let media_type_ok = is_json(req);
        let declared_length = declared_length(req);
        let timeout = body_read_timeout(req);
        let payload = payload.take();
        let req = req.clone();
        Box::pin(async move {
            if !media_type_ok {
                return Err(unsupported_media_type());
            }
            let bytes = read_limited(payload, declared_length, limit, timeout).await?;
            let rules = req.app_data::<web::Data<BodyRules>>();
            let value = parse_json_checked(&bytes, |value| {
                rules.map_or_else(Vec::new, |rules| {
                    rules.check(req.path(), req.method().as_str(), value)
                })
            })?;
            Ok(Body {
                value,
                digest: request_digest(&req, &bytes),
            })
        })
    }
}

/// The whole payload, refused with 413 as soon as it exceeds `limit` (before it is parsed), and
/// with 408 when it has not all arrived within `timeout`.
pub async fn read_limited(
    payload: Payload,
    declared_length: Option<usize>,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<web::BytesMut, AppError> {
    tokio::time::timeout(timeout, read_all(payload, declared_length, limit))
        .await
        .unwrap_or_else(|_| {
            Err(AppError::new(
                StatusCode::REQUEST_TIMEOUT,
                ProblemCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )
            .with_header(header::CONNECTION, "close"))
        })
}

async fn read_all(
    mut payload: Payload,
    declared_length: Option<usize>,
    limit: usize,
) -> Result<web::BytesMut, AppError> {
    if declared_length.is_some_and(|length| length > limit) {
        return Err(payload_too_large(limit));
    }
    let mut body = web::BytesMut::with_capacity(declared_length.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            AppError::bad_request(
                ProblemCode::MalformedJson,
                format!("the request body could not be read: {error}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses, cleans and deserializes a JSON document into `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    parse_json_checked(bytes, |_| Vec::new())
}

/// [`parse_json`], with the cleaned document first checked by `shape` (the errors of its
/// documented schema, [`BodyRules`]): every error found there is reported at once, before
/// serde, which would stop at the first.
pub fn parse_json_checked<T: DeserializeOwned>(
    bytes: &[u8],
    shape: impl FnOnce(&Value) -> Vec<FieldError>,
) -> Result<T, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::bad_request(
            ProblemCode::MalformedJson,
            "the request body is empty",
        ));
    }
    let mut value: Value = serde_json::from_slice(bytes).map_err(|error| {
        AppError::bad_request(
            ProblemCode::MalformedJson,
            format!("the request body is not valid JSON: {error}"),
        )
    })?;
    let mut errors = Vec::new();
    clean_strings(&mut value, &mut String::new(), &mut errors);
    if !errors.is_empty() {
        return Err(AppError::validation(errors));
    }
    let errors = shape(&value);
    if !errors.is_empty() {
        return Err(AppError::validation(errors));
    }
    deserialize_value(value)
}

/// Deserializes `value`, reporting all unknown members at once and the first type error.
pub fn deserialize_value<T: DeserializeOwned>(mut value: Value) -> Result<T, AppError> {
    let mut unknown = Vec::new();
    loop {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) if unknown.is_empty() => return Ok(parsed),
            Ok(_) => return Err(AppError::validation(unknown)),
            Err(error) => {
                let message = error.inner().to_string();
                let parent = pointer_of(error.path());
                if let Some(name) = unknown_field_name(&message) {
                    // The path may or may not already end with the unknown key.
                    let member = format!("/{}", escape(&name));
                    let container = parent.strip_suffix(&member).unwrap_or(&parent).to_owned();
                    let removed = value
                        .pointer_mut(&container)
                        .and_then(Value::as_object_mut)
                        .and_then(|object| object.remove(&name));
                    unknown.push(FieldError::new(
                        format!("{container}{member}"),
                        "is not a member of this request (unknown, or owned by the server)",
                    ));
                    if removed.is_some() && unknown.len() < 64 {
                        continue;
                    }
                    return Err(AppError::validation(unknown));
                }
                if !unknown.is_empty() {
                    return Err(AppError::validation(unknown));
                }
                // serde reports a missing member at its container: point at the member itself.
                if let Some(name) = missing_field_name(&message) {
                    return Err(AppError::field(
                        &format!("{parent}/{}", escape(&name)),
                        "is required",
                    ));
                }
                return Err(AppError::field(
                    if parent.is_empty() { "/" } else { &parent },
                    plain_serde_message(&clean_serde_message(&message)),
                ));
            }
        }
    }
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

fn missing_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

fn clean_serde_message(message: &str) -> String {
    // serde_json appends " at line 1 column 2" to some messages; not meaningful for a Value.
    match message.find(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// serde's "invalid type: map, expected a sequence" as "must be an array (not an object)": what
/// was expected first, in the words of JSON rather than of Rust. A message of another form is
/// kept as it is.
fn plain_serde_message(message: &str) -> String {
    fn json_words(serde_words: &str) -> String {
        let words = serde_words.trim();
        let plain = match words {
            "map" | "a map" => "an object",
            "sequence" | "a sequence" => "an array",
            "a boolean" | "boolean" => "true or false",
            "null" | "unit value" => "null",
            "a string" | "a borrowed string" | "string" => "a string",
            "i8" | "i16" | "i32" | "i64" | "isize" | "an integer" => "an integer",
            "u8" | "u16" | "u32" | "u64" | "usize" => "an integer of at least 0",
            "f32" | "f64" | "a number" => "a number",
            "a UUID string" => "a UUID",
            _ if words.starts_with("struct ") => "an object",
            _ if words.starts_with("string \"") || words.starts_with("string `") => "a string",
            _ if words.starts_with("integer ") => "an integer",
            _ if words.starts_with("floating point ") => "a fractional number",
            _ if words.starts_with("boolean ") => "a boolean",
            _ => return words.to_owned(),
        };
        plain.to_owned()
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((_, expected)) = rest.split_once(", expected ")
    {
        let values = expected.trim_start_matches("one of ").replace('`', "");
        return format!("must be one of {values}");
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((got, expected)) = rest.split_once(", expected ")
        {
            return format!("must be {} (not {})", json_words(expected), json_words(got));
        }
    }
    message.to_owned()
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", escape(key))),
            Segment::Enum { variant } => pointer.push_str(&format!("/{}", escape(variant))),
            Segment::Unknown => {}
        }
    }
    pointer
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Members whose text is a secret: kept exactly as sent (only NUL is refused), because every
/// character typed is part of the secret; `auth::password` applies its own normalization.
const SECRET_MEMBERS: [&str; 3] = ["password", "current_password", "client_secret"];

/// NFC-normalizes every string (keys included) and collects strings holding NUL.
fn clean_strings(value: &mut Value, pointer: &mut String, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(text) => {
            if text.contains('\0') {
                errors.push(FieldError::new(
                    pointer.clone(),
                    "must not contain NUL characters",
                ));
            } else if !text.is_ascii() {
                *text = nfc(text);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                let length = pointer.len();
                pointer.push_str(&format!("/{index}"));
                clean_strings(item, pointer, errors);
                pointer.truncate(length);
            }
        }
        Value::Object(object) => {
            let entries = std::mem::take(object);
            for (key, mut item) in entries {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(&key));
                if key.contains('\0') {
                    errors.push(FieldError::new(
                        pointer.clone(),
                        "must not contain NUL characters",
                    ));
                }
                match &item {
                    Value::String(secret) if SECRET_MEMBERS.contains(&key.as_str()) => {
                        if secret.contains('\0') {
                            errors.push(FieldError::new(
                                pointer.clone(),
                                "must not contain NUL characters",
                            ));
                        }
                    }
                    _ => clean_strings(&mut item, pointer, errors),
                }
                pointer.truncate(length);
                object.insert(if key.is_ascii() { key } else { nfc(&key) }, item);
            }
        }
        Value::Number(number) => {
            // JSON has one number type: `2.0` is the integer 2 to most clients (JavaScript
            // prints whole floats so, generators send them), so a whole float that an `f64`
            // holds exactly is read as that integer; `2.5` still fails for an integer member.
            if let Some(integer) = whole(number) {
                *value = Value::from(integer);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// The integer a floating-point JSON number stands for, when it is whole and exact.
fn whole(number: &serde_json::Number) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let float = number.as_f64().filter(|_| number.is_f64())?;
    (float.fract() == 0.0 && float.abs() < EXACT).then_some(float as i64)
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(content_type) = req.headers().get(header::CONTENT_TYPE) else {
        // A missing Content-Type on a body-less request is still refused: the body is required.
        return false;
    };
    let Ok(content_type) = content_type.to_str() else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

pub fn unsupported_media_type() -> AppError {
    AppError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ProblemCode::UnsupportedMediaType,
        "send the body as application/json",
    )
}

pub fn payload_too_large(limit: usize) -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ProblemCode::PayloadTooLarge,
        format!("the request body exceeds {limit} bytes"),
    )
}

/// Error handler of actix's `Query` extractor: a bad query value is a 400 naming the parameter
/// and what it accepts (`crate::params`).
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    req: &HttpRequest,
) -> actix_web::Error {
    crate::params::query_problem(req, clean_serde_message(&error.to_string())).into()
}

/// Error handler of actix's `Path` extractor: a malformed id is a 400 naming the segment. A
/// literal route of its own (`/pledges/export.csv`) reached with another method falls through
/// to `/pledges/{id}`: that is a 405 of the literal route, never a bad id.
pub fn path_error(error: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    if let Some(inventory) = req.app_data::<actix_web::web::Data<crate::openapi::RouteInventory>>()
    {
        let methods = inventory.methods_for(req.path());
        if !methods.is_empty() && !methods.iter().any(|method| method == req.method().as_str()) {
            return crate::middleware::method_not_allowed(req.method(), &methods).into();
        }
    }
    crate::params::path_problem(req, error.to_string()).into()
}

/// Distinguishes an absent member (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: Option<u32>,
    }

    #[test]
    fn every_unknown_member_is_named() {
        let error = parse_json::<Sample>(br#"{"name":"a","status":"x","id":"1"}"#).unwrap_err();
        let pointers: Vec<_> = error
            .field_errors()
            .iter()
            .map(|e| e.pointer.clone())
            .collect();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(pointers.contains(&"/status".to_owned()), "{pointers:?}");
        assert!(pointers.contains(&"/id".to_owned()), "{pointers:?}");
    }

    #[test]
    fn a_whole_float_counts_as_an_integer_and_a_fraction_does_not() {
        let sample = parse_json::<Sample>(br#"{"name":"a","count":2226.0}"#).unwrap();
        assert_eq!(sample.count, Some(2226));
        let error = parse_json::<Sample>(br#"{"name":"a","count":2.5}"#).unwrap_err();
        assert_eq!(error.field_errors()[0].pointer, "/count");
        let error = parse_json::<Sample>(br#"{"name":"a","count":1e300}"#).unwrap_err();
        assert_eq!(error.field_errors()[0].pointer, "/count");
    }

    #[test]
    fn a_missing_member_is_named() {
        let error = parse_json::<Sample>(br#"{"count":1}"#).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.field_errors()[0].pointer, "/name");
    }

    #[test]
    fn a_wrong_type_names_its_member() {
        let error = parse_json::<Sample>(br#"{"name":"a","count":"many"}"#).unwrap_err();
        assert_eq!(error.field_errors()[0].pointer, "/count");
        assert_eq!(
            error.field_errors()[0].detail,
            "must be an integer of at least 0 (not a string)"
        );
        // Without a schema to check against, serde's own words are still put in JSON's.
        let error = parse_json::<Vec<u32>>(br#"{"a":1}"#).unwrap_err();
        assert_eq!(
            error.field_errors()[0].detail,
            "must be an array (not an object)"
        );
    }

    #[test]
    fn deep_nesting_and_huge_numbers_are_bad_requests() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(
            parse_json::<Value>(deep.as_bytes()).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_json::<Value>(b"{\"n\": 1e999999}")
                .unwrap_err()
                .status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn nul_characters_are_refused_and_text_is_nfc() {
        let error = parse_json::<Sample>(b"{\"name\":\"a\\u0000b\"}").unwrap_err();
        assert_eq!(error.field_errors()[0].pointer, "/name");
        let sample = parse_json::<Sample>("{\"name\":\"Ho\u{0300}a\"}".as_bytes()).unwrap();
        assert_eq!(sample.name, "Hòa");
    }

    #[test]
    fn secrets_are_kept_as_sent_but_other_text_loses_format_characters() {
        let body = "{\"password\":\"mat\u{200B}khau Ho\u{0300}a\",\"name\":\"An\u{200B}\"}";
        let value = parse_json::<Value>(body.as_bytes()).unwrap();
        assert_eq!(value["password"], "mat\u{200B}khau Ho\u{0300}a");
        assert_eq!(value["name"], "An");
        let error = parse_json::<Value>(b"{\"password\":\"a\\u0000b\"}").unwrap_err();
        assert_eq!(error.field_errors()[0].pointer, "/password");
    }
}
