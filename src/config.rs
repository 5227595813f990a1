//! Typed configuration, read from the environment once at start-up and validated there.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

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
    pub login_max_failures: u32,
    pub login_lockout: Duration,
    /// Client addresses whose `trusted_proxy_header` is believed (`THIDUA_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests per client IP (`None`: unlimited); see `crate::ratelimit`.
    pub rate_limit_per_ip: Option<crate::ratelimit::RateLimit>,
    /// Requests per authenticated user or client (`None`: unlimited).
    pub rate_limit_per_principal: Option<crate::ratelimit::RateLimit>,
    pub json_body_limit: usize,
    /// Bearer token that `GET /metrics` requires; unset: metrics are not served.
    pub metrics_token: Option<String>,
    /// Overviews kept for reuse while the tallies are unchanged (0: none).
    pub overview_cache_entries: usize,
    pub password_hashing: PasswordHashing,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/thidua";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Access tokens never live longer than this (SECURITY.md: access follows the tree by then).
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
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
        let bind = get("THIDUA_BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let public_url = get("THIDUA_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        url::Url::parse(&public_url).context("THIDUA_PUBLIC_URL is not a URL")?;
        let cors_origins = get("THIDUA_CORS_ORIGINS")
            .map(|value| {
                value
                    .split(',')
                    .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let access_token_ttl =
            Duration::from_secs(parse_number(&get, "THIDUA_ACCESS_TOKEN_TTL_SECONDS", 900)?);
        if access_token_ttl > MAX_ACCESS_TOKEN_TTL || access_token_ttl.is_zero() {
            bail!("THIDUA_ACCESS_TOKEN_TTL_SECONDS must be between 1 and 900");
        }
        let db_pool_size = parse_number(&get, "THIDUA_DB_POOL_SIZE", 8)?;
        if db_pool_size == 0 {
            bail!("THIDUA_DB_POOL_SIZE must be at least 1");
        }
        let workers = match get("THIDUA_WORKERS") {
            Some(_) => parse_number(&get, "THIDUA_WORKERS", 2)?,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
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
        let trusted_proxies =
            crate::ratelimit::parse_networks(&get("THIDUA_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|error| anyhow::anyhow!("THIDUA_TRUSTED_PROXIES: {error}"))?;
        // Both or neither.
        if trusted_proxy_header.is_some() == trusted_proxies.is_empty() {
            bail!(
                "THIDUA_TRUSTED_PROXY_HEADER and THIDUA_TRUSTED_PROXIES go together: the header is \
                 believed only from the proxies listed"
            );
        }
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
            workers: workers.max(1),
            access_token_ttl,
            refresh_token_ttl: Duration::from_secs(
                parse_number(&get, "THIDUA_REFRESH_TOKEN_TTL_DAYS", 30)? * 86_400,
            ),
            trusted_proxy_header,
            login_max_failures: parse_number(&get, "THIDUA_LOGIN_MAX_FAILURES", 5)?,
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
            metrics_token,
            overview_cache_entries: parse_number(&get, "THIDUA_OVERVIEW_CACHE_ENTRIES", 4_096)?,
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

fn rate_limit(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
) -> anyhow::Result<Option<crate::ratelimit::RateLimit>> {
    crate::ratelimit::RateLimit::parse(&get(name).unwrap_or_else(|| default.to_owned())).map_err(
        |error| anyhow::anyhow!("{name}: {error} (e.g. `1200/min,burst=300`; `0` disables)"),
    )
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
}
