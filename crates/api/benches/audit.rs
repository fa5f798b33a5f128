//! Audit log benchmark (`just bench audit`, or `bash scripts/bench.sh audit`).
//!
//! Seeds a large audit log (1 M events over 100 orgs by default, plus one "big" org of
//! 200 k events for the export rate), then measures on the real query code
//! (`gatehouse::audit::page`, `gatehouse::audit::export_stream`):
//!
//! - `page(first)`: the unfiltered first page of an org (limit 50);
//! - `page(filtered)`: action prefix `member.` plus a time range, first page and the
//!   following keyset pages (cursor from the previous page);
//! - `page(actor)`: one actor's events, first and following pages;
//! - the same three on the big org;
//! - the CSV (and JSON) export of the big org and of the biggest regular org: rows/s,
//!   MB/s and the process RSS before, at its peak during, and after the export.
//!
//! Targets (reported as PASS/MISS, not enforced): p95 < 20 ms per page, export
//! >= 100 k rows/s at flat memory. The process exits non-zero only on errors.
//!
//! Environment:
//!   GATEHOUSE_BENCH_DATABASE_URL   sqlite://path?mode=rwc or postgres://…  (required)
//!   GATEHOUSE_BENCH_ROWS           events over the regular orgs   (default 1000000)
//!   GATEHOUSE_BENCH_ORGS           regular orgs                   (default 100)
//!   GATEHOUSE_BENCH_BIG_ORG_ROWS   events of the extra big org    (default 200000, 0 = none)
//!   GATEHOUSE_BENCH_QUERIES        timed page queries per kind    (default 300)
//!   GATEHOUSE_BENCH_EXPLAIN=1      also print the query plans of the page queries
//!
//! Seeding is idempotent: a marker table (`gatehouse_bench_seed`) records what was
//! seeded; a database that already holds exactly that data set is reused as is, any
//! other content of `audit_events` is deleted and the data set seeded again. For a
//! PostgreSQL URL whose database does not exist, the database is created (through the
//! `postgres` database of the same server).
use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use gatehouse::{
    audit::{self, Filter},
    db,
    entity::audit_event,
};
use rand::{
    Rng, SeedableRng,
    distributions::{Distribution, WeightedIndex},
    rngs::StdRng,
    seq::SliceRandom,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, QueryTrait, Statement, TransactionTrait,
    sea_query::{Expr, Query},
};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Bump when the generated data changes, so that old bench databases are re-seeded.
const SEED_VERSION: u32 = 1;
/// Fixed RNG seed: the same settings always produce the same orgs, actors and events.
const RNG_SEED: u64 = 0x6761_7465_686f_7573;
/// Events are spread over this many days before the seeding time.
const SPAN_DAYS: i64 = 180;
/// Actors (users) per org.
const ACTORS_PER_ORG: usize = 20;
/// Rows per INSERT statement: 12 columns x 2000 = 24 000 bind parameters, under both
/// SQLite's (32 766) and PostgreSQL's (65 535) limits.
const ROWS_PER_STATEMENT: usize = 2000;
/// Statements per transaction.
const STATEMENTS_PER_TXN: usize = 10;
/// Page size of the page queries.
const PAGE: u64 = 50;
/// Targets.
const TARGET_P95_MS: f64 = 20.0;
const TARGET_EXPORT_ROWS_PER_S: f64 = 100_000.0;
/// RSS growth during an export above which memory is not considered flat.
const FLAT_RSS_MB: f64 = 32.0;

const MARKER_TABLE: &str = "gatehouse_bench_seed";

/// (action, weight): roughly what a busy tenant's log looks like. `member.*` is ~15 %.
const ACTIONS: &[(&str, u32)] = &[
    ("auth.login_succeeded", 30),
    ("auth.logged_out", 10),
    ("auth.login_failed", 8),
    ("auth.login_throttled", 1),
    ("session.revoked", 4),
    ("member.added", 6),
    ("member.removed", 3),
    ("member.role_changed", 4),
    ("invitation.created", 6),
    ("invitation.accepted", 4),
    ("invitation.revoked", 1),
    ("org.updated", 3),
    ("org.security_updated", 1),
    ("user.updated", 4),
    ("user.password_changed", 2),
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "gatehouse-cli/0.1.0",
    "curl/8.8.0",
];

const ROLES: &[&str] = &["owner", "admin", "member"];

struct Config {
    url: String,
    rows: u64,
    orgs: usize,
    big_rows: u64,
    queries: usize,
    explain: bool,
}

