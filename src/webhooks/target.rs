//! Where webhooks may go (docs/security.md § Outbound requests): only to the hosts the operator
//! lists in `THIDUA_WEBHOOK_ALLOWED_HOSTS`, and never to a loopback, private, link-local or
//! other non-public address unless that address (or its block) is listed too.
//!
//! The address rule is applied to what a name resolves to, by the resolver the delivery client
//! connects through ([`GuardedResolver`]): the addresses checked are the addresses connected
//! to, so a name that resolves to a public address when checked and to a private one a moment
//! later (DNS rebinding) never reaches the private one. Redirects are never followed (see
//! `super::delivery`), so a public receiver cannot bounce a delivery inward either.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use url::{Host, Url};

/// The longest target URL accepted.
pub const MAX_URL_LENGTH: usize = 2000;

/// Why a target is refused; the text says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetRefused(pub String);

/// `THIDUA_WEBHOOK_ALLOWED_HOSTS`: host names (`hooks.example.vn`), every subdomain of a
/// domain (`*.example.vn`), and addresses or blocks (`203.0.113.7`, `10.1.0.0/16`), which both
/// allow a URL naming that address and allow a listed name to resolve into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedTargets {
    hosts: Vec<String>,
    /// `*.example.vn` as `.example.vn`.
    domains: Vec<String>,
    networks: Vec<IpNet>,
}

impl AllowedTargets {
    /// Parses the comma-separated list; an entry that is none of the above is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut allowed = Self::default();
        for entry in text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            if let Ok(network) = entry.parse::<IpNet>() {
                allowed.networks.push(network);
            } else if let Ok(address) = entry.parse::<IpAddr>() {
                allowed.networks.push(IpNet::from(address.to_canonical()));
            } else if let Some(domain) = entry.strip_prefix("*.") {
                allowed
                    .domains
                    .push(format!(".{}", host_name(domain, entry)?));
            } else {
                allowed.hosts.push(host_name(entry, entry)?);
            }
        }
        Ok(allowed)
    }

    /// No target at all is allowed (the default).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.domains.is_empty() && self.networks.is_empty()
    }

    /// Checks the form of `raw` (an absolute http or https URL without credentials) and that
    /// its host is listed. The addresses a name resolves to are checked by [`Self::resolve`].
    pub fn check_url(&self, raw: &str) -> Result<Url, TargetRefused> {
        if raw.len() > MAX_URL_LENGTH {
            return Err(TargetRefused(format!(
                "the URL is longer than {MAX_URL_LENGTH} characters"
            )));
        }
        let url = Url::parse(raw)
            .map_err(|_| TargetRefused("not an absolute http or https URL".to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetRefused(format!(
                "the scheme must be https (or http), not {}",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetRefused(
                "credentials in the URL are not accepted; the signature authenticates deliveries"
                    .to_owned(),
            ));
        }
        if url.fragment().is_some() {
            return Err(TargetRefused(
                "a URL fragment is not sent; remove it".to_owned(),
            ));
        }
        match url.host() {
            Some(Host::Domain(name)) => {
                if !self.allows_name(name) {
                    return Err(TargetRefused(format!(
                        "{name} is not in THIDUA_WEBHOOK_ALLOWED_HOSTS"
                    )));
                }
            }
            Some(Host::Ipv4(address)) => self.check_listed_address(IpAddr::V4(address))?,
            Some(Host::Ipv6(address)) => self.check_listed_address(IpAddr::V6(address))?,
            None => return Err(TargetRefused("the URL has no host".to_owned())),
        }
        Ok(url)
    }

    /// Resolves the host of a checked URL and checks every address it resolves to (for an
    /// address in the URL, that address); the addresses to connect to.
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, TargetRefused> {
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            Some(Host::Domain(name)) => self.resolve_name(name, port).await,
            Some(Host::Ipv4(address)) => Ok(vec![SocketAddr::new(IpAddr::V4(address), port)]),
            Some(Host::Ipv6(address)) => Ok(vec![SocketAddr::new(IpAddr::V6(address), port)]),
            None => Err(TargetRefused("the URL has no host".to_owned())),
        }
    }

    /// The addresses of the listed `name`, every one of them allowed; refused if any is not
    /// (a name that mixes public and private addresses is not delivered to at all).
    pub async fn resolve_name(
        &self,
        name: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, TargetRefused> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !self.allows_name(&name) {
            return Err(TargetRefused(format!(
                "{name} is not in THIDUA_WEBHOOK_ALLOWED_HOSTS"
            )));
        }
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|error| TargetRefused(format!("{name} does not resolve: {error}")))?
            .collect();
        if addresses.is_empty() {
            return Err(TargetRefused(format!("{name} resolves to no address")));
        }
        for address in &addresses {
            self.check_address(address.ip())
                .map_err(|TargetRefused(why)| TargetRefused(format!("{name} resolves to {why}")))?;
        }
        Ok(addresses)
    }

    /// An address is allowed when it is public or listed.
    pub fn check_address(&self, address: IpAddr) -> Result<(), TargetRefused> {
        let address = address.to_canonical();
        if is_public(address) || self.lists(address) {
            Ok(())
        } else {
            Err(TargetRefused(format!(
                "{address}, a loopback, private, link-local or otherwise non-public address \
                 that THIDUA_WEBHOOK_ALLOWED_HOSTS does not list"
            )))
        }
    }

    /// An address written in the URL must itself be listed, public or not.
    fn check_listed_address(&self, address: IpAddr) -> Result<(), TargetRefused> {
        if self.lists(address.to_canonical()) {
            Ok(())
        } else {
            Err(TargetRefused(format!(
                "{address} is not in THIDUA_WEBHOOK_ALLOWED_HOSTS"
            )))
        }
    }

    fn lists(&self, address: IpAddr) -> bool {
        self.networks
            .iter()
            .any(|network| network.contains(&address))
    }

    fn allows_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&name)
            || self
                .domains
                .iter()
                .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix.as_str()))
    }
}

