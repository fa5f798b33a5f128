//! The durable job queue (see the module above). A job's payload is JSON sealed under
//! the master key (`Cipher`): a mail body holds a live link, and no kind should have to
//! decide whether its input is a secret at rest. Kind, status, attempts and the last
//! error stay readable.
use super::periodic::Periodic;
use crate::{entity::job, state::AppState};
use chrono::{DateTime, Duration, Utc};
use futures_util::{FutureExt, future::BoxFuture};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Order,
    QueryFilter, QuerySelect, QueryTrait, Set,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query},
};
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use tokio::sync::Notify;
use uuid::Uuid;

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const DEAD: &str = "dead";

/// Jobs one runner claims at once (they run concurrently).
const BATCH: u64 = 8;
/// After an enqueue wakes the runner it looks again this often for a while: the wake
/// comes before the enqueuing transaction commits.
const HOT_POLL: std::time::Duration = std::time::Duration::from_millis(50);
const HOT_POLLS: u32 = 40;
/// Longest stored error message.
const MAX_ERROR_CHARS: usize = 1000;

/// This replica's side of the queue (`AppState::jobs`): the runner's name in
/// `locked_by`, and the wake-up an enqueue gives the runner.
pub struct Queue {
    id: String,
    wake: Notify,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            id: format!("runner-{}", Uuid::now_v7().simple()),
            wake: Notify::new(),
        }
    }
}

impl Queue {
    /// The name this replica's runner leaves in `locked_by`.
    pub fn runner_id(&self) -> &str {
        &self.id
    }
}

/// A kind of job this replica can run: its name in `jobs.kind` and its handler, which
/// gets the payload it was enqueued with. Handlers must tolerate running twice (the
/// queue is at-least-once).
#[derive(Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    pub run: for<'a> fn(&'a AppState, Value) -> BoxFuture<'a, anyhow::Result<()>>,
}

pub struct NewJob {
    pub kind: &'static str,
    pub payload: Value,
    /// `None`: `jobs.max_attempts` from the configuration.
    pub max_attempts: Option<i32>,
    /// `None`: at once. A kind with its own retry schedule enqueues its next try here.
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    pub fn new(kind: &'static str, payload: Value) -> Self {
        Self {
            kind,
            payload,
            max_attempts: None,
            run_at: None,
        }
    }
}

/// Adds a job inside the caller's transaction: it exists exactly when the change that
/// caused it commits. Wakes this replica's runner.
pub async fn enqueue<C: ConnectionTrait>(
    st: &AppState,
    txn: &C,
    job: NewJob,
) -> Result<Uuid, DbErr> {
    let now = st.clock.now();
    let sealed = st
        .cipher
        .encrypt(job.payload.to_string().as_bytes())
        .map_err(|e| DbErr::Custom(format!("sealing a job payload: {e}")))?;
    let id = Uuid::now_v7();
    job::Entity::insert(job::ActiveModel {
        id: Set(id),
        kind: Set(job.kind.into()),
        payload: Set(sealed),
        status: Set(PENDING.into()),
        run_at: Set(job.run_at.unwrap_or(now)),
        attempts: Set(0),
        max_attempts: Set(Ord::max(
            job.max_attempts.unwrap_or(st.config.jobs.max_attempts),
            1,
        )),
        last_error: Set(None),
        locked_by: Set(None),
        locked_until: Set(None),
        created_at: Set(now),
        finished_at: Set(None),
    })
    .exec_without_returning(txn)
    .await?;
    st.jobs.wake.notify_one();
    Ok(id)
}

/// The wait before the next attempt after `attempts` failed ones: 15 s doubling, at
/// most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let doublings = (attempts - 1).clamp(0, 16) as u32;
    Duration::seconds(Ord::min(15i64 << doublings, 3600))
}

