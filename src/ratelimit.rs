//! Request rate limits per client IP and per principal (docs/security.md API4): 429 `rate_limited`
//! with `Retry-After` beyond them.
//!
//! Every request counts against its client address; a request carrying a valid access token
//! also counts against the token's subject (user or partner client), whichever token of that
//! subject it presents. The subject is read through [`TokenKeys::verify`], whose cache makes
//! this a hash lookup; an invalid token counts against the address only (the `Principal`
//! extractor answers it 401). `/healthz` and `/readyz` are never limited.
//!
//! The limiters are `governor` GCRA limiters keyed in memory, so limits hold **per instance**.
//! Keys whose budget is full again are swept every [`SWEEP_EVERY`]; IPv6 clients are keyed by
//! their /64, so one host cannot mint fresh keys by rotating addresses inside its prefix.
//!
//! Every response the limits see (all but the probes, while a limit is on) states them in the
//! IETF headers of draft-ietf-httpapi-ratelimit-headers, so partners can pace themselves:
//! `RateLimit-Policy: "per-ip";q=6000;w=60, "per-principal";q=…;w=…` (the quota `q` is the
//! burst, `w` the seconds an empty budget takes to fill) and `RateLimit: "per-ip";r=…;t=…`
//! (requests left now, seconds until the budget is full again). The per-principal item is
//! there when the request counted against a principal.
//!
//! The client address is the socket peer. Only when the peer is one of
//! `THIDUA_TRUSTED_PROXIES` is `THIDUA_TRUSTED_PROXY_HEADER` believed: its addresses are walked
//! from the right past trusted proxies, and the first other address is the client (entries a
//! client prepended itself are never reached).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use uuid::Uuid;

use crate::auth::principal::{Bearer, bearer_token};
use crate::auth::tokens::TokenKeys;
use crate::config::Settings;
pub use crate::config::{RateLimit, parse_networks};
use crate::error::{AppError, ProblemCode};

/// Paths that are never limited: orchestrators probe them.
const EXEMPT: [&str; 2] = ["/healthz", "/readyz"];
/// How often keys whose budget is full again are forgotten.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// The policies of the limits, as `RateLimit-Policy` states them.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// What is left of each policy after the request.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The policy names of the two limits in both headers.
const PER_IP: &str = "per-ip";
const PER_PRINCIPAL: &str = "per-principal";

/// Who the client is: the socket peer, or what a trusted proxy says it is.
#[derive(Debug, Clone, Default)]
pub struct ClientAddress {
    header: Option<HeaderName>,
    trusted: Vec<IpNet>,
}

