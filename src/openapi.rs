//! The OpenAPI 3.1 document, generated from the handlers' annotations as they are registered,
//! and the route inventory derived from it (for `405 Allow` and the inventory test).

use std::sync::Arc;

use actix_web::dev::ResourceDef;
use actix_web::{HttpResponse, get, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDocument, PathItem};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::scope::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{FieldError, Problem};

pub mod shared;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "thidua",
        description = "Public-sector emulation movements (phong trào thi đua): organizations register \
            pledges, report progress and are assessed; they nominate exemplars that are reviewed, \
            recognized and commended and then followed by others; leaders read aggregates over \
            their whole subtree.\n\nErrors are RFC 9457 problem details with a stable `code`. \
            Lists are keyset-paginated (`limit`, `cursor`). Single resources carry strong ETags; \
            POSTs accept `Idempotency-Key`. Every GET also answers HEAD (same status and \
            headers, no body). Requests beyond the rate limit of the client address or of the \
            user or client (per instance) get 429 `rate_limited` with `Retry-After`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "This service, in whichever environment serves the document (local, staging or production): paths are relative to it")),
    tags(
        (name = "auth", description = "Tokens, the caller, signing keys"),
        (name = "administration", description = "Users, memberships, partner clients, audit log"),
        (name = "organizations", description = "The organization tree"),
        (name = "restructurings", description = "Atomic, effective-dated changes of many units with lineage (the 2025 two-tier reform)"),
        (name = "campaigns", description = "Movements and their fields"),
        (name = "pledges", description = "Pledges (đăng ký thi đua), their state machine and progress reports"),
        (name = "stats", description = "Aggregates over a subtree: coverage, counts, titles, leaderboard"),
        (name = "nominations", description = "Nominations of exemplars (điển hình tiên tiến), their reviews, commendation, and the exemplars pledges follow"),
        (name = "titles", description = "The annual title cycle of the Law on Emulation and Commendation 2022: rule sets as data, base salaries, persons and their year records, title registrations, eligibility"),
        (name = "sync", description = "The change feed: every change you may see, in commit order, with a resumable cursor; and webhooks that deliver it, signed, to your receiver"),
        (name = "operations", description = "Health, readiness, documentation"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerSecurity),
)]
struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "EdDSA-signed JWT access token from POST /api/v1/auth/token (at most \
                         15 minutes), issued and verified following RFC8725 (JSON Web Token best \
                         current practices): fixed algorithm, `typ`, `iss`, `aud`, `exp` and `nbf` checked",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's THIDUA_METRICS_TOKEN, for GET /metrics only",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every route of the service, in one place, for the app and for the document alike.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(crate::health::healthz)
        .service(crate::health::readyz)
        .service(crate::metrics::prometheus_metrics)
        .service(crate::problems::problem_page)
        .service(crate::auth::handlers::jwks)
        .service(openapi_json)
        .service(
            scope("/api/v1")
                .service(crate::auth::handlers::token)
                .service(crate::auth::handlers::revoke)
                .service(crate::auth::handlers::me)
                .configure(crate::users::routes)
                .service(crate::audit::list_audit_events)
                .configure(crate::organizations::routes)
                .configure(crate::restructurings::routes)
                .configure(crate::campaigns::routes)
                .configure(crate::pledges::routes)
                .configure(crate::nominations::routes)
                .configure(crate::stats::routes)
                .configure(crate::persons::routes)
                .configure(crate::titles::routes)
                .configure(crate::awards::routes)
                .configure(crate::changes::routes)
                .configure(crate::webhooks::routes),
        );
}

