//! Prometheus metrics: HTTP requests by route pattern, the database pools, and business counts,
//! served at `GET /metrics` to holders of `THIDUA_METRICS_TOKEN`.
//!
//! The request path costs one read-locked hash lookup on small integers, one counter increment
//! and one histogram observation: the route comes from actix's resource name (a `&str` into the
//! router, no allocation), mapped once at start-up to its OpenAPI path template, so no label
//! string is built per request and raw ids never become labels. Label strings are allocated
//! only the first time a (route, method, status) combination is seen.
//!
//! Business counts (pledges and nominations by status) are one `GROUP BY status` per table on
//! the read pool, cached for [`BUSINESS_COUNTS_TTL`] per instance so scrapes cannot hammer the
//! database; they are exact as of `thidua_business_counts_age_seconds` ago.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::{Method, header};
use actix_web::{Error, HttpRequest, HttpResponse, get, web};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::LocalBoxFuture;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use sha2::{Digest, Sha256};
use utoipa::openapi::OpenApi as OpenApiDocument;

use crate::auth::principal::{Bearer, bearer_token};
use crate::db::schema::{nominations, pledges};
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::nominations::state::NominationStatus;
use crate::pledges::state::PledgeStatus;
use crate::state::AppState;

/// How long one computation of the business counts is served before the next scrape refreshes it.
pub const BUSINESS_COUNTS_TTL: Duration = Duration::from_secs(15);

/// The `route` label of requests that matched no route (404 and 405 of the default service, or
/// refused by a middleware before any route was known).
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency histogram, in seconds: most requests take well under 1 ms.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// FNV-1a for the handler names of the route table: a dozen bytes hashed per request, where
/// SipHash's set-up would cost more than the hashing (the names are the service's own, not a
/// client's, so flooding resistance buys nothing).
struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type NameMap = HashMap<String, u16, std::hash::BuildHasherDefault<NameHasher>>;

/// Route labels: every path template of the OpenAPI document, and how to find a request's one.
struct RouteTable {
    /// Slot → label; slot 0 is [`UNMATCHED`].
    labels: Vec<String>,
    /// actix resource name → slot. `#[get]` & co. name a resource after its function, which is
    /// also the operation id utoipa derives; a name used on two paths is left out (ambiguous).
    by_name: NameMap,
    /// Full actix pattern → slot, for resources without a (known) name.
    by_pattern: HashMap<String, u16>,
}

impl RouteTable {
    fn from_document(document: &OpenApiDocument) -> Self {
        let mut table = Self {
            labels: vec![UNMATCHED.to_owned()],
            by_name: NameMap::default(),
            by_pattern: HashMap::new(),
        };
        let mut ambiguous = Vec::new();
        for (path, item) in &document.paths.paths {
            let slot = table.add(path, path);
            let operations = [
                &item.get,
                &item.put,
                &item.post,
                &item.delete,
                &item.patch,
                &item.head,
                &item.options,
            ];
            for operation in operations.into_iter().flatten() {
                let Some(name) = &operation.operation_id else {
                    continue;
                };
                match table.by_name.entry(name.clone()) {
                    Entry::Vacant(entry) => {
                        entry.insert(slot);
                    }
                    Entry::Occupied(entry) if *entry.get() != slot => ambiguous.push(name.clone()),
                    Entry::Occupied(_) => {}
                }
            }
        }
        for name in ambiguous {
            table.by_name.remove(&name);
        }
        // Swagger UI is served beside the API (see startup.rs) under an unnamed resource.
        table.add("/docs/{_:.*}", "/docs/{tail}");
        table
    }

    fn add(&mut self, pattern: &str, label: &str) -> u16 {
        let slot = match self.labels.iter().position(|known| known == label) {
            Some(slot) => slot,
            None => {
                self.labels.push(label.to_owned());
                self.labels.len() - 1
            }
        };
        let slot = u16::try_from(slot).unwrap_or(0);
        self.by_pattern.insert(pattern.to_owned(), slot);
        slot
    }

    /// The slot of the route that served `request`. After routing, `match_name` reads the
    /// matched resource by index (no path matching, no allocation); only unnamed resources and
    /// unmatched paths fall back to matching the pattern.
    fn slot_of(&self, request: &HttpRequest) -> u16 {
        if let Some(&slot) = request.match_name().and_then(|name| self.by_name.get(name)) {
            return slot;
        }
        request
            .match_pattern()
            .and_then(|pattern| self.by_pattern.get(&pattern).copied())
            .unwrap_or(0)
    }
}

type SeriesKey = (u16, u8, u16);

