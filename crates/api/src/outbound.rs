//! Outbound HTTP to upstream servers (connectors, later webhooks), safe against SSRF.
//!
//! An org admin chooses the URL, so without care it is a way into our own network: the
//! cloud metadata service, the database, an admin port on localhost. Every request goes
//! through one `reqwest::Client` whose DNS resolver refuses a name when ANY of its
//! addresses is denied. The address checked is the address connected to, so a name that
//! resolves to a public address at save time and to 127.0.0.1 later (DNS rebinding)
//! gets nowhere. reqwest does not consult the resolver for IP-literal URLs, so
//! `check_url` must run before every request; it also checks names, so a save is
//! refused early. Redirects stay on the original scheme, host and port.
//!
//! The MCP hot path (`post_fast`) skips reqwest for a bare hyper client with the same
//! resolver, timeouts and size limit. It follows no redirects: a 3xx comes back to the
//! caller, which repeats the request through reqwest.
use crate::config::OutboundConfig;
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};
use url::{Host, Url};

/// Redirects followed at most, each to the same origin as the first URL.
pub const MAX_REDIRECTS: usize = 3;

/// Why an outbound request was refused or failed. Messages are short, meant for the
/// admin who configured the URL, and never carry credentials or query strings.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("{0}")]
    Denied(String),
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("cannot connect to the upstream")]
    Connect,
    #[error("the upstream redirected {0}")]
    Redirect(String),
    #[error("the upstream's response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request to the upstream failed: {0}")]
    Request(String),
}

impl From<reqwest::Error> for OutboundError {
    fn from(e: reqwest::Error) -> Self {
        // Our own refusals travel inside reqwest's error as its source.
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(d) = s.downcast_ref::<DeniedAddress>() {
                return OutboundError::Denied(d.to_string());
            }
            if let Some(r) = s.downcast_ref::<RedirectRefused>() {
                return OutboundError::Redirect(r.0.to_string());
            }
            if let Some(OutboundError::Request(m)) = s.downcast_ref::<OutboundError>() {
                return OutboundError::Request(m.clone());
            }
            source = s.source();
        }
        if e.is_timeout() {
            OutboundError::Timeout
        } else if e.is_connect() {
            OutboundError::Connect
        } else {
            // Without the URL: its query string may hold a token.
            OutboundError::Request(e.without_url().to_string())
        }
    }
}

/// A refused address, raised by the resolver inside reqwest.
#[derive(Debug)]
struct DeniedAddress(String);

impl fmt::Display for DeniedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeniedAddress {}

#[derive(Debug)]
struct RedirectRefused(&'static str);

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// Which destination addresses are allowed.
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    allow_loopback: bool,
    allow_private: bool,
    deny: Vec<IpNet>,
    allow: Vec<IpNet>,
}

// Evaluated at compile time: a wrong prefix length fails the build, not a request.
const CGNAT: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10);
const THIS_NETWORK: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8);
const IETF_PROTOCOL: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24);
const RESERVED_V4: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4);
const V4_COMPATIBLE: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96);
const LINK_LOCAL_V6: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10);
const UNIQUE_LOCAL: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7);
const SITE_LOCAL: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10);
const NAT64: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
const NAT64_LOCAL: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48);
const SIX_TO_FOUR: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);

fn parse_cidrs(list: &[String], setting: &str) -> anyhow::Result<Vec<IpNet>> {
    list.iter()
        .map(|c| {
            crate::http::meta::parse_range(c)
                .map_err(|e| anyhow::anyhow!("outbound.{setting}: {e}"))
        })
        .collect()
}

impl AddressPolicy {
    pub fn from_config(c: &OutboundConfig) -> anyhow::Result<Self> {
        Ok(Self {
            allow_loopback: c.allow_loopback,
            allow_private: c.allow_private,
            deny: parse_cidrs(&c.deny_cidrs, "deny_cidrs")?,
            allow: parse_cidrs(&c.allow_cidrs, "allow_cidrs")?,
        })
    }

