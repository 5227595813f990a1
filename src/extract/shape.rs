//! The shape of a JSON body checked against its operation's schema in the OpenAPI document,
//! before serde reads it: every missing member, every member of the wrong type or form and every
//! unknown member is named at once, in plain words ("must be a date YYYY-MM-DD", "expected an
//! object with `memberships`"), where serde stops at the first and words it inside-out
//! ("invalid type: map, expected a sequence").
//!
//! Only what serde would refuse anyway is checked here (types, required and unknown members,
//! enumerations, the `uuid`, `date` and `date-time` formats, the range of an `int32`); lengths,
//! patterns and bounds stay the services' checks, with their own messages. The document is the
//! one description of every body (generated from the wire types), so one check covers every
//! route, as `crate::params` does for query and path parameters.

use actix_web::dev::ResourceDef;
use serde_json::{Map, Value};

use crate::error::FieldError;

/// Past this many, the rest of a body's errors are not listed.
const MAX_ERRORS: usize = 64;

/// The JSON request body schema of every operation (app data).
#[derive(Debug, Default)]
pub struct BodyRules {
    document: Value,
    operations: Vec<(ResourceDef, String, Value)>,
}

impl BodyRules {
    /// The rules of the OpenAPI document `document` (its JSON form).
    pub fn from_document(document: &Value) -> Self {
        let mut operations = Vec::new();
        if let Some(paths) = document.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                for (method, operation) in item {
                    let schema = operation
                        .pointer("/requestBody/content")
                        .and_then(Value::as_object)
                        .and_then(|content| {
                            content
                                .iter()
                                .find(|(media_type, _)| media_type.ends_with("json"))
                        })
                        .and_then(|(_, media)| media.get("schema"));
                    if let Some(schema) = schema {
                        operations.push((
                            ResourceDef::new(path.as_str()),
                            method.to_ascii_lowercase(),
                            schema.clone(),
                        ));
                    }
                }
            }
        }
        Self {
            document: document.clone(),
            operations,
        }
    }

    /// Every shape error of `value` as the body of `method path`; none when the operation
    /// documents no JSON body.
    pub fn check(&self, path: &str, method: &str, value: &Value) -> Vec<FieldError> {
        let method = method.to_ascii_lowercase();
        self.operations
            .iter()
            .find(|(resource, operation_method, _)| {
                *operation_method == method && resource.is_match(path)
            })
            .map(|(_, _, schema)| shape_errors(schema, &self.document, value))
            .unwrap_or_default()
    }
}

/// Every shape error of `value` against `schema` (whose `$ref`s point into `document`).
pub fn shape_errors(schema: &Value, document: &Value, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    walk(schema, document, value, &mut String::new(), &mut errors, 0);
    errors.truncate(MAX_ERRORS);
    errors
}

