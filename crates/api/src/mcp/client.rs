//! The client side towards upstream MCP servers (Streamable HTTP transport).
//!
//! Upstream sessions are kept per connector *and per caller* (API key or OAuth grant),
//! so nothing one caller sets up upstream (log level, subscriptions, anything the server
//! keeps per session) reaches another. Within a session every request gets its own
//! JSON-RPC id: SDK servers route each answer to the stream of the request with that
//! id, so a shared id would hand one call's result to another. When the upstream
//! forgets a session (404), it is re-initialized once; idle sessions are closed.
use crate::{
    crypto::Cipher,
    entity::connector,
    outbound::{CallLimits, FastBody, Outbound},
};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::{Value, json, value::RawValue};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use uuid::Uuid;

/// Versions with the `initialize` handshake, newest first.
pub const LEGACY_PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
pub const LATEST_PROTOCOL: &str = LEGACY_PROTOCOL_VERSIONS[0];
/// The stateless revision: no handshake, version and capabilities on every request.
pub const MODERN_PROTOCOL: &str = "2026-07-28";
/// Every version the gateway speaks, on either side, newest first.
pub const PROTOCOL_VERSIONS: [&str; 4] =
    [MODERN_PROTOCOL, "2025-11-25", "2025-06-18", "2025-03-26"];

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream unreachable: {0}")]
    Transport(String),
    #[error("upstream answered HTTP {0}")]
    Status(u16),
    #[error("upstream sent an invalid response: {0}")]
    Protocol(String),
    /// A JSON-RPC error object from the upstream, relayed as it is.
    #[error("upstream error {}", .0["code"])]
    Rpc(Value),
}

/// What an upstream offers, as its list methods answered.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tools: Vec<Value>,
    pub prompts: Vec<Value>,
    pub resources: Vec<Value>,
    pub resource_templates: Vec<Value>,
}

/// Where and how to reach a connector: its URL vetted and parsed once, its credential
/// decrypted once, per upstream session.
struct Target {
    url: reqwest::Url,
    uri: http::Uri,
    credential: Option<(HeaderName, HeaderValue)>,
    /// The upstream answered with a redirect: go through reqwest, which follows
    /// same-origin redirects, from now on.
    redirects: std::sync::atomic::AtomicBool,
}

struct UpstreamSession {
    target: Target,
    id: Option<HeaderValue>,
    protocol: HeaderValue,
    /// The next JSON-RPC id; `initialize` used 0.
    next_id: std::sync::atomic::AtomicU64,
    /// When the session was last used, as seconds since `EPOCH`, for closing idle ones.
    last_used: std::sync::atomic::AtomicU64,
    /// A 2026-07-28 server: no session, `_meta` and `Mcp-Method`/`Mcp-Name` on every
    /// request.
    modern: bool,
}

/// A replica-local time origin for `last_used`.
static EPOCH: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

fn now_secs() -> u64 {
    EPOCH.elapsed().as_secs()
}

impl UpstreamSession {
    fn next_id(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.last_used.store(now_secs(), Relaxed);
        self.next_id.fetch_add(1, Relaxed)
    }
}

/// The connector fields a session depends on; an edit to any of them starts a new one.
#[derive(PartialEq)]
struct Fingerprint {
    url: String,
    credential_header: Option<String>,
    credential_enc: Option<String>,
}

impl Fingerprint {
    fn of(c: &connector::Model) -> Fingerprint {
        Fingerprint {
            url: c.url.clone(),
            credential_header: c.credential_header.clone(),
            credential_enc: c.credential_enc.clone(),
        }
    }

    fn matches(&self, c: &connector::Model) -> bool {
        self.url == c.url
            && self.credential_header == c.credential_header
            && self.credential_enc == c.credential_enc
    }
}

