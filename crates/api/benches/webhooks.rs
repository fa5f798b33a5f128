//! Webhook delivery benchmark against a separate `gatehouse serve` process: events made
//! over the REST API (a connector renamed: one `mcp.updated` each) are delivered to a
//! fast local receiver in this process. Prints
//! - throughput: a burst of events, delivered per second (first event to last delivery);
//! - latency: events paced at a fixed rate, event-to-first-attempt p50/p99 (the event's
//!   `timestamp` to its arrival; one machine, one clock);
//! - memory: the gateway's resident set before and after a backlog of pending messages
//!   (the receiver answering 500, so every message waits for its retry).
//!   GATEHOUSE_BENCH_EVENTS=5000      events in the burst
//!   GATEHOUSE_BENCH_RATE=1000        events/s of the paced run (for GATEHOUSE_BENCH_SECONDS)
//!   GATEHOUSE_BENCH_BACKLOG=100000   pending messages for the memory figure (0: skip)
//! Run it with `bash scripts/bench-webhooks.sh` (or `just bench webhooks`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};

#[derive(Default)]
struct Seen {
    /// webhook-id → (arrival, event timestamp).
    arrivals: HashMap<
        String,
        (
            Instant,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
        ),
    >,
    duplicates: usize,
}

struct Receiver {
    seen: Arc<Mutex<Seen>>,
    status: Arc<AtomicU16>,
    url: String,
}