fn env_num(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

impl Config {
    fn from_env() -> Result<Self> {
        let url = std::env::var("GATEHOUSE_BENCH_DATABASE_URL")
            .context("set GATEHOUSE_BENCH_DATABASE_URL (sqlite://…?mode=rwc or postgres://…); `just bench` does it for you")?;
        let cfg = Self {
            url,
            rows: env_num("GATEHOUSE_BENCH_ROWS", 1_000_000)?,
            orgs: usize::try_from(env_num("GATEHOUSE_BENCH_ORGS", 100)?)?,
            big_rows: env_num("GATEHOUSE_BENCH_BIG_ORG_ROWS", 200_000)?,
            queries: usize::try_from(env_num("GATEHOUSE_BENCH_QUERIES", 300)?)?,
            explain: std::env::var("GATEHOUSE_BENCH_EXPLAIN").is_ok_and(|v| v == "1"),
        };
        if cfg.orgs == 0 || cfg.rows < cfg.orgs as u64 {
            bail!(
                "need at least one org and one event per org (GATEHOUSE_BENCH_ORGS, GATEHOUSE_BENCH_ROWS)"
            );
        }
        if cfg.queries == 0 {
            bail!("GATEHOUSE_BENCH_QUERIES must be at least 1");
        }
        Ok(cfg)
    }

    fn total(&self) -> u64 {
        self.rows + self.big_rows
    }

    fn marker(&self) -> String {
        format!(
            "v{SEED_VERSION} rows={} orgs={} big={}",
            self.rows, self.orgs, self.big_rows
        )
    }
}

// ---------------------------------------------------------------------------------
// The seeded world: orgs and their actors, derived from the fixed RNG seed so that a
// re-run that reuses the database knows the same ids without reading them back.
// ---------------------------------------------------------------------------------

struct Actor {
    id: Uuid,
    email: String,
    ip: String,
    user_agent: &'static str,
}

struct Org {
    id: Uuid,
    name: String,
    actors: Vec<Actor>,
    /// Exact number of events of this org.
    events: u64,
}

struct World {
    /// The regular orgs, then the big org when there is one.
    orgs: Vec<Org>,
    regular: usize,
}

impl World {
    fn big(&self) -> Option<&Org> {
        self.orgs.get(self.regular)
    }
    fn biggest_regular(&self) -> &Org {
        self.orgs[..self.regular]
            .iter()
            .max_by_key(|o| o.events)
            .unwrap_or(&self.orgs[0])
    }
}

fn random_uuid(rng: &mut StdRng) -> Uuid {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

fn make_world(cfg: &Config) -> World {
    let mut rng = StdRng::seed_from_u64(RNG_SEED);
    let mut orgs = Vec::with_capacity(cfg.orgs + 1);
    // Org sizes vary from 0.5x to 1.5x the mean; the counts add up to exactly cfg.rows.
    let weights: Vec<f64> = (0..cfg.orgs).map(|_| rng.gen_range(0.5..1.5)).collect();
    let wsum: f64 = weights.iter().sum();
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|w| ((cfg.rows as f64) * w / wsum).floor().max(1.0) as u64)
        .collect();
    let mut assigned: u64 = counts.iter().sum();
    let mut i = 0;
    while assigned != cfg.rows {
        let k = i % counts.len();
        if assigned < cfg.rows {
            counts[k] += 1;
            assigned += 1;
        } else if counts[k] > 1 {
            counts[k] -= 1;
            assigned -= 1;
        }
        i += 1;
    }
    let org_count = cfg.orgs + usize::from(cfg.big_rows > 0);
    for n in 0..org_count {
        let big = n == cfg.orgs;
        let name = if big {
            "bigcorp".to_string()
        } else {
            format!("org{n:03}")
        };
        let actors = (0..ACTORS_PER_ORG)
            .map(|a| Actor {
                id: random_uuid(&mut rng),
                email: format!("user{a:02}@{name}.example.com"),
                ip: if a % 5 == 4 {
                    format!("2001:db8:{:x}::{:x}", n, rng.gen_range(1..0xffff_u32))
                } else {
                    format!(
                        "{}.{}.{}",
                        ["203.0.113", "198.51.100", "192.0.2"][a % 3],
                        n % 250,
                        rng.gen_range(1..255)
                    )
                },
                user_agent: USER_AGENTS[rng.gen_range(0..USER_AGENTS.len())],
            })
            .collect();
        orgs.push(Org {
            id: random_uuid(&mut rng),
            name,
            actors,
            events: if big {
                cfg.big_rows
            } else {
                counts.get(n).copied().unwrap_or(0)
            },
        });
    }
    World {
        orgs,
        regular: cfg.orgs,
    }
}

// ---------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------

fn micros_to_utc(us: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_micros(us)
        .single()
        .ok_or_else(|| anyhow!("timestamp out of range: {us}"))
}

/// The seed marker: (marker, total rows, end of the time span in unix microseconds).
async fn read_marker(db: &DatabaseConnection) -> Result<Option<(String, i64, i64)>> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT marker, total, span_end_us FROM {MARKER_TABLE}"),
        ))
        .await?;
    match rows.first() {
        Some(r) => Ok(Some((
            r.try_get_by_index(0)?,
            r.try_get_by_index(1)?,
            r.try_get_by_index(2)?,
        ))),
        None => Ok(None),
    }
}