/// Upstream sessions by connector and caller, each with the connector version it was
/// made for.
#[derive(Default)]
pub struct UpstreamPool {
    sessions: Mutex<HashMap<PoolKey, (Fingerprint, Arc<UpstreamSession>)>>,
    /// A gate per session being made, so that concurrent first calls make one.
    making: Mutex<HashMap<PoolKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// Connector id and caller (API key or OAuth grant) id.
type PoolKey = (Uuid, Uuid);

impl UpstreamPool {
    /// Takes out the sessions unused for `idle` or longer, to be closed.
    fn take_idle(&self, idle: Duration) -> Vec<Arc<UpstreamSession>> {
        use std::sync::atomic::Ordering::Relaxed;
        // Nothing can have been idle that long before the clock's first `idle`.
        let Some(cutoff) = now_secs().checked_sub(idle.as_secs()) else {
            return Vec::new();
        };
        let Ok(mut map) = self.sessions.lock() else {
            return Vec::new();
        };
        let stale: Vec<_> = map
            .iter()
            // A session held elsewhere (a call on its way, a caller's open stream) is
            // in use, however long ago it was last asked anything.
            .filter(|(_, (_, s))| Arc::strong_count(s) == 1 && s.last_used.load(Relaxed) < cutoff)
            .map(|(k, _)| *k)
            .collect();
        stale
            .into_iter()
            .filter_map(|k| map.remove(&k).map(|(_, s)| s))
            .collect()
    }
}

/// One JSON-RPC response, its `result` kept as raw JSON so that relaying it costs no
/// parse and re-serialisation.
#[derive(Debug, serde::Deserialize)]
pub struct Reply {
    #[serde(default)]
    id: Value,
    result: Option<Box<RawValue>>,
    error: Option<Value>,
}

impl Reply {
    fn into_result(self) -> Result<Box<RawValue>, UpstreamError> {
        match (self.result, self.error) {
            (_, Some(err)) => Err(UpstreamError::Rpc(err)),
            (Some(r), None) => Ok(r),
            (None, None) => Err(UpstreamError::Protocol("no result".into())),
        }
    }
}

/// Parses a Streamable HTTP answer: one JSON object, or an SSE stream whose `data:`
/// lines carry JSON-RPC messages; returns the response with `id`.
fn parse_answer(content_type: &str, body: &[u8], id: u64) -> Result<Reply, UpstreamError> {
    if content_type.starts_with("text/event-stream") {
        let text = std::str::from_utf8(body)
            .map_err(|_| UpstreamError::Protocol("SSE not UTF-8".into()))?;
        let mut data = String::new();
        for line in text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .chain(std::iter::once(""))
        {
            if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            } else if line.is_empty() && !data.is_empty() {
                if let Ok(msg) = serde_json::from_str::<Reply>(&data)
                    && msg.id.as_u64() == Some(id)
                    && (msg.result.is_some() || msg.error.is_some())
                {
                    return Ok(msg);
                }
                data.clear();
            }
        }
        Err(UpstreamError::Protocol(
            "no response in the event stream".into(),
        ))
    } else {
        serde_json::from_slice(body).map_err(|e| UpstreamError::Protocol(format!("not JSON: {e}")))
    }
}

enum Posted {
    Reply(Option<Reply>),
    Events(EventStream),
}

/// What a forwarded request got: its result, or an event stream to relay.
pub enum Answer {
    Result(Box<RawValue>),
    Events(EventStream),
}

/// One message read from an upstream's event stream.
pub enum StreamMessage {
    /// A notification (progress, logging, …), its JSON as the upstream wrote it.
    Notification(String),
    /// A request of the upstream's to the client (sampling, elicitation, roots): its
    /// id, and its JSON as the upstream wrote it. Answer it with `EventStream::answer`.
    Request(Value, String),
    /// The response to our request: its result or its error object.
    Response(Result<Box<RawValue>, UpstreamError>),
}

/// An upstream's `text/event-stream` answer, read event by event: within the request
/// timeout overall and the response size limit per event.
pub struct EventStream {
    body: hyper::body::Incoming,
    deadline: tokio::time::Instant,
    /// The longest silence allowed between bytes.
    idle: Duration,
    limit: usize,
    buf: bytes::BytesMut,
    /// How far `buf` is known to hold no event boundary.
    scanned: usize,
    ended: bool,
    /// The id of the request this stream answers.
    id: u64,
    /// Where answers to the upstream's own requests go (set for forwarded calls).
    responder: Option<Responder>,
}

/// Posts answers to an upstream's requests on the session they came on.
#[derive(Clone)]
pub struct Responder {
    outbound: Outbound,
    session: Arc<UpstreamSession>,
}

impl Responder {
    /// What another replica needs to answer on this session: the upstream's session id
    /// and protocol version.
    pub fn session_ref(&self) -> (Option<String>, String) {
        (
            self.session
                .id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            self.session
                .protocol
                .to_str()
                .unwrap_or(LATEST_PROTOCOL)
                .to_string(),
        )
    }

    /// Sends the client's answer (a JSON-RPC `result` or `error` member) to the
    /// upstream's request `id`.
    pub async fn answer(
        &self,
        id: &Value,
        member: &str,
        value: &RawValue,
    ) -> Result<(), UpstreamError> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{},"{member}":{}}}"#,
            serde_json::to_string(id).map_err(|e| UpstreamError::Protocol(e.to_string()))?,
            value.get()
        );
        post_message(&self.outbound, &self.session, body.into_bytes()).await
    }

    /// Tells the upstream its request cannot reach the client.
    pub async fn refuse(&self, id: &Value, why: &str) -> Result<(), UpstreamError> {
        let error = json!({"code": -32601, "message": why}).to_string();
        let raw =
            RawValue::from_string(error).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        self.answer(id, "error", &raw).await
    }
}

/// The notifications an upstream sends on a caller's standalone stream (GET, versions
/// before 2026-07-28).
pub struct Notifications {
    resp: reqwest::Response,
    buf: bytes::BytesMut,
    limit: usize,
    /// Held so that the session is not closed as idle while its stream is open.
    _session: Arc<UpstreamSession>,
}

