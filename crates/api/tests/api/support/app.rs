//! `spawn_app()`: the real server on a random port with a fresh database (SQLite by
//! default, PostgreSQL when `GATEHOUSE_TEST_DB=postgres`) and a real SMTP server to catch
//! email; `Session`, a browser-like client of it.

use super::mail::{Inbox, start_smtp};
use gatehouse::{config::Config, state::AppState};
use gatehouse_types::{
    AcceptInvitationRequest, CreateInvitationRequest, CreateOrgRequest, LoginRequest, Organization,
    Role, SignupRequest, User,
};
use reqwest::{Client, Response};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::{net::TcpListener, sync::Arc, time::Duration};

pub const PASSWORD: &str = "correct horse battery staple";

/// The system clock plus an offset a test can move forward (expiry without waiting).
#[derive(Default)]
pub struct OffsetClock(std::sync::atomic::AtomicI64);

impl gatehouse::clock::Clock for OffsetClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        gatehouse::clock::SystemClock.now()
            + chrono::Duration::seconds(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

pub struct TestApp {
    pub base: String,
    /// This server's clock; `advance` moves it.
    clock: Arc<OffsetClock>,
    pub db_url: String,
    config: Config,
    pub db: DatabaseConnection,
    pub backend: &'static str,
    pub(super) inbox: Inbox,
    /// The PostgreSQL database this server created (admin URL, name); dropped with it.
    pg_database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    /// Thousands of runs' databases used to pile up in the test cluster until the disk
    /// was full.
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_database.take() {
            drop_pg_database(admin, name);
        }
    }
}

/// A database no server has touched yet (not even migrated), for tests that start the
/// binary on it; a PostgreSQL one is dropped with this.
pub struct FreshDatabase {
    pub url: String,
    pub backend: &'static str,
    pg_database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl FreshDatabase {
    pub async fn new() -> FreshDatabase {
        let dir = tempfile::tempdir().unwrap();
        let (url, backend, pg_database) = test_database(dir.path()).await;
        FreshDatabase {
            url,
            backend,
            pg_database,
            _dir: dir,
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_database.take() {
            drop_pg_database(admin, name);
        }
    }
}

/// Runs on a thread of its own: `drop` cannot await, and the test's runtime may be
/// shutting down.
fn drop_pg_database(admin: String, name: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Ok(conn) = sea_orm::Database::connect(admin.as_str()).await {
                // FORCE ends the connections the server's pool still holds.
                let _ = conn
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                conn.close().await.ok();
            }
        });
    })
    .join();
}

/// The database URL, the backend, and for PostgreSQL the (admin URL, name) to drop.
async fn test_database(dir: &std::path::Path) -> (String, &'static str, Option<(String, String)>) {
    match std::env::var("GATEHOUSE_TEST_DB").as_deref() {
        Ok("postgres") => {
            let admin = std::env::var("GATEHOUSE_TEST_PG_URL").expect(
                "GATEHOUSE_TEST_DB=postgres needs GATEHOUSE_TEST_PG_URL (an admin URL); scripts/test.sh provides one",
            );
            let name = format!("gh_test_{}", uuid::Uuid::now_v7().simple());
            let conn = sea_orm::Database::connect(admin.as_str())
                .await
                .expect("connect to the PostgreSQL admin URL");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            conn.close().await.ok();
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            (format!("{base}/{name}"), "postgres", Some((admin, name)))
        }
        _ => (
            format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            "sqlite",
            None,
        ),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like `spawn_app`, with a chance to adjust the configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_at("127.0.0.1", adjust).await
}

/// Listens on `host` (`127.0.0.1`, or `[::1]` for IPv6 clients).
pub async fn spawn_app_at(host: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (smtp_port, inbox) = start_smtp();
    let (db_url, backend, pg_database) = test_database(dir.path()).await;
    let listener = TcpListener::bind(format!("{host}:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://{host}:{port}");
    let mut config = Config {
        bind: format!("{host}:{port}"),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(db_url.clone()),
        database_max_connections: 5,
        public_url: Some(base.clone()),
        smtp_url: Some(format!("smtp://127.0.0.1:{smtp_port}")),
        ..Config::default()
    };
    adjust(&mut config);
    let db = gatehouse::db::connect(&db_url, 5).await.unwrap();
    gatehouse::db::migrate(&db).await.unwrap();
    let clock = Arc::new(OffsetClock::default());
    let state = AppState::with_db(config.clone(), db.clone(), clock.clone()).unwrap();
    let server = gatehouse::server::server(state, listener).unwrap();
    tokio::spawn(server);
    TestApp {
        base,
        clock,
        db_url,
        config,
        db,
        backend,
        inbox,
        pg_database,
        _dir: dir,
    }
}

impl TestApp {
    /// Where this server keeps its master key (support commands must share it).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// This server's configuration (for a test that starts another process state on it).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This server's clock now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        gatehouse::clock::Clock::now(self.clock.as_ref())
    }

    /// Moves this server's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock
            .0
            .fetch_add(by.as_secs() as i64, std::sync::atomic::Ordering::Relaxed);
    }

    /// A second server on the same database, as another replica behind a load balancer
    /// would be. Its base URL differs; sessions and counters are shared through the
    /// database.
    pub async fn replica(&self) -> TestApp {
        self.replica_with(false).await
    }

    /// A replica that shares this server's public URL, as replicas behind one load
    /// balancer do (tokens minted by one are meant for all).
    pub async fn replica_same_origin(&self) -> TestApp {
        self.replica_with(true).await
    }

    async fn replica_with(&self, same_origin: bool) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let config = Config {
            bind: format!("127.0.0.1:{port}"),
            public_url: Some(if same_origin {
                self.base.clone()
            } else {
                base.clone()
            }),
            ..self.config.clone()
        };
        let db = gatehouse::db::connect(&self.db_url, 5).await.unwrap();
        let clock = Arc::new(OffsetClock::default());
        let state = AppState::with_db(config.clone(), db.clone(), clock.clone()).unwrap();
        tokio::spawn(gatehouse::server::server(state, listener).unwrap());
        TestApp {
            base,
            clock,
            db_url: self.db_url.clone(),
            config,
            db,
            backend: self.backend,
            inbox: self.inbox.clone(),
            pg_database: None,
            _dir: tempfile::tempdir().unwrap(),
        }
    }
}

