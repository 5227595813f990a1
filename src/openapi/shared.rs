//! What every operation shares, documented once rather than in each handler: the answers of the
//! shared extractors (400 for malformed path, query and header values and JSON bodies, 413, 415),
//! of idempotency (409, 422) and of the error mapping (500); the `Idempotency-Key` and `If-Match`
//! headers; the bounds of keyset pagination; non-blank required text; the servers' audience; the
//! public operations' `security: [{}]`; the schema of evidence links.

use std::collections::BTreeSet;

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Array, ArrayBuilder, ArrayItems, SchemaType};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    ContentBuilder, KnownFormat, ObjectBuilder, OpenApi as OpenApiDocument, Ref, RefOr, Required,
    ResponseBuilder, Schema, SchemaFormat, Type,
};

use crate::error::PROBLEM_JSON;
use crate::pagination::MAX_LIMIT;

const BAD_REQUEST: &str = "BadRequest";
const PAYLOAD_TOO_LARGE: &str = "PayloadTooLarge";
const UNSUPPORTED_MEDIA_TYPE: &str = "UnsupportedMediaType";
const INTERNAL_ERROR: &str = "InternalError";
const IDEMPOTENCY_KEY_IN_USE: &str = "IdempotencyKeyInUse";
const IDEMPOTENCY_KEY_REUSED: &str = "IdempotencyKeyReused";
const IDEMPOTENCY_KEY: &str = "IdempotencyKey";
const IF_MATCH: &str = "IfMatch";
/// Cursors are base64url JSON of a sort key and an id: far below this.
const CURSOR_MAX_LENGTH: usize = 512;

/// The shared problem responses: component name and description.
const RESPONSES: [(&str, &str); 6] = [
    (
        BAD_REQUEST,
        "Malformed path, query or header value (`invalid_path`, `invalid_query`, \
         `invalid_header`) or malformed JSON (`malformed_json`)",
    ),
    (
        PAYLOAD_TOO_LARGE,
        "Body larger than the limit (`payload_too_large`)",
    ),
    (
        UNSUPPORTED_MEDIA_TYPE,
        "The body is not `application/json` (`unsupported_media_type`)",
    ),
    (
        IDEMPOTENCY_KEY_IN_USE,
        "A request with the same `Idempotency-Key` is still running \
         (`idempotency_key_in_use`)",
    ),
    (
        IDEMPOTENCY_KEY_REUSED,
        "The `Idempotency-Key` was used with another request (`idempotency_key_reused`)",
    ),
    (
        INTERNAL_ERROR,
        "The service failed; the problem carries no internals (`internal_error`)",
    ),
];

/// Applies the shared rules to `document` (after every route is registered).
pub fn document_shared(document: &mut OpenApiDocument) {
    let components = document.components.get_or_insert_with(Default::default);
    components.parameters.insert(
        IDEMPOTENCY_KEY.to_owned(),
        RefOr::T(header(
            "Idempotency-Key",
            "Makes retries safe: a retry with the same key and body replays the first response",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        )),
    );
    components.parameters.insert(
        IF_MATCH.to_owned(),
        RefOr::T(header(
            "If-Match",
            "ETag the request is based on; 412 when it names no current ETag",
            ObjectBuilder::new().schema_type(Type::String),
        )),
    );

    for schema in components.schemas.values_mut() {
        if let RefOr::T(schema) = schema {
            require_non_blank(schema);
        }
    }

    for server in document.servers.iter_mut().flatten() {
        server.extensions = Some(ExtensionsBuilder::new().add("x-internal", false).build());
    }

    let mut used = BTreeSet::new();
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            document_operation(operation, &mut used);
        }
    }
    // Only the responses some operation refers to (an unused component is a lint warning).
    let components = document.components.get_or_insert_with(Default::default);
    for (name, description) in RESPONSES {
        if used.contains(name) {
            components
                .responses
                .insert(name.to_owned(), RefOr::T(problem_response(description)));
        }
    }
}

