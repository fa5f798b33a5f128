//! Login throttling under concurrency, the known-device exemption from the account
//! lock, and the limits on emails a stranger can cause.
use crate::helpers::*;
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Statement};
use std::time::Duration;

/// The count of the throttle row `key` (0 when there is none).
async fn counted(app: &TestApp, key: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT failures FROM login_throttles WHERE key = '{key}'"),
        ))
        .await
        .unwrap();
    row.map(|r| i64::from(r.try_get::<i32>("", "failures").unwrap()))
        .unwrap_or(0)
}

#[tokio::test]
async fn a_parallel_burst_of_guesses_gets_at_most_the_limit_evaluated_across_replicas() {
    const LIMIT: usize = 5;
    let app = spawn_app_with(|c| c.login.account_max_failures = LIMIT as i32).await;
    app.signup("burst@example.com").await;
    let other = app.replica().await;
    // 39 wrong guesses at once, half on each replica…
    let wrong = join_all((0..39).map(|i| {
        let target = if i % 2 == 0 { &app } else { &other };
        async move {
            target
                .login("burst@example.com", &format!("wrong guess number {i}"))
                .await
        }
    }));
    // …and the right password in the middle of the burst, once the limit is taken.
    let right = async {
        for _ in 0..400 {
            if counted(&app, "account:burst@example.com").await >= LIMIT as i64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        other.login("burst@example.com", PASSWORD).await
    };
    let (wrong, right) = tokio::join!(wrong, right);
    let mut evaluated = 0;
    let mut throttled = 0;
    for r in wrong {
        match r.status().as_u16() {
            401 => evaluated += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                assert_problem(r, 429, "too-many-attempts").await;
                throttled += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(
        (evaluated, throttled),
        (LIMIT, 39 - LIMIT),
        "passwords checked vs throttled"
    );
    assert_problem(right, 429, "too-many-attempts").await;
}