/// The series keys are a few hundred distinct small integers chosen by the service, not by
/// clients: hashing them with SipHash would cost more than the rest of the lookup.
#[derive(Default)]
struct SeriesKeyHasher(u64);

impl std::hash::Hasher for SeriesKeyHasher {
    fn finish(&self) -> u64 {
        // Spread the packed key over the high bits hashbrown uses for its control bytes.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) | u64::from(*byte);
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.0 = (self.0 << 8) | u64::from(value);
    }

    fn write_u16(&mut self, value: u16) {
        self.0 = (self.0 << 16) | u64::from(value);
    }
}

type SeriesMap = HashMap<SeriesKey, Series, std::hash::BuildHasherDefault<SeriesKeyHasher>>;

/// The handles of one (route, method, status) combination, created on its first request.
struct Series {
    requests: IntCounter,
    duration: Histogram,
}

#[derive(Debug, Clone)]
struct BusinessCounts {
    computed_at: Instant,
    pledges: Vec<(String, i64)>,
    nominations: Vec<(String, i64)>,
}

/// The metrics of one application instance (no global registry: tests run many side by side).
pub struct Metrics {
    registry: Registry,
    routes: RouteTable,
    requests: IntCounterVec,
    durations: HistogramVec,
    series: RwLock<SeriesMap>,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
    pool_waiting: IntGaugeVec,
    pledges: IntGaugeVec,
    nominations: IntGaugeVec,
    counts_age: Gauge,
    counts: tokio::sync::Mutex<Option<BusinessCounts>>,
}

impl Metrics {
    /// Registers every metric; routes are the path templates of `document`.
    pub fn new(document: &OpenApiDocument) -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "thidua_http_requests_total",
                "HTTP requests answered, by route pattern, method and status code",
            ),
            &["route", "method", "status"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "thidua_http_request_duration_seconds",
                "Time from receiving a request to its response head, by route pattern, method and status class",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method", "status_class"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "thidua_db_pool_connections",
                "Open database connections by pool (primary, replica) and state (in_use, idle)",
            ),
            &["pool", "state"],
        )?;
        let pool_max = IntGaugeVec::new(
            Opts::new(
                "thidua_db_pool_max_connections",
                "Largest number of connections of each pool (THIDUA_DB_POOL_SIZE)",
            ),
            &["pool"],
        )?;
        let pool_waiting = IntGaugeVec::new(
            Opts::new(
                "thidua_db_pool_waiting",
                "Requests waiting for a connection of each pool",
            ),
            &["pool"],
        )?;
        let pledges = IntGaugeVec::new(
            Opts::new("thidua_pledges", "Pledges by status (all organizations)"),
            &["status"],
        )?;
        let nominations = IntGaugeVec::new(
            Opts::new(
                "thidua_nominations",
                "Nominations by status (all organizations)",
            ),
            &["status"],
        )?;
        let counts_age = Gauge::new(
            "thidua_business_counts_age_seconds",
            "Age of thidua_pledges and thidua_nominations (computed at most every 15 s)",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "thidua_build_info",
                "Version of the running binary (always 1)",
            ),
            &["version"],
        )?;
        build_info
            .get_metric_with_label_values(&[env!("CARGO_PKG_VERSION")])?
            .set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(pool_waiting.clone()))?;
        registry.register(Box::new(pledges.clone()))?;
        registry.register(Box::new(nominations.clone()))?;
        registry.register(Box::new(counts_age.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(Self {
            registry,
            routes: RouteTable::from_document(document),
            requests,
            durations,
            series: RwLock::new(SeriesMap::default()),
            pool_connections,
            pool_max,
            pool_waiting,
            pledges,
            nominations,
            counts_age,
            counts: tokio::sync::Mutex::new(None),
        })
    }

    /// Counts one answered request.
    fn observe(&self, route: u16, method: u8, status: u16, elapsed: Duration) {
        let key = (route, method, status);
        let seconds = elapsed.as_secs_f64();
        {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = series.get(&key) {
                series.requests.inc();
                series.duration.observe(seconds);
                return;
            }
        }
        let Some(created) = self.create_series(key) else {
            return;
        };
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let series = series.entry(key).or_insert(created);
        series.requests.inc();
        series.duration.observe(seconds);
    }

    fn create_series(&self, (route, method, status): SeriesKey) -> Option<Series> {
        let route = self.routes.labels.get(usize::from(route))?;
        let method = METHODS.get(usize::from(method))?;
        let requests = self
            .requests
            .get_metric_with_label_values(&[route.as_str(), method, &status.to_string()])
            .ok()?;
        let duration = self
            .durations
            .get_metric_with_label_values(&[route.as_str(), method, status_class(status)])
            .ok()?;
        Some(Series { requests, duration })
    }

    fn set_pool(&self, name: &str, pool: &crate::db::DbPool) {
        let status = pool.status();
        let in_use = status.size.saturating_sub(status.available);
        let gauge = |vec: &IntGaugeVec, labels: &[&str], value: usize| {
            if let Ok(gauge) = vec.get_metric_with_label_values(labels) {
                gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
            }
        };
        gauge(&self.pool_connections, &[name, "in_use"], in_use);
        gauge(&self.pool_connections, &[name, "idle"], status.available);
        gauge(&self.pool_max, &[name], status.max_size);
        gauge(&self.pool_waiting, &[name], status.waiting);
    }

    /// Recomputes the business counts when the cached ones are older than the TTL. The lock is
    /// held during the query, so concurrent scrapes wait for one query instead of each running
    /// their own.
    async fn refresh_business_counts(&self, state: &AppState) {
        let mut cached = self.counts.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|counts| counts.computed_at.elapsed() < BUSINESS_COUNTS_TTL);
        if !fresh {
            match query_business_counts(state).await {
                Ok(counts) => {
                    set_by_status(
                        &self.pledges,
                        PledgeStatus::ALL.map(PledgeStatus::as_str),
                        &counts.pledges,
                    );
                    set_by_status(
                        &self.nominations,
                        NominationStatus::ALL.map(NominationStatus::as_str),
                        &counts.nominations,
                    );
                    *cached = Some(counts);
                }
                // The previous counts (if any) stay, and their age shows how stale they are.
                Err(error) => {
                    tracing::warn!(%error, "computing business counts for /metrics failed")
                }
            }
        }
        if let Some(counts) = cached.as_ref() {
            self.counts_age
                .set(counts.computed_at.elapsed().as_secs_f64());
        }
    }

    /// The Prometheus text exposition of every metric, pools and business counts refreshed.
    pub async fn render(&self, state: &AppState) -> anyhow::Result<String> {
        self.set_pool("primary", &state.db.primary);
        if state.settings.database_replica_url.is_some() {
            self.set_pool("replica", &state.db.replica);
        }
        self.refresh_business_counts(state).await;
        let mut buffer = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .context("encoding metrics")?;
        String::from_utf8(buffer).context("metrics are not UTF-8")
    }
}

