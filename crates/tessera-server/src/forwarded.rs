//! Whose address a request really comes from, behind proxies we trust.
//!
//! `X-Forwarded-For` and `Forwarded` are written by whoever sends them, the
//! client included: only a proxy listed in `[auth] trusted_proxies` may say
//! who is behind it. So the headers are read only when the TCP peer is such
//! a proxy, and then right to left, each entry appended by the proxy named
//! in the entry to its right: the client is the first address (from the
//! right) that is not a trusted proxy. Pure logic, no I/O.
//!
//! Precedence: when a request carries `Forwarded` (RFC 7239), its `for=`
//! and `proto=` are used and `X-Forwarded-For`/`X-Forwarded-Proto` are
//! ignored; otherwise those two are used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The most entries read from the right of a chain: no real path has more
/// proxies, and a hostile chain costs no more than this.
pub const MAX_HOPS: usize = 32;

/// The networks whose hosts are proxies we trust to say who is behind them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Reads CIDRs (`10.0.0.0/8`, `2001:db8::/32`) and bare addresses (one
    /// host: /32 or /128); the error quotes the entry that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| parse_network(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

fn parse_network(entry: &str) -> Result<IpNet, String> {
    let text = entry.trim();
    let refused =
        || format!("\"{entry}\" is not an address or a CIDR such as 10.0.0.0/8 or 2001:db8::/32");
    let net = if text.contains('/') {
        text.parse::<IpNet>().map_err(|_| refused())?.trunc()
    } else {
        IpNet::from(text.parse::<IpAddr>().map_err(|_| refused())?)
    };
    // `::ffff:10.0.0.0/104` is the IPv4 network as a v6 listener sees it.
    Ok(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        _ => net,
    })
}

/// The client's side of a request, as far as trusted proxies tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub ip: IpAddr,
    /// The client reached the first trusted proxy over HTTPS.
    pub tls: bool,
}

/// The client behind `peer`, the TCP peer of a request with `headers`.
pub fn origin(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Origin {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return Origin {
            ip: peer,
            tls: false,
        };
    }
    if headers.contains_key("forwarded") {
        let elements = rfc7239_elements(headers);
        walk(peer, &elements, trusted)
    } else {
        let hops: Vec<Hop> = comma_separated(headers, "x-forwarded-for")
            .map(|entry| Hop {
                node: entry.and_then(parse_node),
                proto: None,
            })
            .collect();
        let mut found = walk(peer, &hops, trusted);
        // Written by the peer itself (its rightmost value): a trusted proxy.
        found.tls = comma_separated(headers, "x-forwarded-proto")
            .last()
            .flatten()
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
        found
    }
}

/// One proxy's account of the connection it received: from whom (`None`
/// when it is not an address: `unknown`, an obfuscated `_name`, garbage)
/// and over which protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hop {
    node: Option<IpAddr>,
    proto: Option<String>,
}

/// Walks `hops` (left to right as sent) from the right: every entry read
/// was appended by a trusted proxy, so the first one naming an untrusted
/// address names the client. An entry that names no address ends the walk
/// at the proxy that wrote it: nothing further can be believed.
fn walk(peer: IpAddr, hops: &[Hop], trusted: &TrustedProxies) -> Origin {
    let mut client = peer;
    let mut tls = false;
    for hop in hops.iter().rev().take(MAX_HOPS) {
        tls = hop
            .proto
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        match hop.node {
            Some(ip) => {
                client = ip;
                if !trusted.contains(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    Origin { ip: client, tls }
}

/// The entries of every `name` header, in order, each trimmed; `None` for a
/// header that is not visible ASCII (one unreadable entry).
fn comma_separated<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> impl Iterator<Item = Option<&'a str>> + 'a {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| -> Box<dyn Iterator<Item = Option<&'a str>>> {
            match value.to_str() {
                Ok(text) => Box::new(text.split(',').map(|entry| Some(entry.trim()))),
                Err(_) => Box::new(std::iter::once(None)),
            }
        })
}

/// Every element of every `Forwarded` header, in order (RFC 7239 §4:
/// `for=…;proto=…` pairs, elements separated by commas, values tokens or
/// quoted strings).
fn rfc7239_elements(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        match value.to_str() {
            Ok(text) => hops.extend(split_outside_quotes(text, ',').map(rfc7239_element)),
            Err(_) => hops.push(unreadable()),
        }
    }
    hops
}

fn unreadable() -> Hop {
    Hop {
        node: None,
        proto: None,
    }
}

fn rfc7239_element(element: &str) -> Hop {
    let mut hop = unreadable();
    for pair in split_outside_quotes(element, ';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match name.trim().to_ascii_lowercase().as_str() {
            "for" => hop.node = value.as_deref().and_then(parse_node),
            "proto" => hop.proto = value,
            _ => {}
        }
    }
    hop
}

