//! What the gateway benchmarks share: their settings from the environment, and a
//! `gatehouse serve` started as its own process (so its CPU time can be read) and ready,
//! and the load loop.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::{Duration, Instant};

pub struct Settings {
    pub bin: String,
    pub db_url: Option<String>,
    pub secs: u64,
    /// `sqlite` or `postgres`, for the printed lines.
    pub label: &'static str,
}

/// GATEHOUSE_BENCH_BIN (required), GATEHOUSE_BENCH_DATABASE_URL, GATEHOUSE_BENCH_SECONDS.
pub fn settings(default_secs: u64) -> Settings {
    let bin = std::env::var("GATEHOUSE_BENCH_BIN")
        .expect("GATEHOUSE_BENCH_BIN: path of the release gatehouse binary");
    let db_url = std::env::var("GATEHOUSE_BENCH_DATABASE_URL").ok();
    let secs = std::env::var("GATEHOUSE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_secs);
    let label = if db_url.as_deref().is_some_and(|u| u.starts_with("postgres")) {
        "postgres"
    } else {
        "sqlite"
    };
    Settings {
        bin,
        db_url,
        secs,
        label,
    }
}

pub struct Gateway {
    pub process: std::process::Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.process.kill().ok();
        self.process.wait().ok();
    }
}

/// Starts the gateway with `env` on top of a fresh data dir and waits for `/readyz`.
pub async fn start(s: &Settings, env: &[(&str, &str)]) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = std::process::Command::new(&s.bin);
    cmd.arg("serve")
        .env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_DATA_DIR", dir.path())
        .env("GATEHOUSE_LOG_LEVEL", "warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        // Logs go to a file, as in a deployment, not through the bench's terminal (whose
        // reader would share the cores being measured).
        .stderr(std::fs::File::create(dir.path().join("gatehouse.log")).unwrap());
    if let Some(u) = &s.db_url {
        cmd.env("GATEHOUSE_DATABASE_URL", u);
    }
    let process = cmd.spawn().expect("start gatehouse");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Gateway {
        process,
        base,
        _dir: dir,
    }
}

/// One measured run: requests/s, latency percentiles (ms), requests made.
#[derive(Clone)]
pub struct Run {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub calls: usize,
}

/// Runs `op` from `concurrency` workers for `duration` (or until it returns false).
pub async fn load<F, Fut>(concurrency: usize, duration: Duration, op: F) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                if !op(w).await {
                    break;
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Run {
        rps: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        calls: all.len(),
    }
}
