//! Endpoint rules: what a URL, a header name and a set of events may be, the secrets
//! (made here, sealed at rest, shown once), and create, update, delete and regenerate,
//! each audited in its transaction.
use crate::{
    audit::{self, Context, Event},
    auth::OrgAdmin,
    entity::{webhook, webhook_message},
    http::{ApiError, ApiResult, problem::Validation},
    state::AppState,
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use chrono::Duration;
use gatehouse_types::{
    CreateWebhookRequest, DEFAULT_SECRET_HEADER, MAX_SECRET_OVERLAP_HOURS,
    RotateWebhookSecretRequest, UpdateWebhookRequest, WEBHOOK_DESCRIPTION_MAX_CHARS, WebhookEvent,
};
use rand::{RngCore, rngs::OsRng};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

/// Endpoints one org may have.
pub const MAX_WEBHOOKS: u64 = 20;

/// The endpoint's secrets in the clear, as made: shown once.
pub struct Secrets {
    pub signing: String,
    pub shared: String,
}

fn random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    b
}

/// A Standard Webhooks secret: `whsec_` and 32 random bytes in base64.
fn new_secrets() -> Secrets {
    Secrets {
        signing: format!("whsec_{}", STANDARD.encode(random(32))),
        shared: format!("ghwh_{}", URL_SAFE_NO_PAD.encode(random(32))),
    }
}

fn hint(secret: &str) -> String {
    let prefix = if secret.starts_with("whsec_") {
        "whsec_"
    } else {
        "ghwh_"
    };
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}…{tail}")
}

/// The URL for audit metadata and logs: no query or fragment, which may carry a token.
pub fn display_url(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

/// https, or http to a loopback address where the server allows loopback (development
/// and tests); then the outbound policy (no internal addresses, no user info).
async fn check_url(st: &AppState, v: &mut Validation, raw: &str) -> String {
    let url = raw.trim();
    if url.chars().count() > 2000 {
        v.push("url", "at most 2000 characters");
        return url.to_string();
    }
    match st.outbound.check_url(url).await {
        Ok(parsed) => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if parsed.scheme() != "https" && !(loopback && st.config.outbound.allow_loopback) {
                v.push("url", "must start with https://");
            }
        }
        Err(e) => v.push("url", e.to_string()),
    }
    url.to_string()
}

/// An HTTP header name (RFC 9110 token), not one a delivery already sets.
fn check_header(v: &mut Validation, raw: &str) -> String {
    let h = raw.trim().to_string();
    let token = !h.is_empty()
        && h.len() <= 64
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let reserved = [
        "content-type",
        "content-length",
        "host",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "authorization",
        "cookie",
        "transfer-encoding",
        "connection",
    ];
    if !token {
        v.push("secret_header", "an HTTP header name of 1 to 64 characters");
    } else if reserved.contains(&h.to_ascii_lowercase().as_str()) {
        v.push("secret_header", "a header every delivery sets already");
    }
    h
}

fn check_events(v: &mut Validation, events: &[WebhookEvent]) -> Vec<WebhookEvent> {
    let mut e = events.to_vec();
    e.sort();
    e.dedup();
    if e.is_empty() {
        v.push("events", "at least one event, or `*` for all");
    }
    e
}

fn check_description(v: &mut Validation, raw: &str) -> String {
    if raw.chars().count() > WEBHOOK_DESCRIPTION_MAX_CHARS {
        v.push(
            "description",
            format!("at most {WEBHOOK_DESCRIPTION_MAX_CHARS} characters"),
        );
    }
    raw.trim().to_string()
}

pub fn events_json(events: &[WebhookEvent]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".into())
}

pub fn parse_events(stored: &str) -> Vec<WebhookEvent> {
    serde_json::from_str(stored).unwrap_or_default()
}

fn names(events: &[WebhookEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.name()).collect()
}

