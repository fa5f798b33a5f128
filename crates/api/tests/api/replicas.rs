//! Several `gatehouse` processes on one database, as replicas behind a load balancer
//! are: starting together, refusing a master key that is not the database's, and
//! keeping every acknowledged write through a SIGKILL.
use crate::helpers::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A `gatehouse serve` process. Killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Server {
    /// Starts `gatehouse serve` on `db_url` with its own data directory; `key` is the
    /// master key (`None`: the data directory's `master.key`, generated if missing).
    fn start(db_url: &str, data_dir: &std::path::Path, key: Option<&str>) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.join(format!("server-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_DATABASE_URL", db_url)
            .env("GATEHOUSE_DATA_DIR", data_dir)
            .env("GATEHOUSE_WORKERS", "2")
            .env("GATEHOUSE_LOG_LEVEL", "warn")
            // Connectors point at a closed local port: health checks fail at once,
            // without leaving the machine.
            .env("GATEHOUSE_OUTBOUND__ALLOW_LOOPBACK", "true")
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(k) = key {
            cmd.env("GATEHOUSE_MASTER_KEY", k);
        }
        Server {
            child: cmd.spawn().unwrap(),
            base,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200; `Err` with the log when the process exits
    /// first or takes longer than 30 s.
    async fn ready(&mut self) -> Result<(), String> {
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", self.log()));
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(format!("not ready after 30 s: {}", self.log()))
    }

    /// Waits for the process to exit (it is expected to refuse to start).
    async fn exit_status(&mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("still running after 30 s: {}", self.log());
    }

    fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// A browser-like client of this server.
    fn session(&self) -> Session {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("Origin", self.base.parse().unwrap());
        Session {
            http: Client::builder()
                .cookie_store(true)
                .default_headers(headers)
                .build()
                .unwrap(),
            base: self.base.clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Signs up on `server` and creates an org; returns the signed-in session and the slug.
async fn owner_with_org(server: &Server, email: &str) -> (Session, String) {
    let s = server.session();
    let r = s
        .post(
            "/auth/signup",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "signup");
    let org: Value = json(s.post("/orgs", json!({"name": "Replicas"})).await).await;
    let slug = org["slug"].as_str().unwrap().to_string();
    (s, slug)
}

#[tokio::test]
async fn replicas_started_at_the_same_moment_on_a_fresh_database_all_become_ready() {
    let key = gatehouse::crypto::generate_master_key();
    let dirs = tempfile::tempdir().unwrap();
    // Before the migration lock, one of two replicas failed in about two trials of three.
    const TRIALS: usize = 4;
    for trial in 0..TRIALS {
        let db = FreshDatabase::new().await;
        let mut servers: Vec<Server> = (0..3)
            .map(|i| {
                Server::start(
                    &db.url,
                    &dirs.path().join(format!("{trial}-{i}")),
                    Some(&key),
                )
            })
            .collect();
        for (i, s) in servers.iter_mut().enumerate() {
            if let Err(log) = s.ready().await {
                panic!("trial {trial}: replica {i} did not start: {log}");
            }
        }
        if trial + 1 < TRIALS {
            continue;
        }
        // They are one service: a key revoked on one is refused by another at once.
        let (owner, slug) = owner_with_org(&servers[0], "replicas@example.com").await;
        let created: Value = json(
            owner
                .post(
                    &format!("/orgs/{slug}/api-keys"),
                    json!({"name": "ci", "scopes": ["read"]}),
                )
                .await,
        )
        .await;
        let auth = format!("ApiKey {}", created["secret"].as_str().unwrap());
        let get_org = || {
            Client::new()
                .get(format!("{}/api/v1/orgs/{slug}", servers[1].base))
                .header("authorization", &auth)
                .send()
        };
        assert_eq!(get_org().await.unwrap().status(), 200);
        let id = created["api_key"]["id"].as_str().unwrap();
        assert_eq!(
            owner
                .delete(&format!("/orgs/{slug}/api-keys/{id}"))
                .await
                .status(),
            204
        );
        assert_problem(get_org().await.unwrap(), 401, "authentication-required").await;
    }
}
