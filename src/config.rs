//! Typed configuration, read from the environment once at start-up and validated there.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::IpNet;

pub use crate::webhooks::target::AllowedTargets;

/// Where the service runs: development allows conveniences that production refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Cost of argon2id password hashing. Production uses the OWASP parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordHashing {
    /// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
}

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: String,
    pub database_replica_url: Option<String>,
    pub bind: String,
    pub log_format: LogFormat,
    /// `RUST_LOG`, checked to be a filter (`None`: the default filter).
    pub log_filter: Option<String>,
    pub jwt_private_key_file: Option<PathBuf>,
    pub public_url: String,
    pub cors_origins: Vec<String>,
    pub db_pool_size: usize,
    pub db_acquire_timeout: Duration,
    pub db_statement_timeout: Duration,
    pub workers: usize,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub trusted_proxy_header: Option<String>,
    /// Failed logins (and password changes) of one account from one client address before
    /// that address is locked out of that account.
    pub login_max_failures: u32,
    /// Failed attempts on one account from all addresses together before the account itself
    /// is locked (the brute-force bound a distributed attacker still meets).
    pub login_max_failures_per_account: u32,
    pub login_lockout: Duration,
    /// Client addresses whose `trusted_proxy_header` is believed (`THIDUA_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
    /// Requests per client IP (`None`: unlimited); see `crate::ratelimit`.
    pub rate_limit_per_ip: Option<RateLimit>,
    /// Requests per authenticated user or client (`None`: unlimited).
    pub rate_limit_per_principal: Option<RateLimit>,
    pub json_body_limit: usize,
    /// Longest time to receive a whole request body once its head arrived (beyond: 408).
    pub body_read_timeout: Duration,
    /// How often each instance re-reads the token revocations changed lately, in case a
    /// notification was lost (`THIDUA_REVOCATION_POLL_MS`).
    pub revocation_poll_interval: Duration,
    /// Bearer token that `GET /metrics` requires; unset: metrics are not served.
    pub metrics_token: Option<String>,
    /// Bytes of aggregate answers kept for reuse while the data they read is unchanged
    /// (`THIDUA_ANSWER_CACHE_MIB`; 0: none).
    pub answer_cache_bytes: usize,
    /// How long the change feed keeps events (`THIDUA_CHANGES_RETENTION_DAYS`, at least 30):
    /// a cursor older than this is answered 410 resync_required.
    pub changes_retention: Duration,
    /// Where and how webhooks are delivered (`THIDUA_WEBHOOK_*`).
    pub webhooks: WebhookSettings,
    pub password_hashing: PasswordHashing,
}

/// Webhook delivery (docs/design.md § 5.2): the targets allowed, and the timing of attempts.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `THIDUA_WEBHOOK_ALLOWED_HOSTS`: the only hosts a subscription may name (empty: none).
    pub allowed: AllowedTargets,
    /// `THIDUA_WEBHOOK_TIMEOUT_MS`: one attempt, connection included.
    pub timeout: Duration,
    /// `THIDUA_WEBHOOK_RETRY_BASE_MS`: the wait after the first failed attempt; it doubles
    /// after each further failure, up to `retry_max`.
    pub retry_base: Duration,
    /// `THIDUA_WEBHOOK_RETRY_MAX_MS`: the longest wait between two attempts.
    pub retry_max: Duration,
    /// `THIDUA_WEBHOOK_RETRY_FOR_SECONDS`: how long an event is retried before the
    /// subscription is disabled (at least a day in production).
    pub retry_for: Duration,
    /// `THIDUA_WEBHOOK_POLL_MS`: how often the worker looks for new events and due retries.
    pub poll_interval: Duration,
}