/// A browser-like client: its own cookie jar, and the `Origin` header a browser sends.
pub struct Session {
    pub http: Client,
    pub base: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .await
            .unwrap()
    }
    pub async fn post(&self, path: &str, body: impl Serialize) -> Response {
        self.http
            .post(format!("{}/api/v1{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
    pub async fn patch(&self, path: &str, body: impl Serialize) -> Response {
        self.http
            .patch(format!("{}/api/v1{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
    pub async fn delete(&self, path: &str) -> Response {
        self.http
            .delete(format!("{}/api/v1{path}", self.base))
            .send()
            .await
            .unwrap()
    }
    /// Any method, for route walking.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, format!("{}/api/v1{path}", self.base));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }
}

/// A signed-in user.
pub struct TestUser {
    pub s: Session,
    pub user: User,
}

impl std::ops::Deref for TestUser {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.s
    }
}

impl TestApp {
    pub fn session(&self) -> Session {
        self.session_with_agent("gatehouse-tests")
    }

    pub fn session_with_agent(&self, agent: &str) -> Session {
        let mut headers = reqwest::header::HeaderMap::new();
        // A browser sends the origin of the page, which is the public URL's (the tests
        // may reach the server under another name, e.g. 127.0.0.1 for localhost).
        let origin = reqwest::Url::parse(&self.config.public_url())
            .unwrap()
            .origin()
            .ascii_serialization();
        headers.insert("Origin", origin.parse().unwrap());
        let http = Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .user_agent(agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Session {
            http,
            base: self.base.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn signup(&self, email: &str) -> TestUser {
        let s = self.session();
        let req = SignupRequest {
            email: email.into(),
            password: PASSWORD.into(),
            display_name: None,
        };
        let user = s.signup(&req).await.expect(201).await;
        TestUser { s, user }
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        let req = LoginRequest {
            email: email.into(),
            password: password.into(),
        };
        self.session().login(&req).await.into()
    }

    pub async fn login_session(&self, email: &str) -> TestUser {
        let s = self.session();
        let req = LoginRequest {
            email: email.into(),
            password: PASSWORD.into(),
        };
        let user = s.login(&req).await.expect(200).await;
        TestUser { s, user }
    }

    pub async fn create_org(&self, owner: &Session, name: &str) -> Organization {
        let req = CreateOrgRequest {
            name: name.into(),
            slug: None,
            description: None,
        };
        owner.create_org(&req).await.expect(201).await
    }

    /// Invites `email` with `role` and accepts through the emailed link; returns the
    /// new member signed in.
    pub async fn add_member(
        &self,
        admin: &Session,
        slug: &str,
        email: &str,
        role: Role,
    ) -> TestUser {
        let req = CreateInvitationRequest {
            email: email.into(),
            role,
        };
        admin.invite(slug, &req).await.expect(201).await;
        let token = self
            .wait_for_mail(email, "/invitations/accept")
            .await
            .token("/invitations/accept");
        let s = self.session();
        let req = AcceptInvitationRequest {
            token,
            password: Some(PASSWORD.into()),
            display_name: None,
        };
        s.accept_invitation(&req).await.expect(200).await;
        let user = s.me().await.ok().await;
        TestUser { s, user }
    }

    /// Runs SQL on the test database, to move time-based state into the past.
    pub async fn sql(&self, sql: &str) {
        self.db.execute_unprepared(sql).await.unwrap();
    }

    /// The number of rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// An RFC 3339 timestamp `minutes` ago, as a SQL literal in the column's format.
    pub fn minutes_ago(&self, minutes: i64) -> String {
        let t = chrono::Utc::now() - chrono::Duration::minutes(minutes);
        match self.backend {
            "postgres" => format!("'{}'::timestamptz", t.to_rfc3339()),
            _ => format!(
                "'{}'",
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
            ),
        }
    }
}

pub async fn json<T: DeserializeOwned>(r: impl Into<Response>) -> T {
    let r: Response = r.into();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "status {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}
