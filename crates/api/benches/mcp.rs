//! MCP gateway benchmark: `tools/call` straight to a minimal upstream and through the
//! gateway (a separate `gatehouse serve` process with API-key auth, allowlist check,
//! usage counting and tracing on), at concurrency 1, 16 and 64. Prints requests/s,
//! p50/p99 latency, the ratio, and the gateway's CPU time per call (from /proc).
//! Three rows go through the gateway: the call in a 2025-11-25 session with an API key,
//! the same with an OAuth access token (minted in the set-up through the server's own
//! flow: registration, consent, PKCE, /token), and a 2026-07-28 stateless call.
//! Run it with `bash scripts/bench-mcp.sh` (or `just bench`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};

async fn upstream(body: web::Bytes) -> HttpResponse {
    // The fastest honest upstream: peek the method and id, answer fixed JSON.
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = msg.get("id").cloned() else {
        return HttpResponse::Accepted().finish();
    };
    let result = match msg["method"].as_str().unwrap_or("") {
        "initialize" => {
            json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "fast", "version": "1"}})
        }
        "tools/list" => json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}),
        "tools/call" => json!({"content": [{"type": "text", "text": "ok"}]}),
        _ => json!({}),
    };
    HttpResponse::Ok()
        .insert_header(("mcp-session-id", "s1"))
        .json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

thread_local! {
    static FORWARDER_CLIENT: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    > = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
}

/// The reference point of the issue: a bare forwarder (actix-web, a pooled HTTP/1.1
/// client per worker, the JSON-RPC method peeked rather than parsed; no auth, no
/// bookkeeping). What the gateway adds is measured against this.
async fn bare_forward(
    req: actix_web::HttpRequest,
    body: web::Bytes,
    to: web::Data<http::Uri>,
) -> HttpResponse {
    use http_body_util::BodyExt;
    #[derive(serde::Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    if !serde_json::from_slice::<Peek>(&body).is_ok_and(|p| p.method.is_some()) {
        return HttpResponse::BadRequest().finish();
    }
    let mut up = http::Request::post(to.get_ref().clone())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = req.headers().get("mcp-session-id") {
        up = up.header("mcp-session-id", s.as_bytes());
    }
    let up = up.body(http_body_util::Full::new(body)).unwrap();
    let Ok(resp) = FORWARDER_CLIENT.with(|c| c.clone()).request(up).await else {
        return HttpResponse::BadGateway().finish();
    };
    let status = resp.status().as_u16();
    let Ok(bytes) = resp.into_body().collect().await.map(|b| b.to_bytes()) else {
        return HttpResponse::BadGateway().finish();
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(bytes)
}

/// HTTP workers of the gateway and of the bare forwarder alike: GATEHOUSE_BENCH_WORKERS,
/// default 1. On two cores shared with the upstream and the load generator, one worker
/// batches more events per wake-up than two competing threads (about 6 µs less CPU per
/// call for each server, measured); `=0` gives both actix's one per CPU.
fn bench_workers() -> usize {
    std::env::var("GATEHOUSE_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Runs the bare forwarder towards `to` on a random port, prints the port, never returns.
async fn run_forwarder(to: String) {
    let uri: http::Uri = to.parse().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(web::Data::new(uri.clone()))
            .route("/mcp", web::post().to(bare_forward))
    })
    .workers(match bench_workers() {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    })
    .listen(listener)
    .unwrap()
    .run()
    .await
    .unwrap();
}

/// This bench binary again, as a child with `var` set; returns it and the port it
/// printed.
fn spawn_self(var: &str, value: &str) -> (std::process::Child, u16) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.env(var, value);
    spawn_server(cmd)
}

/// Starts a server that prints its port as its first line; returns it and the port.
fn spawn_server(mut cmd: std::process::Command) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().parse().unwrap())
}