fn resolve<'a>(schema: &'a Value, document: &'a Value) -> &'a Value {
    let mut schema = schema;
    // A reference to a reference is followed a few steps, never in a loop.
    for _ in 0..8 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix('#'))
            .and_then(|pointer| document.pointer(pointer))
        {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn push(errors: &mut Vec<FieldError>, pointer: &str, detail: String) {
    if errors.len() < MAX_ERRORS {
        let pointer = if pointer.is_empty() { "/" } else { pointer };
        errors.push(FieldError::new(pointer, detail));
    }
}

/// The refusal of a value that is not what `schema` describes, in plain words.
fn refusal(pointer: &str, schema: &Value, document: &Value, value: &Value) -> String {
    refusal_words(pointer, schema, document, value, true)
}

/// [`refusal`], saying what the value is only when `name_got` (not for a string of the wrong
/// form: "must be a UUID" says it all).
fn refusal_words(
    pointer: &str,
    schema: &Value,
    document: &Value,
    value: &Value,
    name_got: bool,
) -> String {
    if let (Some(integer), Some((min, max))) = (value.as_i64(), int_range(schema))
        && types(schema).contains(&"integer")
        && !(min..=max).contains(&integer)
    {
        return format!("must be an integer from {min} to {max}");
    }
    if value.is_u64() && value.as_i64().is_none() && int_range(schema).is_some() {
        return "must be a 32-bit integer".to_owned();
    }
    let expected = noun(schema, document, 0);
    let got = if name_got {
        format!(" (not {})", kind_of(value))
    } else {
        String::new()
    };
    if pointer.is_empty() {
        format!("expected {expected}{got}")
    } else {
        format!("must be {expected}{got}")
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a fractional number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn members(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What `schema` describes, as a noun phrase ("an integer", "a date YYYY-MM-DD").
fn noun(schema: &Value, document: &Value, depth: usize) -> String {
    let schema = resolve(schema, document);
    if depth > 4 {
        return "a documented value".to_owned();
    }
    if let Some(alternatives) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let mut nouns: Vec<String> = alternatives
            .iter()
            .map(|alternative| noun(alternative, document, depth + 1))
            .collect();
        nouns.dedup();
        return nouns.join(" or ");
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let words: Vec<String> = values
            .iter()
            .map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect();
        return match words.as_slice() {
            [one] => format!("`{one}`"),
            _ => format!("one of {}", words.join(", ")),
        };
    }
    if let Some(constant) = schema.get("const") {
        return format!(
            "`{}`",
            constant
                .as_str()
                .map_or(constant.to_string(), str::to_owned)
        );
    }
    let format = schema.get("format").and_then(Value::as_str);
    let mut nouns: Vec<String> = types(schema)
        .into_iter()
        .map(|kind| match kind {
            "object" => {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|names| names.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if required.is_empty() {
                    "an object".to_owned()
                } else {
                    format!("an object with {}", members(&required))
                }
            }
            "array" => "an array".to_owned(),
            "string" => match format {
                Some("uuid") => "a UUID".to_owned(),
                Some("date") => "a date YYYY-MM-DD".to_owned(),
                Some("date-time") => "a date and time (RFC 3339)".to_owned(),
                _ => "a string".to_owned(),
            },
            "integer" => "an integer".to_owned(),
            "number" => "a number".to_owned(),
            "boolean" => "true or false".to_owned(),
            "null" => "null".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    if nouns.is_empty() {
        return "a documented value".to_owned();
    }
    // "null" last: "a date YYYY-MM-DD or null".
    nouns.sort_by_key(|noun| noun == "null");
    nouns.join(" or ")
}

/// The integers an `int32` (or `int16`) member holds. utoipa documents an unsigned Rust type
/// as the signed format with `minimum: 0`: then its whole unsigned range, so that nothing serde
/// would read is refused here.
fn int_range(schema: &Value) -> Option<(i64, i64)> {
    let unsigned = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .is_some_and(|minimum| minimum >= 0.0);
    match schema.get("format").and_then(Value::as_str) {
        Some("int32") if unsigned => Some((0, u32::MAX.into())),
        Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
        Some("int16") if unsigned => Some((0, u16::MAX.into())),
        Some("int16") => Some((i16::MIN.into(), i16::MAX.into())),
        _ => None,
    }
}

fn matches_type(kind: &str, schema: &Value, value: &Value) -> bool {
    match (kind, value) {
        ("null", Value::Null)
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_))
        | ("string", Value::String(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_)) => true,
        ("integer", Value::Number(number)) => {
            let format = schema.get("format").and_then(Value::as_str);
            match (int_range(schema), number.as_i64()) {
                (Some((min, max)), Some(integer)) => (min..=max).contains(&integer),
                (Some(_), None) => false,
                (None, _) => number.is_i64() || (format != Some("int64") && number.is_u64()),
            }
        }
        _ => false,
    }
}

fn format_ok(schema: &Value, text: &str) -> bool {
    match schema.get("format").and_then(Value::as_str) {
        // What serde's own readers of these types accept, so that nothing they take is refused.
        Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
        Some("date") => text.parse::<chrono::NaiveDate>().is_ok(),
        Some("date-time") => text
            .parse::<chrono::DateTime<chrono::FixedOffset>>()
            .is_ok(),
        _ => true,
    }
}

fn walk(
    schema: &Value,
    document: &Value,
    value: &Value,
    pointer: &mut String,
    errors: &mut Vec<FieldError>,
    depth: usize,
) {
    let schema = resolve(schema, document);
    // Bodies are at most 128 levels deep (the JSON reader's bound); schemas far less.
    if depth > 64 || errors.len() >= MAX_ERRORS {
        return;
    }
    if let Some(alternatives) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let mut best: Option<Vec<FieldError>> = None;
        for alternative in alternatives {
            let mut found = Vec::new();
            walk(alternative, document, value, pointer, &mut found, depth + 1);
            if found.is_empty() {
                return;
            }
            let whole_value_refused = found.len() == 1 && found[0].pointer == at(pointer);
            if whole_value_refused {
                continue;
            }
            if best.as_ref().is_none_or(|best| found.len() < best.len()) {
                best = Some(found);
            }
        }
        match best {
            // The value is of an alternative's shape but wrong inside: say what is wrong there.
            Some(found) => errors.extend(found),
            // Of no alternative's shape: say what the alternatives are.
            None => push(errors, pointer, refusal(pointer, schema, document, value)),
        }
        return;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            walk(part, document, value, pointer, errors, depth + 1);
        }
    }
    let enumeration = schema
        .get("enum")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .or_else(|| schema.get("const").map(std::slice::from_ref));
    if let Some(allowed) = enumeration {
        if !allowed.contains(value) {
            let name_got = !value.is_string();
            let words = refusal_words(pointer, schema, document, value, name_got);
            push(errors, pointer, words);
        }
        return;
    }
    let kinds = types(schema);
    if !kinds.is_empty() && !kinds.iter().any(|kind| matches_type(kind, schema, value)) {
        push(errors, pointer, refusal(pointer, schema, document, value));
        return;
    }
    match value {
        Value::String(text) if !format_ok(schema, text) => {
            let words = refusal_words(pointer, schema, document, value, false);
            push(errors, pointer, words);
        }
        Value::Object(object) => walk_object(schema, document, object, pointer, errors, depth),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    let length = pointer.len();
                    pointer.push_str(&format!("/{index}"));
                    walk(item_schema, document, item, pointer, errors, depth + 1);
                    pointer.truncate(length);
                }
            }
        }
        _ => {}
    }
}

fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        "/".to_owned()
    } else {
        pointer.to_owned()
    }
}

fn walk_object(
    schema: &Value,
    document: &Value,
    object: &Map<String, Value>,
    pointer: &mut String,
    errors: &mut Vec<FieldError>,
    depth: usize,
) {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // In the order of the schema's properties as `Map` keeps them (by name).
    for (name, member_schema) in properties {
        let length = pointer.len();
        pointer.push('/');
        pointer.push_str(&escape(name));
        match object.get(name) {
            // `null` for an optional member is left to serde and the service: for a merge
            // patch it is "clear this member", which the service accepts or refuses with its
            // other checks, in one 422.
            Some(Value::Null) if !required.contains(&name.as_str()) => {}
            Some(member) => walk(member_schema, document, member, pointer, errors, depth + 1),
            None if required.contains(&name.as_str()) => {
                push(errors, pointer, "is required".to_owned());
            }
            None => {}
        }
        pointer.truncate(length);
    }
    for name in required {
        if !properties.contains_key(name) && !object.contains_key(name) {
            push(
                errors,
                &format!("{pointer}/{}", escape(name)),
                "is required".to_owned(),
            );
        }
    }
    let additional = schema.get("additionalProperties");
    for (name, member) in object {
        if properties.contains_key(name) {
            continue;
        }
        let length = pointer.len();
        pointer.push('/');
        pointer.push_str(&escape(name));
        match additional {
            Some(Value::Bool(false)) => push(
                errors,
                pointer,
                "is not a member of this request (unknown, or owned by the server)".to_owned(),
            ),
            Some(extra @ Value::Object(_)) => {
                walk(extra, document, member, pointer, errors, depth + 1);
            }
            _ => {}
        }
        pointer.truncate(length);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document() -> Value {
        json!({"components": {"schemas": {
            "Kind": {"type": "string", "enum": ["target", "title"]},
            "Membership": {"type": "object", "required": ["organization_id", "role"],
                "properties": {"organization_id": {"type": "string", "format": "uuid"},
                               "role": {"type": "string"}}, "additionalProperties": false},
            "Replace": {"type": "object", "required": ["memberships"], "properties": {
                "memberships": {"type": "array",
                                "items": {"$ref": "#/components/schemas/Membership"}}},
                "additionalProperties": false},
            "Create": {"type": "object",
                "required": ["campaign_id", "year", "kind", "deadline"],
                "properties": {
                    "campaign_id": {"type": "string", "format": "uuid"},
                    "year": {"type": "integer", "format": "int32"},
                    "kind": {"$ref": "#/components/schemas/Kind"},
                    "deadline": {"type": "string", "format": "date"},
                    "relation": {"oneOf": [{"$ref": "#/components/schemas/Kind"},
                                           {"type": "null"}]},
                    "done": {"type": ["boolean", "null"]}},
                "additionalProperties": false}
        }}})
    }

    fn check(name: &str, value: Value) -> Vec<(String, String)> {
        let document = document();
        let schema = json!({"$ref": format!("#/components/schemas/{name}")});
        shape_errors(&schema, &document, &value)
            .into_iter()
            .map(|error| (error.pointer, error.detail))
            .collect()
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_named_in_plain_words() {
        assert_eq!(
            check("Replace", json!([{"organization_id": "x"}])),
            [(
                "/".to_owned(),
                "expected an object with `memberships` (not an array)".to_owned()
            )]
        );
        assert_eq!(
            check("Replace", json!({"memberships": {"role": "admin"}})),
            [(
                "/memberships".to_owned(),
                "must be an array (not an object)".to_owned()
            )]
        );
    }

    #[test]
    fn every_missing_and_invalid_member_is_named_at_once() {
        let pointers = |errors: Vec<(String, String)>| -> Vec<String> {
            errors.into_iter().map(|(pointer, _)| pointer).collect()
        };
        assert_eq!(
            pointers(check("Create", json!({"year": 2024}))),
            ["/campaign_id", "/deadline", "/kind"]
        );
        let errors = check(
            "Create",
            json!({"campaign_id": "x", "year": "2024", "kind": "other", "deadline": "31/12/2024",
                   "relation": 3, "done": "yes", "status": "approved"}),
        );
        assert_eq!(
            errors,
            [
                ("/campaign_id", "must be a UUID"),
                ("/deadline", "must be a date YYYY-MM-DD"),
                ("/done", "must be true or false or null (not a string)"),
                ("/kind", "must be one of target, title"),
                (
                    "/relation",
                    "must be one of target, title or null (not a number)"
                ),
                ("/year", "must be an integer (not a string)"),
                (
                    "/status",
                    "is not a member of this request (unknown, or owned by the server)"
                ),
            ]
            .map(|(pointer, detail)| (pointer.to_owned(), detail.to_owned()))
        );
        let inside = check(
            "Replace",
            json!({"memberships": [{"organization_id": "x"}, {"role": 1}]}),
        );
        assert_eq!(
            pointers(inside),
            [
                "/memberships/0/organization_id",
                "/memberships/0/role",
                "/memberships/1/organization_id",
                "/memberships/1/role"
            ]
        );
    }

    #[test]
    fn an_integer_is_checked_against_the_range_of_its_format() {
        let document = document();
        let signed = json!({"type": "integer", "format": "int32"});
        let unsigned = json!({"type": "integer", "format": "int32", "minimum": 0});
        let errors = shape_errors(&signed, &document, &json!(3_000_000_000_u64));
        assert_eq!(
            errors[0].detail,
            "must be an integer from -2147483648 to 2147483647"
        );
        assert!(shape_errors(&unsigned, &document, &json!(3_000_000_000_u64)).is_empty());
        assert!(shape_errors(&signed, &document, &json!(-5)).is_empty());
        let errors = shape_errors(&signed, &document, &json!(2.5));
        assert_eq!(
            errors[0].detail,
            "expected an integer (not a fractional number)"
        );
    }

    #[test]
    fn what_serde_accepts_passes() {
        assert!(
            check(
                "Create",
                json!({"campaign_id": "67e55044-10b1-426f-9247-bb680e5fe0c8", "year": 2024,
                       "kind": "title", "deadline": "2024-12-31", "relation": null,
                       "done": true})
            )
            .is_empty()
        );
        assert!(check("Replace", json!({"memberships": []})).is_empty());
    }
}
