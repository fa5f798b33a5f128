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

/// A client registered with the gateway's OAuth server, and a logged-in user's browser
/// (cookie store, `Origin` set, redirects not followed) that consents for it.
pub struct OAuthSetup {
    pub base: String,
    /// The MCP endpoint: the `resource` every grant is for.
    pub mcp: String,
    pub user: reqwest::Client,
    pub client_id: String,
    pub client_secret: String,
    pub redirect: String,
}

/// The registration a client like Claude sends to /register.
pub fn registration(redirect: &str) -> serde_json::Value {
    serde_json::json!({"client_name": "Claude", "redirect_uris": [redirect], "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "client_secret_post"})
}

/// Registers a client at /register (dynamic registration) for `user` to consent to.
pub async fn oauth_setup(base: &str, mcp: &str, user: reqwest::Client) -> OAuthSetup {
    let redirect = "http://127.0.0.1/callback".to_string();
    let r = reqwest::Client::new()
        .post(format!("{base}/register"))
        .json(&registration(&redirect))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "registration");
    let reg: serde_json::Value = r.json().await.unwrap();
    OAuthSetup {
        base: base.to_string(),
        mcp: mcp.to_string(),
        user,
        client_id: reg["client_id"].as_str().unwrap().into(),
        client_secret: reg["client_secret"].as_str().unwrap().into(),
        redirect,
    }
}

fn field<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(&html[start..start + html[start..].find('"')?])
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One authorization code (/authorize with PKCE, consent allowed by `s.user`) with its
/// PKCE verifier.
pub async fn code(s: &OAuthSetup) -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&state=s&scope=mcp&resource={}",
        s.base,
        s.client_id,
        url::form_urlencoded::byte_serialize(s.redirect.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(s.mcp.as_bytes()).collect::<String>(),
    );
    let html = s.user.get(url).send().await.unwrap().text().await.unwrap();
    let mut form: Vec<(String, String)> = [
        "response_type",
        "client_id",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
        "state",
        "scope",
        "resource",
        "org",
        "csrf",
    ]
    .iter()
    .filter_map(|n| field(&html, n).map(|v| (n.to_string(), unescape(v))))
    .collect();
    form.push(("decision".into(), "allow".into()));
    let r = s
        .user
        .post(format!("{}/authorize", s.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    (code, verifier)
}

/// A fresh grant's token response: a code from [`code`] exchanged at /token.
pub async fn granted(s: &OAuthSetup) -> serde_json::Value {
    let (code, verifier) = code(s).await;
    let r = reqwest::Client::new()
        .post(format!("{}/token", s.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", &s.redirect),
            ("client_id", &s.client_id),
            ("client_secret", &s.client_secret),
            ("resource", &s.mcp),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "code exchange");
    r.json().await.unwrap()
}

/// A browser for `base`: cookies kept, `Origin` sent (the CSRF check), redirects not
/// followed (the consent's redirect goes to the client, which is not there).
pub fn browser(base: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", base.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
