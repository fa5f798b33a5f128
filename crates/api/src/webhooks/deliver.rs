//! Delivering one message: sign it (Standard Webhooks), POST it through the SSRF-safe
//! outbound client, log the attempt, and decide what follows: done (2xx), the endpoint
//! switched off (410 Gone, or failing every delivery for too long), or the next try on
//! the documented schedule (a job `retry_interval_secs` later, up to `retries` times).
//!
//! Each try is a job of the durable queue (`webhook.deliver`), enqueued in the
//! transaction that made the message or scheduled the retry, so a message is tried on
//! any replica, at least once, and one try at a time (the queue's lease). The attempt
//! is recorded under a check of the message's attempt count, so a try that runs twice
//! (a lease that ran out) records once.
use crate::{
    audit::{self, Context, Event},
    entity::{webhook, webhook_attempt, webhook_message},
    jobs::{self, Kind, NewJob},
    state::AppState,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use gatehouse_types::Role;
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set, sea_query::Expr,
};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Instant;
use uuid::Uuid;

pub const KIND: Kind = Kind {
    name: "webhook.deliver",
    run: run_job,
};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// Bytes of an answer kept in the log.
const RESPONSE_HEAD_BYTES: usize = 512;

/// Queues a try of `message_id` at `at` (`None`: now) in the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(
    st: &AppState,
    txn: &C,
    message_id: Uuid,
    at: Option<DateTime<Utc>>,
) -> Result<(), sea_orm::DbErr> {
    let mut job = NewJob::new(KIND.name, json!({ "message_id": message_id }));
    job.run_at = at;
    jobs::enqueue(st, txn, job).await?;
    Ok(())
}

fn run_job(st: &AppState, payload: Value) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let id: Uuid = serde_json::from_value(payload["message_id"].clone())?;
        deliver(st, id, Mode::Scheduled).await?;
        Ok(())
    })
}

/// How a try came about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the queue: only while the endpoint is enabled, and a failure is retried.
    Scheduled,
    /// "Send Test": at once, whether or not the endpoint is enabled; never retried.
    Test,
}