pub async fn list(st: &AppState, admin: &OrgAdmin) -> ApiResult<Vec<webhook::Model>> {
    Ok(webhook::Entity::find()
        .filter(webhook::Column::OrgId.eq(admin.member().org.id))
        .order_by_asc(webhook::Column::CreatedAt)
        .all(&st.db)
        .await?)
}

/// The org's endpoint `id`; another org's (or none) is 404.
pub async fn find<C: ConnectionTrait>(db: &C, org_id: Uuid, id: Uuid) -> ApiResult<webhook::Model> {
    webhook::Entity::find_by_id(id)
        .filter(webhook::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

pub async fn create(
    st: &AppState,
    admin: &OrgAdmin,
    body: CreateWebhookRequest,
) -> ApiResult<(webhook::Model, Secrets)> {
    let m = admin.member();
    let mut v = Validation::default();
    let url = check_url(st, &mut v, &body.url).await;
    let description = check_description(&mut v, body.description.as_deref().unwrap_or_default());
    let events = check_events(&mut v, &body.events);
    let header = check_header(
        &mut v,
        body.secret_header
            .as_deref()
            .unwrap_or(DEFAULT_SECRET_HEADER),
    );
    v.finish()?;
    let now = st.clock.now();
    let secrets = new_secrets();
    let seal = |s: &str| st.cipher.encrypt(s.as_bytes()).map_err(ApiError::internal);
    let txn = crate::db::begin(&st.db).await?;
    let count = webhook::Entity::find()
        .filter(webhook::Column::OrgId.eq(m.org.id))
        .count(&txn)
        .await?;
    if count >= MAX_WEBHOOKS {
        return Err(ApiError::conflict(format!(
            "an organization can have at most {MAX_WEBHOOKS} webhooks; delete one first"
        )));
    }
    let row = webhook::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(m.org.id),
        url: Set(url),
        description: Set(description),
        events: Set(events_json(&events)),
        enabled: Set(body.enabled.unwrap_or(true)),
        secret_header: Set(header),
        signing_secret: Set(seal(&secrets.signing)?),
        previous_signing_secret: Set(None),
        previous_valid_until: Set(None),
        shared_secret: Set(seal(&secrets.shared)?),
        signing_secret_hint: Set(hint(&secrets.signing)),
        shared_secret_hint: Set(hint(&secrets.shared)),
        failing_since: Set(None),
        disable_warned_at: Set(None),
        disabled_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        &Context::from(admin),
        now,
        Event::WebhookCreated {
            webhook_id: row.id,
            url: display_url(&row.url),
            events: names(&events),
            enabled: row.enabled,
        },
    )
    .await?;
    txn.commit().await?;
    Ok((row, secrets))
}

pub async fn update(
    st: &AppState,
    admin: &OrgAdmin,
    id: Uuid,
    body: UpdateWebhookRequest,
) -> ApiResult<webhook::Model> {
    let m = admin.member();
    find(&st.db, m.org.id, id).await?;
    let mut v = Validation::default();
    let url = match &body.url {
        Some(u) => Some(check_url(st, &mut v, u).await),
        None => None,
    };
    let description = body
        .description
        .as_deref()
        .map(|d| check_description(&mut v, d));
    let events = body.events.as_deref().map(|e| check_events(&mut v, e));
    let header = body
        .secret_header
        .as_deref()
        .map(|h| check_header(&mut v, h));
    v.finish()?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let row = find(&txn, m.org.id, id).await?;
    let mut changed = Vec::new();
    let mut am = row.clone().into_active_model();
    if let Some(u) = url.filter(|u| *u != row.url) {
        am.url = Set(u);
        changed.push("url");
    }
    if let Some(d) = description.filter(|d| *d != row.description) {
        am.description = Set(d);
        changed.push("description");
    }
    if let Some(e) = events.map(|e| events_json(&e)).filter(|e| *e != row.events) {
        am.events = Set(e);
        changed.push("events");
    }
    if let Some(h) = header.filter(|h| *h != row.secret_header) {
        am.secret_header = Set(h);
        changed.push("secret_header");
    }
    if let Some(on) = body.enabled.filter(|on| *on != row.enabled) {
        am.enabled = Set(on);
        changed.push("enabled");
        if on {
            // Switched on again by hand: a fresh start.
            am.disabled_reason = Set(None);
            am.failing_since = Set(None);
            am.disable_warned_at = Set(None);
        }
    }
    if changed.is_empty() {
        return Ok(row);
    }
    am.updated_at = Set(now);
    let row = am.update(&txn).await?;
    audit::record(
        &txn,
        &Context::from(admin),
        now,
        Event::WebhookUpdated {
            webhook_id: row.id,
            url: display_url(&row.url),
            changed,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn delete(st: &AppState, admin: &OrgAdmin, id: Uuid) -> ApiResult<()> {
    let m = admin.member();
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let row = find(&txn, m.org.id, id).await?;
    // Its messages and attempts go with it (cascade); a queued delivery finds nothing.
    webhook::Entity::delete_by_id(row.id).exec(&txn).await?;
    audit::record(
        &txn,
        &Context::from(admin),
        now,
        Event::WebhookDeleted {
            webhook_id: row.id,
            url: display_url(&row.url),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// New signing and shared secrets. The old signing secret stops working at once, or,
/// if asked, stays valid up to 24 hours (deliveries carry both signatures meanwhile).
/// The shared-secret header carries the new value at once.
pub async fn rotate(
    st: &AppState,
    admin: &OrgAdmin,
    id: Uuid,
    body: RotateWebhookSecretRequest,
) -> ApiResult<(webhook::Model, Secrets)> {
    let m = admin.member();
    let keep = body.keep_previous_hours.unwrap_or(0);
    if !(0..=i64::from(MAX_SECRET_OVERLAP_HOURS)).contains(&keep) {
        return Err(ApiError::field(
            "keep_previous_hours",
            format!("0 to {MAX_SECRET_OVERLAP_HOURS}"),
        ));
    }
    let now = st.clock.now();
    let secrets = new_secrets();
    let seal = |s: &str| st.cipher.encrypt(s.as_bytes()).map_err(ApiError::internal);
    let txn = crate::db::begin(&st.db).await?;
    let row = find(&txn, m.org.id, id).await?;
    let until = (keep > 0).then(|| now + Duration::hours(keep));
    let mut am = row.clone().into_active_model();
    am.previous_signing_secret = Set(until.map(|_| row.signing_secret.clone()));
    am.previous_valid_until = Set(until);
    am.signing_secret = Set(seal(&secrets.signing)?);
    am.shared_secret = Set(seal(&secrets.shared)?);
    am.signing_secret_hint = Set(hint(&secrets.signing));
    am.shared_secret_hint = Set(hint(&secrets.shared));
    am.updated_at = Set(now);
    let row = am.update(&txn).await?;
    audit::record(
        &txn,
        &Context::from(admin),
        now,
        Event::WebhookSecretRotated {
            webhook_id: row.id,
            previous_valid_until: until,
        },
    )
    .await?;
    txn.commit().await?;
    Ok((row, secrets))
}

/// The endpoint's messages, newest first, at most `limit`.
pub async fn messages(
    st: &AppState,
    admin: &OrgAdmin,
    id: Uuid,
    limit: u64,
) -> ApiResult<Vec<webhook_message::Model>> {
    let m = admin.member();
    find(&st.db, m.org.id, id).await?;
    use sea_orm::QuerySelect;
    Ok(webhook_message::Entity::find()
        .filter(webhook_message::Column::WebhookId.eq(id))
        .order_by_desc(webhook_message::Column::CreatedAt)
        .order_by_desc(webhook_message::Column::Id)
        .limit(limit)
        .all(&st.db)
        .await?)
}