    /// `None` when `ip` may be connected to; otherwise what kind of address it is.
    pub fn denied(&self, ip: IpAddr) -> Option<&'static str> {
        // IPv4-mapped IPv6 (::ffff:a.b.c.d) reaches the IPv4 address: judge that one.
        let ip = ip.to_canonical();
        if let Some(reason) = never_a_destination(ip) {
            return Some(reason);
        }
        if self.allow.iter().any(|n| n.contains(&ip)) {
            return None;
        }
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return Some("refused by configuration");
        }
        match ip {
            IpAddr::V4(v4) => self.v4(v4),
            IpAddr::V6(v6) => self.v6(v6),
        }
    }

    fn v4(&self, ip: Ipv4Addr) -> Option<&'static str> {
        if ip.is_loopback() {
            return (!self.allow_loopback).then_some("a loopback address");
        }
        if ip.is_link_local() {
            // 169.254/16, the cloud metadata service among them.
            return Some("a link-local address");
        }
        let private = ip.is_private() || CGNAT.contains(&ip);
        if private {
            return (!self.allow_private).then_some("a private address");
        }
        // IETF protocol assignments (192.0.0.0/24, also used for metadata services) and
        // the reserved 240/4.
        if IETF_PROTOCOL.contains(&ip) || RESERVED_V4.contains(&ip) {
            return Some("a reserved address");
        }
        None
    }

    fn v6(&self, ip: Ipv6Addr) -> Option<&'static str> {
        if ip.is_loopback() {
            return (!self.allow_loopback).then_some("a loopback address");
        }
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        if V4_COMPATIBLE.contains(&ip) {
            return Some("a reserved address");
        }
        if LINK_LOCAL_V6.contains(&ip) {
            return Some("a link-local address");
        }
        // Unique-local fc00::/7 (AWS's metadata service is fd00:ec2::254) and the
        // deprecated site-local fec0::/10.
        if UNIQUE_LOCAL.contains(&ip) || SITE_LOCAL.contains(&ip) {
            return (!self.allow_private).then_some("a private address");
        }
        // NAT64 (RFC 6052, RFC 8215) and 6to4 (RFC 3056) carry an IPv4 address that a
        // gateway may reach for us.
        let o = ip.octets();
        let embedded = if NAT64.contains(&ip) || NAT64_LOCAL.contains(&ip) {
            Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        } else if SIX_TO_FOUR.contains(&ip) {
            Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
        } else {
            None
        };
        embedded.and_then(|v4| self.denied(IpAddr::V4(v4)))
    }
}

/// Addresses no configuration opens: they name no single remote host.
fn never_a_destination(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if THIS_NETWORK.contains(&v4) => Some("an unspecified address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("a broadcast address"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("a multicast address"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("an unspecified address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        _ => None,
    }
}

/// Resolves with the system resolver (through tokio) and refuses the whole name when
/// any address is denied: an attacker controlling DNS could otherwise mix a public
/// address with an internal one and wait for a retry to pick the internal one.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_checked(&policy, &host).await.map_err(
                |e| -> Box<dyn std::error::Error + Send + Sync> {
                    match e {
                        OutboundError::Denied(m) => Box::new(DeniedAddress(m)),
                        other => Box::new(other),
                    }
                },
            )?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Names under `localhost` are loopback by definition (RFC 6761), whatever a resolver says.
fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

async fn resolve_checked(
    policy: &AddressPolicy,
    host: &str,
) -> Result<Vec<SocketAddr>, OutboundError> {
    if is_localhost_name(host) && !policy.allow_loopback {
        return Err(OutboundError::Denied(format!(
            "`{host}` is a loopback name; requests to internal networks are not allowed"
        )));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| OutboundError::Request(format!("cannot resolve `{host}`")))?
        .collect();
    if addrs.is_empty() {
        return Err(OutboundError::Request(format!("cannot resolve `{host}`")));
    }
    for a in &addrs {
        if let Some(kind) = policy.denied(a.ip()) {
            // The address itself is left out: it would turn this into an oracle for
            // internal DNS.
            return Err(OutboundError::Denied(format!(
                "`{host}` resolves to {kind}; requests to internal networks are not allowed"
            )));
        }
    }
    Ok(addrs)
}

/// hyper's errors, with our resolver's refusals told apart.
fn hyper_error(e: hyper_util::client::legacy::Error) -> OutboundError {
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(o) = s.downcast_ref::<OutboundError>() {
            return match o {
                OutboundError::Denied(m) => OutboundError::Denied(m.clone()),
                other => OutboundError::Request(other.to_string()),
            };
        }
        source = s.source();
    }
    if e.is_connect() {
        OutboundError::Connect
    } else {
        // hyper's messages carry no URL.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        OutboundError::Request(detail)
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

type ClientFactory = dyn Fn() -> reqwest::Result<reqwest::Client> + Send + Sync;

/// The same guard as `GuardedResolver`, for hyper's connector.
#[derive(Clone)]
struct HyperResolver {
    policy: Arc<AddressPolicy>,
}

type Resolved = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<std::vec::IntoIter<SocketAddr>, OutboundError>>
            + Send,
    >,
>;

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for HyperResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = OutboundError;
    type Future = Resolved;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            resolve_checked(&policy, name.as_str())
                .await
                .map(Vec::into_iter)
        })
    }
}