/// Returns the end of the seeded time span (unix microseconds) and whether it seeded.
async fn ensure_seeded(
    db: &DatabaseConnection,
    cfg: &Config,
    world: &World,
    tag: &str,
) -> Result<(i64, bool)> {
    db.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (marker VARCHAR(200) NOT NULL PRIMARY KEY, total BIGINT NOT NULL, span_end_us BIGINT NOT NULL)"
    ))
    .await?;
    let count = audit_event::Entity::find().count(db).await?;
    if let Some((marker, total, span_end)) = read_marker(db).await? {
        if marker == cfg.marker() && total == cfg.total() as i64 && count == cfg.total() {
            println!("[{tag}] reusing the seeded database: {count} events ({marker})");
            return Ok((span_end, false));
        }
        println!("[{tag}] database holds another data set ({marker}, {count} events): re-seeding");
    } else if count > 0 {
        println!("[{tag}] audit_events holds {count} events without a seed marker: re-seeding");
    }
    db.execute_unprepared(&format!("DELETE FROM {MARKER_TABLE}"))
        .await?;
    match db.get_database_backend() {
        DbBackend::Postgres => db.execute_unprepared("TRUNCATE audit_events").await?,
        _ => db.execute_unprepared("DELETE FROM audit_events").await?,
    };

    let span_end = Utc::now().timestamp() * 1_000_000;
    let started = Instant::now();
    seed(db, cfg, world, span_end, tag).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "[{tag}] seeded {} events in {seconds:.1}s ({:.0} rows/s)",
        cfg.total(),
        cfg.total() as f64 / seconds
    );
    // What autovacuum would do shortly after such a bulk load; SQLite gets no ANALYZE
    // because the server never runs one (its planner works without statistics).
    if db.get_database_backend() == DbBackend::Postgres {
        let t = Instant::now();
        db.execute_unprepared("VACUUM ANALYZE audit_events").await?;
        println!(
            "[{tag}] VACUUM ANALYZE audit_events in {:.1}s",
            t.elapsed().as_secs_f64()
        );
    }
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            DbBackend::Postgres => format!(
                "INSERT INTO {MARKER_TABLE} (marker, total, span_end_us) VALUES ($1, $2, $3)"
            ),
            _ => {
                format!("INSERT INTO {MARKER_TABLE} (marker, total, span_end_us) VALUES (?, ?, ?)")
            }
        },
        [
            cfg.marker().into(),
            (cfg.total() as i64).into(),
            span_end.into(),
        ],
    ))
    .await?;
    Ok((span_end, true))
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// One generated event, as the values of one INSERT row.
fn event_row(
    rng: &mut StdRng,
    org: &Org,
    action: &'static str,
    id: Uuid,
    at: DateTime<Utc>,
) -> [Expr; 12] {
    // A few actors do most of the work (admins), the rest show up now and then.
    let actor_idx = if rng.gen_bool(0.6) {
        rng.gen_range(0..3)
    } else {
        rng.gen_range(0..org.actors.len())
    };
    let actor = &org.actors[actor_idx];
    let other = pick(rng, &org.actors);
    let role = *pick(rng, ROLES);
    let (system, target, metadata): (bool, Option<(&str, String)>, serde_json::Value) = match action
    {
        "auth.login_succeeded" | "auth.logged_out" => (
            false,
            Some(("session", random_uuid(rng).to_string())),
            json!({}),
        ),
        "auth.login_failed" | "auth.login_throttled" => {
            let meta = if action == "auth.login_failed" {
                json!({"email": actor.email})
            } else {
                json!({"email": actor.email, "account_locked": true, "ip_locked": false})
            };
            (true, Some(("user", actor.id.to_string())), meta)
        }
        "session.revoked" => (
            false,
            Some(("session", random_uuid(rng).to_string())),
            json!({"reason": "user"}),
        ),
        "member.added" => (
            false,
            Some(("user", other.id.to_string())),
            json!({"role": role}),
        ),
        "member.removed" => (
            false,
            Some(("user", other.id.to_string())),
            json!({"role": role}),
        ),
        "member.role_changed" => (
            false,
            Some(("user", other.id.to_string())),
            json!({"from": role, "to": if role == "admin" { "member" } else { "admin" }}),
        ),
        "invitation.created" | "invitation.accepted" | "invitation.revoked" => (
            false,
            Some(("invitation", random_uuid(rng).to_string())),
            json!({"email": format!("invitee{}@example.net", rng.gen_range(0..100_000)), "role": role}),
        ),
        "org.updated" => (
            false,
            Some(("org", org.id.to_string())),
            json!({"fields": ["name"]}),
        ),
        "org.security_updated" => (
            false,
            Some(("org", org.id.to_string())),
            json!({"fields": ["require_mfa", "session_ttl"]}),
        ),
        "user.updated" => (
            false,
            Some(("user", actor.id.to_string())),
            json!({"fields": ["display_name"]}),
        ),
        _ => (false, Some(("user", actor.id.to_string())), json!({})),
    };
    let (actor_type, actor_id, actor_label) = if system {
        ("system", None, None)
    } else {
        ("user", Some(actor.id), Some(actor.email.clone()))
    };
    let (target_type, target_id) = match target {
        Some((t, i)) => (Some(t.to_string()), Some(i)),
        None => (None, None),
    };
    [
        id.into(),
        Some(org.id).into(),
        at.into(),
        actor_type.into(),
        actor_id.into(),
        actor_label.into(),
        action.into(),
        target_type.into(),
        target_id.into(),
        Some(actor.ip.clone()).into(),
        Some(actor.user_agent.to_string()).into(),
        metadata.to_string().into(),
    ]
}