impl ClientAddress {
    pub fn new(header: Option<HeaderName>, trusted: Vec<IpNet>) -> Self {
        Self { header, trusted }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|network| network.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers`.
    pub fn of(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = peer?.ip().to_canonical();
        let Some(name) = &self.header else {
            return Some(client);
        };
        if !self.is_trusted(client) {
            return Some(client);
        }
        let forwarded = name == header::FORWARDED;
        // Repeated header lines are one comma-separated list, in order (RFC 9110 §5.3).
        let entries: Vec<&str> = headers
            .get_all(name)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        for entry in entries.into_iter().rev() {
            if !self.is_trusted(client) {
                break;
            }
            let node = if forwarded {
                entry.split(';').find_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then_some(value)
                })
            } else {
                Some(entry)
            };
            // An unreadable entry ends the walk at the last proxy that was believed.
            match node.and_then(parse_node) {
                Some(ip) => client = ip.to_canonical(),
                None => break,
            }
        }
        Some(client)
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:5678`, optionally quoted.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.parse::<SocketAddr>().ok().map(|address| address.ip())
}

/// The client address of `req` as the limits key it (IPv6 by its /64), computed as for the
/// per-address rate limit (trusted proxies included); `None` without a peer address.
pub fn client_address(req: &actix_web::HttpRequest) -> Option<IpAddr> {
    let client = match req.app_data::<web::Data<RateLimits>>() {
        Some(limits) => limits.client_address.of(req.peer_addr(), req.headers()),
        None => req.peer_addr().map(|peer| peer.ip().to_canonical()),
    };
    client.map(bucket_of)
}

/// The key of an address: IPv4 as is, IPv6 by its /64 (one host's usual allocation).
fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

/// The GCRA quota of `limit` (`None` for a rate `RateLimit::parse` refuses).
fn quota(limit: &RateLimit) -> Option<Quota> {
    Some(Quota::with_period(limit.replenish_one_per()?)?.allow_burst(NonZeroU32::new(limit.burst)?))
}

/// A keyed limiter that reports what is left after each request (for `RateLimit`).
type Limiter<K> = DefaultKeyedRateLimiter<K, StateInformationMiddleware>;

fn limiter<K: Clone + Eq + std::hash::Hash>(limit: Option<RateLimit>) -> Option<Limiter<K>> {
    limit.as_ref().and_then(quota).map(|quota| {
        DefaultKeyedRateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>()
    })
}

/// Whole seconds, rounded up: a client that waits them finds the budget there.
fn seconds_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The `RateLimit-Policy` item of a quota: `q` its burst, `w` the seconds an empty budget
/// takes to fill.
fn policy_item(name: &str, quota: Quota) -> String {
    let burst = quota.burst_size().get();
    let window = seconds_up(quota.burst_size_replenished_in()).max(1);
    format!("\"{name}\";q={burst};w={window}")
}

/// The `RateLimit` item of one policy after a request: `r` requests left now, `t` seconds
/// until the budget is full again (`until_next` is how long until the next request is let
/// through: zero when some are left).
fn standing_item(name: &str, quota: Quota, remaining: u32, until_next: Duration) -> String {
    let burst = quota.burst_size().get();
    let missing = burst.saturating_sub(remaining);
    // Refused: the next request comes after `until_next`, the rest one interval apart.
    let refill = until_next
        + quota
            .replenish_interval()
            .saturating_mul(missing.saturating_sub(u32::from(!until_next.is_zero())));
    format!("\"{name}\";r={remaining};t={}", seconds_up(refill))
}

/// What the limits answer about one request: its headers, and the refusal if it is one.
struct Verdict {
    policy: HeaderValue,
    standing: Vec<String>,
    refusal: Option<AppError>,
}

/// The limiters of one instance, shared by its workers.
pub struct RateLimits {
    per_ip: Option<Limiter<IpAddr>>,
    per_principal: Option<Limiter<Uuid>>,
    client_address: ClientAddress,
    /// `RateLimit-Policy`, the same on every response (`None`: no limit is on).
    policy: Option<HeaderValue>,
}

impl RateLimits {
    pub fn from_settings(settings: &Settings) -> Self {
        let header = settings
            .trusted_proxy_header
            .as_deref()
            .and_then(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok());
        let per_ip = limiter(settings.rate_limit_per_ip);
        let per_principal = limiter(settings.rate_limit_per_principal);
        let items: Vec<String> = [
            (PER_IP, settings.rate_limit_per_ip),
            (PER_PRINCIPAL, settings.rate_limit_per_principal),
        ]
        .into_iter()
        .filter_map(|(name, limit)| Some(policy_item(name, quota(limit.as_ref()?)?)))
        .collect();
        let policy = (!items.is_empty())
            .then(|| HeaderValue::from_str(&items.join(", ")).ok())
            .flatten();
        Self {
            per_ip,
            per_principal,
            client_address: ClientAddress::new(header, settings.trusted_proxies.clone()),
            policy,
        }
    }

    /// The limits of `settings`, with a background task (on the current tokio runtime, if
    /// any) that forgets idle keys until the limits are dropped.
    pub fn start(settings: &Settings) -> Arc<Self> {
        let limits = Arc::new(Self::from_settings(settings));
        let enabled = limits.per_ip.is_some() || limits.per_principal.is_some();
        if enabled && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&limits);
            runtime.spawn(async move {
                let mut every = tokio::time::interval(SWEEP_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every.tick().await;
                loop {
                    every.tick().await;
                    match weak.upgrade() {
                        Some(limits) => limits.sweep(),
                        None => break,
                    }
                }
            });
        }
        limits
    }

