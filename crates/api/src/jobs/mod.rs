//! Background work, in two shapes:
//! - the durable queue (`queue`): rows in `jobs`, enqueued inside the transaction of
//!   the change that causes them (like audit events), claimed by one runner at a time
//!   under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, one atomic
//!   `UPDATE … RETURNING` on SQLite's single writer), run at least once, retried with
//!   exponential backoff on the injected clock, and kept as `dead` for inspection when
//!   their attempts are used up. Mail is the first kind (`mail`).
//! - periodic work (`periodic`): each area registers its tasks (name, interval, fn);
//!   one runner per replica runs them.
//!
//! Areas use this module, never the reverse: the server hands the areas' job kinds and
//! periodic tasks to the runners (`server.rs`).
pub mod mail;
pub mod periodic;
pub mod queue;

pub use periodic::Periodic;
pub use queue::{Kind, NewJob, Queue, enqueue, run_due};
