//! Email through the queue: an invitation, a verification or a reset link is enqueued
//! in the transaction that creates it, so it goes out even when the process dies right
//! after the commit, and a failing mail server gets retries instead of a lost link.
use super::queue::{Kind, NewJob};
use crate::{mail::Email, state::AppState};
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

pub const KIND: Kind = Kind {
    name: "mail",
    run: send_now,
};

/// Queues `email` inside the caller's transaction.
pub async fn send<C: ConnectionTrait>(st: &AppState, txn: &C, email: Email) -> Result<(), DbErr> {
    let payload = serde_json::to_value(email)
        .map_err(|e| DbErr::Custom(format!("encoding an email: {e}")))?;
    super::enqueue(st, txn, NewJob::new(KIND.name, payload)).await?;
    Ok(())
}

fn send_now(st: &AppState, payload: Value) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let email: Email = serde_json::from_value(payload)?;
        st.mail.send(email).await
    })
}
