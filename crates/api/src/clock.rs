//! The current time, injected so that expiry logic can be driven in tests.
use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time truncated to microseconds, the precision PostgreSQL stores, so a value
/// read back compares equal to the one written on both databases.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

pub type SharedClock = Arc<dyn Clock>;
