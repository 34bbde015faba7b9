//! The client address of a request, decided in one place for everything that counts or
//! records "from where": login throttles, the registration rate limit, sessions and the
//! audit trail.
//!
//! It is the TCP peer, unless that peer is a proxy the operator trusts
//! (`trusted_proxies`). Then the forwarding header those proxies write (`X-Forwarded-For`,
//! or `Forwarded`, RFC 7239) is read right to left: each trusted hop vouches for the one
//! before it, and the first address that is not trusted is the client. Anything further
//! left was written by the client itself and is ignored, since anyone can send those
//! headers (RFC 7239 §8.1); a hop we cannot read (`unknown`, an obfuscated name, garbage)
//! ends the walk at the last trusted hop, so a request is never attributed to an address
//! nobody vouched for.

use std::net::{IpAddr, SocketAddr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// The address a request counts as coming from (an IPv4-mapped IPv6 address is taken as
/// the IPv4 address it maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(IpAddr);

impl ClientAddr {
    /// The client at `ip`.
    pub fn new(ip: IpAddr) -> Self {
        ClientAddr(ip.to_canonical())
    }

    /// The address itself, as sessions and the audit trail record it.
    pub fn ip(&self) -> IpAddr {
        self.0
    }

    /// The network throttles and rate limits count this client under: an IPv4 address on
    /// its own, an IPv6 address by its /64, since one host (or one home router) is
    /// routinely handed a whole /64 (RFC 7421 §1) and could otherwise rotate through its
    /// 2^64 addresses to dodge any per-address limit.
    pub fn group(&self) -> IpNet {
        match self.0 {
            IpAddr::V4(v4) => IpNet::V4(Ipv4Net::from(v4)),
            IpAddr::V6(v6) => match Ipv6Net::new(v6, 64) {
                Ok(net) => IpNet::V6(net.trunc()),
                // 64 is a valid IPv6 prefix length; this arm only satisfies the types.
                Err(_) => IpNet::V6(Ipv6Net::from(v6)),
            },
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which header the trusted proxies write the client's address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The proxies whose forwarding header is believed, and which header that is.
///
/// Only one header is read: a proxy that appends to `X-Forwarded-For` usually passes a
/// client's own `Forwarded` through untouched (and the other way round), so reading
/// whichever is present would let a client pick the header it forged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Trusts peers in `nets` to write `header`; with no nets, the TCP peer is always the
    /// client.
    pub fn new(nets: Vec<IpNet>, header: ForwardedHeader) -> Self {
        TrustedProxies { nets, header }
    }

    /// The header to read.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether any proxy is trusted (if none, the header need not even be looked at).
    pub fn any(&self) -> bool {
        !self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` carrying `values`, the lines of the forwarding
    /// header in the order received (a proxy may add a line instead of appending).
    pub fn client_addr<'a>(
        &self,
        peer: IpAddr,
        values: impl IntoIterator<Item = &'a str>,
    ) -> ClientAddr {
        let mut client = ClientAddr::new(peer);
        if !self.trusts(client.ip()) {
            return client;
        }
        let hops: Vec<Option<IpAddr>> = values
            .into_iter()
            .flat_map(split_unquoted(','))
            .map(|element| match self.header {
                ForwardedHeader::XForwardedFor => parse_node(element.trim()),
                ForwardedHeader::Forwarded => forwarded_for(element),
            })
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else {
                // A hop nobody can name: stay with the last one a trusted proxy vouched for.
                return client;
            };
            client = ClientAddr::new(ip);
            if !self.trusts(client.ip()) {
                return client;
            }
        }
        client
    }
}

/// Splits `s` at `sep` outside RFC 7230 quoted strings.
fn split_unquoted(sep: char) -> impl Fn(&str) -> Vec<&str> {
    move |s: &str| {
        let mut parts = Vec::new();
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == sep && !quoted => {
                    parts.push(&s[start..i]);
                    start = i + c.len_utf8();
                }
                _ => {}
            }
        }
        parts.push(&s[start..]);
        parts
    }
}

/// The address of the `for=` parameter of one `Forwarded` element (RFC 7239 §4, §5.2).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_unquoted(';')(element).into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some(parse_node(&value.replace('\\', "")))
    })?
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`. `unknown` and obfuscated names are `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(nets: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect(), header)
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let none = TrustedProxies::default();
        let addr = none.client_addr(ip("192.0.2.7"), ["203.0.113.1"]);
        assert_eq!(addr.ip(), ip("192.0.2.7"));
        let untrusted_peer = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let addr = untrusted_peer.client_addr(ip("192.0.2.7"), ["203.0.113.1"]);
        assert_eq!(
            addr.ip(),
            ip("192.0.2.7"),
            "only trusted peers are believed"
        );
    }

    #[test]
    fn x_forwarded_for_is_read_right_to_left_up_to_the_first_untrusted_hop() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // The client wrote "198.51.100.9" itself; 203.0.113.5 is what our edge proxy saw.
        let addr = p.client_addr(ip("10.0.0.2"), ["198.51.100.9, 203.0.113.5", "10.1.1.1"]);
        assert_eq!(addr.ip(), ip("203.0.113.5"));
        let with_port = p.client_addr(ip("10.0.0.2"), ["[2001:db8::7]:443"]);
        assert_eq!(with_port.ip(), ip("2001:db8::7"));
    }

    #[test]
    fn an_unreadable_hop_leaves_the_request_with_the_last_trusted_proxy() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            p.client_addr(ip("10.0.0.2"), ["198.51.100.9, garbage, 10.0.0.3"])
                .ip(),
            ip("10.0.0.3")
        );
        assert_eq!(p.client_addr(ip("10.0.0.2"), []).ip(), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_for_parameters_are_parsed_per_rfc_7239() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let addr = p.client_addr(
            ip("10.0.0.2"),
            [
                r#"for=198.51.100.9;proto=https, For="[2001:db8:cafe::17]:4711";by=10.0.0.1"#,
                "for=10.0.0.9",
            ],
        );
        assert_eq!(addr.ip(), ip("2001:db8:cafe::17"));
        let hidden = p.client_addr(ip("10.0.0.2"), ["for=_hidden, for=10.0.0.5"]);
        assert_eq!(hidden.ip(), ip("10.0.0.5"));
        let no_for = p.client_addr(ip("10.0.0.2"), ["proto=https;by=10.0.0.1"]);
        assert_eq!(no_for.ip(), ip("10.0.0.2"));
        // Reading one header means a forged other one changes nothing.
        let xff = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            xff.client_addr(ip("10.0.0.2"), ["for=198.51.100.9"]).ip(),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_slash_64_and_mapped_ipv4_is_ipv4() {
        let a = ClientAddr::new(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddr::new(ip("2001:db8:1:2:bbbb::9"));
        let c = ClientAddr::new(ip("2001:db8:1:3::1"));
        assert_eq!(a.group(), b.group());
        assert_ne!(a.group(), c.group());
        assert_eq!(a.group().to_string(), "2001:db8:1:2::/64");
        let mapped = ClientAddr::new(ip("::ffff:192.0.2.1"));
        assert_eq!(mapped.ip(), ip("192.0.2.1"));
        assert_eq!(mapped.group().to_string(), "192.0.2.1/32");
    }
}
