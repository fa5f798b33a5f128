//! Who is calling from where: the client address and user agent recorded on sessions
//! and audit events and checked against IP allowlists.
use actix_web::{
    FromRequest, HttpRequest, dev::Payload, http::header, http::header::HeaderMap, web,
};
use ipnet::IpNet;
use std::{
    future::{Ready, ready},
    net::IpAddr,
};

#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A CIDR, or a bare address meaning that address alone; host bits are cleared so the
/// stored form is canonical (`10.1.2.3/8` → `10.0.0.0/8`).
pub fn parse_range(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => s
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("`{s}` is not an IPv4 or IPv6 CIDR"))?,
    };
    Ok(net.trunc())
}

fn trusted(ip: &IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(ip))
}

/// Parses one `for=` value of RFC 7239 (`192.0.2.1`, `"[2001:db8::1]:4711"`, …).
fn forwarded_for_value(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse()
        .ok()
        .or_else(|| v.rsplit_once(':').and_then(|(h, _)| h.parse().ok()))
}

fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<_> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(forwarded_for_value)
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all(header::FORWARDED)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|elem| {
            elem.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| forwarded_for_value(v))
            })
        })
        .collect()
}

/// The client's address: the socket peer, unless the peer is a trusted proxy, in which
/// case the forwarding headers are walked from the right (the entries nearest to us)
/// past every trusted proxy. Entries further left were written by the client and
/// prove nothing.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if !trusted(&peer, proxies) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers).into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !trusted(&ip, proxies) {
                    break;
                }
            }
            // An unparsable hop: stop at the last address we could trust.
            None => break,
        }
    }
    client
}

impl ClientMeta {
    pub fn from_request(req: &HttpRequest) -> Self {
        let proxies = req
            .app_data::<web::Data<super::Edge>>()
            .map_or(&[][..], |e| &e.trusted_proxies);
        let ip = req.peer_addr().map(|a| {
            let peer = a.ip().to_canonical();
            client_ip(peer, req.headers(), proxies)
                .to_canonical()
                .to_string()
        });
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            // Visible ASCII and tabs only reach here; the tabs would only mislead logs
            // and the audit CSV.
            .map(|s| s.chars().filter(|c| !c.is_control()).take(512).collect());
        Self { ip, user_agent }
    }
}

impl FromRequest for ClientMeta {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientMeta::from_request(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| IpNet::default())];
        let h = headers(&[("x-forwarded-for", "198.51.100.7, 10.1.1.1")]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("198.51.100.7"));
        // A spoofed entry left of the real client is ignored.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7")]);
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("198.51.100.7"));
        let h = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("2001:db8::1"));
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("10.2.2.2"));
    }

    #[test]
    fn ranges_parse_to_canonical_networks() {
        assert_eq!(
            parse_range("10.1.2.3/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!(
            parse_range(" 203.0.113.7 ").map(|n| n.to_string()),
            Ok("203.0.113.7/32".into())
        );
        assert_eq!(
            parse_range("2001:db8::1/32").map(|n| n.to_string()),
            Ok("2001:db8::/32".into())
        );
        assert_eq!(
            parse_range("::1").map(|n| n.to_string()),
            Ok("::1/128".into())
        );
        assert!(parse_range("10.0.0.0/33").is_err());
        assert!(parse_range("example.com").is_err());
    }
}
