//! Database connection and migrations. SQLite is the embedded default, PostgreSQL the
//! production store; the same migrations and queries serve both.
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(file).parent()
            && !dir.as_os_str().is_empty()
        {
            private_dir(dir)?;
        }
        // The database holds password hashes and session tokens: owner only. SQLite
        // gives its -wal and -shm files the database file's mode.
        if !file.is_empty() && !file.starts_with(':') && !file.starts_with("file:") {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(file)?;
        }
    }
    let mut opts = ConnectOptions::new(url.to_string());
    // Per-connection settings belong in the connect options, so every pooled
    // connection has them: WAL lets readers proceed while one writer commits; a larger
    // row buffer roughly doubles the rate of streaming reads (audit export).
    opts.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .row_buffer_size(1024)
            .busy_timeout(Duration::from_secs(10))
            // Checkpoints run in the background (`checkpoint`), not inside
            // whichever commit crosses the WAL size limit.
            .pragma("wal_autocheckpoint", "0")
    });
    // A ping on every pool checkout costs a round trip per transaction (a thread hop on
    // SQLite, whose file-backed connections never go stale); on PostgreSQL only a
    // connection idle for a while is checked.
    if url.starts_with("sqlite:") {
        opts.test_before_acquire(false);
    } else {
        opts.test_before_acquire_if_idle_for(Duration::from_secs(30));
    }
    opts.max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Ok(Database::connect(opts).await?)
}

/// Creates a directory (and its missing parents) readable by its owner only.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction
/// that reads before it writes fails with SQLITE_BUSY (no retry) when another connection
/// commits in between; taking the write lock first makes it wait its turn instead.
pub async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Copies the SQLite write-ahead log into the database file without blocking writers
/// (PASSIVE); the log starts over once it has been copied entirely. The server runs it
/// twice a second on SQLite (`server::periodic`).
pub async fn checkpoint(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
        .await
        .map(|_| ())
}

/// Key of the PostgreSQL advisory lock that serializes migrations ("gatehous").
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

/// Applies pending migrations, one replica at a time: replicas started together on a
/// fresh database otherwise all create the same tables, and all but one fail
/// (PostgreSQL: duplicate key in `pg_type`; SQLite: table already exists).
///
/// All of it runs in one transaction that first takes the lock: on PostgreSQL a
/// transaction-scoped advisory lock (held by the transaction's own session, released at
/// commit, rollback or disconnect), on SQLite the write lock (`BEGIN EXCLUSIVE`). The
/// replicas that waited then find nothing left to do. DDL is transactional on both, so
/// a failed migration leaves the schema as it was.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Ok(migrate_locked(db).await?);
    }
    // SQLite's busy handler gives up after `busy_timeout`, shorter than another
    // replica's migration may take, and is not called at all for SQLITE_PROTOCOL, which
    // processes opening a new WAL database together can get: try again a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match migrate_locked(db).await {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "waiting for another replica's migrations");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            r => return Ok(r?),
        }
    }
}

async fn migrate_locked(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Exclusive),
                ..Default::default()
            })
            .await?
        }
        sea_orm::DatabaseBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                .await?;
            txn
        }
        _ => db.begin().await?,
    };
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// SQLITE_BUSY (5) or SQLITE_PROTOCOL (15).
fn is_busy(e: &DbErr) -> bool {
    let msg = e.to_string();
    msg.contains("(code: 5)") || msg.contains("(code: 15)") || msg.contains("database is locked")
}

pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}
