//! Which hosts a collector may call (RELIABILITY D10). A URL must be `http(s)`, its host
//! must be declared by the source, and it must not resolve to a loopback, private,
//! link-local (cloud metadata), unspecified or multicast address unless the source lists
//! the host in `allow_hosts`. The check runs on every name resolution, so a DNS answer that
//! changes between check and connect (rebinding) is caught too.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The hosts a source may call and which of them may be internal.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// Hosts that may be called (the URL's host and `allow_hosts`), lower-case.
    declared: BTreeSet<String>,
    /// Hosts the user explicitly allowed, which may resolve to internal addresses.
    allowed_internal: BTreeSet<String>,
}

impl HostPolicy {
    /// The policy of a source whose URL has `url_host` and which declares `allow_hosts`.
    pub fn new(url_host: &str, allow_hosts: &[String]) -> HostPolicy {
        let norm = |h: &str| h.trim_matches(['[', ']']).to_ascii_lowercase();
        let allowed_internal: BTreeSet<String> = allow_hosts.iter().map(|h| norm(h)).collect();
        let mut declared = allowed_internal.clone();
        declared.insert(norm(url_host));
        HostPolicy {
            declared,
            allowed_internal,
        }
    }

    /// Checks a URL before it is requested (the first one and every redirect).
    ///
    /// # Errors
    /// A message saying why the URL is refused.
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "refused `{}://` URL: only http and https are collected",
                url.scheme()
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| "refused a URL without a host".to_string())?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        if !self.declared.contains(&host) {
            return Err(format!(
                "refused host `{host}`: the source declares only {}",
                self.declared
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // An IP literal is never resolved, so it is checked here.
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_ip(&host, ip)?;
        }
        Ok(())
    }

    /// Checks one resolved address of `host`.
    ///
    /// # Errors
    /// When the address is internal and the host is not explicitly allowed.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        if is_internal(ip) && !self.allowed_internal.contains(&host.to_ascii_lowercase()) {
            return Err(format!(
                "refused host `{host}`: it resolves to the internal address {ip}; list it in \
                 `collector.allow_hosts` to allow it"
            ));
        }
        Ok(())
    }
}

/// Loopback, private (RFC 1918, unique local), link-local (169.254/16, where cloud metadata
/// services live; fe80::/10), carrier-grade NAT, unspecified, broadcast and multicast.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A resolver that refuses internal addresses for hosts not explicitly allowed.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: HostPolicy,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: HostPolicy) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { policy })
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for a in &addrs {
                policy
                    .check_ip(&host, a.ip())
                    .map_err(|m| Box::new(std::io::Error::other(m)))?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let p = HostPolicy::new("api.example.org", &[]);
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://10.1.2.3/",
            "file:///etc/passwd",
            "gopher://api.example.org/",
            "http://other.example.org/",
        ] {
            let url = url::Url::parse(bad).unwrap();
            assert!(p.check_url(&url).is_err(), "{bad} passed");
        }
        assert!(
            p.check_url(&url::Url::parse("https://api.example.org/v1?x=1").unwrap())
                .is_ok()
        );
        assert!(
            p.check_ip("api.example.org", "10.0.0.1".parse().unwrap())
                .is_err()
        );
        let allowed = HostPolicy::new("127.0.0.1", &["127.0.0.1".to_string()]);
        assert!(
            allowed
                .check_url(&url::Url::parse("http://127.0.0.1:9/x").unwrap())
                .is_ok()
        );
        // Declared by the URL but not allowed: still refused, being internal.
        let declared_only = HostPolicy::new("127.0.0.1", &[]);
        assert!(
            declared_only
                .check_url(&url::Url::parse("http://127.0.0.1:9/x").unwrap())
                .is_err()
        );
        assert!(is_internal("::ffff:10.0.0.1".parse().unwrap()));
        assert!(is_internal("fd00::1".parse().unwrap()));
        assert!(!is_internal("8.8.8.8".parse().unwrap()));
    }
}
