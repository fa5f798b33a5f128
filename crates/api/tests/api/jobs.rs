//! The durable job queue: mail survives a process that stops between commit and send,
//! two runners never run one job at once, and failures back off on the server's clock
//! until the job is kept as dead.
use crate::support::*;
use futures_util::future::BoxFuture;
use gatehouse::{
    entity::job,
    jobs::{self, Kind, NewJob},
    state::AppState,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

async fn jobs_of(app: &TestApp, kind: &str) -> Vec<job::Model> {
    job::Entity::find()
        .filter(job::Column::Kind.eq(kind))
        .all(&app.db)
        .await
        .unwrap()
}

/// Waits until no job is pending or running (on SQLite every commit, a job's included,
/// empties the key cache: tests that count look-ups let the queue settle first).
pub async fn queue_settled(app: &TestApp) {
    for _ in 0..250 {
        let open = job::Entity::find()
            .filter(job::Column::Status.is_in(["pending", "running"]))
            .all(&app.db)
            .await
            .unwrap();
        if open.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the job queue did not settle");
}

/// Another process state on `app`'s database and master key, with its own clock.
async fn state_on(app: &TestApp, adjust: impl FnOnce(&mut gatehouse::config::Config)) -> AppState {
    let mut config = app.config().clone();
    adjust(&mut config);
    let db = gatehouse::db::connect(&app.db_url, 5).await.unwrap();
    AppState::with_db(config, db, Arc::new(OffsetClock::default())).unwrap()
}

#[tokio::test]
async fn an_invitation_committed_by_a_replica_that_never_sends_is_mailed_by_the_next_one() {
    // This replica enqueues but never runs jobs: as if it died right after the commit.
    let app = spawn_app_with(|c| c.jobs.run = false).await;
    let owner = app.signup("olga@example.com").await;
    let org = app.create_org(&owner, "Queue").await;
    let r = owner
        .post(
            &format!("/orgs/{}/invitations", org.slug),
            json!({"email": "ivy@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.mail_count("ivy@example.com"),
        0,
        "sent without a runner"
    );
    assert_eq!(
        app.mail_count("olga@example.com"),
        0,
        "sent without a runner"
    );
    let queued = jobs_of(&app, "mail").await;
    assert_eq!(queued.len(), 2, "the verification and the invitation");
    for j in &queued {
        assert_eq!((j.status.as_str(), j.attempts), ("pending", 0));
        // The link is a secret: sealed at rest, like the recipient and the text.
        for clear in [
            "ghi_",
            "ghv_",
            "token=",
            "ivy@example.com",
            "olga@example.com",
        ] {
            assert!(
                !j.payload.contains(clear),
                "{clear} readable in {}",
                j.payload
            );
        }
    }

    // The next process on the same database runs the queue.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let next = state_on(&app, |c| c.jobs.run = true).await;
    tokio::spawn(gatehouse::server::server(next, listener).unwrap());
    let token = app
        .wait_for_mail("ivy@example.com", "/invitations/accept")
        .await
        .token("/invitations/accept");
    app.wait_for_mail("olga@example.com", "/verify-email").await;
    let r = app
        .session()
        .post(
            "/invitations/accept",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200, "the queued link works");
    for _ in 0..100 {
        let rows = jobs_of(&app, "mail").await;
        if rows.iter().all(|j| j.status == "done") {
            assert!(
                rows.iter()
                    .all(|j| j.attempts == 1 && j.finished_at.is_some())
            );
            assert_eq!(app.mail_count("ivy@example.com"), 1, "sent once");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("jobs not done: {:?}", jobs_of(&app, "mail").await);
}

/// The system clock plus seconds this test sets.
#[derive(Default)]
struct Later(std::sync::atomic::AtomicI64);

impl gatehouse::clock::Clock for Later {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        gatehouse::clock::SystemClock.now()
            + chrono::Duration::seconds(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[tokio::test]
async fn a_job_held_by_a_replica_that_died_is_run_once_its_lease_has_run_out() {
    use sea_orm::sea_query::Expr;
    let app = spawn_app_with(|c| {
        c.jobs.run = false;
        c.jobs.poll_ms = 50;
    })
    .await;
    app.signup("lena@example.com").await;
    // Another replica claimed it and died: the row is running under its lease.
    let until = chrono::Utc::now() + chrono::Duration::seconds(300);
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value("running"))
        .col_expr(job::Column::Attempts, Expr::value(1))
        .col_expr(job::Column::LockedBy, Expr::value(Some("runner-gone")))
        .col_expr(job::Column::LockedUntil, Expr::value(Some(until)))
        .filter(job::Column::Kind.eq("mail"))
        .exec(&app.db)
        .await
        .unwrap();
    let clock = Arc::new(Later::default());
    let mut config = app.config().clone();
    config.jobs.run = true;
    let db = gatehouse::db::connect(&app.db_url, 5).await.unwrap();
    let next = AppState::with_db(config, db, clock.clone()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    tokio::spawn(gatehouse::server::server(next, listener).unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.mail_count("lena@example.com"),
        0,
        "taken under a live lease"
    );

    clock.0.store(301, std::sync::atomic::Ordering::Relaxed);
    app.wait_for_mail("lena@example.com", "/verify-email").await;
    for _ in 0..100 {
        let j = jobs_of(&app, "mail").await.remove(0);
        if j.status == "done" {
            assert_eq!(j.attempts, 2, "the lost attempt counts");
            assert!(j.locked_by.is_none());
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not done: {:?}", jobs_of(&app, "mail").await);
}

/// Per test run (keyed by the payload's `run`): each job's runs, whether one is in
/// progress, overlaps seen, and which runner ran it.
#[derive(Default)]
struct Record {
    runs: u32,
    running: bool,
    overlaps: u32,
    runners: Vec<String>,
}
static RECORDS: Mutex<Option<HashMap<(String, u64), Record>>> = Mutex::new(None);

fn record(st: &AppState, payload: Value) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let key = (
            payload["run"].as_str().unwrap().to_string(),
            payload["n"].as_u64().unwrap(),
        );
        {
            let mut all = RECORDS.lock().unwrap();
            let r = all.get_or_insert_default().entry(key.clone()).or_default();
            r.overlaps += u32::from(r.running);
            r.running = true;
            r.runs += 1;
            r.runners.push(st.jobs.runner_id().to_string());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        RECORDS
            .lock()
            .unwrap()
            .get_or_insert_default()
            .get_mut(&key)
            .unwrap()
            .running = false;
        Ok(())
    })
}

const RECORD: Kind = Kind {
    name: "test.record",
    run: record,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_on_one_database_run_each_job_exactly_once_and_never_together() {
    let app = spawn_app().await;
    let (a, b) = (state_on(&app, |_| {}).await, state_on(&app, |_| {}).await);
    let run = uuid::Uuid::now_v7().to_string();
    const N: u64 = 200;
    let txn = a.db.begin().await.unwrap();
    for n in 0..N {
        jobs::enqueue(
            &a,
            &txn,
            NewJob::new("test.record", json!({"run": run, "n": n})),
        )
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();

    async fn drain(st: &AppState, app: &TestApp) {
        for _ in 0..1000 {
            if jobs::run_due(st, &[RECORD]).await.unwrap() == 0 {
                let open = jobs_of(app, "test.record")
                    .await
                    .iter()
                    .filter(|j| j.status != "done")
                    .count();
                if open == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        panic!("the queue did not drain");
    }
    // Each runner on threads of its own, claiming in parallel.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let app = Arc::new(app);
    let tasks: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .map(|st| {
            let app = app.clone();
            tokio::spawn(async move { drain(&st, &app).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }

    for j in jobs_of(&app, "test.record").await {
        assert_eq!((j.status.as_str(), j.attempts), ("done", 1));
    }
    let all = RECORDS.lock().unwrap();
    let mine: Vec<_> = all
        .as_ref()
        .unwrap()
        .iter()
        .filter(|((r, _), _)| *r == run)
        .collect();
    assert_eq!(mine.len() as u64, N, "every job ran");
    for ((_, n), r) in &mine {
        assert_eq!((r.runs, r.overlaps), (1, 0), "job {n} ran {:?}", r.runners);
    }
    let by = |st: &AppState| {
        mine.iter()
            .filter(|(_, r)| r.runners[0] == st.jobs.runner_id())
            .count()
    };
    assert!(
        by(&a) > 0 && by(&b) > 0,
        "both runners took part: {} and {}",
        by(&a),
        by(&b)
    );
}

#[tokio::test]
async fn a_failing_mail_is_retried_with_backoff_on_the_servers_clock_then_kept_as_dead() {
    // A port nobody listens on: the mail server refuses every connection.
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{refused}"));
        c.jobs.max_attempts = 3;
        c.jobs.poll_ms = 50;
    })
    .await;
    app.signup("rita@example.com").await;
    let wait_for = |attempts: i32, status: &'static str| {
        let app = &app;
        async move {
            for _ in 0..200 {
                let rows = jobs_of(app, "mail").await;
                if rows[0].attempts == attempts && rows[0].status == status {
                    return rows[0].clone();
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!(
                "no attempt {attempts} ({status}): {:?}",
                jobs_of(app, "mail").await
            );
        }
    };

    let first = wait_for(1, "pending").await;
    let error = first.last_error.clone().unwrap();
    assert!(!error.is_empty() && !error.contains("ghv_"), "{error}");
    let wait = first.run_at - first.created_at;
    assert!(
        (14..=16).contains(&wait.num_seconds()),
        "first retry after 15 s, not {wait}"
    );
    // Not before its time: real time passes, the server's clock does not reach run_at.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(jobs_of(&app, "mail").await[0].attempts, 1, "retried early");

    app.advance(Duration::from_secs(16));
    let second = wait_for(2, "pending").await;
    let wait = second.run_at - first.run_at;
    assert!(
        (29..=32).contains(&wait.num_seconds()),
        "the second wait doubles, not {wait}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(jobs_of(&app, "mail").await[0].attempts, 2, "retried early");

    app.advance(Duration::from_secs(31));
    let dead = wait_for(3, "dead").await;
    assert!(dead.finished_at.is_some() && dead.last_error.is_some());
    assert!(dead.locked_by.is_none());
    // Dead stays dead, and stays for inspection.
    app.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let rows = jobs_of(&app, "mail").await;
    assert_eq!(
        (rows.len(), rows[0].attempts, rows[0].status.as_str()),
        (1, 3, "dead")
    );
    assert_eq!(app.mail_count("rita@example.com"), 0);
}