impl WebhookSettings {
    /// How long a worker holds a subscription for one attempt before another instance may
    /// take it over (it renews the lease before each attempt): the attempt's timeout twice,
    /// plus time for the database.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(2)
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/thidua";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Largest `THIDUA_DB_POOL_SIZE`: every instance's pool counts against PostgreSQL's
/// `max_connections` (100 by default), so a larger pool only fails later, under load.
pub const MAX_DB_POOL_SIZE: usize = 1000;
/// Largest `THIDUA_WORKERS`: one per core is the useful number; beyond this it is a typo.
pub const MAX_WORKERS: usize = 1024;
/// What the log filter is when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "info,actix_server=warn,tokio_postgres=warn";
/// Access tokens never live longer than this (docs/security.md: access follows the tree by then).
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Longest accepted `THIDUA_REVOCATION_POLL_MS`: revocation must bite within seconds.
pub const MAX_REVOCATION_POLL: Duration = Duration::from_secs(60);
/// Shortest `THIDUA_CHANGES_RETENTION_DAYS`: offline devices sync within a month.
pub const MIN_CHANGES_RETENTION_DAYS: u64 = 30;
/// Shortest `THIDUA_WEBHOOK_RETRY_FOR_SECONDS` in production: a receiver down for a day
/// still gets every event.
pub const MIN_WEBHOOK_RETRY_FOR_SECONDS: u64 = 86_400;
/// Per client address: 100 requests/s sustained, 2000 at once (offices share NAT addresses).
pub const DEFAULT_RATE_LIMIT_PER_IP: &str = "6000/min,burst=2000";
/// Per user or partner client: 20 requests/s sustained, 300 at once (a dashboard's burst).
pub const DEFAULT_RATE_LIMIT_PER_PRINCIPAL: &str = "1200/min,burst=300";

impl Settings {
    /// Reads every `THIDUA_*` variable (and `DATABASE_URL`, `DATABASE_REPLICA_URL`).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Same as [`Settings::from_env`] with an injectable source, so tests need no process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let environment = match get("THIDUA_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => bail!("THIDUA_ENV must be development or production, not {other:?}"),
        };
        let log_format = match get("THIDUA_LOG_FORMAT").as_deref() {
            None if environment == Environment::Development => LogFormat::Pretty,
            None => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("THIDUA_LOG_FORMAT must be pretty or json, not {other:?}"),
        };
        let log_filter = get("RUST_LOG");
        if let Some(filter) = &log_filter {
            check_log_filter(filter).map_err(|error| anyhow::anyhow!("RUST_LOG {error}"))?;
        }
        // Checked before the public URL, which defaults to it: a bad port is THIDUA_BIND's fault.
        let bind = get("THIDUA_BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        check_bind(&bind).map_err(|error| anyhow::anyhow!("THIDUA_BIND {error}"))?;
        let public_url = get("THIDUA_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        url::Url::parse(&public_url).context("THIDUA_PUBLIC_URL is not a URL")?;
        let cors_origins: Vec<String> = get("THIDUA_CORS_ORIGINS")
            .map(|value| {
                value
                    .split(',')
                    .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for origin in &cors_origins {
            check_origin(origin)
                .map_err(|error| anyhow::anyhow!("THIDUA_CORS_ORIGINS: {error}"))?;
        }
        let access_token_ttl =
            Duration::from_secs(parse_number(&get, "THIDUA_ACCESS_TOKEN_TTL_SECONDS", 900)?);
        if access_token_ttl > MAX_ACCESS_TOKEN_TTL || access_token_ttl.is_zero() {
            bail!("THIDUA_ACCESS_TOKEN_TTL_SECONDS must be between 1 and 900");
        }
        let db_pool_size = parse_number(&get, "THIDUA_DB_POOL_SIZE", 8)?;
        if !(1..=MAX_DB_POOL_SIZE).contains(&db_pool_size) {
            bail!(
                "THIDUA_DB_POOL_SIZE must be between 1 and {MAX_DB_POOL_SIZE} (connections per \
                 instance, all of them within PostgreSQL's max_connections), not {db_pool_size}"
            );
        }
        let workers = match get("THIDUA_WORKERS") {
            Some(_) => parse_number(&get, "THIDUA_WORKERS", 2)?,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        if !(1..=MAX_WORKERS).contains(&workers) {
            bail!(
                "THIDUA_WORKERS must be between 1 and {MAX_WORKERS} (unset: one per core), \
                 not {workers}"
            );
        }
        if get("THIDUA_RATE_LIMIT_PER_MINUTE").is_some() {
            bail!(
                "THIDUA_RATE_LIMIT_PER_MINUTE is replaced by THIDUA_RATE_LIMIT_PER_IP and \
                 THIDUA_RATE_LIMIT_PER_PRINCIPAL (e.g. `1200/min,burst=300`, `0` disables)"
            );
        }
        let trusted_proxy_header =
            get("THIDUA_TRUSTED_PROXY_HEADER").map(|name| name.trim().to_owned());
        if let Some(name) = &trusted_proxy_header {
            actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).with_context(
                || format!("THIDUA_TRUSTED_PROXY_HEADER {name:?} is not a header name"),
            )?;
        }
        let trusted_proxies = parse_networks(&get("THIDUA_TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|error| anyhow::anyhow!("THIDUA_TRUSTED_PROXIES: {error}"))?;
        // Both or neither.
        if trusted_proxy_header.is_some() == trusted_proxies.is_empty() {
            bail!(
                "THIDUA_TRUSTED_PROXY_HEADER and THIDUA_TRUSTED_PROXIES go together: the header is \
                 believed only from the proxies listed"
            );
        }
        let login_max_failures: u32 = parse_number(&get, "THIDUA_LOGIN_MAX_FAILURES", 5)?;
        let login_max_failures_per_account: u32 =
            parse_number(&get, "THIDUA_LOGIN_MAX_FAILURES_PER_ACCOUNT", 50)?;
        if login_max_failures == 0 || login_max_failures_per_account < login_max_failures {
            bail!(
                "THIDUA_LOGIN_MAX_FAILURES must be at least 1 and \
                 THIDUA_LOGIN_MAX_FAILURES_PER_ACCOUNT at least as large (one address alone \
                 must not lock the account for everyone)"
            );
        }
        let body_read_timeout =
            Duration::from_millis(parse_number(&get, "THIDUA_BODY_READ_TIMEOUT_MS", 5_000)?);
        if body_read_timeout.is_zero() {
            bail!("THIDUA_BODY_READ_TIMEOUT_MS must be at least 1");
        }
        let revocation_poll_interval =
            Duration::from_millis(parse_number(&get, "THIDUA_REVOCATION_POLL_MS", 2_000)?);
        if revocation_poll_interval.is_zero() || revocation_poll_interval > MAX_REVOCATION_POLL {
            bail!("THIDUA_REVOCATION_POLL_MS must be between 1 and 60000");
        }
        let retention_days: u64 = parse_number(&get, "THIDUA_CHANGES_RETENTION_DAYS", 30)?;
        if !(MIN_CHANGES_RETENTION_DAYS..=3650).contains(&retention_days) {
            bail!("THIDUA_CHANGES_RETENTION_DAYS must be between 30 and 3650");
        }
        let webhooks = webhook_settings(&get, environment)?;
        let metrics_token = get("THIDUA_METRICS_TOKEN").map(|token| token.trim().to_owned());
        if metrics_token.as_ref().is_some_and(|token| token.len() < 16) {
            bail!(
                "THIDUA_METRICS_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 32`)"
            );
        }
        Ok(Self {
            environment,
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            database_replica_url: get("DATABASE_REPLICA_URL"),
            bind,
            log_format,
            log_filter,
            jwt_private_key_file: get("THIDUA_JWT_PRIVATE_KEY_FILE").map(PathBuf::from),
            public_url: public_url.trim_end_matches('/').to_owned(),
            cors_origins,
            db_pool_size,
            db_acquire_timeout: Duration::from_millis(parse_number(
                &get,
                "THIDUA_DB_ACQUIRE_TIMEOUT_MS",
                1500,
            )?),
            db_statement_timeout: Duration::from_millis(parse_number(
                &get,
                "THIDUA_DB_STATEMENT_TIMEOUT_MS",
                5000,
            )?),
            workers,
            access_token_ttl,
            refresh_token_ttl: Duration::from_secs(
                parse_number(&get, "THIDUA_REFRESH_TOKEN_TTL_DAYS", 30)? * 86_400,
            ),
            trusted_proxy_header,
            login_max_failures,
            login_max_failures_per_account,
            login_lockout: Duration::from_secs(parse_number(
                &get,
                "THIDUA_LOGIN_LOCKOUT_SECONDS",
                300,
            )?),
            trusted_proxies,
            rate_limit_per_ip: rate_limit(
                &get,
                "THIDUA_RATE_LIMIT_PER_IP",
                DEFAULT_RATE_LIMIT_PER_IP,
            )?,
            rate_limit_per_principal: rate_limit(
                &get,
                "THIDUA_RATE_LIMIT_PER_PRINCIPAL",
                DEFAULT_RATE_LIMIT_PER_PRINCIPAL,
            )?,
            json_body_limit: parse_number(&get, "THIDUA_JSON_BODY_LIMIT_BYTES", 262_144)?,
            body_read_timeout,
            revocation_poll_interval,
            metrics_token,
            answer_cache_bytes: parse_number::<usize>(&get, "THIDUA_ANSWER_CACHE_MIB", 16)?
                .checked_mul(1 << 20)
                .ok_or_else(|| anyhow::anyhow!("THIDUA_ANSWER_CACHE_MIB is too large"))?,
            changes_retention: Duration::from_secs(retention_days * 86_400),
            webhooks,
            password_hashing: PasswordHashing::OWASP,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// The `iss` and `aud` of access tokens.
    pub fn token_issuer(&self) -> &str {
        &self.public_url
    }
}

/// `count` requests per `period`, at most `burst` of them at once (GCRA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

impl RateLimit {
    /// Parses `0` or `off` (no limit, `None`), `N/s`, `N/min`, `N/h` or a bare `N` (per minute),
    /// each optionally followed by `,burst=B` (default: `N`, the whole period's budget at once).
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (rate, burst) = match text.split_once(',') {
            Some((rate, burst)) => {
                let burst = burst
                    .trim()
                    .strip_prefix("burst=")
                    .ok_or_else(|| format!("expected `,burst=<n>` after the rate in {text:?}"))?;
                (rate.trim(), Some(burst.trim()))
            }
            None => (text, None),
        };
        let (count, unit) = rate.split_once('/').unwrap_or((rate, "min"));
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("unknown period {other:?}; use s, min or h")),
        };
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("{count:?} is not a whole number of requests"))?;
        if count == 0 {
            return Ok(None);
        }
        let burst = match burst {
            Some(burst) => burst
                .parse::<u32>()
                .ok()
                .filter(|burst| *burst > 0)
                .ok_or_else(|| format!("burst {burst:?} must be a whole number above 0"))?,
            None => count,
        };
        let limit = Self {
            count,
            period,
            burst,
        };
        if limit.replenish_one_per().is_none() {
            return Err(format!("{text:?} is more than one request per nanosecond"));
        }
        Ok(Some(limit))
    }

    /// The time in which one request of budget comes back; `None` when it rounds to zero.
    pub fn replenish_one_per(&self) -> Option<Duration> {
        self.period
            .checked_div(self.count)
            .filter(|period| !period.is_zero())
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            3600 => "h",
            _ => "min",
        };
        write!(f, "{}/{unit},burst={}", self.count, self.burst)
    }
}

/// Checks a listen address (`THIDUA_BIND`, `--bind`): `host:port`, the port a TCP port.
/// The error says what is expected, after the name of whoever gave the value.
pub fn check_bind(bind: &str) -> Result<(), String> {
    let expected = || {
        format!("must be host:port with a port from 0 to 65535 (e.g. {DEFAULT_BIND}), not {bind:?}")
    };
    let (host, port) = bind.rsplit_once(':').ok_or_else(expected)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(expected());
    }
    Ok(())
}

/// Checks one origin of `THIDUA_CORS_ORIGINS`. Browsers send `Origin` as `scheme://host[:port]`
/// and the allow-list is compared with it as text, so anything else would never match (or,
/// for `*`, would make actix-cors refuse to start after the service said it was listening).
pub fn check_origin(origin: &str) -> Result<(), String> {
    let example = "e.g. https://thidua.example.vn";
    if origin == "*" {
        return Err(format!(
            "\"*\" is not accepted; list each origin that may call the API ({example})"
        ));
    }
    let parsed = url::Url::parse(origin)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .ok_or_else(|| {
            format!("{origin:?} is not an origin: write scheme://host[:port] ({example})")
        })?;
    let serialized = parsed.origin().ascii_serialization();
    if serialized != origin {
        return Err(format!(
            "{origin:?} is not an origin as browsers send it; write {serialized:?} (no path, \
             default port or capitals)"
        ));
    }
    Ok(())
}

/// Checks `RUST_LOG` with the parser the logger uses, which would otherwise fall back to its
/// default without a word.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(drop)
        .map_err(|error| {
            format!("{filter:?} is not a log filter ({error}); e.g. info or info,thidua=debug")
        })
}

/// Parses `THIDUA_TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{item:?} is neither an IP address nor a CIDR block"))
        })
        .collect()
}