/// Every known status gets a value (0 when absent), so dashboards see a series from the start.
fn set_by_status<const N: usize>(
    vec: &IntGaugeVec,
    known: [&'static str; N],
    counts: &[(String, i64)],
) {
    vec.reset();
    for status in known {
        if let Ok(gauge) = vec.get_metric_with_label_values(&[status]) {
            gauge.set(0);
        }
    }
    for (status, count) in counts {
        if let Ok(gauge) = vec.get_metric_with_label_values(&[status.as_str()]) {
            gauge.set(*count);
        }
    }
}

async fn query_business_counts(state: &AppState) -> anyhow::Result<BusinessCounts> {
    let mut conn = state.db.read().await.context("no database connection")?;
    let pledges = pledges::table
        .group_by(pledges::status)
        .select((pledges::status, diesel::dsl::count_star()))
        .load::<(String, i64)>(&mut conn)
        .await
        .context("counting pledges by status")?;
    let nominations = nominations::table
        .group_by(nominations::status)
        .select((nominations::status, diesel::dsl::count_star()))
        .load::<(String, i64)>(&mut conn)
        .await
        .context("counting nominations by status")?;
    Ok(BusinessCounts {
        computed_at: Instant::now(),
        pledges,
        nominations,
    })
}

/// The middleware that times and counts every request; wrap it outermost so it sees every
/// response, problems produced by other middleware included.
#[derive(Clone)]
pub struct RequestMetrics(Arc<Metrics>);

impl RequestMetrics {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self(metrics)
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RequestMetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestMetricsService {
            service,
            metrics: Rc::new(self.0.clone()),
        }))
    }
}

pub struct RequestMetricsService<S> {
    service: S,
    /// Per worker: cloning an `Rc` per request touches no cache line shared with other workers,
    /// as an `Arc`'s atomic count would.
    #[expect(
        clippy::redundant_allocation,
        reason = "the Rc is per worker, so a request's clone does no atomic operation"
    )]
    metrics: Rc<Arc<Metrics>>,
}

impl<S, B> Service<ServiceRequest> for RequestMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<B>, Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let method = method_index(request.method());
        let metrics = Rc::clone(&self.metrics);
        let response = self.service.call(request);
        Box::pin(async move {
            let outcome = response.await;
            let elapsed = started.elapsed();
            match &outcome {
                Ok(response) => {
                    let route = metrics.routes.slot_of(response.request());
                    metrics.observe(route, method, response.status().as_u16(), elapsed);
                }
                // The request is gone with the error: no route to name.
                Err(error) => {
                    let status = error.as_response_error().status_code().as_u16();
                    metrics.observe(0, method, status, elapsed);
                }
            }
            outcome
        })
    }
}