async fn seed(
    db: &DatabaseConnection,
    cfg: &Config,
    world: &World,
    span_end_us: i64,
    tag: &str,
) -> Result<()> {
    use audit_event::Column as C;
    let mut rng = StdRng::seed_from_u64(RNG_SEED ^ 0x5eed);
    let total = cfg.total();
    // Which org each event (in time order) belongs to: exact per-org counts, shuffled.
    let mut owners: Vec<u32> = Vec::with_capacity(usize::try_from(total)?);
    for (i, org) in world.orgs.iter().enumerate() {
        owners.extend(std::iter::repeat_n(
            u32::try_from(i)?,
            usize::try_from(org.events)?,
        ));
    }
    owners.shuffle(&mut rng);
    let actions = WeightedIndex::new(ACTIONS.iter().map(|a| a.1))?;

    // Event i gets a millisecond in its own slot of the span: the slots do not overlap,
    // so the UUIDv7 ids (millisecond timestamps) are strictly increasing with time and
    // agree with occurred_at (which adds random microseconds within that millisecond).
    let span_end_ms = span_end_us / 1000;
    let span_ms = SPAN_DAYS * 86_400_000;
    let span_start_ms = span_end_ms - span_ms;
    let slot_ms = span_ms / i64::try_from(total)?;
    if slot_ms < 1 {
        bail!("too many events for {SPAN_DAYS} days at one event per millisecond");
    }

    let columns = [
        C::Id,
        C::OrgId,
        C::OccurredAt,
        C::ActorType,
        C::ActorId,
        C::ActorLabel,
        C::Action,
        C::TargetType,
        C::TargetId,
        C::Ip,
        C::UserAgent,
        C::Metadata,
    ];
    let mut done: u64 = 0;
    let mut last_report = Instant::now();
    let started = Instant::now();
    for txn_chunk in owners.chunks(ROWS_PER_STATEMENT * STATEMENTS_PER_TXN) {
        let txn = db.begin().await?;
        for stmt_chunk in txn_chunk.chunks(ROWS_PER_STATEMENT) {
            let mut insert = Query::insert();
            insert.into_table(audit_event::Entity).columns(columns);
            for &owner in stmt_chunk {
                let i = i64::try_from(done)?;
                let ms = span_start_ms + i * slot_ms + rng.gen_range(0..slot_ms);
                let at = micros_to_utc(ms * 1000 + rng.gen_range(0..1000))?;
                let mut rand_bytes = [0u8; 10];
                rng.fill(&mut rand_bytes);
                let id = uuid::Builder::from_unix_timestamp_millis(u64::try_from(ms)?, &rand_bytes)
                    .into_uuid();
                let org = &world.orgs[owner as usize];
                let action = ACTIONS[actions.sample(&mut rng)].0;
                insert.values(event_row(&mut rng, org, action, id, at))?;
                done += 1;
            }
            txn.execute(&insert).await?;
        }
        txn.commit().await?;
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            let s = started.elapsed().as_secs_f64();
            println!(
                "[{tag}] seeding: {done}/{total} ({:.0} rows/s)",
                done as f64 / s
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------

struct Stats {
    n: usize,
    p50: f64,
    p95: f64,
    max: f64,
}

fn stats(mut ms: Vec<f64>) -> Option<Stats> {
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    // Nearest-rank percentiles.
    let rank = |p: f64| ms[((p / 100.0 * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    Some(Stats {
        n: ms.len(),
        p50: rank(50.0),
        p95: rank(95.0),
        max: ms[ms.len() - 1],
    })
}

fn report_pages(tag: &str, label: &str, ms: Vec<f64>, rows: u64) {
    match stats(ms) {
        Some(s) => println!(
            "[{tag}] {label:<40} p50={:>6.2}ms p95={:>6.2}ms max={:>7.2}ms n={:<4} avg rows/page={:<5.1} {} (p95 < {TARGET_P95_MS} ms)",
            s.p50,
            s.p95,
            s.max,
            s.n,
            rows as f64 / s.n as f64,
            if s.p95 < TARGET_P95_MS {
                "PASS"
            } else {
                "MISS"
            },
        ),
        None => println!("[{tag}] {label:<40} no samples"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Timed samples of one kind of page query.
#[derive(Default)]
struct Samples {
    ms: Vec<f64>,
    rows: u64,
}

impl Samples {
    fn push(&mut self, d: Duration, rows: usize) {
        self.ms.push(ms(d));
        self.rows += rows as u64;
    }
}

/// The smallest UUIDv7 of a millisecond: every v7 id made at or after `ms` is >= it.
fn v7_floor(ms: i64) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(ms).unwrap_or(0), &[0; 10]).into_uuid()
}

/// A candidate fix, measured next to the current query (not what the server runs):
/// `Filter::select` plus the time range restated as an id range. Ids are UUIDv7 whose
/// millisecond is that of `occurred_at`, so `from <= occurred_at < to` implies
/// `v7_floor(from) <= id < v7_floor(to + 1 ms)`, which the (org_id, id) index seeks.
fn select_id_bounded(
    filter: &Filter,
    cursor: Option<Uuid>,
) -> sea_orm::Select<audit_event::Entity> {
    use audit_event::Column as C;
    let mut q = filter.select(cursor);
    if let Some(from) = filter.from {
        q = q.filter(C::Id.gte(v7_floor(from.timestamp_millis())));
    }
    if let Some(to) = filter.to {
        q = q.filter(C::Id.lt(v7_floor(to.timestamp_millis() + 1)));
    }
    q
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// `gatehouse::audit::page`, what the server runs.
    Current,
    /// `select_id_bounded`, same paging logic.
    IdBounded,
}

async fn fetch_page(
    db: &DatabaseConnection,
    q: Variant,
    filter: &Filter,
    cursor: Option<Uuid>,
) -> Result<gatehouse_types::AuditPage> {
    Ok(match q {
        Variant::Current => audit::page(db, filter, cursor, PAGE).await?,
        Variant::IdBounded => {
            let mut rows = select_id_bounded(filter, cursor)
                .limit(PAGE + 1)
                .all(db)
                .await?;
            let more = rows.len() as u64 > PAGE;
            rows.truncate(PAGE as usize);
            let next_cursor = if more {
                rows.last().map(|r| r.id.to_string())
            } else {
                None
            };
            gatehouse_types::AuditPage {
                items: rows.into_iter().map(audit::to_api).collect(),
                next_cursor,
            }
        }
    })
}

/// Fetches the first page and up to `follow` further pages, timing each one.
/// Returns how many pages were fetched.
async fn walk(
    db: &DatabaseConnection,
    filter: &Filter,
    follow: usize,
    first: &mut Samples,
    next: &mut Samples,
) -> Result<usize> {
    walk_with(db, Variant::Current, filter, follow, first, next).await
}

async fn walk_with(
    db: &DatabaseConnection,
    q: Variant,
    filter: &Filter,
    follow: usize,
    first: &mut Samples,
    next: &mut Samples,
) -> Result<usize> {
    let mut cursor = None;
    for n in 0..=follow {
        let t = Instant::now();
        let page = fetch_page(db, q, filter, cursor).await?;
        let d = t.elapsed();
        if n == 0 {
            first.push(d, page.items.len())
        } else {
            next.push(d, page.items.len())
        }
        match (&page.next_cursor, page.items.last()) {
            // next_cursor encodes the last item's id.
            (Some(_), Some(last)) => cursor = Some(last.id),
            _ => return Ok(n + 1),
        }
    }
    Ok(follow + 1)
}

fn filtered(rng: &mut StdRng, org: &Org, span_end: DateTime<Utc>) -> Filter {
    // A window of 7..60 days somewhere in the seeded span (not only at its end).
    let days = rng.gen_range(7..=60);
    let start_offset = rng.gen_range(days..=SPAN_DAYS);
    let from = span_end - chrono::Duration::days(start_offset);
    let to = from + chrono::Duration::days(days);
    Filter {
        org_id: org.id,
        from: Some(from),
        to: Some(to),
        action: Some("member.".into()),
        actor: None,
    }
}

fn actor_filter(rng: &mut StdRng, org: &Org) -> Filter {
    Filter {
        org_id: org.id,
        actor: Some(pick(rng, &org.actors).id),
        ..Filter::default()
    }
}

/// `n` timed queries of each kind over random orgs of `orgs`.
async fn bench_pages(
    db: &DatabaseConnection,
    n: usize,
    orgs: &[Org],
    span_end: DateTime<Utc>,
    tag: &str,
    suffix: &str,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(RNG_SEED ^ 0xbe7c);
    // Warm-up (caches, prepared statements), not timed.
    let mut scratch = (Samples::default(), Samples::default());
    for _ in 0..n.div_ceil(5) {
        let org = pick(&mut rng, orgs);
        walk(
            db,
            &Filter {
                org_id: org.id,
                ..Filter::default()
            },
            0,
            &mut scratch.0,
            &mut scratch.1,
        )
        .await?;
        walk(
            db,
            &filtered(&mut rng, org, span_end),
            1,
            &mut scratch.0,
            &mut scratch.1,
        )
        .await?;
        walk(
            db,
            &actor_filter(&mut rng, org),
            1,
            &mut scratch.0,
            &mut scratch.1,
        )
        .await?;
    }

    let (mut first, mut unused) = (Samples::default(), Samples::default());
    for _ in 0..n {
        let org = pick(&mut rng, orgs);
        walk(
            db,
            &Filter {
                org_id: org.id,
                ..Filter::default()
            },
            0,
            &mut first,
            &mut unused,
        )
        .await?;
    }
    report_pages(tag, &format!("page(first){suffix}"), first.ms, first.rows);

    // The same walks with the current query and with the candidate fix (id range).
    let walks: Vec<(Filter, usize)> = (0..n)
        .map(|_| {
            let org = pick(&mut rng, orgs);
            let follow = rng.gen_range(1..=5);
            (filtered(&mut rng, org, span_end), follow)
        })
        .collect();
    for (q, label) in [
        (Variant::Current, ""),
        (Variant::IdBounded, " [id-range fix]"),
    ] {
        let (mut f_first, mut f_next) = (Samples::default(), Samples::default());
        for (filter, follow) in &walks {
            walk_with(db, q, filter, *follow, &mut f_first, &mut f_next).await?;
        }
        report_pages(
            tag,
            &format!("page(filtered){suffix}{label}"),
            f_first.ms,
            f_first.rows,
        );
        report_pages(
            tag,
            &format!("page(filtered,next){suffix}{label}"),
            f_next.ms,
            f_next.rows,
        );
    }

    let (mut a_first, mut a_next) = (Samples::default(), Samples::default());
    for _ in 0..n {
        let org = pick(&mut rng, orgs);
        let follow = rng.gen_range(1..=3);
        walk(
            db,
            &actor_filter(&mut rng, org),
            follow,
            &mut a_first,
            &mut a_next,
        )
        .await?;
    }
    report_pages(
        tag,
        &format!("page(actor){suffix}"),
        a_first.ms,
        a_first.rows,
    );
    report_pages(
        tag,
        &format!("page(actor,next){suffix}"),
        a_next.ms,
        a_next.rows,
    );
    Ok(())
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or_else(|| "n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

async fn bench_export(db: &DatabaseConnection, org: &Org, csv: bool, tag: &str) -> Result<()> {
    let filter = Filter {
        org_id: org.id,
        ..Filter::default()
    };
    let expected = audit_event::Entity::find()
        .filter(audit_event::Column::OrgId.eq(org.id))
        .count(db)
        .await?;
    let before = rss_kb();
    let mut peak = before;
    let (mut bytes, mut newlines, mut chunks) = (0u64, 0u64, 0u64);
    let t = Instant::now();
    {
        let stream = audit::export_stream(db.clone(), filter, csv);
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| anyhow!("export failed: {e}"))?;
            bytes += chunk.len() as u64;
            newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            chunks += 1;
            if let Some(now) = rss_kb() {
                peak = Some(peak.map_or(now, |p| p.max(now)));
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let after = rss_kb();
    // CSV: a header line plus one line per row. JSON: one line per row plus "]\n".
    let rows = newlines.saturating_sub(1);
    if rows != expected {
        bail!(
            "export of {} produced {rows} rows, the org has {expected}",
            org.name
        );
    }
    let rate = rows as f64 / secs;
    let growth_mb = match (before, peak) {
        (Some(b), Some(p)) => Some(p.saturating_sub(b) as f64 / 1024.0),
        _ => None,
    };
    let flat = growth_mb.is_some_and(|g| g < FLAT_RSS_MB);
    println!(
        "[{tag}] export({}) {:<8} {rows} rows in {secs:.2}s = {:.0}k rows/s, {:.1} MB/s ({:.1} MB, {chunks} chunks), RSS {}→{} (peak)→{} MB  rate {} (≥ {}k rows/s), memory {} (peak growth {} MB < {FLAT_RSS_MB} MB)",
        if csv { "csv" } else { "json" },
        org.name,
        rate / 1000.0,
        bytes as f64 / 1_048_576.0 / secs,
        bytes as f64 / 1_048_576.0,
        mb(before),
        mb(peak),
        mb(after),
        if rate >= TARGET_EXPORT_ROWS_PER_S {
            "PASS"
        } else {
            "MISS"
        },
        TARGET_EXPORT_ROWS_PER_S / 1000.0,
        if flat { "PASS" } else { "MISS" },
        growth_mb.map_or_else(|| "n/a".into(), |g| format!("{g:.1}")),
    );
    Ok(())
}

/// Where an export's time goes: the keyset batch queries alone (what `export_stream`
/// runs, models included), then `csv_row` over the fetched rows.
async fn export_breakdown(db: &DatabaseConnection, org: &Org, tag: &str) -> Result<()> {
    let filter = Filter {
        org_id: org.id,
        ..Filter::default()
    };
    let (mut fetch, mut format, mut rows, mut bytes) =
        (Duration::ZERO, Duration::ZERO, 0u64, 0usize);
    let mut cursor = None;
    loop {
        let t = Instant::now();
        let batch = filter
            .select(cursor)
            .limit(audit::EXPORT_BATCH)
            .all(db)
            .await?;
        fetch += t.elapsed();
        let t = Instant::now();
        let mut buf = String::with_capacity(batch.len() * 256);
        for m in &batch {
            audit::csv_row(&mut buf, m);
        }
        format += t.elapsed();
        bytes += buf.len();
        rows += batch.len() as u64;
        cursor = batch.last().map(|m| m.id);
        if (batch.len() as u64) < audit::EXPORT_BATCH {
            break;
        }
    }
    // The same batches, split: the driver alone (rows as `QueryResult`), then the
    // conversion of those rows to models.
    let backend = db.get_database_backend();
    let (mut raw, mut convert) = (Duration::ZERO, Duration::ZERO);
    let mut cursor = None;
    loop {
        let stmt = filter
            .select(cursor)
            .limit(audit::EXPORT_BATCH)
            .build(backend);
        let t = Instant::now();
        let batch = db.query_all_raw(stmt).await?;
        raw += t.elapsed();
        let t = Instant::now();
        let models = batch
            .iter()
            .map(|r| <audit_event::Model as sea_orm::FromQueryResult>::from_query_result(r, ""))
            .collect::<Result<Vec<_>, _>>()?;
        convert += t.elapsed();
        cursor = models.last().map(|m| m.id);
        if (models.len() as u64) < audit::EXPORT_BATCH {
            break;
        }
    }
    println!(
        "[{tag}] export breakdown {:<8} driver (query_all_raw) {:.2}s ({:.0}k rows/s), rows→models {:.2}s ({:.0}k rows/s)",
        org.name,
        raw.as_secs_f64(),
        rows as f64 / raw.as_secs_f64() / 1000.0,
        convert.as_secs_f64(),
        rows as f64 / convert.as_secs_f64() / 1000.0,
    );
    println!(
        "[{tag}] export breakdown {:<8} {rows} rows: batch queries {:.2}s ({:.0}k rows/s, {:.2}ms per batch of {}), csv_row {:.2}s ({:.0}k rows/s, {:.1} MB)",
        org.name,
        fetch.as_secs_f64(),
        rows as f64 / fetch.as_secs_f64() / 1000.0,
        ms(fetch) / rows.div_ceil(audit::EXPORT_BATCH).max(1) as f64,
        audit::EXPORT_BATCH,
        format.as_secs_f64(),
        rows as f64 / format.as_secs_f64() / 1000.0,
        bytes as f64 / 1_048_576.0,
    );
    Ok(())
}

async fn explain(
    db: &DatabaseConnection,
    label: &str,
    filter: &Filter,
    cursor: Option<Uuid>,
    tag: &str,
) -> Result<()> {
    explain_select(db, label, filter.select(cursor), tag).await
}

async fn explain_select(
    db: &DatabaseConnection,
    label: &str,
    select: sea_orm::Select<audit_event::Entity>,
    tag: &str,
) -> Result<()> {
    let backend = db.get_database_backend();
    let stmt = select.limit(PAGE + 1).build(backend);
    let (prefix, col) = match backend {
        DbBackend::Postgres => ("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ", 0),
        _ => ("EXPLAIN QUERY PLAN ", 3),
    };
    let values = stmt.values.map(|v| v.0).unwrap_or_default();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!("{prefix}{}", stmt.sql),
            values,
        ))
        .await?;
    println!("[{tag}] plan {label}: {}", stmt.sql);
    for r in rows {
        let line: String = r.try_get_by_index(col)?;
        println!("[{tag}]     {line}");
    }
    Ok(())
}

async fn explain_all(
    db: &DatabaseConnection,
    world: &World,
    span_end: DateTime<Utc>,
    tag: &str,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(1);
    let mut orgs = vec![world.biggest_regular()];
    orgs.extend(world.big());
    for org in orgs {
        explain(
            db,
            &format!("first {}", org.name),
            &Filter {
                org_id: org.id,
                ..Filter::default()
            },
            None,
            tag,
        )
        .await?;
        // A window in the middle of the span: the rows newer than `to` are skipped.
        let f = Filter {
            from: Some(span_end - chrono::Duration::days(90)),
            to: Some(span_end - chrono::Duration::days(60)),
            ..filtered(&mut rng, org, span_end)
        };
        explain(db, &format!("filtered {}", org.name), &f, None, tag).await?;
        explain_select(
            db,
            &format!("filtered {} [id-range fix]", org.name),
            select_id_bounded(&f, None),
            tag,
        )
        .await?;
        let f = actor_filter(&mut rng, org);
        explain(db, &format!("actor {}", org.name), &f, None, tag).await?;
    }
    Ok(())
}

/// For postgres://…/NAME, creates database NAME (through the `postgres` database of the
/// same server) when it does not exist.
async fn ensure_pg_database(url: &str) -> Result<()> {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let rest = base.split_once("://").map(|x| x.1).unwrap_or(base);
    let Some((_, name)) = rest.rsplit_once('/') else {
        return Ok(());
    };
    if name.is_empty() || name == "postgres" {
        return Ok(());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("unexpected database name {name:?} in GATEHOUSE_BENCH_DATABASE_URL");
    }
    let admin_url = format!(
        "{}/postgres{}",
        &base[..base.len() - name.len() - 1],
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    );
    let admin = db::connect(&admin_url, 1)
        .await
        .context("connecting to the `postgres` database to create the bench database")?;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await?
        .is_some();
    if !exists {
        println!("[postgres] creating database {name}");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
    }
    admin.close().await?;
    Ok(())
}

async fn run(cfg: Config) -> Result<()> {
    let tag = if cfg.url.starts_with("sqlite:") {
        "sqlite"
    } else if cfg.url.starts_with("postgres") {
        ensure_pg_database(&cfg.url).await?;
        "postgres"
    } else {
        bail!("GATEHOUSE_BENCH_DATABASE_URL must start with sqlite: or postgres");
    };
    let db = db::connect(&cfg.url, 4)
        .await
        .context("connecting to the bench database")?;
    db::migrate(&db).await.context("running the migrations")?;
    let world = make_world(&cfg);
    println!(
        "[{tag}] data set: {} events over {} orgs (biggest {}: {} events){}; {} queries per kind, page size {PAGE}",
        cfg.rows,
        cfg.orgs,
        world.biggest_regular().name,
        world.biggest_regular().events,
        world.big().map_or_else(String::new, |b| format!(
            " + big org {} with {} events",
            b.name, b.events
        )),
        cfg.queries,
    );
    let (span_end_us, _) = ensure_seeded(&db, &cfg, &world, tag).await?;
    let span_end = micros_to_utc(span_end_us)?;

    if cfg.explain {
        explain_all(&db, &world, span_end, tag).await?;
    }

    bench_pages(
        &db,
        cfg.queries,
        &world.orgs[..world.regular],
        span_end,
        tag,
        "",
    )
    .await?;
    if let Some(big) = world.big() {
        bench_pages(
            &db,
            cfg.queries.div_ceil(3),
            std::slice::from_ref(big),
            span_end,
            tag,
            " big-org",
        )
        .await?;
    }

    bench_export(&db, world.biggest_regular(), true, tag).await?;
    if let Some(big) = world.big() {
        bench_export(&db, big, true, tag).await?;
        bench_export(&db, big, false, tag).await?;
        export_breakdown(&db, big, tag).await?;
        if tag == "sqlite" {
            // Candidate fix for the SQLite export rate: sqlx hands rows from its worker
            // thread over a channel of 50 rows by default; a batch-sized buffer saves
            // most of the thread hand-offs.
            let mut opts = sea_orm::ConnectOptions::new(cfg.url.clone());
            opts.max_connections(1)
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(|o| o.row_buffer_size(1024));
            let tuned = sea_orm::Database::connect(opts).await?;
            println!(
                "[{tag}] -- with sqlx row_buffer_size(1024) (candidate fix, not the server's settings):"
            );
            bench_export(&tuned, big, true, tag).await?;
            export_breakdown(&tuned, big, tag).await?;
            tuned.close().await?;
        }
    }
    db.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; there are no options besides the environment.
    let result = match Config::from_env() {
        Ok(cfg) => run(cfg).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("bench audit: error: {e:#}");
        std::process::exit(1);
    }
}