/// `text` split at `separator` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().map(str::trim)
}

/// A token as it is, a quoted string without its quotes and escapes;
/// `None` for an unterminated quote.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711` (the port,
/// obfuscated or not, is ignored). `unknown`, `_hidden` and anything else
/// name no address.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = text.parse::<IpAddr>() {
        ip
    } else {
        let (host, _port) = text.split_once(':')?;
        IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).expect("visible ASCII")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, header(value));
        }
        map
    }

    fn client(peer: &str, trusted: &[&str], pairs: &[(&'static str, &str)]) -> Origin {
        origin(ip(peer), &headers(pairs), &proxies(trusted))
    }

    #[test]
    fn entries_are_cidrs_or_single_hosts() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"]);
        assert!(p.contains(ip("10.200.1.1")));
        assert!(p.contains(ip("192.0.2.7")));
        assert!(!p.contains(ip("192.0.2.8")));
        assert!(p.contains(ip("2001:db8:1::5")));
        assert!(p.contains(ip("::1")));
        assert!(!p.contains(ip("::2")));
        // A v4 peer seen through a dual-stack listener.
        assert!(p.contains(ip("::ffff:10.1.2.3")));
        // Host bits are dropped, a mapped network is its v4 network.
        assert!(proxies(&["10.1.2.3/8"]).contains(ip("10.9.9.9")));
        assert!(proxies(&["::ffff:10.0.0.0/104"]).contains(ip("10.9.9.9")));
        assert!(TrustedProxies::default().is_empty());
    }

    #[test]
    fn a_bad_entry_is_quoted_in_the_error() {
        for bad in ["10.0.0.0/33", "not-an-ip", "10.0.0.1:80", "", "10.0.0.0/"] {
            let err = TrustedProxies::parse(&[bad]).unwrap_err();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let found = client(
            "203.0.113.9",
            &["10.0.0.0/8"],
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("forwarded", "for=5.6.7.8;proto=https"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(found.ip, ip("203.0.113.9"));
        assert!(!found.tls);
        // Nobody trusted at all (the default).
        assert_eq!(
            client("10.0.0.1", &[], &[("x-forwarded-for", "1.2.3.4")]).ip,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let trusted = ["10.0.0.0/8"];
        // The client forged 6.6.6.6; the proxy appended the real address.
        let found = client(
            "10.0.0.2",
            &trusted,
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.0.0.3")],
        );
        assert_eq!(found.ip, ip("198.51.100.4"));
        // Several headers are one list, in order.
        let found = client(
            "10.0.0.2",
            &trusted,
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "198.51.100.4"),
            ],
        );
        assert_eq!(found.ip, ip("198.51.100.4"));
        // A trusted peer that sends no header is the client.
        assert_eq!(client("10.0.0.2", &trusted, &[]).ip, ip("10.0.0.2"));
        // Every entry trusted: the farthest one.
        assert_eq!(
            client(
                "10.0.0.2",
                &trusted,
                &[("x-forwarded-for", "10.0.0.9, 10.0.0.8")]
            )
            .ip,
            ip("10.0.0.9")
        );
    }

    #[test]
    fn ports_and_brackets_are_read_in_both_headers() {
        let trusted = ["10.0.0.0/8"];
        for (name, value, expected) in [
            ("x-forwarded-for", "198.51.100.4:5123", "198.51.100.4"),
            ("x-forwarded-for", "2001:db8::7", "2001:db8::7"),
            ("x-forwarded-for", "[2001:db8::7]:443", "2001:db8::7"),
            ("forwarded", "for=198.51.100.4", "198.51.100.4"),
            ("forwarded", "for=\"198.51.100.4:5123\"", "198.51.100.4"),
            (
                "forwarded",
                "for=\"[2001:db8:cafe::17]\"",
                "2001:db8:cafe::17",
            ),
            (
                "forwarded",
                "For=\"[2001:db8:cafe::17]:4711\"",
                "2001:db8:cafe::17",
            ),
            ("forwarded", "for=\"[2001:db8::1]:_port\"", "2001:db8::1"),
            ("forwarded", "for=\"::ffff:198.51.100.4\"", "198.51.100.4"),
        ] {
            assert_eq!(
                client("10.0.0.2", &trusted, &[(name, value)]).ip,
                ip(expected),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let found = client(
            "10.0.0.2",
            &["10.0.0.0/8"],
            &[
                ("x-forwarded-for", "198.51.100.1"),
                ("x-forwarded-proto", "http"),
                (
                    "forwarded",
                    "for=6.6.6.6;proto=http, for=198.51.100.4;proto=https;by=10.0.0.3, for=10.0.0.3",
                ),
            ],
        );
        assert_eq!(found.ip, ip("198.51.100.4"));
        assert!(found.tls, "the proto of the element that named the client");
    }

    #[test]
    fn quoted_commas_and_semicolons_do_not_split() {
        let found = client(
            "10.0.0.2",
            &["10.0.0.0/8"],
            &[(
                "forwarded",
                r#"for=198.51.100.4;ext="a,b;c\"d", for=10.0.0.3;proto=https"#,
            )],
        );
        assert_eq!(found.ip, ip("198.51.100.4"));
    }

    #[test]
    fn an_entry_that_names_no_address_stops_at_the_proxy_that_wrote_it() {
        let trusted = ["10.0.0.0/8"];
        for (name, value) in [
            ("forwarded", "for=6.6.6.6, for=_hidden, for=10.0.0.3"),
            ("forwarded", "for=6.6.6.6, for=unknown, for=10.0.0.3"),
            ("forwarded", "for=6.6.6.6, proto=https, for=10.0.0.3"),
            ("x-forwarded-for", "6.6.6.6, garbage, 10.0.0.3"),
            ("x-forwarded-for", "6.6.6.6, , 10.0.0.3"),
            ("x-forwarded-for", "6.6.6.6, [::1, 10.0.0.3"),
            ("x-forwarded-for", "6.6.6.6, 1.2.3.4.5, 10.0.0.3"),
        ] {
            assert_eq!(
                client("10.0.0.2", &trusted, &[(name, value)]).ip,
                ip("10.0.0.3"),
                "{name}: {value}"
            );
        }
        // A first entry that is garbage: the peer itself. An unterminated
        // quote runs to the end, so it is the last entry.
        for (name, value) in [
            ("x-forwarded-for", "6.6.6.6, nope"),
            ("forwarded", "for=6.6.6.6, for=\"unterminated, for=10.0.0.3"),
        ] {
            assert_eq!(
                client("10.0.0.2", &trusted, &[(name, value)]).ip,
                ip("10.0.0.2"),
                "{name}: {value}"
            );
        }
        // A header that is not text is one unreadable entry.
        let mut map = headers(&[("x-forwarded-for", "6.6.6.6")]);
        map.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert_eq!(
            origin(ip("10.0.0.2"), &map, &proxies(&trusted)).ip,
            ip("10.0.0.2")
        );
    }

    #[test]
    fn an_over_long_chain_is_read_only_so_far() {
        let mut chain: Vec<String> = vec!["6.6.6.6".into()];
        chain.extend((0..1000).map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1)));
        let found = client(
            "10.0.0.2",
            &["10.0.0.0/8"],
            &[("x-forwarded-for", &chain.join(","))],
        );
        // The walk stopped MAX_HOPS entries in, at a trusted proxy: never the forged address.
        assert_eq!(found.ip, ip(&chain[chain.len() - MAX_HOPS]));
    }

    #[test]
    fn tls_follows_the_same_rule() {
        let trusted = ["10.0.0.0/8"];
        assert!(client("10.0.0.2", &trusted, &[("x-forwarded-proto", "HTTPS")]).tls);
        // The value the peer wrote is the rightmost one.
        assert!(
            !client(
                "10.0.0.2",
                &trusted,
                &[("x-forwarded-proto", "https, http")]
            )
            .tls
        );
        assert!(!client("10.0.0.2", &trusted, &[("x-forwarded-proto", "ftp")]).tls);
        assert!(
            client(
                "10.0.0.2",
                &trusted,
                &[("forwarded", "for=1.2.3.4;proto=https")]
            )
            .tls
        );
        assert!(!client("203.0.113.1", &trusted, &[("x-forwarded-proto", "https")]).tls);
    }

    fn address() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u16; 8]>().prop_map(|b| IpAddr::from(b).to_canonical()),
            // Often in the trusted network, so chains have trusted stretches.
            (1u8..5).prop_map(|last| IpAddr::from([10, 0, 0, last])),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic_and_name_the_peer_or_a_sent_address(
            xff in "[ -~]{0,200}",
            fwd in "[ -~]{0,200}",
        ) {
            let map = headers(&[("x-forwarded-for", &xff), ("forwarded", &fwd)]);
            let found = origin(ip("10.0.0.2"), &map, &proxies(&["10.0.0.0/8"]));
            let named_in_headers = fwd.contains(&found.ip.to_string())
                || found.ip == ip("10.0.0.2")
                // `::ffff:a.b.c.d` and `[v6]` spellings of the same address.
                || fwd.to_ascii_lowercase().contains("ffff")
                || fwd.contains('[');
            prop_assert!(named_in_headers, "{found:?} from {fwd:?}");
        }

        #[test]
        fn the_client_is_the_rightmost_untrusted_entry(
            chain in proptest::collection::vec(address(), 0..12),
        ) {
            let trusted = proxies(&["10.0.0.0/8"]);
            let list: Vec<String> = chain.iter().map(|ip| match ip {
                IpAddr::V6(_) => format!("[{ip}]"),
                IpAddr::V4(_) => ip.to_string(),
            }).collect();
            let xff = headers(&[("x-forwarded-for", &list.join(", "))]);
            let fwd_list: Vec<String> = list.iter().map(|n| format!("for=\"{n}\"")).collect();
            let fwd = headers(&[("forwarded", &fwd_list.join(", "))]);
            let expected = chain.iter().rev().find(|ip| !trusted.contains(**ip))
                .or(chain.first())
                .copied()
                .unwrap_or(ip("10.0.0.2"));
            let from_untrusted = origin(ip("203.0.113.1"), &xff, &trusted).ip;
            prop_assert_eq!(from_untrusted, ip("203.0.113.1"));
            if !chain.is_empty() {
                prop_assert_eq!(origin(ip("10.0.0.2"), &xff, &trusted).ip, expected);
                prop_assert_eq!(origin(ip("10.0.0.2"), &fwd, &trusted).ip, expected);
            }
        }

        #[test]
        fn what_the_client_prepends_never_matters(
            forged in "[ -~]{0,80}",
            real in address().prop_filter("untrusted", |ip| !proxies(&["10.0.0.0/8"]).contains(*ip)),
        ) {
            let trusted = proxies(&["10.0.0.0/8"]);
            let real_text = match real { IpAddr::V6(_) => format!("[{real}]"), _ => real.to_string() };
            let map = headers(&[("x-forwarded-for", &format!("{forged},{real_text}, 10.0.0.3"))]);
            prop_assert_eq!(origin(ip("10.0.0.2"), &map, &trusted).ip, real);
        }
    }
}
