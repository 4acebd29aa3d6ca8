//! Server addresses for registration: `HOST:PORT`, IPv6 in brackets, and the blank host.

use std::net::{IpAddr, SocketAddr};

use smallvec::{SmallVec, smallvec};

/// The address a server registers under; it becomes the registration node's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A host and port, named `host:port` (`[v6]:port` for IPv6). An empty host means every
    /// non-loopback address of this machine (loopback when there is none).
    HostPort(String, u16),
    /// A name taken exactly as given.
    Raw(String),
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address::HostPort(addr.ip().to_string(), addr.port())
    }
}

impl From<(&str, u16)> for Address {
    fn from((host, port): (&str, u16)) -> Self {
        Address::HostPort(host.to_owned(), port)
    }
}

impl From<(IpAddr, u16)> for Address {
    fn from((ip, port): (IpAddr, u16)) -> Self {
        Address::HostPort(ip.to_string(), port)
    }
}

/// A string is taken as given, except that a blank host (`":8080"`) is expanded.
impl From<&str> for Address {
    fn from(s: &str) -> Self {
        if let Some(port) = s.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
            return Address::HostPort(String::new(), port);
        }
        Address::Raw(s.to_owned())
    }
}

impl From<String> for Address {
    fn from(s: String) -> Self {
        Address::from(s.as_str())
    }
}

fn node_name(host: &str, port: u16) -> String {
    // Built by hand: `format!` (and `write!` for the port) goes through the formatter, most
    // of a registration's string work.
    let bracket = host.contains(':');
    let mut name = String::with_capacity(host.len() + 8);
    if bracket {
        name.push('[');
    }
    name.push_str(host);
    if bracket {
        name.push(']');
    }
    name.push(':');
    let mut digits = [0u8; 5];
    let mut n = port;
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always valid UTF-8.
    name.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
    name
}

impl Address {
    /// The node names this address registers: one, or one per local address for a blank host.
    pub fn node_names(&self) -> Vec<String> {
        self.names().into_vec()
    }

    /// [`node_names`](Address::node_names) without a vector for a single name.
    pub(crate) fn names(&self) -> NodeNames {
        match self {
            Address::Raw(s) => smallvec![s.clone()],
            Address::HostPort(host, port) if host.is_empty() => local_addresses()
                .iter()
                .map(|ip| node_name(&ip.to_string(), *port))
                .collect(),
            Address::HostPort(host, port) => smallvec![node_name(host, *port)],
        }
    }
}

/// An address's node names: nearly always one, kept inline.
pub(crate) type NodeNames = SmallVec<[String; 1]>;

/// This machine's non-loopback addresses (IPv4 first, then IPv6, each sorted), or its loopback
/// addresses when it has no other. Link-local IPv6 addresses are left out: they are useless
/// without a zone.
pub fn local_addresses() -> Vec<IpAddr> {
    let all: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    let usable = |ip: &IpAddr| match ip {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
    };
    let mut chosen: Vec<IpAddr> = all
        .iter()
        .copied()
        .filter(|ip| usable(ip) && !ip.is_loopback())
        .collect();
    if chosen.is_empty() {
        chosen = all.into_iter().filter(IpAddr::is_loopback).collect();
    }
    if chosen.is_empty() {
        chosen.push(IpAddr::from([127, 0, 0, 1]));
    }
    chosen.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    chosen.dedup();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_zc_zk() {
        assert_eq!(
            Address::from(("192.168.0.42", 8080)).node_names(),
            ["192.168.0.42:8080"]
        );
        assert_eq!(Address::from("a:b").node_names(), ["a:b"]);
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(Address::from(v6).node_names(), ["[::1]:8080"]);
    }

    #[test]
    fn ports_are_written_in_decimal_at_every_width() {
        for port in [0, 7, 10, 99, 100, 8080, 10000, 65535] {
            assert_eq!(node_name("h", port), format!("h:{port}"));
        }
        assert_eq!(node_name("::1", 0), "[::1]:0");
    }

    #[test]
    fn blank_host_expands_to_local_addresses() {
        let names = Address::from(":8080").node_names();
        assert!(!names.is_empty());
        assert!(
            names
                .iter()
                .all(|n| n.ends_with(":8080") && !n.starts_with(':')),
            "{names:?}"
        );
    }
}
