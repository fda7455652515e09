//! Where the gateway may connect on a client's behalf (image URLs it fetches): public addresses
//! only, unless the operator allows a host name or a network. The core checks literal addresses;
//! a host checks every address a name resolves to, and connects only to those it checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The operator's exceptions to "public addresses only" (`preferences.image_fetch_allow`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Destinations {
    hosts: Vec<String>,
    networks: Vec<IpNet>,
}

impl Destinations {
    /// Parses allow-list entries: host names, IP addresses or networks in CIDR notation.
    pub fn new(entries: &[String]) -> Result<Self, String> {
        let mut allowed = Self::default();
        for entry in entries.iter().map(|e| e.trim().trim_end_matches('.').to_ascii_lowercase()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                allowed.networks.push(net);
            } else if let Ok(ip) = entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                allowed.networks.push(IpNet::from(ip));
            } else if !entry.is_empty() && entry.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
                allowed.hosts.push(entry);
            } else {
                return Err(format!("`{entry}` is not a host name, an IP address or a CIDR network"));
            }
        }
        Ok(allowed)
    }

    /// Whether `host` (a name from a URL) is allowed whatever it resolves to.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether a connection to `ip` is allowed: a public address, or one the operator allowed.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.networks.iter().any(|net| net.contains(&ip))
    }

    /// Whether `host` of a URL may be reached directly: an allowed name, any other name (its
    /// addresses are checked when it is resolved), or an allowed literal address.
    pub fn allows_url_host(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.allows_ip(ip),
            Err(_) => true,
        }
    }
}

/// IPv4-mapped and IPv4-compatible IPv6 addresses as the IPv4 address they reach.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Reachable on the public internet: not loopback, private, link-local (cloud metadata lives
/// there), shared, multicast, reserved or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is a metadata address)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 (reaches IPv4 space)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_pass_without_an_allow_list() {
        let none = Destinations::default();
        for blocked in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!none.allows_ip(ip(blocked)), "{blocked}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(none.allows_ip(ip(public)), "{public}");
        }
        assert!(!none.allows_url_host("[::1]") && !none.allows_url_host("127.0.0.1"));
        assert!(none.allows_url_host("images.example.com"));
    }

    #[test]
    fn the_allow_list_admits_names_addresses_and_networks() {
        let allow =
            Destinations::new(&["Images.Internal".into(), "10.0.0.0/8".into(), "127.0.0.1".into(), "[::1]".into()])
                .unwrap();
        assert!(allow.allows_host("images.internal") && allow.allows_host("images.internal."));
        assert!(!allow.allows_host("other.internal"));
        assert!(allow.allows_ip(ip("10.9.8.7")) && allow.allows_ip(ip("127.0.0.1")) && allow.allows_ip(ip("::1")));
        assert!(!allow.allows_ip(ip("192.168.0.1")) && !allow.allows_ip(ip("127.0.0.2")));
        assert!(Destinations::new(&["http://x/".into()]).is_err());
    }
}
