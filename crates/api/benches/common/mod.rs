//! What the gateway benchmarks share: their settings from the environment, and a
//! `gatehouse serve` started as its own process (so its CPU time can be read) and ready.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

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
        .stdout(std::process::Stdio::null());
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
