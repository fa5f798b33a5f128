//! Authenticated API keys cached in the replica, so the MCP hot path makes no database
//! round trip, while a revocation still reaches every replica by the next request:
//! - SQLite: before each use the cache reads the WAL-index header in the database's
//!   `-shm` file, which every connection of every process maps and which each commit
//!   changes (see `ShmWatch`); a change means the cache starts over. Where that file
//!   cannot be used it falls back to `PRAGMA data_version` on its own connection.
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
use super::api_key::KeyPrincipal;
use crate::entity::organization;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering},
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
    /// SQLite in WAL mode: the shared WAL-index header, read without a system call.
    Shm(ShmWatch),
    /// SQLite otherwise: `PRAGMA data_version` on a connection of our own, with the
    /// last value seen.
    Pragma(Mutex<(rusqlite::Connection, Option<i64>)>),
    Postgres,
}

/// The WAL-index header at the start of a WAL database's `-shm` file (SQLite's
/// documented, cross-process "walformat"): two copies of a 48-byte `WalIndexHdr`, in
/// native byte order. A commit appends frames, so `mxFrame` (offset 16) grows; when the
/// WAL restarts from the beginning, the first salt (offset 32) is incremented. The pair
/// therefore changes on every commit, by any connection of any process.
///
/// A writer updates the second copy, then the first; a reader that finds them unequal
/// has caught a commit in progress and treats it as a change.
struct ShmWatch {
    map: memmap2::Mmap,
    /// `salt1 << 32 | mxFrame` as last seen, or `TORN`.
    seen: AtomicU64,
    /// Kept open so that SQLite keeps the `-shm` file (it removes it when the last
    /// connection closes). Never used otherwise.
    keep_open: Mutex<rusqlite::Connection>,
    /// The descriptor the map was made from, never closed: closing any descriptor of a
    /// file drops every POSIX lock this process holds on it, SQLite's included. Without
    /// its read lock on the `-shm` file, another process's next connection takes itself
    /// for the first one and truncates that file: the map's page vanishes (SIGBUS on
    /// the next read) and the processes' WAL indexes diverge (SQLITE_PROTOCOL).
    _shm_file: std::mem::ManuallyDrop<std::fs::File>,
}

const WALINDEX_VERSION: u32 = 3_007_000;
const HEADER_WORDS: usize = 12;
/// Not a header any commit produces (it would need 4 billion frames).
const TORN: u64 = u64::MAX;

impl ShmWatch {
    fn open(conn: rusqlite::Connection, db_path: &str) -> Result<ShmWatch, rusqlite::Connection> {
        let wal = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .is_ok_and(|m| m.eq_ignore_ascii_case("wal"));
        // A read opens (and maps) the wal-index for this connection.
        let read = conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0));
        if !wal || read.is_err() {
            return Err(conn);
        }
        let Ok(file) = std::fs::File::open(format!("{db_path}-shm")) else {
            return Err(conn);
        };
        // SAFETY: the mapping is read only, and read only through `word`, with atomic
        // loads: other connections write it concurrently, which is the point. The file
        // is at least one 32 KiB region long once a read has used it (as ours just did),
        // and SQLite only truncates it for a first connection, which there is not while
        // `keep_open` is open and holds its lock (see `_shm_file`).
        let Ok(map) = (unsafe { memmap2::MmapOptions::new().len(4096).map(&file) }) else {
            return Err(conn);
        };
        let watch = ShmWatch {
            map,
            seen: AtomicU64::new(TORN),
            keep_open: Mutex::new(conn),
            _shm_file: std::mem::ManuallyDrop::new(file),
        };
        if watch.word(0) != WALINDEX_VERSION {
            let ShmWatch { keep_open, .. } = watch;
            return Err(keep_open.into_inner().unwrap_or_else(|p| p.into_inner()));
        }
        Ok(watch)
    }

    fn word(&self, i: usize) -> u32 {
        debug_assert!(i < 2 * HEADER_WORDS);
        // SAFETY: the map is page-aligned and at least 4096 bytes long, so word `i`
        // (< 24) is in bounds and aligned for a u32; SQLite's writers store it while we
        // load it, hence an atomic load.
        let cell = unsafe { &*self.map.as_ptr().cast::<AtomicU32>().add(i) };
        cell.load(Ordering::Acquire)
    }

    /// The header's commit stamp, or `TORN` while a commit is writing it.
    fn stamp(&self) -> u64 {
        let mut first = [0u32; HEADER_WORDS];
        for (i, w) in first.iter_mut().enumerate() {
            *w = self.word(i);
        }
        let same = (0..HEADER_WORDS).all(|i| self.word(HEADER_WORDS + i) == first[i]);
        // isInit is the low byte of word 3 in native order.
        let init = first[3].to_ne_bytes()[0] == 1;
        if !same || !init || first[0] != WALINDEX_VERSION {
            return TORN;
        }
        (u64::from(first[8]) << 32) | u64::from(first[4])
    }
}