/// One connection of the receiver: HTTP/1.1 requests in turn (keep-alive), each
/// answered with the current status. Hand-rolled so the receiver costs next to nothing.
async fn serve_conn(
    mut sock: tokio::net::TcpStream,
    seen: Arc<Mutex<Seen>>,
    status: Arc<AtomicU16>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::with_capacity(8192);
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let len: usize = header("content-length").parse().unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let now = Instant::now();
        let wall = chrono::Utc::now();
        let ts = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["timestamp"].as_str().map(str::to_string))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(wall);
        {
            let mut s = seen.lock().unwrap();
            let id = header("webhook-id");
            if s.arrivals.contains_key(&id) {
                s.duplicates += 1;
            } else {
                s.arrivals.insert(id, (now, ts, wall));
            }
        }
        let code = status.load(Ordering::Relaxed);
        let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
        if sock.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn start_receiver() -> Receiver {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let status = Arc::new(AtomicU16::new(200));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (s, st) = (seen.clone(), status.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_conn(sock, s.clone(), st.clone()));
        }
    });
    Receiver {
        seen,
        status,
        url: format!("http://127.0.0.1:{port}/hook"),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let settings = common::settings(10);
    let label = settings.label;
    let gw = common::start(
        &settings,
        &[
            ("GATEHOUSE_OUTBOUND__ALLOW_LOOPBACK", "true"),
            ("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "32"),
            ("GATEHOUSE_JOBS__POLL_MS", "50"),
        ],
    )
    .await;
    let base = gw.base.clone();
    let rx = start_receiver().await;
    let user = common::browser(&base);
    let email = format!("bench-{}@example.com", uuid::Uuid::now_v7().simple());
    user.post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": email, "password": "benchmark password"}))
        .send()
        .await
        .unwrap();
    let org: Value = user
        .post(format!("{base}/api/v1/orgs"))
        .json(&json!({"name": "Webhook bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slug = org["slug"].as_str().unwrap().to_string();
    let key: Value = user
        .post(format!("{base}/api/v1/orgs/{slug}/api-keys"))
        .json(&json!({"name": "bench", "scopes": ["read", "write"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auth = format!("Bearer {}", key["secret"].as_str().unwrap());
    let connector: Value = user
        .post(format!("{base}/api/v1/orgs/{slug}/connectors"))
        .json(&json!({"name": "Bench", "url": "https://bench.example.com/mcp", "enabled": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook: Value = user
        .post(format!("{base}/api/v1/orgs/{slug}/webhooks"))
        .json(&json!({"url": rx.url, "events": ["mcp.updated"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(hook["signing_secret"].is_string(), "{hook}");
    let url = format!(
        "{base}/api/v1/orgs/{slug}/connectors/{}",
        connector["id"].as_str().unwrap()
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // One event: a rename (each name new, so each PATCH is a change).
    let event = {
        let (http, url, auth, counter) = (http.clone(), url.clone(), auth.clone(), counter.clone());
        move || {
            let (http, url, auth) = (http.clone(), url.clone(), auth.clone());
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                let r = http
                    .patch(&url)
                    .header("authorization", auth)
                    .json(&json!({"name": format!("Bench {n}")}))
                    .send()
                    .await;
                matches!(r, Ok(r) if r.status().is_success())
            }
        }
    };
    let wait_for = |n: usize, limit: Duration| {
        let seen = rx.seen.clone();
        async move {
            let until = Instant::now() + limit;
            while Instant::now() < until {
                if seen.lock().unwrap().arrivals.len() >= n {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            false
        }
    };
    println!(
        "[{label}] webhooks: events are connector renames over the REST API (one mcp.updated each), delivered to a receiver in the bench process; signed, logged, from the job queue"
    );

    // Throughput: a burst, as fast as 16 producers go.
    let burst = env_usize("GATEHOUSE_BENCH_EVENTS", 5000);
    let started = Instant::now();
    let producers: Vec<_> = (0..16)
        .map(|w| {
            let event = event.clone();
            tokio::spawn(async move {
                let mut made = 0;
                for _ in (w..burst).step_by(16) {
                    made += usize::from(event().await);
                }
                made
            })
        })
        .collect();
    let mut made = 0;
    for p in producers {
        made += p.await.unwrap();
    }
    let produced_in = started.elapsed().as_secs_f64();
    let all = wait_for(made, Duration::from_secs(300)).await;
    let (last, dup) = {
        let s = rx.seen.lock().unwrap();
        let last = s.arrivals.values().map(|a| a.0).max().unwrap_or(started);
        (last, s.duplicates)
    };
    let secs = (last - started).as_secs_f64();
    println!(
        "[{label}] burst: {made} events made in {produced_in:.1}s ({:.0}/s); {} delivered in {secs:.1}s: {:.0} deliveries/s{}; duplicates {dup}",
        made as f64 / produced_in,
        rx.seen.lock().unwrap().arrivals.len(),
        rx.seen.lock().unwrap().arrivals.len() as f64 / secs,
        if all { "" } else { " (NOT ALL DELIVERED)" },
    );

    // Latency at a paced rate.
    let rate = env_usize("GATEHOUSE_BENCH_RATE", 1000);
    let before = rx.seen.lock().unwrap().arrivals.len();
    let t0 = chrono::Utc::now();
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let until = Instant::now() + Duration::from_secs(settings.secs);
    let mut sent = Vec::new();
    while Instant::now() < until {
        tick.tick().await;
        let e = event.clone();
        sent.push(tokio::spawn(async move { e().await }));
    }
    let mut paced = 0;
    for s in sent {
        paced += usize::from(s.await.unwrap());
    }
    wait_for(before + paced, Duration::from_secs(120)).await;
    let mut lat: Vec<f64> = rx
        .seen
        .lock()
        .unwrap()
        .arrivals
        .values()
        .filter(|a| a.1 >= t0)
        .map(|a| (a.2 - a.1).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        .collect();
    let n = lat.len();
    println!(
        "[{label}] paced {rate}/s for {}s: {paced} events, {n} delivered; event to first attempt p50 {:.1} ms, p99 {:.1} ms",
        settings.secs,
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    // Memory with a backlog: every delivery fails, so each message waits for its retry.
    let backlog = env_usize("GATEHOUSE_BENCH_BACKLOG", 100_000);
    if backlog > 0 {
        rx.status.store(500, Ordering::Relaxed);
        let pid = gw.process.id();
        let rss0 = rss_kib(pid);
        let started = Instant::now();
        let producers: Vec<_> = (0..16)
            .map(|w| {
                let event = event.clone();
                tokio::spawn(async move {
                    for _ in (w..backlog).step_by(16) {
                        event().await;
                    }
                })
            })
            .collect();
        let mut peak = rss0;
        for p in producers {
            p.await.unwrap();
            peak = peak.max(rss_kib(pid));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss1 = rss_kib(pid);
        println!(
            "[{label}] backlog: {backlog} messages pending (made in {:.0}s); gateway RSS {} MiB before, {} MiB after (peak seen {} MiB)",
            started.elapsed().as_secs_f64(),
            rss0 / 1024,
            rss1 / 1024,
            peak.max(rss1) / 1024
        );
    }
}
