//! Periodic work: each area lists its tasks (`periodic()` next to the work), the
//! server collects them, and `spawn` runs each on its own timer on every replica. The
//! timers are real time, not the injected clock: a test that moves its clock forward
//! must not set off sweeps it did not ask for.
//!
//! Every replica runs every task. Per-replica work (cache refresh, WAL checkpoint,
//! usage flush) needs exactly that; cluster-wide work must be safe to run on several
//! replicas at once: the janitor's deletes are idempotent, and the health checker
//! claims each connector before checking it.
use crate::state::AppState;
use futures_util::{FutureExt, future::BoxFuture};
use std::{panic::AssertUnwindSafe, time::Duration};

#[derive(Clone, Copy)]
pub struct Periodic {
    /// For the logs, e.g. `janitor.sweep`.
    pub name: &'static str,
    /// The pause between the end of one run and the start of the next; the first run
    /// is at start-up.
    pub every: Duration,
    pub run: for<'a> fn(&'a AppState) -> BoxFuture<'a, anyhow::Result<()>>,
}

/// Runs each task in a loop of its own (a slow health round delays no checkpoint)
/// until the process ends. A failed or panicking run is logged; the next one follows.
pub fn spawn(st: actix_web::web::Data<AppState>, tasks: Vec<Periodic>) {
    for task in tasks {
        let st = st.clone();
        tokio::spawn(async move {
            loop {
                match AssertUnwindSafe((task.run)(&st)).catch_unwind().await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(task = task.name, error = %format!("{e:#}"), "periodic task failed")
                    }
                    Err(_) => tracing::error!(task = task.name, "periodic task panicked"),
                }
                tokio::time::sleep(task.every).await;
            }
        });
    }
}