    /// Forgets keys whose budget is full again (indistinguishable from a fresh key).
    pub fn sweep(&self) {
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_principal {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Number of client addresses and principals currently tracked.
    pub fn tracked(&self) -> (usize, usize) {
        (
            self.per_ip.as_ref().map_or(0, |limiter| limiter.len()),
            self.per_principal
                .as_ref()
                .map_or(0, |limiter| limiter.len()),
        )
    }

    /// Counts the request: what to state in the headers, and the problem to answer when a
    /// limit is exceeded (`None`: the request is not limited at all).
    fn check(&self, req: &ServiceRequest) -> Option<Verdict> {
        if EXEMPT.contains(&req.path()) {
            return None;
        }
        let mut verdict = Verdict {
            policy: self.policy.clone()?,
            standing: Vec::new(),
            refusal: None,
        };
        if let Some(limiter) = &self.per_ip
            && let Some(ip) = self.client_address.of(req.peer_addr(), req.headers())
        {
            match limiter.check_key(&bucket_of(ip)) {
                Ok(left) => verdict.standing.push(standing_item(
                    PER_IP,
                    left.quota(),
                    left.remaining_burst_capacity(),
                    Duration::ZERO,
                )),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(limiter.clock().now());
                    verdict
                        .standing
                        .push(standing_item(PER_IP, not_until.quota(), 0, wait));
                    verdict.refusal = Some(refusal(wait, "from this client address"));
                    return Some(verdict);
                }
            }
        }
        if let Some(limiter) = &self.per_principal
            && let Some(subject) = subject_of(req)
        {
            match limiter.check_key(&subject) {
                Ok(left) => verdict.standing.push(standing_item(
                    PER_PRINCIPAL,
                    left.quota(),
                    left.remaining_burst_capacity(),
                    Duration::ZERO,
                )),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(limiter.clock().now());
                    verdict
                        .standing
                        .push(standing_item(PER_PRINCIPAL, not_until.quota(), 0, wait));
                    verdict.refusal = Some(refusal(wait, "for this user or client"));
                }
            }
        }
        Some(verdict)
    }
}

/// The verified subject of the request's bearer token, if it carries a valid one.
fn subject_of(req: &ServiceRequest) -> Option<Uuid> {
    let Bearer::Token(token) = bearer_token(req.headers()) else {
        return None;
    };
    let keys = req.app_data::<web::Data<TokenKeys>>()?;
    keys.verify(token).map(|claims| claims.sub)
}

fn refusal(wait: Duration, whom: &str) -> AppError {
    let seconds = seconds_up(wait).max(1);
    AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ProblemCode::RateLimited,
        format!("too many requests {whom}; retry in {seconds} s"),
    )
    .with_header(header::RETRY_AFTER, seconds.to_string())
}

