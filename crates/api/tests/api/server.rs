//! The HTTP server against slow and greedy clients, and what it keeps at shutdown.
//! Slow clients connect from 127.0.0.2 so that the per-address cap, which they may
//! fill, never stands between the test's own requests (from 127.0.0.1) and the server.
use crate::support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect_from(ip: &str, app: &TestApp) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let port = app.base.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    socket.connect(([127, 0, 0, 1], port).into()).await.unwrap()
}

/// Sends `head`, then one byte of `drip` every 100 ms until the server closes the
/// connection; returns what it answered and how long the connection lived (`None`:
/// still open after `limit`).
async fn trickle(
    mut s: TcpStream,
    head: String,
    drip: &'static [u8],
    limit: Duration,
) -> (String, Option<Duration>) {
    let started = Instant::now();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if !drip.is_empty() && s.write_all(drip).await.is_err() {
            // The server has gone; what it sent is still to be read.
            let _ = tokio::time::timeout(Duration::from_millis(200), s.read_to_end(&mut got)).await;
            return (
                String::from_utf8_lossy(&got).into(),
                Some(started.elapsed()),
            );
        }
    }
    (String::from_utf8_lossy(&got).into(), None)
}

async fn healthz_latency(app: &TestApp) -> Duration {
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("/healthz answers");
    assert_eq!(r.status(), 200);
    started.elapsed()
}