impl Notifications {
    /// The next message's JSON; `None` when the stream ends or breaks.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(event) = take_event(&mut self.buf, 0, false) {
                match event {
                    Some(data) => return Some(data),
                    None => continue,
                }
            }
            let chunk = self.resp.chunk().await.ok()??;
            if self.buf.len() + chunk.len() > self.limit {
                return None;
            }
            self.buf.extend_from_slice(&chunk);
        }
    }
}

/// A forwarded request on its way: what it takes to cancel it upstream.
/// Registered on every forwarded call, so it holds only what identifies the request; the
/// outbound client comes with the cancellation.
pub struct InFlight {
    session: Arc<UpstreamSession>,
    upstream_id: u64,
}

impl InFlight {
    /// `notifications/cancelled` for the request, on its session (versions before
    /// 2026-07-28; in 2026-07-28 closing the stream is the cancellation).
    pub async fn cancel(
        &self,
        outbound: &Outbound,
        reason: Option<&str>,
    ) -> Result<(), UpstreamError> {
        let mut params = json!({"requestId": self.upstream_id});
        if let Some(r) = reason {
            params["reason"] = r.into();
        }
        let body = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params});
        post_message(outbound, &self.session, body.to_string().into_bytes()).await
    }
}

/// POSTs one message (an answer to the upstream's request) on `session`.
async fn post_message(
    outbound: &Outbound,
    session: &UpstreamSession,
    body: Vec<u8>,
) -> Result<(), UpstreamError> {
    let resp = on_session(outbound, session, reqwest::Method::POST)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| UpstreamError::Transport(without_url(&e)))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(UpstreamError::Status(resp.status().as_u16()))
    }
}

impl EventStream {
    /// Where answers to the upstream's requests on this stream go.
    pub fn responder(&self) -> Option<&Responder> {
        self.responder.as_ref()
    }

    /// The next notification, request or the response; `Ok(None)` when the stream
    /// ended first.
    pub async fn next(&mut self) -> Result<Option<StreamMessage>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct Peek<'a> {
            #[serde(default, deserialize_with = "super::present")]
            id: Option<Value>,
            #[serde(borrow, default)]
            method: Option<std::borrow::Cow<'a, str>>,
        }
        loop {
            let Some(data) = self.next_data().await? else {
                return Ok(None);
            };
            let Ok(peek) = serde_json::from_str::<Peek>(&data) else {
                continue;
            };
            match (peek.id, peek.method) {
                (None, Some(_)) => return Ok(Some(StreamMessage::Notification(data))),
                (Some(id), None) if id.as_u64() == Some(self.id) => {
                    let reply: Reply = serde_json::from_str(&data)
                        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
                    return Ok(Some(StreamMessage::Response(reply.into_result())));
                }
                (Some(id), Some(_)) => return Ok(Some(StreamMessage::Request(id, data))),
                _ => continue,
            }
        }
    }

    /// The `data` of the next event that has any.
    async fn next_data(&mut self) -> Result<Option<String>, UpstreamError> {
        use http_body_util::BodyExt;
        loop {
            if let Some(event) = take_event(&mut self.buf, self.scanned, self.ended) {
                self.scanned = 0;
                match event {
                    Some(data) => return Ok(Some(data)),
                    None => continue,
                }
            }
            // A boundary is at most three bytes: look again only from just before.
            self.scanned = self.buf.len().saturating_sub(2);
            if self.ended {
                return Ok(None);
            }
            let until = Ord::min(self.deadline, tokio::time::Instant::now() + self.idle);
            match tokio::time::timeout_at(until, self.body.frame()).await {
                Err(_) => return Err(UpstreamError::Transport("timed out".into())),
                Ok(None) => self.ended = true,
                Ok(Some(Err(e))) => return Err(UpstreamError::Transport(e.to_string())),
                Ok(Some(Ok(frame))) => {
                    if let Ok(chunk) = frame.into_data() {
                        if self.buf.len() + chunk.len() > self.limit {
                            return Err(UpstreamError::Transport(format!(
                                "an event is larger than {} bytes",
                                self.limit
                            )));
                        }
                        self.buf.extend_from_slice(&chunk);
                    }
                }
            }
        }
    }
}

