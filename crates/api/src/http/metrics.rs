//! Prometheus metrics of the HTTP server, observed by `middleware::request_context` and
//! served by `ops`.
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    mcp_ok: (prometheus::IntCounter, prometheus::Histogram),
}

/// The MCP endpoint's route label (it is matched by prefix, see `mcp::routes`).
pub const MCP_ROUTE: &str = "/mcp/{slug}";

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "gatehouse_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "gatehouse_http_request_duration_seconds",
                "HTTP request latency",
            ),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        let mcp_ok = (
            requests.get_metric_with_label_values(&["POST", MCP_ROUTE, "200"])?,
            latency.get_metric_with_label_values(&["POST", MCP_ROUTE])?,
        );
        Ok(Self {
            registry,
            requests,
            latency,
            mcp_ok,
        })
    }

    /// Adds a metric owned elsewhere (e.g. the key cache) to this registry.
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) -> anyhow::Result<()> {
        Ok(self.registry.register(c)?)
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        // The MCP endpoint's successful calls, by far the most frequent series, skip
        // the label look-ups.
        if status == 200 && method == "POST" && route == MCP_ROUTE {
            self.mcp_ok.0.inc();
            self.mcp_ok.1.observe(elapsed.as_secs_f64());
            return;
        }
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