/// The `webhook-id` header of a message.
pub fn message_header_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` under a `whsec_` secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)?;
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// What one try got back.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    head: Option<String>,
    latency_ms: i64,
}

impl Outcome {
    fn success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

async fn post(st: &AppState, hook: &webhook::Model, msg: &webhook_message::Model) -> Outcome {
    let started = Instant::now();
    let result = async {
        let now = st.clock.now();
        let msg_id = message_header_id(msg.id);
        let ts = now.timestamp();
        let open = |sealed: &str| -> anyhow::Result<String> {
            Ok(String::from_utf8(st.cipher.decrypt(sealed)?)?)
        };
        let mut signatures = vec![sign(
            &open(&hook.signing_secret)?,
            &msg_id,
            ts,
            &msg.payload,
        )?];
        if let (Some(prev), Some(until)) =
            (&hook.previous_signing_secret, hook.previous_valid_until)
            && until > now
        {
            signatures.push(sign(&open(prev)?, &msg_id, ts, &msg.payload)?);
        }
        let url = st.outbound.check_url(&hook.url).await?;
        let resp = st
            .outbound
            .client()
            .post(url)
            .timeout(std::time::Duration::from_secs(
                st.config.webhooks.timeout_secs,
            ))
            .header("content-type", "application/json")
            .header("user-agent", "Gatehouse-Webhooks/1")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signatures.join(" "))
            .header(hook.secret_header.as_str(), open(&hook.shared_secret)?)
            .body(msg.payload.clone())
            .send()
            .await?;
        let status = resp.status().as_u16();
        // The log keeps the first bytes; a huge or endless answer is cut, not an error.
        let head = match st.outbound.read_limited(resp).await {
            Ok(b) => {
                let cut = &b[..b.len().min(RESPONSE_HEAD_BYTES)];
                Some(String::from_utf8_lossy(cut).into_owned())
            }
            Err(_) => None,
        };
        anyhow::Ok((status, head))
    }
    .await;
    let latency_ms = started.elapsed().as_millis() as i64;
    match result {
        Ok((status, head)) => Outcome {
            status: Some(status),
            error: (!(200..300).contains(&status)).then(|| format!("answered {status}")),
            head,
            latency_ms,
        },
        Err(e) => Outcome {
            status: None,
            // Never the secrets: the error is about the connection or the URL.
            error: Some(format!("{e:#}").chars().take(500).collect()),
            head: None,
            latency_ms,
        },
    }
}

/// Tries `message_id` once and records the attempt. Returns the attempt, or `None`
/// when there was nothing to do (gone, already delivered, endpoint switched off).
pub async fn deliver(
    st: &AppState,
    message_id: Uuid,
    mode: Mode,
) -> anyhow::Result<Option<webhook_attempt::Model>> {
    let Some(msg) = webhook_message::Entity::find_by_id(message_id)
        .one(&st.db)
        .await?
    else {
        return Ok(None);
    };
    if msg.status != PENDING {
        return Ok(None);
    }
    let Some(hook) = webhook::Entity::find_by_id(msg.webhook_id)
        .one(&st.db)
        .await?
    else {
        return Ok(None);
    };
    if mode == Mode::Scheduled && !hook.enabled {
        // Switched off meanwhile: the message waits in the log for a replay.
        webhook_message::Entity::update_many()
            .col_expr(webhook_message::Column::Status, Expr::value(FAILED))
            .col_expr(
                webhook_message::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(webhook_message::Column::Id.eq(msg.id))
            .filter(webhook_message::Column::Attempts.eq(msg.attempts))
            .exec(&st.db)
            .await?;
        return Ok(None);
    }
    let out = post(st, &hook, &msg).await;
    let now = st.clock.now();
    let cfg = &st.config.webhooks;
    let txn = crate::db::begin(&st.db).await?;
    let attempts = msg.attempts + 1;
    let gone = out.status == Some(410);
    let retry = mode == Mode::Scheduled && !out.success() && !gone && attempts <= cfg.retries;
    let next = retry.then(|| now + Duration::seconds(cfg.retry_interval_secs));
    let status = if out.success() {
        DELIVERED
    } else if retry {
        PENDING
    } else {
        FAILED
    };
    // Only over the version read: a try that ran twice records once.
    let n = webhook_message::Entity::update_many()
        .col_expr(webhook_message::Column::Attempts, Expr::value(attempts))
        .col_expr(webhook_message::Column::Status, Expr::value(status))
        .col_expr(webhook_message::Column::NextAttemptAt, Expr::value(next))
        .filter(webhook_message::Column::Id.eq(msg.id))
        .filter(webhook_message::Column::Attempts.eq(msg.attempts))
        .filter(webhook_message::Column::Status.eq(PENDING))
        .exec(&txn)
        .await?
        .rows_affected;
    if n == 0 {
        return Ok(None);
    }
    let attempt = webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        message_id: Set(msg.id),
        attempted_at: Set(now),
        status_code: Set(out.status.map(i32::from)),
        latency_ms: Set(out.latency_ms),
        error: Set(out.error.clone()),
        response_head: Set(out.head.clone()),
    }
    .insert(&txn)
    .await?;
    if let Some(at) = next {
        enqueue(st, &txn, msg.id, Some(at)).await?;
    }
    if mode == Mode::Scheduled {
        endpoint_health(st, &txn, &hook, &out, now).await?;
    }
    txn.commit().await?;
    Ok(Some(attempt))
}

/// Keeps the endpoint's failure state: a success clears it; a 410 switches the endpoint
/// off at once; failing every delivery for `disable_after_failing_hours` switches it
/// off too. The org's owners and admins are emailed when a streak of failures starts,
/// `warn_before_disable_hours` before the switch-off, and at the switch-off (audited).
async fn endpoint_health<C: ConnectionTrait>(
    st: &AppState,
    txn: &C,
    hook: &webhook::Model,
    out: &Outcome,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    // Row-locked (PostgreSQL; SQLite has one writer): concurrent tries of one endpoint
    // take turns, so a streak starts, warns and ends once.
    let Some(row) = webhook::Entity::find_by_id(hook.id)
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    let cfg = &st.config.webhooks;
    if out.success() {
        if row.failing_since.is_some() {
            let mut am = row.into_active_model();
            am.failing_since = Set(None);
            am.disable_warned_at = Set(None);
            am.update(txn).await?;
        }
        return Ok(());
    }
    let url = super::service::display_url(&row.url);
    let since = row.failing_since.unwrap_or(now);
    let failing_for = now - since;
    let disable_after = Duration::hours(cfg.disable_after_failing_hours);
    let reason = if out.status == Some(410) {
        Some("gone")
    } else if failing_for >= disable_after {
        Some("failing")
    } else {
        None
    };
    let mut am = row.clone().into_active_model();
    am.failing_since = Set(Some(since));
    if row.failing_since.is_none() && reason.is_none() {
        notify(
            st,
            txn,
            row.org_id,
            "Gatehouse: a webhook is failing",
            &format!(
                "Deliveries to your webhook endpoint {url} are failing ({}). They are retried; if every delivery fails for {} hours, the endpoint is switched off.",
                out.error.as_deref().unwrap_or("no answer"),
                cfg.disable_after_failing_hours
            ),
        )
        .await?;
    }
    if reason.is_none()
        && row.disable_warned_at.is_none()
        && failing_for >= disable_after - Duration::hours(cfg.warn_before_disable_hours)
    {
        am.disable_warned_at = Set(Some(now));
        notify(
            st,
            txn,
            row.org_id,
            "Gatehouse: a webhook will be switched off",
            &format!(
                "Every delivery to your webhook endpoint {url} has failed since {}. Unless one succeeds, it is switched off at {} UTC.",
                since.format("%Y-%m-%d %H:%M UTC"),
                (since + disable_after).format("%Y-%m-%d %H:%M")
            ),
        )
        .await?;
    }
    if let Some(reason) = reason.filter(|_| row.enabled) {
        am.enabled = Set(false);
        am.disabled_reason = Set(Some(reason.to_string()));
        am.updated_at = Set(now);
        audit::record(
            txn,
            &Context::system().in_org(row.org_id),
            now,
            Event::WebhookDisabled {
                webhook_id: row.id,
                url: url.clone(),
                reason,
            },
        )
        .await?;
        let why = if reason == "gone" {
            "it answered 410 Gone".to_string()
        } else {
            format!(
                "every delivery has failed since {}",
                since.format("%Y-%m-%d %H:%M UTC")
            )
        };
        notify(
            st,
            txn,
            row.org_id,
            "Gatehouse: a webhook was switched off",
            &format!(
                "Your webhook endpoint {url} was switched off because {why}. Switch it on again under Settings → Webhooks; failed deliveries can be replayed from its log."
            ),
        )
        .await?;
    }
    am.update(txn).await?;
    Ok(())
}

/// Emails the org's owners and admins (queued, in the caller's transaction).
async fn notify<C: ConnectionTrait>(
    st: &AppState,
    txn: &C,
    org_id: Uuid,
    subject: &str,
    text: &str,
) -> Result<(), sea_orm::DbErr> {
    use crate::entity::{membership, organization, user};
    use sea_orm::sea_query::JoinType;
    let slug = organization::Entity::find_by_id(org_id)
        .one(txn)
        .await?
        .map(|o| o.slug)
        .unwrap_or_default();
    let emails: Vec<String> = user::Entity::find()
        .select_only()
        .column(user::Column::Email)
        .join(
            JoinType::InnerJoin,
            user::Entity::belongs_to(membership::Entity)
                .from(user::Column::Id)
                .to(membership::Column::UserId)
                .into(),
        )
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::Role.is_in([Role::Owner.as_str(), Role::Admin.as_str()]))
        .into_tuple()
        .all(txn)
        .await?;
    for to in emails {
        let email = crate::mail::Email {
            to,
            subject: subject.to_string(),
            body: format!(
                "{text}\n\nThe endpoint and its delivery log: {}/orgs/{slug}/settings/webhooks\n",
                st.public_url
            ),
        };
        jobs::mail::send(st, txn, email).await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signs_like_the_specification() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