fn webhook_settings(
    get: &impl Fn(&str) -> Option<String>,
    environment: Environment,
) -> anyhow::Result<WebhookSettings> {
    let allowed = AllowedTargets::parse(&get("THIDUA_WEBHOOK_ALLOWED_HOSTS").unwrap_or_default())
        .map_err(|error| anyhow::anyhow!("THIDUA_WEBHOOK_ALLOWED_HOSTS: {error}"))?;
    let millis = |name: &str, default: u64| -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(parse_number(get, name, default)?))
    };
    let timeout = millis("THIDUA_WEBHOOK_TIMEOUT_MS", 10_000)?;
    if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&timeout) {
        bail!("THIDUA_WEBHOOK_TIMEOUT_MS must be between 100 and 60000");
    }
    let retry_base = millis("THIDUA_WEBHOOK_RETRY_BASE_MS", 30_000)?;
    let retry_max = millis("THIDUA_WEBHOOK_RETRY_MAX_MS", 2 * 3_600_000)?;
    if retry_base.is_zero() || retry_max < retry_base {
        bail!(
            "THIDUA_WEBHOOK_RETRY_BASE_MS must be at least 1 and THIDUA_WEBHOOK_RETRY_MAX_MS at \
             least as large"
        );
    }
    let retry_for: u64 = parse_number(get, "THIDUA_WEBHOOK_RETRY_FOR_SECONDS", 90_000)?;
    if retry_for == 0
        || (environment == Environment::Production && retry_for < MIN_WEBHOOK_RETRY_FOR_SECONDS)
    {
        bail!(
            "THIDUA_WEBHOOK_RETRY_FOR_SECONDS must be at least {MIN_WEBHOOK_RETRY_FOR_SECONDS} \
             in production (a receiver down for a day must still get every event), and at \
             least 1"
        );
    }
    let poll_interval = millis("THIDUA_WEBHOOK_POLL_MS", 1_000)?;
    if !(Duration::from_millis(10)..=Duration::from_secs(60)).contains(&poll_interval) {
        bail!("THIDUA_WEBHOOK_POLL_MS must be between 10 and 60000");
    }
    Ok(WebhookSettings {
        allowed,
        timeout,
        retry_base,
        retry_max,
        retry_for: Duration::from_secs(retry_for),
        poll_interval,
    })
}

