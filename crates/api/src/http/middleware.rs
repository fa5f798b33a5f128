//! The edge: every request's way in and out. Request ids, the request span, metrics and
//! the log line; then CORS and the MCP Host check, the body deadline and text screen,
//! and plain-text errors as problems; security headers on every answer.
use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::Next,
};
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug)]
pub struct RequestId(pub String);

thread_local! {
    /// A random per-thread prefix and a counter: unique ids without asking the kernel
    /// for randomness on every request (as a UUID would).
    static NEXT_ID: std::cell::Cell<(u64, u32)> =
        std::cell::Cell::new((rand::random::<u64>(), 0));
}

fn new_id() -> String {
    NEXT_ID.with(|c| {
        let (prefix, n) = c.get();
        c.set((prefix, n.wrapping_add(1)));
        // `format!("{prefix:016x}{n:08x}")` without `core::fmt`, on every request.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(24);
        for shift in (0..16).rev() {
            out.push(HEX[((prefix >> (shift * 4)) & 0xf) as usize] as char);
        }
        for shift in (0..8).rev() {
            out.push(HEX[((n >> (shift * 4)) & 0xf) as usize] as char);
        }
        out
    })
}

fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    // Accept a caller's id only when it is short and harmless in logs.
    (v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then(|| v.to_string())
}

/// The one middleware the server installs. The stages are plain async functions, each
/// handed the next as a closure, so a request costs one boxed future rather than one
/// per stage (the MCP endpoint's latency budget is a few microseconds).
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let next = &next;
    request_context(req, async move |req| {
        super::cors::cors(req, async move |req| {
            super::limits::slow_clients(req, async move |req| {
                // Innermost: its refusals still get CORS headers and a request id.
                super::problem::plain_errors_as_problems(req, async move |req| next.call(req).await)
                    .await
            })
            .await
        })
        .await
    })
    .await
}

/// Set on every answer unless a handler chose otherwise.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 3] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
];

async fn request_context<B: MessageBody>(
    req: ServiceRequest,
    next: impl AsyncFnOnce(ServiceRequest) -> Result<ServiceResponse<B>, Error>,
) -> Result<ServiceResponse<B>, Error> {
    let id = incoming_id(&req).unwrap_or_else(new_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let started = Instant::now();
    let metrics = req
        .app_data::<actix_web::web::Data<super::metrics::Metrics>>()
        .cloned();
    async move {
        let mut res = next(req).await?;
        let elapsed = started.elapsed();
        let status = res.status().as_u16();
        // The MCP endpoint is routed by prefix (see `mcp::routes`); naming it here also
        // spares the hottest path a second walk of the route table.
        let mcp = res.request().path().starts_with("/mcp/");
        let route: std::borrow::Cow<'static, str> = if mcp {
            super::metrics::MCP_ROUTE.into()
        } else {
            res.request()
                .match_pattern()
                .map_or("unmatched".into(), Into::into)
        };
        let headers = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert(REQUEST_ID, v);
        }
        for (name, value) in SECURITY_HEADERS {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
        if let Some(m) = metrics {
            m.observe(method.as_str(), &route, status, elapsed);
        }
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        // An MCP call answered 2xx is counted (metrics, usage) rather than logged: a line
        // each would cost the hottest path more than everything else it keeps. Refused
        // calls (4xx) are logged like any request; an upstream failure, relayed as a
        // JSON-RPC error, logs its own warning in `mcp::forward`.
        if mcp && status < 400 {
            tracing::debug!(status, route = %route, elapsed_ms, "handled");
        } else {
            tracing::info!(status, route = %route, elapsed_ms, "handled");
        }
        Ok(res)
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_24_hex_digits_and_distinct() {
        let (a, b) = (super::new_id(), super::new_id());
        assert_eq!(a.len(), 24);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        assert_eq!(&a[..16], &b[..16]);
    }
}