struct Inner {
    /// Mirrored in `KeyCache::generation`; both change only under this lock.
    generation: u64,
    entries: HashMap<String, Arc<KeyEntry>>,
    orgs: HashMap<String, Arc<OrgEntry>>,
}

pub struct KeyCache {
    inner: Mutex<Inner>,
    /// The current generation, readable without the lock.
    generation: AtomicU64,
    watch: Watch,
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
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                    .map_err(|e| tracing::warn!(error = %e, "key cache disabled"))
                    .ok()
                    .map(|c| (c, path))
                })
                .map(|(c, path)| {
                    let _ = c.busy_timeout(Duration::from_secs(1));
                    match ShmWatch::open(c, &path) {
                        Ok(w) => Watch::Shm(w),
                        Err(c) => {
                            tracing::info!(
                                "key cache watches the database with PRAGMA data_version"
                            );
                            Watch::Pragma(Mutex::new((c, None)))
                        }
                    }
                })
                .unwrap_or(Watch::Bypass),
            _ => Watch::Bypass,
        };
        KeyCache {
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
                orgs: HashMap::new(),
            }),
            generation: AtomicU64::new(0),
            watch,
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
        match &self.watch {
            Watch::Bypass => None,
            Watch::Postgres => self
                .listening
                .load(Ordering::Acquire)
                .then(|| Ticket(self.generation.load(Ordering::Acquire))),
            Watch::Shm(w) => {
                let stamp = w.stamp();
                if stamp != TORN && w.seen.load(Ordering::Acquire) == stamp {
                    // `seen` is stored after the generation it belongs to.
                    return Some(Ticket(self.generation.load(Ordering::Acquire)));
                }
                let mut inner = self.inner.lock().ok()?;
                if w.seen.load(Ordering::Acquire) != stamp || stamp == TORN {
                    Self::start_over(&mut inner, &self.generation);
                    w.seen.store(stamp, Ordering::Release);
                }
                (stamp != TORN).then_some(Ticket(inner.generation))
            }
            Watch::Pragma(conn) => {
                let mut conn = conn.lock().ok()?;
                let v: i64 = conn
                    .0
                    .prepare_cached("PRAGMA data_version")
                    .and_then(|mut q| q.query_row([], |r| r.get(0)))
                    .ok()?;
                let mut inner = self.inner.lock().ok()?;
                if conn.1 != Some(v) {
                    conn.1 = Some(v);
                    Self::start_over(&mut inner, &self.generation);
                }
                Some(Ticket(inner.generation))
            }
        }
    }

    fn start_over(inner: &mut Inner, generation: &AtomicU64) {
        inner.generation += 1;
        generation.store(inner.generation, Ordering::Release);
        inner.entries.clear();
        inner.orgs.clear();
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
            Self::start_over(&mut inner, &self.generation);
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
                                        let new = cache.peers.lock().is_ok_and(|mut p| {
                                            p.retain(|_, at| at.elapsed() < PEER_TTL);
                                            p.insert(peer.to_string(), std::time::Instant::now())
                                                .is_none()
                                        });
                                        // A replica that just started has not heard of us
                                        // (its LISTEN began after our last hello): answer at
                                        // once, so a change it makes in the next seconds
                                        // waits for our acknowledgement too.
                                        if new && peer != cache.replica {
                                            tokio::spawn(send(pool.clone(), hello.clone()));
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
    #![allow(clippy::unwrap_used)]
    use super::{ShmWatch, TORN, sqlite_file};

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

    /// Every commit by another connection changes the stamp, including commits after
    /// the WAL restarted from the start (where `mxFrame` repeats); reads do not.
    #[test]
    fn the_shm_stamp_changes_on_every_commit_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db").to_string_lossy().to_string();
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x)",
            )
            .unwrap();
        let watch = ShmWatch::open(rusqlite::Connection::open(&path).unwrap(), &path)
            .ok()
            .unwrap();
        let mut seen = vec![watch.stamp()];
        assert_ne!(seen[0], TORN);
        for round in 0..3 {
            for i in 0..3 {
                writer.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
                let s = watch.stamp();
                assert!(
                    !seen.contains(&s),
                    "round {round}, commit {i}: {s:x} seen before"
                );
                seen.push(s);
                let _: i64 = writer
                    .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(watch.stamp(), s, "a read changed the stamp");
            }
            writer
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                .unwrap();
        }
        // Not in WAL mode: no watch (the cache falls back to the pragma).
        let plain = dir.path().join("plain.db").to_string_lossy().to_string();
        rusqlite::Connection::open(&plain)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        assert!(ShmWatch::open(rusqlite::Connection::open(&plain).unwrap(), &plain).is_err());
    }
}
