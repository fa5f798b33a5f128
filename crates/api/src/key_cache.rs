//! Authenticated API keys cached in the replica, so the MCP hot path makes no database
//! round trip, while a revocation still reaches every replica by the next request:
//! - SQLite: before each use the cache reads `PRAGMA data_version` on its own
//!   connection (about a microsecond); any commit by another connection or process
//!   changes it, and the cache starts over.
//! - PostgreSQL: every change that can invalidate a key (revocation, org deletion,
//!   allowlist or slug change) sends `NOTIFY gatehouse_auth` in its own transaction;
//!   each replica's listener empties its cache when it arrives and acknowledges it. The
//!   change's request returns once every live replica (each announces itself every two
//!   seconds on the same channel) has acknowledged, so "the next request gets 401" holds
//!   on every replica. While a listener is not connected its replica bypasses the cache,
//!   so a lost notification cannot keep a key alive.
//!
//! Fills carry the generation they started in: a load that raced an invalidation is
//! not stored.
use crate::{api_keys::KeyPrincipal, entity::organization};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

pub const CHANNEL: &str = "gatehouse_auth";
/// Payload prefixes besides change nonces: a replica announcing itself, and a replica
/// acknowledging a change (`ack:<nonce>:<replica>`).
const HELLO: &str = "hello:";
const ACK: &str = "ack:";
const HELLO_EVERY: Duration = Duration::from_secs(2);
/// A replica not heard from for this long is not waited for.
const PEER_TTL: Duration = Duration::from_secs(7);
const MAX_ENTRIES: usize = 50_000;

/// What a valid key resolves to, with its org's allowlist already parsed.
#[derive(Debug)]
pub struct KeyEntry {
    pub key: KeyPrincipal,
    /// `None` when the org is deleted.
    pub org: Option<organization::Model>,
    pub allowlist: Vec<IpNet>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Unix seconds of the last `last_used_at` written (0: never), to throttle writes.
    pub last_used: AtomicI64,
}

/// An org as the MCP endpoint needs it for OAuth callers, cached with the keys (and
/// invalidated by the same signals).
#[derive(Debug)]
pub struct OrgEntry {
    pub org: organization::Model,
    pub allowlist: Vec<IpNet>,
}

enum Watch {
    /// No cross-connection signal (in-memory SQLite): always read the database.
    Bypass,
    Sqlite(Box<rusqlite::Connection>),
    Postgres,
}

struct Inner {
    generation: u64,
    data_version: Option<i64>,
    entries: HashMap<String, Arc<KeyEntry>>,
    orgs: HashMap<String, Arc<OrgEntry>>,
    watch: Watch,
}

pub struct KeyCache {
    inner: Mutex<Inner>,
    /// PostgreSQL: the listener is subscribed, so notifications will arrive.
    listening: AtomicBool,
    /// Notification payloads as the listener hears them (see `Pending::settle`).
    echoes: tokio::sync::broadcast::Sender<String>,
    /// This replica's id on the channel, and the replicas heard from recently.
    replica: String,
    peers: Mutex<HashMap<String, std::time::Instant>>,
    /// Database look-ups of keys (cache misses), exported in `/metrics`.
    pub lookups: prometheus::IntCounter,
}

/// A generation token: where the caller may use and fill the cache.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl KeyCache {
    pub fn new(backend: DatabaseBackend, database_url: &str) -> KeyCache {
        let watch = match backend {
            DatabaseBackend::Postgres => Watch::Postgres,
            DatabaseBackend::Sqlite => sqlite_file(database_url)
                .and_then(|path| {
                    rusqlite::Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                    .map_err(|e| tracing::warn!(error = %e, "key cache disabled"))
                    .ok()
                })
                .map(|c| {
                    let _ = c.busy_timeout(Duration::from_secs(1));
                    Watch::Sqlite(Box::new(c))
                })
                .unwrap_or(Watch::Bypass),
            _ => Watch::Bypass,
        };
        KeyCache {
            inner: Mutex::new(Inner {
                generation: 0,
                data_version: None,
                entries: HashMap::new(),
                orgs: HashMap::new(),
                watch,
            }),
            listening: AtomicBool::new(false),
            echoes: tokio::sync::broadcast::channel(1024).0,
            replica: uuid::Uuid::new_v4().simple().to_string(),
            peers: Mutex::new(HashMap::new()),
            lookups: prometheus::IntCounter::new(
                "gatehouse_api_key_lookups_total",
                "API keys read from the database (key-cache misses)",
            )
            .unwrap_or_else(|_| unreachable!("static metric name")),
        }
    }

    /// Brings the cache up to date with the database; `None` means "do not use it now".
    pub fn ticket(&self) -> Option<Ticket> {
        let mut inner = self.inner.lock().ok()?;
        match &inner.watch {
            Watch::Bypass => None,
            Watch::Postgres => self
                .listening
                .load(Ordering::Acquire)
                .then_some(Ticket(inner.generation)),
            Watch::Sqlite(conn) => {
                // Prepared once: parsing the pragma on every request cost more than
                // running it.
                let v: i64 = conn
                    .prepare_cached("PRAGMA data_version")
                    .and_then(|mut q| q.query_row([], |r| r.get(0)))
                    .ok()?;
                if inner.data_version != Some(v) {
                    inner.data_version = Some(v);
                    inner.generation += 1;
                    inner.entries.clear();
                    inner.orgs.clear();
                }
                Some(Ticket(inner.generation))
            }
        }
    }

    pub fn get(&self, t: Ticket, token_hash: &str) -> Option<Arc<KeyEntry>> {
        let inner = self.inner.lock().ok()?;
        (inner.generation == t.0)
            .then(|| inner.entries.get(token_hash).cloned())
            .flatten()
    }

    pub fn put(&self, t: Ticket, token_hash: String, entry: Arc<KeyEntry>) {
        if let Ok(mut inner) = self.inner.lock()
            && inner.generation == t.0
        {
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
            inner.entries.insert(token_hash, entry);
        }
    }

    pub fn get_org(&self, t: Ticket, slug: &str) -> Option<Arc<OrgEntry>> {
        let inner = self.inner.lock().ok()?;
        (inner.generation == t.0)
            .then(|| inner.orgs.get(slug).cloned())
            .flatten()
    }

    pub fn put_org(&self, t: Ticket, slug: String, entry: Arc<OrgEntry>) {
        if let Ok(mut inner) = self.inner.lock()
            && inner.generation == t.0
        {
            if inner.orgs.len() >= MAX_ENTRIES {
                inner.orgs.clear();
            }
            inner.orgs.insert(slug, entry);
        }
    }

    /// Forgets everything (called on notification, and by this replica after a change).
    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.generation += 1;
            inner.entries.clear();
            inner.orgs.clear();
        }
    }

    fn set_listening(&self, on: bool) {
        // Clear first when going live: anything cached before the subscription may
        // have missed a notification.
        self.clear();
        self.listening.store(on, Ordering::Release);
    }
}

