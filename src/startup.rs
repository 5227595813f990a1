//! Builds the actix application and server from settings; tests start it on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::config::Settings;
use crate::extract::{BodyLimit, BodyReadTimeout, path_error, query_error};
use crate::middleware::{no_route, request_envelope};
use crate::openapi::{RouteInventory, SpecJson};
use crate::state::AppState;

/// A bound, not yet running, server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    /// Connects the pools (lazily), loads keys and the recent token revocations, and binds the
    /// listener of `settings.bind`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = AppState::from_settings(settings)?;
        let loaded_at = state.revocations.load(&state.db).await;
        state.revocations.start(
            state.db.clone(),
            state.settings.database_url.clone(),
            state.settings.revocation_poll_interval,
            loaded_at,
        );
        Self::build_with_state(state)
    }

    /// Binds and serves `state` as it is (its revocations are kept current by whoever started
    /// them: [`Application::build`] does).
    pub fn build_with_state(state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&state.settings.bind)
            .with_context(|| format!("cannot listen on {}", state.settings.bind))?;
        let port = listener.local_addr()?.port();
        let server = run(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::ACCEPT,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            // Browser partners pace themselves with these too.
            crate::ratelimit::RATELIMIT,
            crate::ratelimit::RATELIMIT_POLICY,
        ])
        .max_age(600);
    for origin in &settings.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

fn run(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let document = crate::openapi::document();
    let inventory = web::Data::new(RouteInventory::from_document(&document));
    let document_json = serde_json::to_value(&document).context("the spec as JSON")?;
    let parameter_rules =
        web::Data::new(crate::params::ParameterRules::from_document(&document_json));
    let body_rules = web::Data::new(crate::extract::BodyRules::from_document(&document_json));
    let metrics = web::Data::new(crate::metrics::Metrics::new(&document)?);
    let spec = web::Data::new(SpecJson(Arc::new(
        document.to_json().context("serializing the spec")?,
    )));
    let tokens = web::Data::new(state.tokens.clone());
    let revocations = web::Data::from(state.revocations.clone());
    let rate_limits = web::Data::from(crate::ratelimit::RateLimits::start(&state.settings));
    let body_limit = BodyLimit(state.settings.json_body_limit);
    let body_read_timeout = BodyReadTimeout(state.settings.body_read_timeout);
    let settings = state.settings.clone();
    let workers = settings.workers;
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            // Inside CORS (a 429 still tells an allowed origin), preflights are not counted.
            .wrap(from_fn(crate::params::refuse_unknown_parameters))
            .wrap(from_fn(crate::idempotency::refuse_malformed_keys))
            .wrap(from_fn(crate::ratelimit::rate_limit))
            .wrap(cors(&settings))
            .wrap(from_fn(request_envelope))
            // Outermost: times and counts every response, problems of other middleware too.
            .wrap(crate::metrics::RequestMetrics::new(
                metrics.clone().into_inner(),
            ))
            .app_data(metrics.clone())
            .app_data(state.clone())
            .app_data(tokens.clone())
            .app_data(revocations.clone())
            .app_data(rate_limits.clone())
            .app_data(inventory.clone())
            .app_data(parameter_rules.clone())
            .app_data(body_rules.clone())
            .app_data(spec.clone())
            .app_data(body_limit)
            .app_data(body_read_timeout)
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .into_utoipa_app()
            .configure(crate::openapi::routes)
            .into_app()
            // The README and the banner say `/docs`; Swagger UI answers only below `/docs/`.
            .service(web::redirect("/docs", "/docs/").permanent())
            .service(
                SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::new(["/api/v1/openapi.json"])),
            )
            .default_service(web::to(no_route))
    })
    .workers(workers)
    .shutdown_timeout(30)
    .listen(listener)?
    .run();
    Ok(server)
}

/// `thidua serve`: create the database if needed, migrate, optionally seed, then serve.
pub async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    if demo && settings.is_production() {
        anyhow::bail!(
            "--demo loads well-known passwords and is refused when THIDUA_ENV=production"
        );
    }
    if settings.jwt_private_key_file.is_none() {
        // Only here: the other commands build the same state but issue no token.
        tracing::warn!(
            "no THIDUA_JWT_PRIVATE_KEY_FILE: using an ephemeral signing key; tokens will not \
             survive a restart and other instances will not accept them"
        );
    }
    crate::db::create_database_if_missing(&settings.database_url).await?;
    let applied = crate::db::run_migrations(&settings.database_url).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let application = Application::build(settings).await?;
    if demo {
        crate::demo::seed(application.state()).await?;
    }
    let state = application.state();
    tracing::info!(
        url = %format!("http://{}", state.settings.bind.replace(":0", &format!(":{}", application.port()))),
        docs = "/docs",
        "thidua is listening; obtain a token with POST /api/v1/auth/token (see README)"
    );
    println!(
        "thidua listening on port {} — docs at /docs; log in with:\n  curl -s -X POST http://127.0.0.1:{}/api/v1/auth/token -H 'Content-Type: application/json' -d '{{\"grant_type\":\"password\",\"username\":\"admin\",\"password\":\"{}\"}}'",
        application.port(),
        application.port(),
        if demo {
            crate::demo::ADMIN_PASSWORD
        } else {
            "<the password given to create-admin>"
        }
    );
    let purge_state = application.state().clone();
    actix_web::rt::spawn(async move {
        // Keys are promised for 7 days; forget older ones hourly so the table stays small.
        // Revocations matter only while a token issued before them can live.
        let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            if let Ok(mut conn) = purge_state.db.write().await {
                match crate::idempotency::purge_expired(&mut conn).await {
                    Ok(purged) if purged > 0 => {
                        tracing::info!(purged, "expired idempotency keys purged")
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "purging idempotency keys failed"),
                }
                if let Err(error) = crate::auth::revocation::purge_expired(&mut conn).await {
                    tracing::warn!(%error, "purging token revocations failed");
                }
            }
        }
    });
    // Subtree tallies: fold the deltas of recent writes every second (one instance at a time).
    actix_web::rt::spawn(crate::stats::tallies::fold_forever(
        application.state().db.clone(),
    ));
    // Change feed: number committed events twice a second, purge past the retention hourly.
    actix_web::rt::spawn(crate::changes::repo::sequence_forever(
        application.state().db.clone(),
        application.state().settings.changes_retention,
    ));
    // Webhooks: copy new events into the subscriptions' outboxes and deliver them.
    let deliverer = crate::webhooks::delivery::Deliverer::new(
        application.state().db.clone(),
        &application.state().settings.webhooks,
    )?
    .keeping(application.state().settings.changes_retention);
    actix_web::rt::spawn(deliverer.run_forever());
    application.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
