//! Query and path parameters checked against the OpenAPI document: an unknown query parameter
//! is a 400 naming it (it used to be ignored, so a misspelt filter answered unfiltered), and a
//! value of the wrong form is a 400 naming the parameter and what it accepts (the extractors'
//! own messages name neither).
//!
//! The document is the one list of each operation's parameters (generated from the handlers'
//! `IntoParams` types), so one check covers every route, including those that read the query
//! through two extractors.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, ResponseError, web};
use serde_json::Value;

use crate::error::{AppError, ProblemCode};

/// What a parameter's schema accepts, as far as a value can be checked on its own.
#[derive(Debug, Clone, PartialEq)]
enum Accepts {
    Integer {
        minimum: Option<i64>,
        maximum: Option<i64>,
    },
    Boolean,
    Uuid,
    Date,
    OneOf(Vec<String>),
    /// Strings, or anything else checked by the handler.
    Anything,
}

impl Accepts {
    fn from_schema(schema: &Value, document: &Value) -> Self {
        let schema = resolve(schema, document);
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return Self::OneOf(
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            );
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let format = schema.get("format").and_then(Value::as_str);
        if types.contains(&"integer") {
            Self::Integer {
                minimum: schema.get("minimum").and_then(Value::as_i64),
                maximum: schema.get("maximum").and_then(Value::as_i64),
            }
        } else if types.contains(&"boolean") {
            Self::Boolean
        } else if format == Some("uuid") {
            Self::Uuid
        } else if format == Some("date") {
            Self::Date
        } else {
            Self::Anything
        }
    }

    /// Why `value` is not accepted, if it is not.
    fn refusal(&self, value: &str) -> Option<String> {
        match self {
            Self::Integer { minimum, maximum } => {
                let range = match (minimum, maximum) {
                    (Some(min), Some(max)) => format!(" from {min} to {max}"),
                    (Some(min), None) => format!(" of at least {min}"),
                    (None, Some(max)) => format!(" of at most {max}"),
                    (None, None) => String::new(),
                };
                let Ok(number) = value.trim().parse::<i64>() else {
                    return Some(format!("must be an integer{range}"));
                };
                let outside = minimum.is_some_and(|min| number < min)
                    || maximum.is_some_and(|max| number > max);
                outside.then(|| format!("must be an integer{range}"))
            }
            Self::Boolean => {
                (!matches!(value, "true" | "false")).then(|| "must be true or false".to_owned())
            }
            Self::Uuid => uuid::Uuid::parse_str(value)
                .is_err()
                .then(|| "must be a UUID".to_owned()),
            Self::Date => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .is_err()
                .then(|| "must be a date (YYYY-MM-DD)".to_owned()),
            Self::OneOf(values) => (!values.iter().any(|allowed| allowed == value))
                .then(|| format!("must be one of {}", values.join(", "))),
            Self::Anything => None,
        }
    }
}

fn resolve<'a>(schema: &'a Value, document: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

/// One documented parameter.
#[derive(Debug, Clone)]
struct Parameter {
    name: String,
    in_path: bool,
    accepts: Accepts,
}

/// Every operation's parameters (app data).
#[derive(Debug, Default)]
pub struct ParameterRules {
    operations: Vec<(ResourceDef, String, Vec<Parameter>)>,
}

impl ParameterRules {
    /// The rules of the OpenAPI document `document` (its JSON form).
    pub fn from_document(document: &Value) -> Self {
        let mut operations = Vec::new();
        let Some(paths) = document.get("paths").and_then(Value::as_object) else {
            return Self::default();
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, operation) in item {
                let Some(listed) = operation.get("parameters").and_then(Value::as_array) else {
                    operations.push((ResourceDef::new(path.as_str()), method.clone(), vec![]));
                    continue;
                };
                let parameters = listed
                    .iter()
                    .map(|parameter| resolve(parameter, document))
                    .filter_map(|parameter| {
                        let location = parameter.get("in")?.as_str()?;
                        if location != "query" && location != "path" {
                            return None;
                        }
                        Some(Parameter {
                            name: parameter.get("name")?.as_str()?.to_owned(),
                            in_path: location == "path",
                            accepts: parameter.get("schema").map_or(Accepts::Anything, |schema| {
                                Accepts::from_schema(schema, document)
                            }),
                        })
                    })
                    .collect();
                operations.push((ResourceDef::new(path.as_str()), method.clone(), parameters));
            }
        }
        Self { operations }
    }

    /// The parameters of the operations matching `path` and `method`; `None`: no operation.
    fn of(&self, path: &str, method: &str) -> Option<Vec<&Parameter>> {
        let mut found = None;
        for (resource, operation_method, parameters) in &self.operations {
            if operation_method.eq_ignore_ascii_case(method) && resource.is_match(path) {
                found.get_or_insert_with(Vec::new).extend(parameters.iter());
            }
        }
        found
    }

    /// The first query parameter of the request that its operation does not document.
    fn unknown_query_parameter(&self, path: &str, method: &str, query: &str) -> Option<AppError> {
        let parameters = self.of(path, method)?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
        let (name, _) = pairs.iter().find(|(name, _)| {
            // RFC 6750 §2.3's URI token is never accepted; it stays the authentication's
            // refusal (401 with a Bearer challenge), not a parameter problem.
            name != "access_token"
                && !parameters
                    .iter()
                    .any(|parameter| !parameter.in_path && parameter.name == *name)
        })?;
        let mut known: Vec<&str> = parameters
            .iter()
            .filter(|parameter| !parameter.in_path)
            .map(|parameter| parameter.name.as_str())
            .collect();
        known.sort_unstable();
        known.dedup();
        let accepted = if known.is_empty() {
            "it takes no query parameters".to_owned()
        } else {
            format!("it accepts {}", known.join(", "))
        };
        Some(parameter_problem(
            ProblemCode::InvalidQuery,
            name,
            &format!("is not a query parameter of this operation; {accepted}"),
        ))
    }
}

