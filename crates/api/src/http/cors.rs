//! CORS for the endpoints browser-based MCP clients call with a bearer token (the MCP
//! endpoint, registration, token, revocation, discovery documents), and the MCP
//! endpoint's DNS-rebinding protection.
//!
//! No answer here ever carries `Access-Control-Allow-Credentials`, and the allowed
//! origin is `*`, with which browsers refuse to send or expose credentialed requests:
//! cookies never work cross-origin. The cookie-authenticated REST API (`/api/v1`), the
//! consent page and the dashboard get no CORS headers at all.
//!
//! DNS rebinding: a page on `attacker.example` whose name is later re-pointed at our
//! address talks to us *same-origin* as far as the browser is concerned, so CORS and the
//! `Origin` header say nothing useful about it; what it cannot change is the `Host`
//! header, which carries the attacker's name. So the MCP endpoint accepts only requests
//! whose Host is the public URL's host (or a configured `mcp.allowed_hosts` name), and
//! then any `Origin`: every MCP request must carry a bearer credential, which a
//! cross-origin page can only have been given on purpose (browsers never attach one by
//! themselves), so a foreign origin gains nothing it was not handed.
use super::{ApiError, Edge, ErrorKind};
use actix_web::{
    Error, HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{self, HeaderValue},
    },
    web,
};

const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";
const EXPOSE_HEADERS: &str = "Mcp-Session-Id, WWW-Authenticate";
/// Chromium caps the preflight cache at two hours.
const MAX_AGE: &str = "7200";

/// Which CORS an endpoint gets, by path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mcp,
    OAuth,
}

fn kind_of(path: &str) -> Option<Kind> {
    if path.starts_with("/mcp/") {
        Some(Kind::Mcp)
    } else if matches!(path, "/register" | "/token" | "/revoke" | "/jwks.json")
        || path.starts_with("/.well-known/")
    {
        Some(Kind::OAuth)
    } else {
        None
    }
}

/// The host names (lowercase, no port) the MCP endpoint answers under: the public
/// URL's, the configured extra ones, and for a loopback public URL every loopback name
/// (a rebinding page never arrives under one of those).
pub fn allowed_hosts(public_url: &str, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = extra.iter().map(|h| normalize_host(h)).collect();
    if let Some(h) = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(normalize_host))
    {
        if matches!(h.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
            hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        hosts.push(h);
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// `Host` without its port, lowercase, without a trailing dot.
/// The name part of a Host value: no port, no trailing dot (case left as sent).
fn host_name(host: &str) -> &str {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.trim_end_matches('.')
}

fn normalize_host(host: &str) -> String {
    host_name(host).to_ascii_lowercase()
}

fn host_allowed(req: &ServiceRequest, edge: &Edge) -> bool {
    // Behind a trusted proxy, the host the client asked for is the one the proxy
    // forwards (the last value: the nearest proxy's); the proxy copies the rebinding
    // page's Host there too.
    let from_proxy = req
        .peer_addr()
        .is_some_and(|p| edge.trusted_proxies.iter().any(|n| n.contains(&p.ip())));
    let forwarded = from_proxy
        .then(|| {
            req.headers()
                .get("x-forwarded-host")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
        })
        .flatten();
    // HTTP/1.1 has a Host header; HTTP/2 the request URI's authority.
    let host = forwarded.or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
    });
    // Compared without allocating: this runs on every MCP request.
    host.is_some_and(|h| {
        let name = host_name(h);
        edge.mcp_hosts.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

fn add_cors(headers: &mut header::HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
}

fn preflight(kind: Kind) -> HttpResponse {
    let methods = match kind {
        Kind::Mcp => "GET, POST, DELETE, OPTIONS",
        Kind::OAuth => "GET, POST, OPTIONS",
    };
    let mut resp = HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE))
        .finish();
    add_cors(resp.headers_mut());
    resp
}

pub async fn cors<B: MessageBody>(
    req: ServiceRequest,
    next: impl AsyncFnOnce(ServiceRequest) -> Result<ServiceResponse<B>, Error>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(kind) = kind_of(req.path()) else {
        return Ok(next(req).await?.map_into_left_body());
    };
    if kind == Kind::Mcp {
        let allowed = req
            .app_data::<web::Data<Edge>>()
            .is_some_and(|edge| host_allowed(&req, edge));
        if !allowed {
            let e = ApiError::with_detail(
                ErrorKind::Forbidden,
                "this MCP endpoint is not served under that host name",
            );
            let resp = actix_web::ResponseError::error_response(&e);
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    let is_preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        return Ok(req.into_response(preflight(kind)).map_into_right_body());
    }
    let mut res = next(req).await?;
    add_cors(res.headers_mut());
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_by_name_without_port_or_case() {
        let hosts = allowed_hosts("https://GW.example.com", &["mcp.example.org".into()]);
        assert_eq!(hosts, vec!["gw.example.com", "mcp.example.org"]);
        assert_eq!(normalize_host("GW.Example.com.:443"), "gw.example.com");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        let local = allowed_hosts("http://127.0.0.1:8080", &[]);
        assert!(local.contains(&"localhost".to_string()));
        assert!(!local.contains(&"evil.example".to_string()));
    }
}
