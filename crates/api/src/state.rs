//! Application state: infrastructure handles plus the in-memory runtime of the areas
//! that need one. Below every area; the server and the route table sit above.
use crate::{clock::SharedClock, config::Config, crypto::Cipher, http, mail::MailService};
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// The public URL without a trailing slash, e.g. `https://gatehouse.example.com`.
    pub public_url: String,
    /// scheme://host[:port] of the public URL: the only origin allowed to make
    /// cookie-authenticated writes.
    pub public_origin: String,
    pub secure_cookies: bool,
    /// Host names the MCP endpoint answers under (`http::cors`).
    pub mcp_hosts: Vec<String>,
    pub clock: SharedClock,
    pub mail: MailService,
    pub cipher: Cipher,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The SSRF-safe client for calls to upstream servers.
    pub outbound: crate::outbound::Outbound,
    /// Sessions with upstream MCP servers, reused across calls.
    pub upstreams: crate::mcp::client::UpstreamPool,
    /// MCP calls counted in memory, flushed to the database by the background task.
    pub usage: Arc<crate::mcp::usage::UsageCounter>,
    pub mcp_cache: crate::mcp::cache::McpCache,
    /// Authenticated API keys, kept current across replicas (see `key_cache`).
    pub keys: Arc<crate::auth::key_cache::KeyCache>,
    /// Signing keys and the revocation set of the OAuth server.
    pub oauth: Arc<crate::oauth::tokens::OAuthState>,
    pub oauth_limits: Arc<crate::oauth::OAuthLimits>,
    /// SQLite has one writer; busy connections wait in SQLite's busy handler, which
    /// sleeps in steps of up to 100 ms. Hot write paths queue here instead (SQLite only).
    pub write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The token endpoint's group commit.
    pub batch: crate::oauth::batch::Batcher,
    /// This replica's side of the durable job queue.
    pub jobs: crate::jobs::Queue,
    /// The WebAuthn relying party (built once from the public URL).
    pub passkeys: crate::accounts::passkeys::service::RelyingParty,
}

impl AppState {
    /// Waits for this replica's turn to write (SQLite); `None` on PostgreSQL.
    pub async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_lock {
            Some(l) => Some(l.clone().lock_owned().await),
            None => None,
        }
    }
}

fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{host}")
}

impl AppState {
    /// Connects, applies pending migrations, and checks the master key against the
    /// database's check value (`instance::master_key`) before anything else writes.
    pub async fn from_config(config: Config, clock: SharedClock) -> anyhow::Result<AppState> {
        let db =
            crate::db::connect(&config.database_url(), config.database_max_connections).await?;
        crate::db::migrate(&db).await?;
        let key = crate::instance::master_key(&config, &db).await?;
        Self::build(config, db, key, clock)
    }

    /// On an already migrated database, with the configured (or a new) master key,
    /// unchecked.
    pub fn with_db(
        config: Config,
        db: DatabaseConnection,
        clock: SharedClock,
    ) -> anyhow::Result<AppState> {
        let key = crate::instance::master_key_or_new(&config)?;
        Self::build(config, db, key, clock)
    }

    fn build(
        config: Config,
        db: DatabaseConnection,
        key: [u8; 32],
        clock: SharedClock,
    ) -> anyhow::Result<AppState> {
        let public_url = config.public_url();
        let mail = MailService::new(
            config.smtp_url.as_deref(),
            config.data_dir.join("outbox"),
            &config.mail_from,
        )?;
        let cipher = Cipher::new(key);
        let trusted_proxies = config
            .trusted_proxies
            .iter()
            .map(|c| {
                crate::http::meta::parse_range(c)
                    .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let outbound = crate::outbound::Outbound::new(&config.outbound)?;
        let keys = Arc::new(crate::auth::key_cache::KeyCache::new(
            db.get_database_backend(),
            &config.database_url(),
        ));
        let oauth_limits = Arc::new(crate::oauth::OAuthLimits::new(
            config.oauth.registrations_per_ip_per_second,
        ));
        let write_lock = (db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(AppState {
            write_lock,
            batch: Default::default(),
            jobs: Default::default(),
            passkeys: crate::accounts::passkeys::service::RelyingParty::new(&public_url),
            keys,
            oauth: Default::default(),
            oauth_limits,
            db,
            public_origin: origin_of(&public_url),
            mcp_hosts: http::cors::allowed_hosts(&public_url, &config.mcp.allowed_hosts),
            secure_cookies: public_url.starts_with("https://"),
            public_url,
            config: Arc::new(config),
            clock,
            mail,
            cipher,
            trusted_proxies,
            outbound,
            upstreams: Default::default(),
            usage: Default::default(),
            mcp_cache: Default::default(),
        })
    }
}