fn parameter_problem(code: ProblemCode, name: &str, detail: &str) -> AppError {
    AppError::bad_request(code, format!("{name} {detail}")).with_extra("parameter", name)
}

/// Middleware: 400 `invalid_query` naming the first query parameter the operation does not
/// document (needs `web::Data<ParameterRules>`; without it nothing is checked).
pub async fn refuse_unknown_parameters<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let refusal = req
        .app_data::<web::Data<ParameterRules>>()
        .filter(|_| !req.query_string().is_empty())
        .and_then(|rules| {
            // A method the path does not serve is a 405 whatever its query: the parameters
            // of `/pledges/{id}` are not asked of `PATCH /pledges/export.csv`.
            if let Some(inventory) = req.app_data::<web::Data<crate::openapi::RouteInventory>>()
                && req.method() != actix_web::http::Method::OPTIONS
            {
                let methods = inventory.methods_for(req.path());
                if !methods.is_empty()
                    && !methods.iter().any(|method| method == req.method().as_str())
                {
                    return Some(crate::middleware::method_not_allowed(
                        req.method(),
                        &methods,
                    ));
                }
            }
            rules.unknown_query_parameter(req.path(), req.method().as_str(), req.query_string())
        });
    match refusal {
        Some(problem) => Ok(req
            .into_response(problem.error_response())
            .map_into_right_body()),
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

/// The problem for a query the `Query` extractor refused: which parameter, and what it accepts.
pub fn query_problem(req: &HttpRequest, fallback: String) -> AppError {
    let named = req
        .app_data::<web::Data<ParameterRules>>()
        .and_then(|rules| {
            let parameters = rules.of(req.path(), req.method().as_str())?;
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(req.query_string()).ok()?;
            pairs.iter().find_map(|(name, value)| {
                let parameter = parameters
                    .iter()
                    .find(|parameter| !parameter.in_path && parameter.name == *name)?;
                let refusal = parameter.accepts.refusal(value)?;
                Some(parameter_problem(ProblemCode::InvalidQuery, name, &refusal))
            })
        });
    named.unwrap_or_else(|| match missing_field(&fallback) {
        Some(name) => parameter_problem(ProblemCode::InvalidQuery, &name, "is required"),
        None => AppError::bad_request(ProblemCode::InvalidQuery, fallback),
    })
}

/// The problem for a path the `Path` extractor refused: which segment, and what it accepts.
pub fn path_problem(req: &HttpRequest, fallback: String) -> AppError {
    let named = req
        .app_data::<web::Data<ParameterRules>>()
        .and_then(|rules| {
            let parameters = rules.of(req.path(), req.method().as_str())?;
            req.match_info().iter().find_map(|(name, value)| {
                let parameter = parameters
                    .iter()
                    .find(|parameter| parameter.in_path && parameter.name == name)?;
                let refusal = parameter.accepts.refusal(value)?;
                Some(parameter_problem(ProblemCode::InvalidPath, name, &refusal))
            })
        });
    named.unwrap_or_else(|| AppError::bad_request(ProblemCode::InvalidPath, fallback))
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.split("missing field `").nth(1)?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// 400 `invalid_query` naming `name` unless `value` (when given) lies in `range`: the documented
/// bounds of a query parameter the handler reads as a number.
pub fn in_range(
    name: &str,
    value: Option<i32>,
    range: std::ops::RangeInclusive<i32>,
) -> Result<(), AppError> {
    match value {
        Some(value) if !range.contains(&value) => Err(parameter_problem(
            ProblemCode::InvalidQuery,
            name,
            &format!(
                "must be an integer from {} to {}",
                range.start(),
                range.end()
            ),
        )),
        _ => Ok(()),
    }
}

/// 400 `invalid_query` naming `name` when `value` is longer than `max` characters.
pub fn at_most(name: &str, value: Option<&str>, max: usize) -> Result<(), AppError> {
    match value {
        Some(value) if value.chars().count() > max => Err(parameter_problem(
            ProblemCode::InvalidQuery,
            name,
            &format!("must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_schema() {
        let document = serde_json::json!({"components": {"schemas": {
            "Kind": {"type": "string", "enum": ["target", "quality"]}
        }}});
        let accepts = |schema: Value| Accepts::from_schema(&schema, &document);
        let year = accepts(serde_json::json!({"type": ["integer", "null"], "format": "int32"}));
        assert_eq!(year.refusal("2022"), None);
        assert_eq!(year.refusal("20x2").as_deref(), Some("must be an integer"));
        let limit = accepts(serde_json::json!({"type": "integer", "minimum": 1, "maximum": 200}));
        assert_eq!(
            limit.refusal("500").as_deref(),
            Some("must be an integer from 1 to 200")
        );
        let kind = accepts(serde_json::json!({"$ref": "#/components/schemas/Kind"}));
        assert_eq!(
            kind.refusal("other").as_deref(),
            Some("must be one of target, quality")
        );
        assert_eq!(kind.refusal("target"), None);
        let id = accepts(serde_json::json!({"type": "string", "format": "uuid"}));
        assert_eq!(id.refusal("x").as_deref(), Some("must be a UUID"));
        let flag = accepts(serde_json::json!({"type": "boolean"}));
        assert_eq!(
            flag.refusal("yes").as_deref(),
            Some("must be true or false")
        );
    }
}