/// The OpenAPI document of this build.
pub fn document() -> OpenApiDocument {
    let (_, mut document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document_rate_limits(&mut document);
    shared::document_shared(&mut document);
    document
}

/// Adds the 429 of `crate::ratelimit` to every operation but the exempt probes.
fn document_rate_limits(document: &mut OpenApiDocument) {
    use utoipa::openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type,
    };
    const NAME: &str = "RateLimited";
    const DESCRIPTION: &str = "Too many requests from this client address or with this user's \
        (or client's) tokens: `rate_limited`; retry after `Retry-After` seconds";
    let response = ResponseBuilder::new()
        .description(DESCRIPTION)
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Int32,
                        )))
                        .minimum(Some(1)),
                ))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        )
        .content(
            crate::error::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    let retry_after = response.headers.get("Retry-After").cloned();
    let components = document.components.get_or_insert_with(Default::default);
    components
        .responses
        .insert(NAME.to_owned(), RefOr::T(response));
    // The IETF headers every limited response carries while a limit is on.
    let text = || ObjectBuilder::new().schema_type(Type::String);
    components.headers.insert(
        RATELIMIT_POLICY.to_owned(),
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(text().examples([
                    r#""per-ip";q=6000;w=60, "per-principal";q=1200;w=60"#,
                ])))
                .description(Some(
                    "The request rate limits (draft-ietf-httpapi-ratelimit-headers): `per-ip` \
                     for the client address, `per-principal` for the user or client of the \
                     access token; `q` requests at most in a burst, `w` seconds for an empty \
                     budget to fill again. Sent while a limit is on (per instance)",
                ))
                .build(),
        ),
    );
    components.headers.insert(
        RATELIMIT.to_owned(),
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(text().examples([
                    r#""per-ip";r=5999;t=1, "per-principal";r=1199;t=1"#,
                ])))
                .description(Some(
                    "What is left of each policy of `RateLimit-Policy` after this request: `r` \
                     requests, `t` seconds until the budget is full again (`r=0` on a 429 \
                     `rate_limited`; wait `Retry-After`). `per-principal` only when the request \
                     carried a valid access token",
                ))
                .build(),
        ),
    );
    if let Some(RefOr::T(response)) = components.responses.get_mut(NAME) {
        add_rate_limit_headers(response);
    }
    for (path, item) in document.paths.paths.iter_mut() {
        if path == "/healthz" || path == "/readyz" {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            // Shared responses (`$ref`) are described once, without them.
            for response in responses.values_mut() {
                if let RefOr::T(response) = response {
                    add_rate_limit_headers(response);
                }
            }
            match responses.get_mut("429") {
                // An operation with a 429 of its own (the token endpoint's login throttle).
                Some(RefOr::T(own)) => {
                    own.description = format!(
                        "{}; or the rate limit of the client address or of the user or client \
                         was exceeded (`rate_limited`)",
                        own.description
                    );
                    // Both refusals send it (the login throttle too).
                    if let Some(header) = &retry_after {
                        own.headers
                            .entry("Retry-After".to_owned())
                            .or_insert_with(|| header.clone());
                    }
                }
                Some(RefOr::Ref(_)) => {}
                None => {
                    // OpenAPI 3.1 lets a reference carry its own description.
                    let mut reference = Ref::from_response_name(NAME);
                    reference.description = DESCRIPTION.to_owned();
                    responses.insert("429".to_owned(), RefOr::Ref(reference));
                }
            }
        }
    }
}

/// Component names of the IETF rate limit headers (`crate::ratelimit`).
const RATELIMIT_POLICY: &str = "RateLimit-Policy";
const RATELIMIT: &str = "RateLimit";

fn add_rate_limit_headers(response: &mut utoipa::openapi::Response) {
    for name in [RATELIMIT_POLICY, RATELIMIT] {
        response.headers.insert(
            name.to_owned(),
            utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::new(format!(
                "#/components/headers/{name}"
            ))),
        );
    }
}

/// The document as pretty JSON, as committed in `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// The served document, built once at start-up.
#[derive(Clone)]
pub struct SpecJson(pub Arc<String>);

/// This document: the OpenAPI 3.1 description of the service.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
#[get("/api/v1/openapi.json")]
pub async fn openapi_json(spec: web::Data<SpecJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=60"))
        .body(spec.0.as_str().to_owned())
}

/// Path templates and their methods, from the document.
pub struct RouteInventory {
    routes: Vec<(ResourceDef, Vec<String>)>,
}

impl RouteInventory {
    pub fn from_document(document: &OpenApiDocument) -> Self {
        let mut routes: Vec<(ResourceDef, Vec<String>)> = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| (ResourceDef::new(path.as_str()), methods_of(item)))
            .collect();
        // Swagger UI is served beside the API but is not an operation of it.
        routes.push((ResourceDef::new("/docs/{tail}*"), vec!["GET".to_owned()]));
        routes.push((ResourceDef::new("/docs"), vec!["GET".to_owned()]));
        Self { routes }
    }

    /// Methods served at `path`, HEAD included where GET is (empty: no such route). Where
    /// several templates match, the most literal ones win, as in the router:
    /// `/pledges/export.csv` is that resource, never `/pledges/{id}`.
    pub fn methods_for(&self, path: &str) -> Vec<String> {
        let dynamic = |resource: &ResourceDef| {
            resource
                .pattern()
                .map_or(0, |pattern| pattern.matches('{').count())
        };
        let matching: Vec<&(ResourceDef, Vec<String>)> = self
            .routes
            .iter()
            .filter(|(resource, _)| resource.is_match(path))
            .collect();
        let fewest = matching
            .iter()
            .map(|(resource, _)| dynamic(resource))
            .min()
            .unwrap_or(0);
        let mut methods: Vec<String> = matching
            .into_iter()
            .filter(|(resource, _)| dynamic(resource) == fewest)
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect();
        // HEAD is answered wherever GET is (`crate::middleware::request_envelope`).
        if methods.iter().any(|method| method == "GET") {
            methods.push("HEAD".to_owned());
        }
        methods.sort();
        methods.dedup();
        methods
    }

    /// Every (method, path template) pair.
    pub fn operations(&self) -> Vec<(String, String)> {
        self.routes
            .iter()
            .flat_map(|(resource, methods)| {
                methods.iter().map(move |method| {
                    (
                        method.clone(),
                        resource.pattern().unwrap_or_default().to_owned(),
                    )
                })
            })
            .collect()
    }
}

fn methods_of(item: &PathItem) -> Vec<String> {
    [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
        ("HEAD", item.head.is_some()),
        ("OPTIONS", item.options.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(method, _)| method.to_owned())
    .collect()
}