/// Takes the first complete event off `buf` (all of it once the stream `ended`):
/// `Some(Some(data))`, `Some(None)` for an event without data (a comment, a keep-alive),
/// `None` until an event is complete. `buf[..from]` holds no boundary.
fn take_event(buf: &mut bytes::BytesMut, from: usize, ended: bool) -> Option<Option<String>> {
    let end = (from..buf.len()).find_map(|i| {
        if buf[i] != b'\n' {
            return None;
        }
        match buf.get(i + 1) {
            Some(b'\n') => Some((i, i + 2)),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => Some((i, i + 3)),
            _ => None,
        }
    });
    let (event_end, drain) = match end {
        Some(e) => e,
        None if ended && !buf.is_empty() => (buf.len(), buf.len()),
        None => return None,
    };
    let event = buf.split_to(drain);
    let text = String::from_utf8_lossy(&event[..event_end]);
    let mut data: Option<String> = None;
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if let Some(d) = line.strip_prefix("data:") {
            let d = d.strip_prefix(' ').unwrap_or(d);
            match &mut data {
                Some(acc) => {
                    acc.push('\n');
                    acc.push_str(d);
                }
                None => data = Some(d.to_string()),
            }
        }
    }
    Some(data)
}

#[derive(serde::Serialize)]
struct Request<'a, P: serde::Serialize> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    method: &'a str,
    params: P,
}

pub struct Upstream<'a> {
    pub outbound: &'a Outbound,
    pub cipher: &'a Cipher,
    pub pool: &'a UpstreamPool,
}