type FastConnector =
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector<HyperResolver>>;
type FastClient = hyper_util::client::legacy::Client<FastConnector, http_body_util::Full<Bytes>>;

/// An answer from `post_fast`: read whole, or (an event stream the caller asked to
/// follow) left to read as it arrives.
pub struct FastResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: FastBody,
}

pub enum FastBody {
    Whole(Bytes),
    /// A `text/event-stream` body, to be read before `deadline` (counted from the
    /// start), with no silence longer than `idle`, and within the size limit per event.
    Events {
        body: hyper::body::Incoming,
        deadline: tokio::time::Instant,
        idle: Duration,
    },
}

/// How long a call may take: `idle` without a byte from the other side, `overall` in
/// all. Without them, a request gets the client's timeout overall.
#[derive(Clone, Copy, Debug)]
pub struct CallLimits {
    pub idle: Duration,
    pub overall: Duration,
}

static NEXT_OUTBOUND_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// One client per `Outbound` per thread: a pooled connection is driven by a task on
    /// the runtime that opened it, so sharing one pool across actix workers would turn
    /// every upstream call into cross-thread wake-ups.
    static CLIENTS: std::cell::RefCell<std::collections::HashMap<u64, reqwest::Client>> =
        Default::default();
    static FAST_CLIENTS: std::cell::RefCell<std::collections::HashMap<u64, FastClient>> =
        Default::default();
}

