//! One write transaction with what must follow it on every replica. A change that
//! affects cached credentials (API keys, an org's name, slug or allowlist) calls
//! `touch_keys()`; `commit()` then does notify → commit → settle, so the change cannot
//! reach the database and miss the other replicas' caches. Work that must see the
//! committed state in this process (e.g. marking OAuth grants revoked) is registered
//! with `after_commit` and runs only if the commit succeeded.
use crate::{auth::key_cache::Pending, state::AppState};
use sea_orm::{DatabaseTransaction, DbErr};

type AfterCommit = Box<dyn FnOnce(&AppState) + Send>;

#[must_use = "commit it; dropping it rolls the transaction back"]
pub struct UnitOfWork<'a> {
    st: &'a AppState,
    txn: DatabaseTransaction,
    keys: Option<Pending>,
    after: Vec<AfterCommit>,
}

impl<'a> UnitOfWork<'a> {
    /// Begins a write transaction (`db::begin`: `BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(st: &'a AppState) -> Result<Self, DbErr> {
        Ok(Self {
            st,
            txn: crate::db::begin(&st.db).await?,
            keys: None,
            after: Vec::new(),
        })
    }

    /// The transaction, for queries and `audit::record`.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Cached API keys (with their org and its allowlist) change in this transaction:
    /// every replica's key cache is told, on commit. Idempotent.
    pub async fn touch_keys(&mut self) -> Result<(), DbErr> {
        if self.keys.is_none() {
            self.keys = Some(self.st.keys.notify(&self.txn).await?);
        }
        Ok(())
    }

    /// Runs `f` after a successful commit.
    pub fn after_commit(&mut self, f: impl FnOnce(&AppState) + Send + 'static) {
        self.after.push(Box::new(f));
    }

    /// Commits, then settles the key-cache notification (this replica forgets at once;
    /// on PostgreSQL it waits for the other replicas' acknowledgements) and runs the
    /// after-commit work.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        if let Some(pending) = self.keys {
            pending.settle(&self.st.keys).await;
        }
        for f in self.after {
            f(self.st);
        }
        Ok(())
    }
}