/// Constant-time comparison of the presented bearer token with the configured one.
fn token_matches(request: &HttpRequest, expected: &str) -> bool {
    let Bearer::Token(presented) = bearer_token(request.headers()) else {
        return false;
    };
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented
        .iter()
        .zip(expected.iter())
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

/// Prometheus metrics of this instance.
///
/// Request counts and latency histograms by route pattern (`/api/v1/pledges/{id}`; requests that
/// matched no route are labelled `unmatched`), method and status; database pool connections in
/// use, idle and waited for; pledges and nominations by status (recomputed at most every 15 s).
/// Only served when `THIDUA_METRICS_TOKEN` is set, to callers presenting it as a bearer token.
#[utoipa::path(
    tag = "operations",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "The bearer token is missing or is not THIDUA_METRICS_TOKEN", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are disabled: THIDUA_METRICS_TOKEN is not set", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
pub async fn prometheus_metrics(
    request: HttpRequest,
    metrics: web::Data<Metrics>,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let Some(expected) = state.settings.metrics_token.as_deref() else {
        return Err(AppError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "metrics are disabled on this instance (THIDUA_METRICS_TOKEN is not set)",
        ));
    };
    if !token_matches(&request, expected) {
        return Err(AppError::unauthorized(
            "send THIDUA_METRICS_TOKEN as `Authorization: Bearer <token>`",
        ));
    }
    let body = metrics.render(&state).await.map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type(TextEncoder::new().format_type())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_document_has_a_route_label_found_by_its_name() {
        let document = crate::openapi::document();
        let table = RouteTable::from_document(&document);
        let mut operations = 0;
        for (path, item) in &document.paths.paths {
            for operation in [&item.get, &item.post, &item.patch, &item.delete, &item.put]
                .into_iter()
                .flatten()
            {
                let name = operation.operation_id.as_deref().unwrap_or_default();
                let slot = table.by_name.get(name).copied();
                assert_eq!(
                    slot.and_then(|slot| table.labels.get(usize::from(slot))),
                    Some(path),
                    "{name}"
                );
                operations += 1;
            }
        }
        assert!(operations > 50);
        assert_eq!(table.labels[0], UNMATCHED);
    }

    /// The fast path: after routing, actix names the matched resource after its handler, which
    /// is the operation id in the document (no pattern matching, no allocation).
    #[actix_web::test]
    async fn a_routed_request_is_named_after_its_operation() {
        use actix_web::middleware::{Next, from_fn};
        use utoipa_actix_web::AppExt;

        async fn name_header(
            request: ServiceRequest,
            next: Next<impl actix_web::body::MessageBody + 'static>,
        ) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, Error> {
            let mut response = next.call(request).await?;
            let name = response.request().match_name().unwrap_or("-").to_owned();
            response.headers_mut().insert(
                header::HeaderName::from_static("x-route-name"),
                header::HeaderValue::from_str(&name).unwrap(),
            );
            Ok(response)
        }

        let app = actix_web::test::init_service(
            actix_web::App::new()
                .wrap(from_fn(name_header))
                .into_utoipa_app()
                .configure(crate::openapi::routes)
                .into_app(),
        )
        .await;
        let table = RouteTable::from_document(&crate::openapi::document());
        for (method, path, pattern) in [
            (
                Method::GET,
                "/api/v1/pledges/0190a3c4-0000-7000-8000-000000000000",
                "/api/v1/pledges/{id}",
            ),
            (
                Method::POST,
                "/api/v1/nominations/0190a3c4-0000-7000-8000-000000000000/submit",
                "/api/v1/nominations/{id}/submit",
            ),
            (Method::GET, "/healthz", "/healthz"),
        ] {
            let request = actix_web::test::TestRequest::default()
                .method(method)
                .uri(path)
                .to_request();
            let response = actix_web::test::call_service(&app, request).await;
            let name = response
                .headers()
                .get("x-route-name")
                .unwrap()
                .to_str()
                .unwrap();
            let slot = table.by_name.get(name).copied().unwrap_or(0);
            assert_eq!(table.labels[usize::from(slot)], pattern, "{path}");
        }
    }

    #[test]
    fn status_classes_and_methods_are_bounded() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(METHODS[usize::from(method_index(&Method::PATCH))], "PATCH");
        let unusual = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(METHODS[usize::from(method_index(&unusual))], "other");
    }
}