fn document_operation(operation: &mut Operation, used: &mut BTreeSet<&'static str>) {
    let mut takes_values = false;
    let mut idempotent = false;
    for parameter in operation.parameters.iter_mut().flatten() {
        let RefOr::T(inline) = parameter else {
            continue;
        };
        match (&inline.parameter_in, inline.name.as_str()) {
            (ParameterIn::Header, "Idempotency-Key") => {
                *parameter = RefOr::Ref(Ref::new(format!(
                    "#/components/parameters/{IDEMPOTENCY_KEY}"
                )));
                takes_values = true;
                idempotent = true;
            }
            (ParameterIn::Header, "If-Match") => {
                *parameter = RefOr::Ref(Ref::new(format!("#/components/parameters/{IF_MATCH}")));
            }
            (ParameterIn::Query, "limit") => {
                inline.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                        .minimum(Some(1))
                        .maximum(Some(MAX_LIMIT))
                        .into(),
                );
                takes_values = true;
            }
            // `after` is the change feed's cursor (docs/api.md § Staying in sync).
            (ParameterIn::Query, "cursor" | "after") => {
                inline.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .max_length(Some(CURSOR_MAX_LENGTH))
                        .pattern(Some("^[A-Za-z0-9_-]+$"))
                        .into(),
                );
                takes_values = true;
            }
            (ParameterIn::Query, _) => takes_values = true,
            // Path values are parsed (ids as UUIDs); free-form ones (problem codes) are not.
            (ParameterIn::Path, _) => takes_values |= has_format(inline),
            _ => {}
        }
    }
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, name: &'static str| {
        responses.entry(status.to_owned()).or_insert_with(|| {
            used.insert(name);
            // OpenAPI 3.1 lets a reference carry its own description.
            let mut reference = Ref::from_response_name(name);
            reference.description = RESPONSES
                .iter()
                .find(|(component, _)| *component == name)
                .map(|(_, description)| (*description).to_owned())
                .unwrap_or_default();
            RefOr::Ref(reference)
        });
    };
    if takes_values || operation.request_body.is_some() {
        add("400", BAD_REQUEST);
    }
    if operation.request_body.is_some() {
        add("413", PAYLOAD_TOO_LARGE);
        add("415", UNSUPPORTED_MEDIA_TYPE);
    }
    if idempotent {
        add("409", IDEMPOTENCY_KEY_IN_USE);
        add("422", IDEMPOTENCY_KEY_REUSED);
    }
    add("500", INTERNAL_ERROR);
    // Without a requirement of its own an operation is public: say so explicitly.
    operation
        .security
        .get_or_insert_with(|| vec![SecurityRequirement::default()]);
}

/// The service trims text and drops format characters before checking a minimum length, so a
/// required text must hold a character that is neither white space (Rust's
/// `char::is_whitespace`) nor a format character of the Basic Multilingual Plane.
fn require_non_blank(schema: &mut Schema) {
    // White space and format characters (Unicode Cf, which stored text drops): a name needs one
    // character that is neither.
    const NON_BLANK: &str = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u2064\\u2066-\\u206f\\u3000\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891\\u08e2\\u180e\\ufeff\\ufff9-\\ufffb]";
    let Schema::Object(object) = schema else {
        return;
    };
    if object.min_length == Some(1) && object.pattern.is_none() {
        object.pattern = Some(NON_BLANK.to_owned());
    }
    for property in object.properties.values_mut() {
        match property {
            RefOr::T(Schema::Array(array)) => {
                if let ArrayItems::RefOrSchema(items) = &mut array.items
                    && let RefOr::T(items) = items.as_mut()
                {
                    require_non_blank(items);
                }
            }
            RefOr::T(property) => require_non_blank(property),
            RefOr::Ref(_) => {}
        }
    }
}

fn has_format(parameter: &Parameter) -> bool {
    matches!(&parameter.schema, Some(RefOr::T(Schema::Object(object))) if object.format.is_some())
}

fn header(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// `evidence_urls` of nominations and progress reports: at most 20 http(s) URLs of at most
/// 2000 characters (the service checks both).
pub fn evidence_urls() -> Array {
    evidence_url_list(ArrayBuilder::new())
}

/// [`evidence_urls`] where `null` is accepted too (merge patches).
pub fn evidence_urls_or_null() -> Array {
    evidence_url_list(
        ArrayBuilder::new().schema_type(SchemaType::from_iter([Type::Array, Type::Null])),
    )
}

fn evidence_url_list(builder: ArrayBuilder) -> Array {
    builder
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("uri".to_owned())))
                .max_length(Some(2000)),
        )
        .max_items(Some(20))
        .description(Some(
            "Links to evidence (http or https); stored, never fetched",
        ))
        .build()
}
