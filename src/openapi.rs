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

#[derive(OpenApi)]
#[openapi(
    info(
        title = "thidua",
        description = "Public-sector emulation movements (phong trào thi đua): organizations register \
            pledges, report progress and are assessed; they nominate exemplars that are reviewed, \
            recognized and commended and then followed by others; leaders read aggregates over \
            their whole subtree.\n\nErrors are RFC 9457 problem details with a stable `code`. \
            Lists are keyset-paginated (`limit`, `cursor`). Single resources carry strong ETags; \
            POSTs accept `Idempotency-Key`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "This service")),
    tags(
        (name = "auth", description = "Tokens, the caller, signing keys"),
        (name = "administration", description = "Users, memberships, partner clients, audit log"),
        (name = "organizations", description = "The organization tree"),
        (name = "campaigns", description = "Movements and their fields"),
        (name = "pledges", description = "Pledges (đăng ký thi đua), their state machine and progress reports"),
        (name = "stats", description = "Aggregates over a subtree: coverage, counts, titles, leaderboard"),
        (name = "nominations", description = "Nominations of exemplars (điển hình tiên tiến), their reviews, commendation, and the exemplars pledges follow"),
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
                        "EdDSA access token from POST /api/v1/auth/token (at most 15 minutes)",
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
                .configure(crate::campaigns::routes)
                .configure(crate::pledges::routes)
                .configure(crate::nominations::routes)
                .configure(crate::stats::routes),
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
    document
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
        Self { routes }
    }

    /// Methods served at `path` (empty: no such route).
    pub fn methods_for(&self, path: &str) -> Vec<String> {
        let mut methods: Vec<String> = self
            .routes
            .iter()
            .filter(|(resource, _)| resource.is_match(path))
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect();
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