impl Upstream<'_> {
    fn target(&self, c: &connector::Model) -> Result<Target, UpstreamError> {
        let url = self
            .outbound
            .check_url_fast(&c.url)
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        let credential = match (&c.credential_header, &c.credential_enc) {
            (Some(h), Some(sealed)) => {
                let broken = || UpstreamError::Transport("cannot use the credential".into());
                let secret = self.cipher.decrypt(sealed).map_err(|_| broken())?;
                let name = HeaderName::from_bytes(h.as_bytes()).map_err(|_| broken())?;
                let mut value = HeaderValue::from_bytes(&secret).map_err(|_| broken())?;
                value.set_sensitive(true);
                Some((name, value))
            }
            _ => None,
        };
        let uri = url
            .as_str()
            .parse()
            .map_err(|_| UpstreamError::Transport("not a usable URL".into()))?;
        Ok(Target {
            url,
            uri,
            credential,
            redirects: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// POSTs one message; `id` is `None` for a notification.
    async fn post<P: serde::Serialize>(
        &self,
        target: &Target,
        session: Option<&UpstreamSession>,
        id: Option<u64>,
        method: &str,
        params: P,
    ) -> Result<(reqwest::header::HeaderMap, Option<Reply>), UpstreamError> {
        match self
            .post_or_follow(target, session, id, method, params, false, None)
            .await?
        {
            (headers, Posted::Reply(reply)) => Ok((headers, reply)),
            (_, Posted::Events(_)) => Err(UpstreamError::Protocol("unexpected stream".into())),
        }
    }

    /// `post`, or with `follow_events` the upstream's event stream unread when it
    /// answers with one.
    #[allow(clippy::too_many_arguments)]
    async fn post_or_follow<P: serde::Serialize>(
        &self,
        target: &Target,
        session: Option<&UpstreamSession>,
        id: Option<u64>,
        method: &str,
        params: P,
        follow_events: bool,
        limits: Option<CallLimits>,
    ) -> Result<(reqwest::header::HeaderMap, Posted), UpstreamError> {
        let body = serde_json::to_vec(&Request {
            jsonrpc: "2.0",
            id,
            method,
            params,
        })
        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        // 2026-07-28 mirrors the name (or URI) of a call into a header.
        let mcp_name = match session {
            Some(s)
                if s.modern
                    && matches!(method, "tools/call" | "prompts/get" | "resources/read") =>
            {
                #[derive(serde::Deserialize)]
                struct Named {
                    name: Option<String>,
                    uri: Option<String>,
                }
                #[derive(serde::Deserialize)]
                struct Body {
                    params: Named,
                }
                serde_json::from_slice::<Body>(&body)
                    .ok()
                    .and_then(|b| b.params.name.or(b.params.uri))
                    .map(|n| header_safe(&n))
            }
            _ => None,
        };
        let headers = || {
            let mut h = reqwest::header::HeaderMap::with_capacity(6);
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(
                ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
            if let Some((name, value)) = &target.credential {
                h.insert(name.clone(), value.clone());
            }
            if let Some(s) = session {
                h.insert("mcp-protocol-version", s.protocol.clone());
                if let Some(id) = &s.id {
                    h.insert("mcp-session-id", id.clone());
                }
                if s.modern {
                    if let Ok(v) = HeaderValue::from_str(method) {
                        h.insert("mcp-method", v);
                    }
                    if let Some(v) = mcp_name
                        .as_deref()
                        .and_then(|n| HeaderValue::from_str(n).ok())
                    {
                        h.insert("mcp-name", v);
                    }
                }
            }
            h
        };
        let (status, headers, body) = self
            .send(target, &headers, body.into(), follow_events, limits)
            .await?;
        if status.as_u16() == 202 || id.is_none() {
            return Ok((headers, Posted::Reply(None)));
        }
        if !status.is_success() {
            return Err(UpstreamError::Status(status.as_u16()));
        }
        let body = match body {
            FastBody::Whole(b) => b,
            FastBody::Events {
                body,
                deadline,
                idle,
            } => {
                return Ok((
                    headers,
                    Posted::Events(EventStream {
                        body,
                        deadline,
                        idle,
                        limit: self.outbound.max_response_bytes(),
                        buf: bytes::BytesMut::new(),
                        scanned: 0,
                        ended: false,
                        id: id.unwrap_or_default(),
                        responder: None,
                    }),
                ));
            }
        };
        let ctype = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let reply = parse_answer(ctype, &body, id.unwrap_or_default())?;
        Ok((headers, Posted::Reply(Some(reply))))
    }

    /// The bare hyper client first; reqwest (which follows same-origin redirects) once
    /// the upstream has redirected.
    async fn send(
        &self,
        target: &Target,
        headers: &(dyn Fn() -> reqwest::header::HeaderMap + Sync),
        body: bytes::Bytes,
        follow_events: bool,
        limits: Option<CallLimits>,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, FastBody), UpstreamError> {
        use std::sync::atomic::Ordering::Relaxed;
        let transport = |e: crate::outbound::OutboundError| UpstreamError::Transport(e.to_string());
        if !target.redirects.load(Relaxed) {
            let resp = self
                .outbound
                .post_fast(&target.uri, headers(), body.clone(), follow_events, limits)
                .await
                .map_err(transport)?;
            if !resp.status.is_redirection() {
                return Ok((resp.status, resp.headers, resp.body));
            }
            target.redirects.store(true, Relaxed);
        }
        let mut resp = self
            .outbound
            .client()
            .post(target.url.clone())
            .headers(headers())
            .body(body)
            .send()
            .await
            .map_err(|e| UpstreamError::Transport(without_url(&e)))?;
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        // Through reqwest an event stream is read whole, as if not asked to follow it.
        let body = if status.is_success() {
            self.outbound.read_limited(resp).await.map_err(transport)?
        } else {
            bytes::Bytes::new()
        };
        Ok((status, headers, FastBody::Whole(body)))
    }

    /// A new upstream session: `initialize` for servers of the handshake era; a server
    /// that refuses it is asked `server/discover` and, if it speaks 2026-07-28, is spoken
    /// to statelessly.
    async fn initialize(&self, c: &connector::Model) -> Result<UpstreamSession, UpstreamError> {
        let target = self.target(c)?;
        // The gateway relays the upstream's requests to its clients (a client that cannot
        // answer one answers with an error), so it declares what they may ask.
        let params = json!({
            "protocolVersion": LATEST_PROTOCOL,
            "capabilities": {"sampling": {}, "elicitation": {}, "roots": {"listChanged": false}},
            "clientInfo": {"name": "gatehouse", "version": env!("CARGO_PKG_VERSION")}
        });
        let legacy = async {
            let (headers, answer) = self
                .post(&target, None, Some(0), "initialize", params)
                .await?;
            let answer = answer
                .ok_or_else(|| UpstreamError::Protocol("no answer to initialize".into()))?
                .into_result()?;
            let result: Value = serde_json::from_str(answer.get())
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            Ok::<_, UpstreamError>((headers, result))
        };
        let (headers, result) = match legacy.await {
            Ok(r) => r,
            // 400 (a modern server's answer to a request without its headers), 404 or 405
            // (no such method), or a JSON-RPC error: perhaps a server of 2026-07-28.
            Err(e @ (UpstreamError::Status(400 | 404 | 405) | UpstreamError::Rpc(_))) => {
                return match self.discover(target).await {
                    Some(s) => Ok(s),
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let protocol = result["protocolVersion"]
            .as_str()
            .unwrap_or(LATEST_PROTOCOL)
            .to_string();
        if !LEGACY_PROTOCOL_VERSIONS.contains(&protocol.as_str()) {
            return Err(UpstreamError::Protocol(format!(
                "unsupported protocol version {protocol}"
            )));
        }
        let session = UpstreamSession {
            target,
            id: headers.get("mcp-session-id").cloned(),
            protocol: HeaderValue::from_str(&protocol)
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?,
            next_id: 1.into(),
            last_used: now_secs().into(),
            modern: false,
        };
        self.post(
            &session.target,
            Some(&session),
            None,
            "notifications/initialized",
            json!({}),
        )
        .await?;
        Ok(session)
    }

    /// A stateless (2026-07-28) session, if the server says it speaks that version.
    async fn discover(&self, target: Target) -> Option<UpstreamSession> {
        let session = UpstreamSession {
            target,
            id: None,
            protocol: HeaderValue::from_static(MODERN_PROTOCOL),
            next_id: 1.into(),
            last_used: now_secs().into(),
            modern: true,
        };
        let raw = self
            .call(&session, "server/discover", json!({}), false, None)
            .await
            .ok()?;
        let Answer::Result(raw) = raw else {
            return None;
        };
        let result: Value = serde_json::from_str(raw.get()).ok()?;
        let speaks = result["supportedVersions"]
            .as_array()?
            .iter()
            .any(|v| v == MODERN_PROTOCOL);
        speaks.then_some(session)
    }

    /// The caller's session with the connector, made once however many calls ask for it
    /// at the same time (a second session would be wasted, and closing it could cut a
    /// call short). `stale` is a session the upstream no longer knows: it is replaced.
    async fn session(
        &self,
        c: &connector::Model,
        caller: Uuid,
        stale: Option<&Arc<UpstreamSession>>,
    ) -> Result<Arc<UpstreamSession>, UpstreamError> {
        let key = (c.id, caller);
        let current = || {
            let map = self.pool.sessions.lock().ok()?;
            let (f, s) = map.get(&key)?;
            (f.matches(c) && !stale.is_some_and(|old| Arc::ptr_eq(old, s))).then(|| s.clone())
        };
        if let Some(s) = current() {
            return Ok(s);
        }
        let gate = match self.pool.making.lock() {
            Ok(mut m) => m.entry(key).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _making = gate.lock().await;
        if let Some(s) = current() {
            return Ok(s);
        }
        let made = self.initialize(c).await;
        if let Ok(mut m) = self.pool.making.lock() {
            m.remove(&key);
        }
        let s = Arc::new(made?);
        let replaced = match self.pool.sessions.lock() {
            Ok(mut map) => map.insert(key, (Fingerprint::of(c), s.clone())),
            Err(_) => None,
        };
        if let Some((_, old)) = replaced {
            self.close_later(old);
        }
        Ok(s)
    }

    /// Sends one request on `session` under a fresh id. With `limits`, an event stream
    /// is read as it comes (so that a call sending progress is not cut at a fixed time)
    /// and, unless `follow_events`, drained here to its response.
    async fn call<P: serde::Serialize>(
        &self,
        session: &UpstreamSession,
        method: &str,
        params: P,
        follow_events: bool,
        limits: Option<CallLimits>,
    ) -> Result<Answer, UpstreamError> {
        self.call_as(
            session,
            session.next_id(),
            method,
            params,
            follow_events,
            limits,
        )
        .await
    }

    /// `call` under a given id.
    async fn call_as<P: serde::Serialize>(
        &self,
        session: &UpstreamSession,
        id: u64,
        method: &str,
        params: P,
        follow_events: bool,
        limits: Option<CallLimits>,
    ) -> Result<Answer, UpstreamError> {
        let stream = follow_events || limits.is_some();
        let posted = if session.modern {
            let params = modern_params(params)?;
            self.post_or_follow(
                &session.target,
                Some(session),
                Some(id),
                method,
                &params,
                stream,
                limits,
            )
            .await
        } else {
            self.post_or_follow(
                &session.target,
                Some(session),
                Some(id),
                method,
                params,
                stream,
                limits,
            )
            .await
        };
        match posted? {
            (_, Posted::Reply(None)) => Err(UpstreamError::Protocol("no answer".into())),
            (_, Posted::Reply(Some(reply))) => reply.into_result().map(Answer::Result),
            (_, Posted::Events(events)) if follow_events => Ok(Answer::Events(events)),
            (_, Posted::Events(mut events)) => loop {
                match events.next().await? {
                    Some(StreamMessage::Notification(_)) => continue,
                    // Nobody to ask: the upstream hears so at once instead of waiting.
                    Some(StreamMessage::Request(id, _)) => {
                        let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601,
                            "message": "the client cannot be asked during this call"}});
                        post_message(self.outbound, session, body.to_string().into_bytes()).await?;
                    }
                    Some(StreamMessage::Response(r)) => break r.map(Answer::Result),
                    None => {
                        break Err(UpstreamError::Protocol(
                            "the stream ended without a response".into(),
                        ));
                    }
                }
            },
        }
    }

    /// Sends one request on the health checker's own session and returns its `result`.
    async fn request<P: serde::Serialize>(
        &self,
        session: &UpstreamSession,
        method: &str,
        params: P,
    ) -> Result<Box<RawValue>, UpstreamError> {
        match self.call(session, method, params, false, None).await? {
            Answer::Result(r) => Ok(r),
            Answer::Events(_) => Err(UpstreamError::Protocol("unexpected stream".into())),
        }
    }

    /// Forwards a request for `caller` on its session with the connector; with
    /// `follow_events`, an upstream that answers with an event stream (progress or log
    /// notifications before the response) hands the stream back to be relayed. A
    /// session the upstream lost (404) is re-initialized once.
    #[allow(clippy::too_many_arguments)]
    pub async fn request_or_follow<P: serde::Serialize>(
        &self,
        c: &connector::Model,
        caller: Uuid,
        method: &str,
        params: P,
        follow_events: bool,
        limits: CallLimits,
        mut on_sent: impl FnMut(InFlight),
    ) -> Result<Answer, UpstreamError> {
        let limits = Some(limits);
        let mut session = self.session(c, caller, None).await?;
        let mut sent = |session: &Arc<UpstreamSession>| {
            let id = session.next_id();
            on_sent(InFlight {
                session: session.clone(),
                upstream_id: id,
            });
            id
        };
        let id = sent(&session);
        let mut answer = self
            .call_as(&session, id, method, &params, follow_events, limits)
            .await;
        if matches!(answer, Err(UpstreamError::Status(404))) && !session.modern {
            session = self.session(c, caller, Some(&session)).await?;
            let id = sent(&session);
            answer = self
                .call_as(&session, id, method, &params, follow_events, limits)
                .await;
        }
        match answer {
            // Answers to the upstream's requests on this stream go back on this session.
            Ok(Answer::Events(mut events)) => {
                events.responder = Some(Responder {
                    outbound: self.outbound.clone(),
                    session,
                });
                Ok(Answer::Events(events))
            }
            other => other,
        }
    }

    /// Opens the caller's standalone stream with the connector, on its own session.
    pub async fn listen(
        &self,
        c: &connector::Model,
        caller: Uuid,
    ) -> Result<Notifications, UpstreamError> {
        let session = self.session(c, caller, None).await?;
        if session.modern {
            return Err(UpstreamError::Protocol(
                "no standalone stream in 2026-07-28".into(),
            ));
        }
        let resp = on_session(self.outbound, &session, reqwest::Method::GET)
            .header(ACCEPT, "text/event-stream")
            // The client's timeout is for exchanges; this stream stays open.
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(|e| UpstreamError::Transport(without_url(&e)))?;
        let events = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !resp.status().is_success() || !events {
            return Err(UpstreamError::Status(resp.status().as_u16()));
        }
        Ok(Notifications {
            resp,
            buf: bytes::BytesMut::new(),
            limit: self.outbound.max_response_bytes(),
            _session: session,
        })
    }

    /// Posts a client's answer to a relayed request on an upstream session that another
    /// replica made (known by its id and version).
    pub async fn answer_on(
        &self,
        c: &connector::Model,
        session: (Option<&str>, &str),
        id: &Value,
        member: &str,
        value: &RawValue,
    ) -> Result<(), UpstreamError> {
        let bad = |e: String| UpstreamError::Protocol(e);
        let session = UpstreamSession {
            target: self.target(c)?,
            id: session
                .0
                .map(HeaderValue::from_str)
                .transpose()
                .map_err(|e| bad(e.to_string()))?,
            protocol: HeaderValue::from_str(session.1).map_err(|e| bad(e.to_string()))?,
            next_id: 0.into(),
            last_used: now_secs().into(),
            modern: false,
        };
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{},"{member}":{}}}"#,
            serde_json::to_string(id).map_err(|e| bad(e.to_string()))?,
            value.get()
        );
        post_message(self.outbound, &session, body.into_bytes()).await
    }

    async fn close(&self, session: &UpstreamSession) {
        close(self.outbound, session).await;
    }

    fn close_later(&self, session: Arc<UpstreamSession>) {
        if session.id.is_none() {
            return;
        }
        let outbound = self.outbound.clone();
        tokio::spawn(async move { close(&outbound, &session).await });
    }

    /// Closes the sessions unused for `idle`.
    pub fn close_idle(&self, idle: Duration) -> usize {
        let stale = self.pool.take_idle(idle);
        let n = stale.len();
        for s in stale {
            self.close_later(s);
        }
        n
    }

    /// Every page of a `*/list` method, collected from `key` of each result.
    async fn list_all(
        &self,
        session: &UpstreamSession,
        method: &str,
        key: &str,
    ) -> Result<Vec<Value>, UpstreamError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..50 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let raw = self.request(session, method, params).await?;
            let page: Value = serde_json::from_str(raw.get())
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            items.extend(page[key].as_array().cloned().unwrap_or_default());
            cursor = page["nextCursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(items)
    }

    /// The health check, on a session of its own that it closes when done:
    /// `initialize`, `ping`, then the catalog. Tools must list; prompts and resources
    /// are optional capabilities, so a server without them (or failing to list them)
    /// is healthy with none.
    pub async fn check(&self, c: &connector::Model) -> Result<Catalog, UpstreamError> {
        let session = self.initialize(c).await?;
        let catalog = self.catalog(&session).await;
        self.close(&session).await;
        catalog
    }

    async fn catalog(&self, session: &UpstreamSession) -> Result<Catalog, UpstreamError> {
        // 2026-07-28 has no ping: answering server/discover was the liveness check.
        if !session.modern {
            self.request(session, "ping", json!({})).await?;
        }
        let tools = self.list_all(session, "tools/list", "tools").await?;
        let prompts = self
            .list_all(session, "prompts/list", "prompts")
            .await
            .unwrap_or_default();
        let resources = self
            .list_all(session, "resources/list", "resources")
            .await
            .unwrap_or_default();
        let resource_templates = self
            .list_all(session, "resources/templates/list", "resourceTemplates")
            .await
            .unwrap_or_default();
        Ok(Catalog {
            tools,
            prompts,
            resources,
            resource_templates,
        })
    }

    /// Drops (and closes) every session with a connector, e.g. when it turns unhealthy.
    pub fn forget(&self, connector_id: Uuid) {
        let gone: Vec<_> = match self.pool.sessions.lock() {
            Ok(mut map) => {
                let keys: Vec<_> = map
                    .keys()
                    .filter(|k| k.0 == connector_id)
                    .copied()
                    .collect();
                keys.into_iter().filter_map(|k| map.remove(&k)).collect()
            }
            Err(_) => Vec::new(),
        };
        for (_, s) in gone {
            self.close_later(s);
        }
    }
}

/// Ends an upstream session (DELETE), as the transport asks of clients that are done.
async fn close(outbound: &Outbound, session: &UpstreamSession) {
    if session.id.is_none() {
        return;
    }
    // 405 (the server keeps no sessions) and failures alike: nothing more to do.
    let _ = on_session(outbound, session, reqwest::Method::DELETE)
        .send()
        .await;
}

/// A request to the upstream on `session`: its URL, credential, session id and version.
fn on_session(
    outbound: &Outbound,
    session: &UpstreamSession,
    method: reqwest::Method,
) -> reqwest::RequestBuilder {
    let mut req = outbound
        .client()
        .request(method, session.target.url.clone())
        .header("mcp-protocol-version", session.protocol.clone());
    if let Some(id) = &session.id {
        req = req.header("mcp-session-id", id.clone());
    }
    if let Some((name, value)) = &session.target.credential {
        req = req.header(name.clone(), value.clone());
    }
    req
}

/// `params` with the per-request `_meta` that 2026-07-28 requires added (the caller's
/// own `_meta` members, a progress token say, are kept).
fn modern_params<P: serde::Serialize>(params: P) -> Result<Value, UpstreamError> {
    let mut v = serde_json::to_value(params).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    if !v.is_object() {
        v = json!({});
    }
    let meta = v
        .as_object_mut()
        .map(|o| o.entry("_meta").or_insert_with(|| json!({})));
    if let Some(Value::Object(meta)) = meta {
        meta.insert(
            "io.modelcontextprotocol/protocolVersion".into(),
            MODERN_PROTOCOL.into(),
        );
        meta.insert(
            "io.modelcontextprotocol/clientCapabilities".into(),
            json!({}),
        );
        meta.insert(
            "io.modelcontextprotocol/clientInfo".into(),
            json!({"name": "gatehouse", "version": env!("CARGO_PKG_VERSION")}),
        );
    }
    Ok(v)
}

/// A header value as 2026-07-28 carries names: as is when plain visible ASCII, else
/// in the Base64 sentinel form.
pub fn header_safe(value: &str) -> String {
    use base64::Engine;
    let sentinel = value.starts_with("=?base64?") && value.ends_with("?=");
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !sentinel;
    if plain {
        value.to_string()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// reqwest errors print the URL, which may carry a token in its query.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_at_blank_lines_whatever_the_line_endings_and_chunks() {
        let stream = b": ping\n\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: last";
        // Fed one byte at a time, as a slow upstream might.
        let mut buf = bytes::BytesMut::new();
        let mut scanned = 0;
        let mut got = Vec::new();
        for (i, b) in stream.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let ended = i + 1 == stream.len();
            while let Some(event) = take_event(&mut buf, scanned, ended) {
                scanned = 0;
                got.push(event);
            }
            scanned = buf.len().saturating_sub(2);
        }
        assert_eq!(
            got,
            [
                None,
                Some("{\"a\":\n1}".to_string()),
                Some("last".to_string())
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn answers_come_as_json_or_as_an_event_stream() {
        let sse = b"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\nid: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\ndata: \"result\":{}}\n\n";
        let got = parse_answer("text/event-stream", sse, 7).map(|r| r.into_result());
        assert_eq!(
            got.ok().and_then(Result::ok).map(|r| r.get().to_string()),
            Some("{}".into())
        );
        let plain = parse_answer(
            "application/json",
            br#"{"jsonrpc":"2.0","id":7,"result":{"ok":true}}"#,
            7,
        )
        .ok()
        .and_then(|r| r.into_result().ok());
        assert_eq!(
            plain.map(|r| r.get().to_string()),
            Some(r#"{"ok":true}"#.into())
        );
        assert!(parse_answer("text/event-stream", b"data: {}\n\n", 7).is_err());
        let err = parse_answer(
            "application/json",
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no"}}"#,
            7,
        )
        .ok()
        .map(Reply::into_result);
        assert!(matches!(err, Some(Err(UpstreamError::Rpc(e))) if e["code"] == -32602));
    }
}