/// The outbound HTTP client and its address policy. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    id: u64,
    factory: Arc<ClientFactory>,
    /// Shared by all threads, used only if a thread's own client cannot be built.
    fallback: reqwest::Client,
    policy: Arc<AddressPolicy>,
    max_response_bytes: usize,
    lookup_timeout: Duration,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl Outbound {
    pub fn new(config: &OutboundConfig) -> anyhow::Result<Self> {
        let policy = Arc::new(AddressPolicy::from_config(config)?);
        let connect_timeout = Duration::from_secs(config.connect_timeout_secs.max(1));
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let resolver = Arc::new(GuardedResolver {
            policy: policy.clone(),
        });
        let factory: Arc<ClientFactory> = Arc::new(move || {
            let redirect = reqwest::redirect::Policy::custom(|attempt| {
                let previous = attempt.previous();
                if previous.len() > MAX_REDIRECTS {
                    return attempt.error(RedirectRefused("too many times"));
                }
                match previous.first() {
                    Some(first) if same_origin(first, attempt.url()) => attempt.follow(),
                    _ => attempt.error(RedirectRefused("to another host")),
                }
            });
            reqwest::Client::builder()
                .dns_resolver(resolver.clone())
                .redirect(redirect)
                .no_proxy()
                .timeout(timeout)
                .connect_timeout(connect_timeout)
                .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
                .build()
        });
        // Fail at start-up, not on the first call, if the client cannot be built.
        let fallback = factory()?;
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            fallback,
            id: NEXT_OUTBOUND_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            factory,
            policy,
            max_response_bytes: config.max_response_bytes,
            lookup_timeout: connect_timeout,
            timeout,
            tls: Arc::new(tls),
        })
    }

    /// This thread's hyper client (see `CLIENTS` for why per thread).
    fn fast_client(&self) -> FastClient {
        FAST_CLIENTS.with(|m| {
            m.borrow_mut()
                .entry(self.id)
                .or_insert_with(|| {
                    let mut http =
                        hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(
                            HyperResolver {
                                policy: self.policy.clone(),
                            },
                        );
                    http.enforce_http(false);
                    http.set_nodelay(true);
                    http.set_connect_timeout(Some(self.lookup_timeout));
                    let https = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config((*self.tls).clone())
                        .https_or_http()
                        .enable_http1()
                        .wrap_connector(http);
                    hyper_util::client::legacy::Client::builder(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .pool_timer(hyper_util::rt::TokioTimer::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .build(https)
                })
                .clone()
        })
    }

    /// POSTs `body` to `uri` (already vetted by `check_url_fast`) and reads the answer
    /// whole, within the request timeout and the size limit; with `follow_events`, a
    /// successful `text/event-stream` answer is handed back unread. Redirects are not
    /// followed.
    pub async fn post_fast(
        &self,
        uri: &http::Uri,
        headers: http::HeaderMap,
        body: Bytes,
        follow_events: bool,
        limits: Option<CallLimits>,
    ) -> Result<FastResponse, OutboundError> {
        use http_body_util::BodyExt;
        let mut req = http::Request::new(http_body_util::Full::new(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = headers;
        req.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("gatehouse/", env!("CARGO_PKG_VERSION"))),
        );
        let limit = self.max_response_bytes;
        let limits = limits.unwrap_or(CallLimits {
            idle: self.timeout,
            overall: self.timeout,
        });
        let now = tokio::time::Instant::now();
        let deadline = now + limits.overall;
        let idle = limits.idle;
        // One timer per wait (the nearer of the idle limit and the overall deadline), and
        // none for a frame that is already buffered: timers are a measurable share of a
        // forwarded call.
        let resp =
            tokio::time::timeout_at(deadline.min(now + idle), self.fast_client().request(req))
                .await
                .map_err(|_| OutboundError::Timeout)?
                .map_err(hyper_error)?;
        let (parts, mut body) = resp.into_parts();
        let events = parts.status.is_success()
            && parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("text/event-stream"));
        if follow_events && events {
            return Ok(FastResponse {
                status: parts.status,
                headers: parts.headers,
                body: FastBody::Events {
                    body,
                    deadline,
                    idle,
                },
            });
        }
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(OutboundError::TooLarge { limit });
        }
        let mut buf = BytesMut::new();
        loop {
            let frame = match futures_util::FutureExt::now_or_never(body.frame()) {
                Some(f) => f,
                None => tokio::time::timeout_at(
                    deadline.min(tokio::time::Instant::now() + idle),
                    body.frame(),
                )
                .await
                .map_err(|_| OutboundError::Timeout)?,
            };
            let Some(frame) = frame else {
                break;
            };
            let frame =
                frame.map_err(|e| OutboundError::Request(format!("reading the answer: {e}")))?;
            if let Ok(chunk) = frame.into_data() {
                if buf.len() + chunk.len() > limit {
                    return Err(OutboundError::TooLarge { limit });
                }
                buf.extend_from_slice(&chunk);
            }
        }
        Ok(FastResponse {
            status: parts.status,
            headers: parts.headers,
            body: FastBody::Whole(buf.freeze()),
        })
    }

    /// This thread's client. Pass every URL through `check_url` first.
    pub fn client(&self) -> reqwest::Client {
        CLIENTS.with(|m| {
            let mut m = m.borrow_mut();
            if let Some(c) = m.get(&self.id) {
                return c.clone();
            }
            let c = (self.factory)().unwrap_or_else(|_| self.fallback.clone());
            m.insert(self.id, c.clone());
            c
        })
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Parses and vets a URL: http or https, a host, no user info, and an allowed
    /// destination. IP literals are judged here (reqwest skips the resolver for them);
    /// names are resolved now so that a bad URL is refused when it is saved. A name that
    /// does not resolve at all passes: the resolver judges it again at connect time.
    pub async fn check_url(&self, url: &str) -> Result<Url, OutboundError> {
        let invalid = |m: &str| OutboundError::InvalidUrl(m.to_string());
        let parsed = Url::parse(url.trim()).map_err(|_| invalid("not a valid absolute URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("must start with http:// or https://"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "must not contain a user name or password; use the credential instead",
            ));
        }
        let host = parsed.host().ok_or_else(|| invalid("must name a host"))?;
        match host {
            Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip))?,
            Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip))?,
            Host::Domain(name) => {
                match tokio::time::timeout(self.lookup_timeout, resolve_checked(&self.policy, name))
                    .await
                {
                    Ok(Err(e @ OutboundError::Denied(_))) => return Err(e),
                    Ok(Err(e)) => {
                        tracing::debug!(host = name, error = %e, "outbound host does not resolve yet")
                    }
                    Err(_) => tracing::debug!(host = name, "outbound host lookup timed out"),
                    Ok(Ok(_)) => {}
                }
            }
        }
        Ok(parsed)
    }

    /// The per-request check: like `check_url`, but names are left to the resolver,
    /// which judges every address it returns at connect time. Saves a DNS look-up on
    /// every call to an upstream.
    pub fn check_url_fast(&self, url: &str) -> Result<Url, OutboundError> {
        let invalid = |m: &str| OutboundError::InvalidUrl(m.to_string());
        let parsed = Url::parse(url.trim()).map_err(|_| invalid("not a valid absolute URL"))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(invalid("not an allowed upstream URL"));
        }
        match parsed.host().ok_or_else(|| invalid("must name a host"))? {
            Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip))?,
            Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip))?,
            Host::Domain(_) => {}
        }
        Ok(parsed)
    }

    /// Refuses an address the policy denies.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), OutboundError> {
        match self.policy.denied(ip) {
            Some(kind) => Err(OutboundError::Denied(format!(
                "{ip} is {kind}; requests to internal networks are not allowed"
            ))),
            None => Ok(()),
        }
    }

    /// Reads a response body up to `max_response_bytes`, refusing a larger declared
    /// length before reading anything.
    pub async fn read_limited(&self, mut resp: reqwest::Response) -> Result<Bytes, OutboundError> {
        let limit = self.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(OutboundError::TooLarge { limit });
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = resp.chunk().await? {
            if buf.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge { limit });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(adjust: impl FnOnce(&mut OutboundConfig)) -> AddressPolicy {
        let mut c = OutboundConfig::default();
        adjust(&mut c);
        AddressPolicy::from_config(&c).unwrap()
    }

    fn denied(p: &AddressPolicy, ip: &str) -> bool {
        p.denied(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn internal_ipv4_addresses_are_denied_and_public_ones_allowed() {
        let p = policy(|_| {});
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.192",
        ] {
            assert!(denied(&p, ip), "{ip} should be denied");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "203.0.113.7",
            "192.0.2.1",
        ] {
            assert!(!denied(&p, ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn internal_ipv6_addresses_are_denied_and_public_ones_allowed() {
        let p = policy(|_| {});
        for ip in [
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "fec0::1",
            "ff02::1",
            "::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
        ] {
            assert!(denied(&p, ip), "{ip} should be denied");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!denied(&p, ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_judged_by_its_ipv4_address() {
        let p = policy(|_| {});
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::ffff:7f00:1",
        ] {
            assert!(denied(&p, ip), "{ip} should be denied");
        }
        assert!(!denied(&p, "::ffff:8.8.8.8"));
        let lo = policy(|c| c.allow_loopback = true);
        assert!(!denied(&lo, "::ffff:127.0.0.1"));
    }

    #[test]
    fn allow_loopback_opens_loopback_only() {
        let p = policy(|c| c.allow_loopback = true);
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(!denied(&p, ip), "{ip} should be allowed");
        }
        for ip in [
            "10.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(denied(&p, ip), "{ip} should still be denied");
        }
    }

    #[test]
    fn allow_private_opens_private_ranges_but_not_link_local() {
        let p = policy(|c| c.allow_private = true);
        for ip in ["10.0.0.1", "192.168.0.1", "100.64.0.1", "fd00::1"] {
            assert!(!denied(&p, ip), "{ip} should be allowed");
        }
        for ip in ["127.0.0.1", "169.254.169.254", "fe80::1"] {
            assert!(denied(&p, ip), "{ip} should still be denied");
        }
    }

    #[test]
    fn allow_cidrs_make_exceptions_and_deny_cidrs_add_refusals() {
        let p = policy(|c| {
            c.allow_cidrs = vec!["10.1.2.0/24".into(), "fd12::/16".into(), "0.0.0.0/0".into()];
            c.deny_cidrs = vec!["8.8.8.0/24".into()];
        });
        assert!(!denied(&p, "10.1.2.3"));
        assert!(!denied(&p, "::ffff:10.1.2.3"));
        assert!(!denied(&p, "fd12::5"));
        assert!(denied(&p, "fd13::5"));
        // The allow list wins over the deny list, but never opens non-destinations.
        assert!(!denied(&p, "8.8.8.8"));
        assert!(denied(&p, "0.0.0.0"));
        assert!(denied(&p, "255.255.255.255"));
        let p = policy(|c| c.deny_cidrs = vec!["8.8.8.0/24".into(), "2001:db8::/32".into()]);
        assert!(denied(&p, "8.8.8.8"));
        assert!(denied(&p, "::ffff:8.8.8.8"));
        assert!(denied(&p, "2001:db8::1"));
        assert!(!denied(&p, "8.8.4.4"));
    }

    #[test]
    fn bad_cidrs_in_configuration_are_reported() {
        let c = OutboundConfig {
            deny_cidrs: vec!["nope".into()],
            ..OutboundConfig::default()
        };
        let e = AddressPolicy::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("outbound.deny_cidrs"), "{e}");
    }

    #[tokio::test]
    async fn check_url_refuses_bad_schemes_userinfo_and_internal_literals() {
        let o = Outbound::new(&OutboundConfig::default()).unwrap();
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "not a url",
            "https://user:pw@example.com/",
            "http://127.0.0.1/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://localhost:3000/",
            "http://app.localhost/",
            "http://10.0.0.1/",
        ] {
            assert!(o.check_url(url).await.is_err(), "{url} should be refused");
        }
        for url in [
            "https://203.0.113.10/mcp",
            "http://[2606:4700:4700::1111]/mcp",
        ] {
            assert!(o.check_url(url).await.is_ok(), "{url} should pass");
        }
        let lo = Outbound::new(&OutboundConfig {
            allow_loopback: true,
            ..OutboundConfig::default()
        })
        .unwrap();
        assert!(lo.check_url("http://127.0.0.1:9/").await.is_ok());
        assert!(lo.check_url("http://localhost:9/").await.is_ok());
    }

    /// A tiny HTTP/1.1 server on 127.0.0.1: `/small`, `/big` (declared length),
    /// `/stream` (chunked, no length), `/hop/N` (N redirects, then 200) and `/away`
    /// (a redirect to the same port under the name `localhost`).
    async fn upstream() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let resp = if path == "/small" {
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                            .to_string()
                    } else if path == "/big" {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n{}",
                            "x".repeat(2000)
                        )
                    } else if path == "/stream" {
                        let chunk = format!("{:x}\r\n{}\r\n", 500, "y".repeat(500));
                        format!(
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}0\r\n\r\n",
                            chunk.repeat(4)
                        )
                    } else if let Some(n) = path
                        .strip_prefix("/hop/")
                        .and_then(|n| n.parse::<u32>().ok())
                    {
                        if n == 0 {
                            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone"
                                .to_string()
                        } else {
                            format!(
                                "HTTP/1.1 302 Found\r\nLocation: /hop/{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                n - 1
                            )
                        }
                    } else {
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: http://localhost:{port}/small\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                    };
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        port
    }

    fn client(allow_loopback: bool) -> Outbound {
        Outbound::new(&OutboundConfig {
            allow_loopback,
            max_response_bytes: 1000,
            ..OutboundConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn the_resolver_refuses_internal_names_even_without_check_url() {
        let port = upstream().await;
        let o = client(false);
        // As if a name had resolved to a public address when it was saved and to
        // 127.0.0.1 now: the connection itself is refused.
        let e = o
            .client()
            .get(format!("http://localhost:{port}/small"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(OutboundError::from(e), OutboundError::Denied(_)));
        let o = client(true);
        let resp = o
            .client()
            .get(format!("http://localhost:{port}/small"))
            .send()
            .await
            .unwrap();
        assert_eq!(&o.read_limited(resp).await.unwrap()[..], b"ok");
    }

    #[tokio::test]
    async fn redirects_are_followed_three_times_on_the_same_origin_only() {
        let port = upstream().await;
        let o = client(true);
        let resp = o
            .client()
            .get(format!("http://127.0.0.1:{port}/hop/3"))
            .send()
            .await
            .unwrap();
        assert_eq!(&o.read_limited(resp).await.unwrap()[..], b"done");
        let e = o
            .client()
            .get(format!("http://127.0.0.1:{port}/hop/4"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(OutboundError::from(e), OutboundError::Redirect(_)));
        let e = o
            .client()
            .get(format!("http://127.0.0.1:{port}/away"))
            .send()
            .await
            .unwrap_err();
        let e = OutboundError::from(e);
        assert_eq!(e.to_string(), "the upstream redirected to another host");
    }

    #[tokio::test]
    async fn bodies_past_the_limit_are_refused_declared_or_streamed() {
        let port = upstream().await;
        let o = client(true);
        for path in ["/big", "/stream"] {
            let resp = o
                .client()
                .get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
                .unwrap();
            assert!(
                matches!(
                    o.read_limited(resp).await,
                    Err(OutboundError::TooLarge { limit: 1000 })
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn redirects_must_keep_scheme_host_and_port() {
        let a = Url::parse("https://mcp.example.com/mcp").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://mcp.example.com:443/other").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://mcp.example.com/mcp").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://mcp.example.com:8443/mcp").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://evil.example.com/mcp").unwrap()
        ));
    }
}