/// Middleware: answers 429 `rate_limited` when the request exceeds a limit, and states the
/// limits in `RateLimit-Policy` and `RateLimit` on every response it sees (needs
/// `web::Data<RateLimits>`; without it nothing is limited).
pub async fn rate_limit<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let verdict = req
        .app_data::<web::Data<RateLimits>>()
        .and_then(|limits| limits.check(&req));
    let Some(verdict) = verdict else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let mut response = match verdict.refusal {
        Some(problem) => req
            .into_response(problem.error_response())
            .map_into_right_body(),
        None => next.call(req).await?.map_into_left_body(),
    };
    let headers = response.headers_mut();
    headers.insert(RATELIMIT_POLICY, verdict.policy);
    if !verdict.standing.is_empty()
        && let Ok(standing) = HeaderValue::from_str(&verdict.standing.join(", "))
    {
        headers.insert(RATELIMIT, standing);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn limit(text: &str) -> Option<RateLimit> {
        RateLimit::parse(text).unwrap()
    }

    #[test]
    fn rates_parse_with_units_and_bursts() {
        assert_eq!(limit("0"), None);
        assert_eq!(limit("off"), None);
        assert_eq!(limit("0/s"), None);
        let sixty = Duration::from_secs(60);
        assert_eq!(
            limit("1200"),
            Some(RateLimit {
                count: 1200,
                period: sixty,
                burst: 1200
            })
        );
        assert_eq!(
            limit(" 20/s , burst=100 "),
            Some(RateLimit {
                count: 20,
                period: Duration::from_secs(1),
                burst: 100
            })
        );
        assert_eq!(limit("3/h").unwrap().period, Duration::from_secs(3600));
        assert_eq!(
            limit("6000/min,burst=2000").unwrap().to_string(),
            "6000/min,burst=2000"
        );
        for bad in [
            "x",
            "10/day",
            "10/s,burst=0",
            "10/s,bust=3",
            "-1/s",
            "10/s,burst=x",
        ] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_blocks() {
        let networks = parse_networks("10.0.0.0/8, 127.0.0.1 ,::1,").unwrap();
        assert_eq!(networks.len(), 3);
        assert!(networks[1].contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("proxy.internal").is_err());
    }

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn peer(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_header_is_ignored_unless_configured_and_sent_by_a_trusted_proxy() {
        let xff = headers("x-forwarded-for", &["203.0.113.7"]);
        let none = ClientAddress::default();
        assert_eq!(none.of(peer("198.51.100.1:4000"), &xff), ip("198.51.100.1"));
        let proxied = ClientAddress::new(
            Some(HeaderName::from_static("x-forwarded-for")),
            parse_networks("10.0.0.0/8").unwrap(),
        );
        assert_eq!(
            proxied.of(peer("198.51.100.1:4000"), &xff),
            ip("198.51.100.1")
        );
        assert_eq!(proxied.of(peer("10.1.2.3:4000"), &xff), ip("203.0.113.7"));
        assert_eq!(
            proxied.of(peer("10.1.2.3:4000"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
        assert_eq!(proxied.of(None, &xff), None);
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_address_from_the_right() {
        let proxied = ClientAddress::new(
            Some(HeaderName::from_static("x-forwarded-for")),
            parse_networks("10.0.0.0/8").unwrap(),
        );
        let from = |values: &[&'static str]| {
            proxied.of(peer("10.0.0.1:1"), &headers("x-forwarded-for", values))
        };
        // A client that prepends a forged address is still counted by its real one.
        assert_eq!(from(&["1.1.1.1, 203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(from(&["1.1.1.1, 203.0.113.7, 10.0.0.9"]), ip("203.0.113.7"));
        assert_eq!(
            from(&["1.1.1.1", "203.0.113.7", "10.0.0.9"]),
            ip("203.0.113.7")
        );
        assert_eq!(from(&["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(from(&["203.0.113.7:8080"]), ip("203.0.113.7"));
        assert_eq!(from(&["::ffff:203.0.113.7"]), ip("203.0.113.7"));
        // Garbage ends the walk at the last believed proxy.
        assert_eq!(from(&["203.0.113.7, garbage"]), ip("10.0.0.1"));
        assert_eq!(from(&["10.0.0.5, 10.0.0.6"]), ip("10.0.0.5"));
    }

    #[test]
    fn the_forwarded_header_is_read_by_its_for_parameter() {
        let proxied = ClientAddress::new(
            Some(header::FORWARDED),
            parse_networks("10.0.0.0/8").unwrap(),
        );
        let mut map = HeaderMap::new();
        map.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=1.1.1.1, for=\"[2001:db8::7]:80\";proto=https"),
        );
        assert_eq!(proxied.of(peer("10.0.0.1:1"), &map), ip("2001:db8::7"));
    }

    #[test]
    fn ipv6_clients_share_the_key_of_their_slash_64() {
        assert_eq!(
            bucket_of("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            bucket_of("203.0.113.7".parse().unwrap()),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_headers_state_the_quota_the_window_and_what_is_left() {
        let six_thousand = quota(&limit("6000/min").unwrap()).unwrap();
        assert_eq!(
            policy_item("per-ip", six_thousand),
            "\"per-ip\";q=6000;w=60"
        );
        let bursty = quota(&limit("20/s,burst=100").unwrap()).unwrap();
        assert_eq!(
            policy_item("per-principal", bursty),
            "\"per-principal\";q=100;w=5"
        );
        assert_eq!(
            standing_item("per-ip", six_thousand, 5999, Duration::ZERO),
            "\"per-ip\";r=5999;t=1"
        );
        assert_eq!(
            standing_item("per-ip", six_thousand, 3000, Duration::ZERO),
            "\"per-ip\";r=3000;t=30"
        );
        // Refused: nothing left, the budget full again a whole window after the next request.
        let two = quota(&limit("2/h").unwrap()).unwrap();
        assert_eq!(
            standing_item("per-ip", two, 0, Duration::from_secs(600)),
            "\"per-ip\";r=0;t=2400"
        );
    }

    #[test]
    fn a_limiter_refuses_beyond_its_burst_and_forgets_idle_keys() {
        let limiter = DefaultKeyedRateLimiter::dashmap(
            quota(&RateLimit::parse("2/h").unwrap().unwrap()).unwrap(),
        );
        let key: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(limiter.check_key(&key).is_ok());
        assert!(limiter.check_key(&key).is_ok());
        let refused = limiter.check_key(&key).unwrap_err();
        let wait = refused.wait_time_from(limiter.clock().now());
        assert!(wait > Duration::from_secs(60) && wait <= Duration::from_secs(1800));
        limiter.retain_recent();
        assert_eq!(limiter.len(), 1, "a key still limited is kept");
        let fresh = DefaultKeyedRateLimiter::<IpAddr>::dashmap(
            quota(&RateLimit::parse("1000/s").unwrap().unwrap()).unwrap(),
        );
        assert!(fresh.check_key(&key).is_ok());
        std::thread::sleep(Duration::from_millis(5));
        fresh.retain_recent();
        assert_eq!(fresh.len(), 0, "a key whose budget refilled is forgotten");
    }
}