fn rate_limit(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
) -> anyhow::Result<Option<RateLimit>> {
    RateLimit::parse(&get(name).unwrap_or_else(|| default.to_owned())).map_err(|error| {
        anyhow::anyhow!("{name}: {error} (e.g. `1200/min,burst=300`; `0` disables)")
    })
}

fn parse_number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> anyhow::Result<T> {
    match get(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| {
            anyhow::anyhow!("{name} must be a non-negative whole number, not {value:?}")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_development_on_localhost() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(settings.environment, Environment::Development);
        assert_eq!(settings.bind, DEFAULT_BIND);
        assert_eq!(settings.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(settings.log_format, LogFormat::Pretty);
    }

    #[test]
    fn production_logs_json_and_rejects_long_token_lifetimes() {
        let settings = Settings::from_lookup(|name| match name {
            "THIDUA_ENV" => Some("production".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.log_format, LogFormat::Json);
        let error = Settings::from_lookup(|name| match name {
            "THIDUA_ACCESS_TOKEN_TTL_SECONDS" => Some("3600".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(error.to_string().contains("900"));
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Settings::from_lookup(|name| {
            owned
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn a_port_out_of_range_is_blamed_on_thidua_bind_not_the_public_url() {
        for bind in ["127.0.0.1:99999", "127.0.0.1", ":8080", "127.0.0.1:http"] {
            let error = error_of(&[("THIDUA_BIND", bind)]);
            assert!(
                error.starts_with("THIDUA_BIND must be host:port"),
                "{bind}: {error}"
            );
            assert!(!error.contains("THIDUA_PUBLIC_URL"), "{error}");
        }
        for bind in ["0.0.0.0:8080", "[::1]:0", "localhost:65535"] {
            assert!(check_bind(bind).is_ok(), "{bind}");
        }
    }

    #[test]
    fn cors_origins_must_be_what_browsers_send() {
        for origin in [
            "*",
            "app.example.vn",
            "localhost:3000",
            "https://app.example.vn/path",
            "https://App.example.vn",
            "https://app.example.vn:443",
            "ftp://app.example.vn",
        ] {
            let error = error_of(&[(
                "THIDUA_CORS_ORIGINS",
                &format!("https://ok.example.vn,{origin}"),
            )]);
            assert!(
                error.starts_with("THIDUA_CORS_ORIGINS: "),
                "{origin}: {error}"
            );
            assert!(error.contains(&format!("{origin:?}")), "{origin}: {error}");
        }
        let settings = Settings::from_lookup(|name| {
            (name == "THIDUA_CORS_ORIGINS")
                .then(|| "https://app.example.vn/, http://localhost:3000".to_owned())
        })
        .unwrap();
        assert_eq!(
            settings.cors_origins,
            ["https://app.example.vn", "http://localhost:3000"]
        );
    }

    #[test]
    fn the_answer_cache_is_sized_in_mebibytes() {
        let default = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(default.answer_cache_bytes, 16 << 20);
        let bytes = |mib: &str| {
            let mib = mib.to_owned();
            Settings::from_lookup(move |name| {
                (name == "THIDUA_ANSWER_CACHE_MIB").then(|| mib.clone())
            })
            .map(|settings| settings.answer_cache_bytes)
        };
        assert_eq!(bytes("0").unwrap(), 0, "0 keeps none");
        assert_eq!(bytes("64").unwrap(), 64 << 20);
        for refused in ["-1", "sixteen", "1.5"] {
            let error = bytes(refused).unwrap_err().to_string();
            assert!(
                error.contains("THIDUA_ANSWER_CACHE_MIB"),
                "{refused}: {error}"
            );
        }
        let error = bytes(&usize::MAX.to_string()).unwrap_err().to_string();
        assert!(error.contains("too large"), "{error}");
    }

    #[test]
    fn pool_size_and_workers_are_bounded() {
        for (name, value) in [
            ("THIDUA_DB_POOL_SIZE", "0"),
            ("THIDUA_DB_POOL_SIZE", "100000"),
            ("THIDUA_WORKERS", "0"),
            ("THIDUA_WORKERS", "100000"),
            ("THIDUA_WORKERS", "-1"),
        ] {
            let error = error_of(&[(name, value)]);
            assert!(error.starts_with(name), "{name}={value}: {error}");
        }
        let settings = Settings::from_lookup(|name| match name {
            "THIDUA_DB_POOL_SIZE" => Some("1000".into()),
            "THIDUA_WORKERS" => Some("1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((settings.db_pool_size, settings.workers), (1000, 1));
    }

    #[test]
    fn webhook_settings_are_bounded_and_production_retries_for_a_day() {
        for (name, value) in [
            ("THIDUA_WEBHOOK_TIMEOUT_MS", "10"),
            ("THIDUA_WEBHOOK_TIMEOUT_MS", "600000"),
            ("THIDUA_WEBHOOK_RETRY_BASE_MS", "0"),
            ("THIDUA_WEBHOOK_RETRY_MAX_MS", "5"),
            ("THIDUA_WEBHOOK_RETRY_FOR_SECONDS", "0"),
            ("THIDUA_WEBHOOK_POLL_MS", "0"),
            ("THIDUA_WEBHOOK_ALLOWED_HOSTS", "hooks.example.vn,https://x"),
        ] {
            let error = error_of(&[(name, value)]);
            assert!(error.contains(name), "{name}={value}: {error}");
        }
        let error = error_of(&[
            ("THIDUA_ENV", "production"),
            ("THIDUA_WEBHOOK_RETRY_FOR_SECONDS", "3600"),
        ]);
        assert!(error.contains("86400"), "{error}");
        let settings = Settings::from_lookup(|name| match name {
            "THIDUA_WEBHOOK_RETRY_FOR_SECONDS" => Some("2".into()),
            "THIDUA_WEBHOOK_ALLOWED_HOSTS" => Some("hooks.example.vn, 127.0.0.1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.webhooks.retry_for, Duration::from_secs(2));
        assert_eq!(settings.webhooks.timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_bad_rust_log_is_refused_by_name() {
        for filter in ["thidua=loud", "info,thidua=verbose"] {
            let error = error_of(&[("RUST_LOG", filter)]);
            assert!(error.starts_with("RUST_LOG "), "{filter}: {error}");
        }
        let settings = Settings::from_lookup(|name| {
            (name == "RUST_LOG").then(|| "info,thidua=debug".to_owned())
        })
        .unwrap();
        assert_eq!(settings.log_filter.as_deref(), Some("info,thidua=debug"));
    }
}