#[tokio::test]
async fn slow_clients_are_cut_off_within_the_timeouts_while_the_server_keeps_answering() {
    let app = spawn_app_with(|c| {
        c.server.header_timeout_ms = 600;
        c.server.body_timeout_ms = 900;
        c.server.max_connections_per_ip = 0;
    })
    .await;
    let limit = Duration::from_secs(6);
    // Many bodies trickling in, to a route that reads its body.
    let mut slow = Vec::new();
    for _ in 0..150 {
        let s = connect_from("127.0.0.2", &app).await;
        slow.push(tokio::spawn(trickle(
            s,
            "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".into(),
            b" ",
            limit,
        )));
    }
    // A chunked body trickling in to a route that never reads it (actix would drain it
    // for as long as it comes), a head trickling in, and a CONNECT.
    let chunked = tokio::spawn(trickle(
        connect_from("127.0.0.2", &app).await,
        "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"
            .into(),
        b"1\r\na\r\n",
        limit,
    ));
    let head = tokio::spawn(trickle(
        connect_from("127.0.0.2", &app).await,
        "GET /healthz HTTP/1.1\r\nHost: 1".into(),
        b"2",
        limit,
    ));
    let connect = tokio::spawn(trickle(
        connect_from("127.0.0.2", &app).await,
        format!(
            "CONNECT /mcp/acme HTTP/1.1\r\nHost: {}\r\n\r\n",
            app.base.trim_start_matches("http://")
        ),
        b"x",
        limit,
    ));
    // Meanwhile the server answers promptly.
    for _ in 0..5 {
        let t = healthz_latency(&app).await;
        assert!(t < Duration::from_millis(500), "/healthz took {t:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in slow {
        let (answer, lived) = s.await.unwrap();
        let lived = lived.expect("a trickling body was never cut off");
        assert!(lived < Duration::from_millis(2500), "held for {lived:?}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains("/problems/request-timeout"), "{answer}");
    }
    let (answer, lived) = chunked.await.unwrap();
    assert!(
        lived.is_some_and(|l| l < Duration::from_millis(2500)),
        "an unread chunked body held the connection: {lived:?} {answer}"
    );
    let (answer, lived) = head.await.unwrap();
    assert!(
        lived.is_some_and(|l| l < Duration::from_millis(2000)),
        "a trickling head held the connection: {lived:?} {answer}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (answer, lived) = connect.await.unwrap();
    assert!(
        lived.is_some_and(|l| l < Duration::from_millis(1000)),
        "CONNECT held the connection: {lived:?} {answer}"
    );
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    assert!(
        answer.contains("/problems/method-not-implemented"),
        "{answer}"
    );
    assert!(healthz_latency(&app).await < Duration::from_millis(500));
}

/// Whether a request on `s` gets its 200.
async fn serves(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf[..n].starts_with(b"HTTP/1.1 200")
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused_at_once() {
    let app = spawn_app_with(|c| {
        c.server.max_connections_per_ip = 5;
        c.server.header_timeout_ms = 30_000;
        c.server.keep_alive_secs = 30;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from("127.0.0.2", &app).await);
    }
    // Each worker admits its own connections: a request on each makes sure all five
    // were admitted before the sixth comes.
    for s in &mut held {
        assert!(serves(s).await);
    }
    // The sixth is answered 429 and closed straight away.
    let (answer, lived) = trickle(
        connect_from("127.0.0.2", &app).await,
        String::new(),
        b"",
        Duration::from_secs(3),
    )
    .await;
    assert!(
        lived.is_some_and(|l| l < Duration::from_millis(1000)),
        "an over-cap connection was kept: {lived:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 429"),
        "{answer}"
    );
    // The five are still served, and so is everyone else.
    for s in &mut held {
        assert!(serves(s).await);
    }
    assert!(healthz_latency(&app).await < Duration::from_millis(500));
    // A closed connection gives its place back.
    drop(held.pop());
    let mut admitted = false;
    for _ in 0..20 {
        let mut s = connect_from("127.0.0.2", &app).await;
        let mut buf = [0u8; 256];
        let _ = s
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await;
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await
            && buf[..n].starts_with(b"HTTP/1.1 200")
        {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "the freed place was not given back");
}

async fn rpc(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut rb = http
        .post(url)
        .header("authorization", auth)
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(s) = session {
        rb = rb
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    rb.send().await.unwrap()
}

/// `gatehouse serve` as deployed: SIGTERM ends it gracefully, and what it counted in
/// memory reaches the database first. Its files are private, and malformed requests
/// leave no ERROR in its log.
#[tokio::test]
async fn a_stopping_server_flushes_its_usage_counts_and_keeps_its_files_private() {
    use sea_orm::EntityTrait;
    let app = mcp_app().await;
    let owner = app.signup("sigterm@example.com").await;
    let org = app.create_org(&owner, "Sigterm").await;
    let up = start_upstream(vec!["echo"], None, false).await;
    let c = connector(&owner, &org.slug, json!({"name": "Up", "url": up.url})).await;
    wait_health(&owner, &org.slug, c["id"].as_str().unwrap(), "healthy").await;
    let auth = format!("Bearer {}", mcp_key(&owner, &org.slug).await);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_DATA_DIR", &data)
        .env("GATEHOUSE_DATABASE_URL", &app.db_url)
        .env(
            "GATEHOUSE_MASTER_KEY_FILE",
            app.data_dir().join("master.key"),
        )
        .env("GATEHOUSE_OUTBOUND__ALLOW_LOOPBACK", "true")
        .env("GATEHOUSE_MCP__USAGE_FLUSH_MS", "3600000")
        .env("GATEHOUSE_WORKERS", "1")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "gatehouse serve did not become ready");
    let url = format!("{base}/mcp/{}", org.slug);
    let r = rpc(&http, &url, &auth, None, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})).await;
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let r = rpc(
        &http,
        &url,
        &auth,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(r.status(), 202);
    for i in 0..300 {
        let r = rpc(&http, &url, &auth, Some(&session), json!({"jsonrpc": "2.0", "id": i + 2, "method": "tools/call", "params": {"name": "up__echo"}})).await;
        let v: Value = r.json().await.unwrap();
        assert!(v["result"].is_object(), "{v}");
    }
    // A malformed request, and an over-long head: the client's fault, not an error of ours.
    for raw in [
        "GARBAGE\u{1} / HTTP/1.1\r\n\r\n".to_string(),
        format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(200_000)),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _ = s.write_all(raw.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut answer)).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 4"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(exit) = exited else {
        child.kill().ok();
        panic!("gatehouse did not stop on SIGTERM");
    };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(exit.success(), "{log}");

    let rows = gatehouse::entity::usage_daily::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.calls).sum::<i64>(), 300, "{log}");
    let k = gatehouse::entity::api_key::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(k.last_used_at.is_some());
    assert!(!log.contains(" ERROR "), "{log}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("outbox")), 0o700);
        if app.backend == "sqlite" {
            let db = app.db_url.trim_start_matches("sqlite://");
            let db = std::path::Path::new(db.split('?').next().unwrap());
            assert_eq!(mode(db), 0o600);
            assert_eq!(mode(&db.with_extension("db-wal")), 0o600);
        }
    }
}