/// A host name of the list, lower-cased; `entry` is the whole entry, for the error.
fn host_name(name: &str, entry: &str) -> Result<String, String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "{entry:?} is neither a host name, *.domain, an IP address nor a CIDR block"
        ))
    }
}

/// True for a globally reachable unicast address: not unspecified, loopback, private, shared
/// (CGNAT), link-local (cloud metadata endpoints live there), documentation, benchmarking,
/// multicast or reserved; for IPv6 also not unique-local or site-local, and an IPv4 address
/// embedded in IPv6 (mapped, compatible, NAT64, 6to4) is judged as that IPv4 address.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    !(a == 0
        || address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_documentation()
        || address.is_multicast()
        || a >= 240
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18))
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    if let Some(v4) = address.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = address.segments();
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] {
        // ::, ::1 and the deprecated IPv4-compatible addresses.
        return false;
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64: the well-known prefix carries an IPv4 address; the local-use one is private.
        return s[2..6] == [0; 4] && is_public_v4(embedded);
    }
    if s[0] == 0x2002 {
        let six_to_four =
            Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return is_public_v4(six_to_four);
    }
    let teredo_or_documentation = s[0] == 0x2001 && (s[1] == 0 || s[1] == 0x0db8);
    let discard = s[0] == 0x0100 && s[1..4] == [0; 3];
    // Global unicast is 2000::/3; everything else (fc00::/7, fe80::/10, fec0::/10, ff00::/8,
    // ...) is not.
    (s[0] & 0xe000) == 0x2000 && !teredo_or_documentation && !discard
}

/// The resolver of the delivery client: resolves a listed name and hands the client only
/// allowed addresses, so the address checked is the address connected to.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Arc<AllowedTargets>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.0.clone();
        Box::pin(async move {
            // The port is set by the client from the URL.
            let addresses = allowed.resolve_name(name.as_str(), 0).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The refusal among the causes of a delivery error, if the guard refused it.
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TargetRefused> {
    let mut cause: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<TargetRefused>() {
            return Some(refused);
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(list: &str) -> AllowedTargets {
        AllowedTargets::parse(list).unwrap()
    }

    #[test]
    fn non_public_addresses_are_refused_in_every_notation() {
        let refused = [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2002:7f00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ];
        for text in refused {
            let address: IpAddr = text.parse().unwrap();
            assert!(
                !is_public(address.to_canonical()),
                "{text} counted as public"
            );
            assert!(
                AllowedTargets::default().check_address(address).is_err(),
                "{text}"
            );
        }
        for text in [
            "8.8.8.8",
            "203.0.114.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let address: IpAddr = text.parse().unwrap();
            assert!(
                is_public(address.to_canonical()),
                "{text} counted as private"
            );
        }
    }

    #[test]
    fn a_listed_address_or_block_is_allowed_in_both_notations() {
        let list = allowed("127.0.0.1, 10.1.0.0/16");
        for text in ["127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3"] {
            assert!(list.check_address(text.parse().unwrap()).is_ok(), "{text}");
        }
        for text in ["127.0.0.2", "10.2.0.1", "::1"] {
            assert!(list.check_address(text.parse().unwrap()).is_err(), "{text}");
        }
    }

    #[test]
    fn only_listed_hosts_pass_and_urls_are_plain_http_or_https() {
        let list = allowed("hooks.example.vn, *.partner.vn, 127.0.0.1");
        for url in [
            "https://hooks.example.vn/thidua",
            "https://HOOKS.example.vn./x",
            "https://a.partner.vn/x",
            "https://a.b.partner.vn:8443/x?y=1",
            "http://127.0.0.1:9000/hook",
        ] {
            assert!(list.check_url(url).is_ok(), "{url}");
        }
        for url in [
            "https://evil.example.vn/",
            "https://partner.vn/",
            "https://notpartner.vn/",
            "https://hooks.example.vn.evil.com/",
            "http://127.0.0.2/",
            "http://2130706434/",
            "http://0x7f000002/",
            "http://[::1]/",
            "http://[::ffff:7f00:2]/",
            "http://localhost/",
            "ftp://hooks.example.vn/",
            "file:///etc/passwd",
            "https://user:pw@hooks.example.vn/",
            "https://hooks.example.vn/#frag",
            "hooks.example.vn/path",
            "",
        ] {
            assert!(list.check_url(url).is_err(), "{url} passed");
        }
        assert!(
            AllowedTargets::default()
                .check_url("https://example.org/")
                .is_err()
        );
    }

    #[test]
    fn the_list_refuses_entries_that_are_not_hosts() {
        for entry in [
            "https://x.vn",
            "x.vn/path",
            "*",
            "*.",
            "a..b",
            "-a.vn",
            "x.vn:443",
        ] {
            assert!(AllowedTargets::parse(entry).is_err(), "{entry}");
        }
        assert!(AllowedTargets::parse(" , ").unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_listed_name_that_resolves_to_a_private_address_is_refused() {
        let list = allowed("localhost");
        let url = list.check_url("http://localhost:9/").unwrap();
        let refused = list.resolve(&url).await.unwrap_err();
        assert!(refused.0.contains("127.0.0.1"), "{refused}");
        let listed = allowed("localhost, 127.0.0.1, ::1");
        assert!(listed.resolve(&url).await.is_ok());
    }
}