fn due(kinds: &[&'static str], now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(job::Column::Kind.is_in(kinds.iter().copied()))
        .add(
            Condition::any()
                .add(
                    Condition::all()
                        .add(job::Column::Status.eq(PENDING))
                        .add(job::Column::RunAt.lte(now)),
                )
                // A lease ran out: its runner died (or hung) with the job.
                .add(
                    Condition::all()
                        .add(job::Column::Status.eq(RUNNING))
                        .add(job::Column::LockedUntil.lt(now)),
                ),
        )
}

/// Takes up to `BATCH` due jobs of `kinds` for this runner, atomically: on PostgreSQL
/// the candidate rows are locked (`FOR UPDATE SKIP LOCKED`), so concurrent runners get
/// disjoint sets; SQLite runs the whole statement under its single write lock.
async fn claim(st: &AppState, kinds: &[&'static str]) -> Result<Vec<job::Model>, DbErr> {
    let now = st.clock.now();
    // A read first: an idle runner must not take SQLite's write lock every poll.
    let any = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(due(kinds, now))
        .limit(1)
        .into_tuple::<Uuid>()
        .one(&st.db)
        .await?;
    if any.is_none() {
        return Ok(Vec::new());
    }
    let mut pick = Query::select();
    pick.column(job::Column::Id)
        .from(job::Entity)
        .cond_where(due(kinds, now))
        .order_by(job::Column::RunAt, Order::Asc)
        .limit(BATCH);
    if st.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let lease = Duration::seconds(st.config.jobs.lease_secs as i64);
    let mut claim = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(RUNNING))
        .col_expr(job::Column::LockedBy, Expr::value(Some(st.jobs.id.clone())))
        .col_expr(job::Column::LockedUntil, Expr::value(Some(now + lease)))
        .col_expr(
            job::Column::Attempts,
            Expr::col(job::Column::Attempts).add(1),
        )
        .filter(job::Column::Id.in_subquery(pick))
        .into_query();
    claim.returning_all();
    let _turn = st.write_turn().await;
    st.db
        .query_all(&claim)
        .await?
        .iter()
        .map(|row| job::Model::from_query_result(row, ""))
        .collect()
}

/// Claims the due jobs of `kinds` and runs them; returns how many it claimed.
pub async fn run_due(st: &AppState, kinds: &[Kind]) -> Result<usize, DbErr> {
    let names: Vec<&'static str> = kinds.iter().map(|k| k.name).collect();
    let claimed = claim(st, &names).await?;
    let n = claimed.len();
    futures_util::future::join_all(claimed.into_iter().map(|j| run_one(st, kinds, j))).await;
    Ok(n)
}

async fn run_one(st: &AppState, kinds: &[Kind], j: job::Model) {
    let outcome = if j.attempts > j.max_attempts {
        // Reclaimed after its last attempt's lease ran out.
        Err(anyhow::anyhow!(
            "the runner stopped before the last attempt finished"
        ))
    } else {
        attempt(st, kinds, &j).await
    };
    if let Err(e) = settle(st, &j, outcome).await {
        tracing::warn!(job = %j.id, kind = j.kind, error = %e, "recording a job's outcome failed");
    }
}

async fn attempt(st: &AppState, kinds: &[Kind], j: &job::Model) -> anyhow::Result<()> {
    let kind = kinds
        .iter()
        .find(|k| k.name == j.kind)
        .ok_or_else(|| anyhow::anyhow!("no handler for job kind {}", j.kind))?;
    let payload: Value = serde_json::from_slice(&st.cipher.decrypt(&j.payload)?)?;
    // Cut off well within the lease, so no other runner takes it while it still runs.
    let limit = std::time::Duration::from_secs(Ord::max(st.config.jobs.lease_secs, 2) / 2);
    match tokio::time::timeout(
        limit,
        AssertUnwindSafe((kind.run)(st, payload)).catch_unwind(),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(anyhow::anyhow!("the job panicked")),
        Err(_) => Err(anyhow::anyhow!("the job timed out after {limit:?}")),
    }
}

/// Records the outcome, if this runner still holds the job (its lease may have run out
/// and another runner taken it: then that runner records).
async fn settle(st: &AppState, j: &job::Model, outcome: anyhow::Result<()>) -> Result<(), DbErr> {
    let now = st.clock.now();
    let mut update = job::Entity::update_many()
        .col_expr(job::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        );
    match outcome {
        Ok(()) => {
            update = update
                .col_expr(job::Column::Status, Expr::value(DONE))
                .col_expr(job::Column::FinishedAt, Expr::value(Some(now)));
        }
        Err(e) => {
            // The payload never goes into the error or the log.
            let error: String = format!("{e:#}").chars().take(MAX_ERROR_CHARS).collect();
            let dead = j.attempts >= j.max_attempts;
            tracing::warn!(job = %j.id, kind = j.kind, attempt = j.attempts, dead, error, "job failed");
            update = update.col_expr(job::Column::LastError, Expr::value(Some(error)));
            update = if dead {
                update
                    .col_expr(job::Column::Status, Expr::value(DEAD))
                    .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
            } else {
                update
                    .col_expr(job::Column::Status, Expr::value(PENDING))
                    .col_expr(job::Column::RunAt, Expr::value(now + backoff(j.attempts)))
            };
        }
    }
    let _turn = st.write_turn().await;
    update
        .filter(job::Column::Id.eq(j.id))
        .filter(job::Column::LockedBy.eq(st.jobs.id.as_str()))
        .filter(job::Column::Attempts.eq(j.attempts))
        .exec(&st.db)
        .await?;
    Ok(())
}

/// Runs this replica's queue runner until the process ends (unless `jobs.run` is off):
/// at once after an enqueue here, every `jobs.poll_ms` otherwise.
pub fn spawn(st: actix_web::web::Data<AppState>, kinds: Vec<Kind>) {
    if !st.config.jobs.run {
        return;
    }
    tokio::spawn(async move {
        let poll = std::time::Duration::from_millis(Ord::max(st.config.jobs.poll_ms, 10));
        let mut hot = 0;
        loop {
            match run_due(&st, &kinds).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
            }
            let wait = if hot > 0 {
                hot -= 1;
                HOT_POLL
            } else {
                poll
            };
            tokio::select! {
                _ = st.jobs.wake.notified() => hot = HOT_POLLS,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// Finished jobs are kept a day, dead ones thirty (for inspection), then deleted.
pub fn periodic() -> Periodic {
    Periodic {
        name: "jobs.sweep",
        every: std::time::Duration::from_secs(600),
        run: sweep_task,
    }
}

fn sweep_task(st: &AppState) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        sweep(&st.db, st.clock.now()).await?;
        Ok(())
    })
}

pub async fn sweep<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(job::Entity::delete_many()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(job::Column::Status.eq(DONE))
                        .add(job::Column::FinishedAt.lte(now - Duration::days(1))),
                )
                .add(
                    Condition::all()
                        .add(job::Column::Status.eq(DEAD))
                        .add(job::Column::FinishedAt.lte(now - Duration::days(30))),
                ),
        )
        .exec(db)
        .await?
        .rows_affected)
}