/// The file behind a `sqlite://` URL; `None` for in-memory databases.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path.is_empty() || path == ":memory:" || query.contains("mode=memory");
    (!memory).then(|| path.to_string())
}

/// A change announced inside a transaction; `settle` it after the commit.
#[must_use = "settle after commit, so this replica forgets at once"]
pub struct Pending {
    /// PostgreSQL with a live listener: the notification's payload and a subscription
    /// that will see it come back.
    echo: Option<(String, tokio::sync::broadcast::Receiver<String>)>,
}

impl KeyCache {
    fn live_peers(&self) -> std::collections::HashSet<String> {
        let mut peers = self
            .peers
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|(_, at)| at.elapsed() < PEER_TTL)
                    .map(|(id, _)| id.clone())
                    .collect::<std::collections::HashSet<_>>()
            })
            .unwrap_or_default();
        peers.insert(self.replica.clone());
        peers
    }

    /// Tells every replica's key cache that keys or their orgs changed. Call inside the
    /// transaction that makes the change: PostgreSQL delivers the notification on
    /// commit (SQLite replicas see the commit through `data_version`).
    pub async fn notify<C: ConnectionTrait>(&self, db: &C) -> Result<Pending, sea_orm::DbErr> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(Pending { echo: None });
        }
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let rx = self.echoes.subscribe();
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), nonce.clone().into()],
        ))
        .await?;
        Ok(Pending {
            echo: self
                .listening
                .load(Ordering::Acquire)
                .then_some((nonce, rx)),
        })
    }
}

impl Pending {
    /// Forgets cached keys here at once; on PostgreSQL, also waits (at most two
    /// seconds) until every live replica has acknowledged the notification, i.e. has
    /// emptied its cache: when a revoke call returns, no replica still honours the key.
    pub async fn settle(self, cache: &KeyCache) {
        cache.clear();
        let Some((nonce, mut rx)) = self.echo else {
            return;
        };
        let mut waiting = cache.live_peers();
        let prefix = format!("{ACK}{nonce}:");
        let acked = async {
            while !waiting.is_empty() {
                match rx.recv().await {
                    Ok(p) => {
                        if let Some(replica) = p.strip_prefix(&prefix) {
                            waiting.remove(replica);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(2), acked)
            .await
            .is_err()
        {
            tracing::warn!("not every replica acknowledged a key-cache notification within 2 s");
        }
    }
}

/// PostgreSQL: keeps a LISTEN connection and empties the cache on each notification;
/// reconnects after a failure, bypassing the cache meanwhile.
pub fn spawn_listener(cache: Arc<KeyCache>, db: &DatabaseConnection) {
    use sea_orm::sqlx::postgres::PgListener;
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    let send = |pool: sea_orm::sqlx::PgPool, payload: String| async move {
        sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&pool)
            .await
            .map(|_| ())
    };
    tokio::spawn(async move {
        loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => {
                        cache.set_listening(true);
                        let hello = format!("{HELLO}{}", cache.replica);
                        let mut tick = tokio::time::interval(HELLO_EVERY);
                        loop {
                            tokio::select! {
                                _ = tick.tick() => {
                                    if send(pool.clone(), hello.clone()).await.is_err() {
                                        break;
                                    }
                                }
                                n = listener.try_recv() => {
                                    // Ok(None): the connection was lost.
                                    let Ok(Some(n)) = n else { break };
                                    let payload = n.payload();
                                    if let Some(peer) = payload.strip_prefix(HELLO) {
                                        if let Ok(mut p) = cache.peers.lock() {
                                            p.retain(|_, at| at.elapsed() < PEER_TTL);
                                            p.insert(peer.to_string(), std::time::Instant::now());
                                        }
                                    } else if payload.starts_with(ACK) {
                                        let _ = cache.echoes.send(payload.to_string());
                                    } else {
                                        cache.clear();
                                        let ack = format!("{ACK}{payload}:{}", cache.replica);
                                        tokio::spawn(send(pool.clone(), ack));
                                    }
                                }
                            }
                        }
                        tracing::warn!("key-cache listener lost its connection");
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                },
                Err(e) => tracing::warn!(error = %e, "key-cache listener cannot connect"),
            }
            cache.set_listening(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn in_memory_databases_have_no_file() {
        assert_eq!(
            sqlite_file("sqlite:///tmp/x.db?mode=rwc").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(
            sqlite_file("sqlite://data/g.db").as_deref(),
            Some("data/g.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://file?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }
}