/// Child servers, killed when the bench ends or panics, so that none outlives it.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// Pins every thread of `pid` to one CPU.
fn pin(pid: u32, cpu: usize) {
    let ok = std::process::Command::new("taskset")
        .args(["-a", "-p", &format!("{:x}", 1 << cpu), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "taskset failed for {pid}");
}

/// CPU time in µs per call, from `ticks` of /proc's clock (CLK_TCK, 100 on Linux).
fn micros_per_call(ticks: u64, calls: usize) -> f64 {
    ticks as f64 * 10_000.0 / calls.max(1) as f64
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ")".
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// The method every load generator calls: `tools/call` (or GATEHOUSE_BENCH_METHOD;
/// `ping` measures the gateway without the upstream hop).
fn bench_method() -> String {
    std::env::var("GATEHOUSE_BENCH_METHOD").unwrap_or_else(|_| "tools/call".into())
}

/// The request body of a call in a session (2025-11-25 and before).
fn call_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": bench_method(), "params": {"name": "echo", "arguments": {}}}).to_string()
}

/// The protocol version of stateless calls: no `initialize`, no session.
const STATELESS: &str = "2026-07-28";

/// The same call as 2026-07-28 sends it, statelessly, with `key`: version and client
/// capabilities in `params._meta`, method and tool name in headers too.
fn stateless_call(key: &str) -> (Vec<(String, String)>, String) {
    let method = bench_method();
    let mut headers = vec![
        ("authorization".to_string(), format!("Bearer {key}")),
        ("mcp-protocol-version".to_string(), STATELESS.to_string()),
        ("mcp-method".to_string(), method.clone()),
    ];
    if method == "tools/call" {
        headers.push(("mcp-name".to_string(), "echo".to_string()));
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {
        "name": "echo", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": STATELESS,
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    (headers, body.to_string())
}

/// A 2025-11-25 session opened at `mcp_url` with `bearer` (API key or OAuth access
/// token): the headers of its calls.
async fn session_headers(mcp_url: &str, bearer: &str) -> Vec<(String, String)> {
    let init = reqwest::Client::new()
        .post(mcp_url)
        .header("authorization", format!("Bearer {bearer}"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert!(init.status().is_success(), "initialize: {}", init.status());
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    vec![
        ("authorization".to_string(), format!("Bearer {bearer}")),
        ("mcp-session-id".to_string(), session),
        ("mcp-protocol-version".to_string(), "2025-11-25".to_string()),
    ]
}

/// GATEHOUSE_BENCH_LOADGEN=reqwest: the load comes from this process, not from wrk.
fn reqwest_load() -> bool {
    std::env::var("GATEHOUSE_BENCH_LOADGEN").is_ok_and(|v| v == "reqwest")
}

/// One run against `url` from `concurrency` connections, and the load generator's CPU
/// time in /proc ticks. wrk by default: a C load generator costing a few µs per call,
/// as cheap as the one the issue's figures imply (its direct runs are bound by the
/// one-thread upstream, so what the load generator spends is taken from the gateway).
/// GATEHOUSE_BENCH_LOADGEN=reqwest drives the load from this process instead (about
/// 20 µs per call), which lowers every ratio.
async fn load(req: &Req, concurrency: usize, duration: Duration) -> (common::Run, u64) {
    if reqwest_load() {
        let before = cpu_ticks(std::process::id());
        let run = load_reqwest(req.clone(), concurrency, duration).await;
        return (run, cpu_ticks(std::process::id()) - before);
    }
    let req = req.clone();
    tokio::task::spawn_blocking(move || load_wrk(&req, concurrency, duration))
        .await
        .unwrap()
}

/// What a load generator sends: one POST, again and again.
#[derive(Clone)]
struct Req {
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// `wrk -t1` with a Lua script that sets the request and prints the summary as one line.
fn load_wrk(req: &Req, concurrency: usize, duration: Duration) -> (common::Run, u64) {
    use std::io::Read;
    let mut script = String::from("wrk.method = \"POST\"\n");
    script += &format!("wrk.body = [==[{}]==]\n", req.body);
    let fixed = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    let all = fixed
        .iter()
        .map(|(k, v)| (*k, *v))
        .chain(req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (k, v) in all {
        script += &format!("wrk.headers[\"{k}\"] = [==[{v}]==]\n");
    }
    // Latency in µs; errors.status counts answers other than 2xx/3xx.
    script += r#"function done(s, latency, requests)
  local e = s.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", s.requests, s.duration,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"#;
    let file = tempfile::Builder::new().suffix(".lua").tempfile().unwrap();
    std::fs::write(file.path(), script).unwrap();
    let mut child = std::process::Command::new("wrk")
        .args(["-t1", &format!("-c{concurrency}")])
        // wrk counts whole seconds.
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("-s")
        .arg(file.path())
        .arg(&req.url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wrk (Debian package wrk; scripts/bench-mcp.sh installs it)");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    // Read before reaping: an exited child's CPU time stays in /proc until then.
    let ticks = cpu_ticks(child.id());
    assert!(child.wait().unwrap().success(), "wrk failed: {out}");
    let f: Vec<f64> = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no summary from wrk: {out}"))
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let probe = std::env::var("GATEHOUSE_BENCH_PROBE_PATH").is_ok();
    assert!(probe || f[4] == 0.0, "{} answers were not 2xx: {out}", f[4]);
    assert!(f[5] == 0.0, "{} socket errors: {out}", f[5]);
    let run = common::Run {
        rps: f[0] / (f[1] / 1e6),
        p50: f[2] / 1000.0,
        p99: f[3] / 1000.0,
        calls: f[0] as usize,
    };
    (run, ticks)
}

/// The same load from this process: `concurrency` tasks on reqwest.
async fn load_reqwest(req: Req, concurrency: usize, duration: Duration) -> common::Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let probe = std::env::var("GATEHOUSE_BENCH_PROBE_PATH").is_ok();
    let call = Arc::new((client, req.url, req.headers, req.body));
    common::load(concurrency, duration, move |_| {
        let call = call.clone();
        async move {
            let (client, url, headers, body) = &*call;
            let mut rb = client
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream");
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            let r = rb.body(body.clone()).send().await.expect("request");
            assert!(r.status().is_success() || probe, "status {}", r.status());
            let _ = r.bytes().await;
            true
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    if let Ok(to) = std::env::var("GATEHOUSE_BENCH_FORWARD_TO") {
        return run_forwarder(to).await;
    }
    // The minimal upstream: one worker, like a small real server.
    if std::env::var("GATEHOUSE_BENCH_UPSTREAM").is_ok() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        return actix_web::HttpServer::new(|| {
            actix_web::App::new().route("/mcp", web::post().to(upstream))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run()
        .await
        .unwrap();
    }
    let settings = common::settings(5);
    let (secs, label) = (settings.secs, settings.label);
    // GATEHOUSE_BENCH_PIN=1: the gateway (or forwarder) and the upstream share CPU 0, the
    // load generator has CPU 1.
    let pinned = std::env::var("GATEHOUSE_BENCH_PIN").is_ok_and(|v| v == "1");
    // The upstream runs as its own process, so that its CPU time is read apart from the
    // load generator's: the rmcp server of crates/mcp-upstream when scripts/bench-mcp.sh
    // built it (GATEHOUSE_BENCH_UPSTREAM_BIN), else the actix-web one above.
    let upstream_bin = std::env::var("GATEHOUSE_BENCH_UPSTREAM_BIN").ok();
    let (up_child, up_port) = match &upstream_bin {
        Some(bin) => spawn_server(std::process::Command::new(bin)),
        None => spawn_self("GATEHOUSE_BENCH_UPSTREAM", "1"),
    };
    let up_pid = up_child.id();
    if pinned {
        pin(up_pid, 0);
    }
    let mut children = Children(vec![up_child]);
    let up_url = format!("http://127.0.0.1:{up_port}/mcp");

    // The gateway, as its own process so its CPU time can be read.
    let gw = common::start(
        &settings,
        &[
            ("GATEHOUSE_OUTBOUND__ALLOW_LOOPBACK", "true"),
            ("GATEHOUSE_MCP__HEALTH_POLL_MS", "200"),
            ("GATEHOUSE_WORKERS", &bench_workers().to_string()),
            ("GATEHOUSE_LOG_LEVEL", "info"),
        ],
    )
    .await;
    if pinned {
        pin(gw.process.id(), 0);
        pin(std::process::id(), 1);
    }
    let base = gw.base.clone();
    // The signed-up user's browser: the API below, then OAuth consent.
    let http = common::browser(&base);
    let post =
        |path: &str, body: Value| http.post(format!("{base}/api/v1{path}")).json(&body).send();
    let email = format!("bench-{}@example.com", uuid::Uuid::now_v7().simple());
    post(
        "/auth/signup",
        json!({"email": email, "password": "benchmark password"}),
    )
    .await
    .unwrap();
    let org: Value = post(
        "/orgs",
        json!({"name": format!("Bench {}", uuid::Uuid::now_v7().simple())}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let slug = org["slug"].as_str().unwrap().to_string();
    let key: Value = post(&format!("/orgs/{slug}/api-keys"), json!({"name": "bench"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["secret"].as_str().unwrap().to_string();
    let conn: Value = post(
        &format!("/orgs/{slug}/connectors"),
        json!({"name": "fast", "url": up_url, "tool_prefix": ""}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let cid = conn["id"].as_str().expect("connector created").to_string();
    for _ in 0..200 {
        let c: Value = http
            .get(format!("{base}/api/v1/orgs/{slug}/connectors/{cid}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if c["health"]["status"] == "healthy" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mcp_url = format!("{base}/mcp/{slug}");
    // GATEHOUSE_BENCH_PROBE_PATH=/x measures the HTTP stack alone (any answer counts).
    let probe = std::env::var("GATEHOUSE_BENCH_PROBE_PATH")
        .ok()
        .map(|p| format!("{base}{p}"));
    // The API-key row: a 2025-11-25 session opened with the key.
    let gw_headers = session_headers(&mcp_url, &key).await;
    // The OAuth row: the same, with an access token minted through the server's own
    // flow (dynamic registration, consent as the user, PKCE, /token for this resource).
    let oauth = common::oauth_setup(&base, &mcp_url, http.clone()).await;
    let grant = common::granted(&oauth).await;
    let access = grant["access_token"].as_str().expect("access token");
    let oauth_headers = session_headers(&mcp_url, access).await;
    // The stateless row: 2026-07-28, API key, no session.
    let (stateless_headers, stateless_body) = stateless_call(&key);
    let direct = Req {
        url: up_url.clone(),
        headers: vec![("mcp-session-id".to_string(), "s1".to_string())],
        body: call_body(),
    };
    let gw_pid = gw.process.id();
    // The rows through the gateway (GATEHOUSE_BENCH_ROWS=key,oauth,stateless picks some;
    // GATEHOUSE_BENCH_PROBE_PATH leaves the API-key row only, on that path).
    let rows =
        std::env::var("GATEHOUSE_BENCH_ROWS").unwrap_or_else(|_| "key,oauth,stateless".into());
    let row = |r: &str| rows.split(',').any(|x| x.trim() == r);
    let mut targets = Vec::new();
    if row("key") {
        let url = probe.clone().unwrap_or_else(|| mcp_url.clone());
        targets.push((
            "gateway",
            gw_pid,
            Req {
                url,
                headers: gw_headers,
                body: call_body(),
            },
        ));
    }
    if row("oauth") && probe.is_none() {
        let req = Req {
            url: mcp_url.clone(),
            headers: oauth_headers,
            body: call_body(),
        };
        targets.push(("gw oauth", gw_pid, req));
    }
    if row("stateless") && probe.is_none() {
        let req = Req {
            url: mcp_url.clone(),
            headers: stateless_headers,
            body: stateless_body,
        };
        targets.push(("gw 07-28", gw_pid, req));
    }
    // Each row's call must answer with a result, not a JSON-RPC error (which wrk, seeing
    // 200, would count as a success): a row whose call fails is reported, not measured.
    if probe.is_none() {
        let mut kept = Vec::new();
        for (name, pid, req) in targets {
            let mut rb = reqwest::Client::new()
                .post(&req.url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream");
            for (k, v) in &req.headers {
                rb = rb.header(k, v);
            }
            let r = rb.body(req.body.clone()).send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            if status.is_success() && v.get("result").is_some() {
                kept.push((name, pid, req));
            } else {
                println!("[{label}] {name}: NOT MEASURED, its call fails: {status} {v}");
            }
        }
        targets = kept;
    }
    // Warm every path.
    let warm = Duration::from_millis(500);
    load(&direct, 4, warm).await;
    for (_, _, req) in &targets {
        load(req, 4, warm).await;
    }
    println!(
        "[{label}] tools/call, {secs}s per run; load = {}; upstream = {}; gateway = separate process, {} HTTP worker(s) (bare forwarder too), with API-key auth, allowlist, usage counting, tracing at the default level (info), logs to a file{}",
        if reqwest_load() {
            "reqwest, in the bench process"
        } else {
            "wrk -t1"
        },
        if upstream_bin.is_some() {
            "rmcp (crates/mcp-upstream)"
        } else {
            "minimal actix-web"
        },
        match bench_workers() {
            0 => "one per CPU".to_string(),
            n => n.to_string(),
        },
        if pinned {
            "; PINNED: gateway and upstream on CPU 0, load on CPU 1"
        } else {
            ""
        }
    );
    // GATEHOUSE_BENCH_CONCURRENCY=16 runs one level only (for profiling).
    let levels: Vec<usize> = match std::env::var("GATEHOUSE_BENCH_CONCURRENCY") {
        Ok(c) => vec![c.parse().expect("GATEHOUSE_BENCH_CONCURRENCY is a number")],
        Err(_) => vec![1, 16, 64],
    };
    // GATEHOUSE_BENCH_BARE=1 also measures the bare forwarder (this binary again, as
    // its own process), the ceiling the issue's targets were set against.
    if std::env::var("GATEHOUSE_BENCH_BARE").is_ok_and(|v| v == "1") {
        let (child, port) = spawn_self("GATEHOUSE_BENCH_FORWARD_TO", &up_url);
        if pinned {
            pin(child.id(), 0);
        }
        let req = Req {
            url: format!("http://127.0.0.1:{port}/mcp"),
            ..direct.clone()
        };
        load(&req, 4, warm).await;
        targets.push(("bare fwd", child.id(), req));
        children.0.push(child);
    }
    println!(
        "[{label}] rows: gateway = API key, 2025-11-25 session; gw oauth = the same with an OAuth access token; gw 07-28 = {STATELESS} stateless (no session), API key; bare fwd = the bare forwarder. Each row is measured right after its own direct run; rounds interleave the rows."
    );
    // GATEHOUSE_BENCH_ROUNDS (default 3): each row is measured that many times, the rows
    // interleaved, and judged by the medians, so one disturbed run decides nothing.
    let rounds: usize = std::env::var("GATEHOUSE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    // Level by level, so that the rows compared with each other run minutes apart at most.
    for &c in &levels {
        let mut seen: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); targets.len()];
        for round in 1..=rounds {
            for (i, (name, pid, req)) in targets.iter().enumerate() {
                let up_before = cpu_ticks(up_pid);
                let (d, load_ticks) = load(&direct, c, Duration::from_secs(secs)).await;
                let (up_cpu, load_cpu) = (
                    micros_per_call(cpu_ticks(up_pid) - up_before, d.calls),
                    micros_per_call(load_ticks, d.calls),
                );
                let before = cpu_ticks(*pid);
                let (g, _) = load(req, c, Duration::from_secs(secs)).await;
                let cpu = micros_per_call(cpu_ticks(*pid) - before, g.calls);
                seen[i].push((g.rps / d.rps, cpu, g.p99));
                println!(
                    "[{label}] c={c:<3} round {round}: direct {:>8.0} req/s p50 {:>6.2}ms p99 {:>6.2}ms | {name:<8} {:>8.0} req/s p50 {:>6.2}ms p99 {:>6.2}ms | ratio {:.2} | +p50 {:.2}ms | {name} CPU {:.0} µs/call | direct: upstream {up_cpu:.0}, load generator {load_cpu:.0} µs/call",
                    d.rps,
                    d.p50,
                    d.p99,
                    g.rps,
                    g.p50,
                    g.p99,
                    g.rps / d.rps,
                    g.p50 - d.p50,
                    cpu
                );
            }
        }
        for (i, (name, _, _)) in targets.iter().enumerate() {
            let median = |f: fn(&(f64, f64, f64)) -> f64| {
                let mut v: Vec<f64> = seen[i].iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            println!(
                "[{label}] c={c:<3} MEDIAN of {rounds}: {name:<8} ratio {:.2} | CPU {:.0} µs/call | p99 {:.2}ms",
                median(|r| r.0),
                median(|r| r.1),
                median(|r| r.2)
            );
        }
    }
}
