//! Keyset pagination shared by every list: `limit` (1–200, default 50) and an opaque cursor
//! that carries the sort key and id of the last row returned.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{AppError, ProblemCode};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// Validates `limit`: absent → 50; outside 1–200 → 400.
pub fn limit(requested: Option<i64>) -> Result<i64, AppError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(value) if (1..=MAX_LIMIT).contains(&value) => Ok(value),
        Some(value) => Err(AppError::bad_request(
            ProblemCode::InvalidQuery,
            format!("limit must be between 1 and {MAX_LIMIT}, not {value}"),
        )),
    }
}

/// Encodes a cursor position; clients treat it as opaque.
pub fn encode_cursor<K: Serialize>(position: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decodes a cursor produced by [`encode_cursor`]; anything else is a 400.
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(foreign_cursor)
}

/// The 400 for a cursor this service did not issue for this list: undecodable, or decodable
/// but naming a position the list cannot have.
pub fn foreign_cursor() -> AppError {
    AppError::bad_request(
        ProblemCode::InvalidQuery,
        "cursor is not one this service issued",
    )
}

/// The position an optional `cursor` query parameter names: none for the first page, a 400 for
/// a cursor this service did not issue.
pub fn position<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, AppError> {
    cursor.map(decode_cursor).transpose()
}

/// Splits `limit + 1` fetched rows into a page and the cursor of the next one.
pub fn paginate<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: i64,
    key_of: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|row| encode_cursor(&key_of(row)));
        (rows, next)
    } else {
        (rows, None)
    }
}

/// Sort direction of a documented sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Asc,
    Desc,
}

/// Parses `key`, `key_asc`, `key_desc`, `-key` against the documented keys; unknown → 400.
pub fn parse_sort<'k>(
    raw: Option<&str>,
    keys: &[&'k str],
    default: (&'k str, Direction),
) -> Result<(&'k str, Direction), AppError> {
    let Some(raw) = raw else { return Ok(default) };
    let (name, direction) = if let Some(name) = raw.strip_prefix('-') {
        (name, Direction::Desc)
    } else if let Some(name) = raw.strip_suffix("_desc") {
        (name, Direction::Desc)
    } else if let Some(name) = raw.strip_suffix("_asc") {
        (name, Direction::Asc)
    } else {
        (raw, Direction::Asc)
    };
    keys.iter()
        .find(|key| **key == name)
        .map(|key| (*key, direction))
        .ok_or_else(|| {
            AppError::bad_request(
                ProblemCode::InvalidQuery,
                format!(
                    "sort must be one of {} (optionally with _desc), not {raw:?}",
                    keys.join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_outside_range_is_refused() {
        assert_eq!(limit(None).unwrap(), 50);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(201)).is_err());
        assert_eq!(limit(Some(200)).unwrap(), 200);
    }

    #[test]
    fn cursor_round_trips_and_garbage_is_refused() {
        let cursor = encode_cursor(&("Mỹ Hòa", 7));
        let decoded: (String, i32) = decode_cursor(&cursor).unwrap();
        assert_eq!(decoded, ("Mỹ Hòa".to_owned(), 7));
        assert!(decode_cursor::<(String, i32)>("!!").is_err());
    }

    #[test]
    fn sort_accepts_only_documented_keys() {
        let keys = ["deadline", "created_at"];
        assert_eq!(
            parse_sort(Some("-deadline"), &keys, ("created_at", Direction::Asc)).unwrap(),
            ("deadline", Direction::Desc)
        );
        assert_eq!(
            parse_sort(Some("created_at_desc"), &keys, ("deadline", Direction::Asc)).unwrap(),
            ("created_at", Direction::Desc)
        );
        assert!(parse_sort(Some("password"), &keys, ("deadline", Direction::Asc)).is_err());
    }

    #[test]
    fn a_full_page_has_a_next_cursor() {
        let (page, next) = paginate(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page, vec![1, 2]);
        assert_eq!(decode_cursor::<i32>(&next.unwrap()).unwrap(), 2);
        let (_, none) = paginate(vec![1, 2], 2, |n| *n);
        assert!(none.is_none());
    }
}
