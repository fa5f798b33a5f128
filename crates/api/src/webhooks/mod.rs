//! Webhooks: an org's endpoints (`/orgs/{slug}/webhooks`), the events they receive
//! (derived from the typed audit events, `publish`), signed delivery with retries from
//! the durable job queue (`deliver`), "Send Test", the delivery log and replay.
//! Owners and admins only; every change audited.
pub mod deliver;
pub mod publish;
pub mod service;

use crate::{
    audit::{self, Context, Event},
    auth::OrgAdmin,
    entity::{webhook, webhook_attempt, webhook_message},
    http::{ApiError, ApiResult},
    state::AppState,
};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use gatehouse_types::{
    CreateWebhookRequest, DeliveryStatus, ReplayResult, ReplayWebhookRequest,
    RotateWebhookSecretRequest, UpdateWebhookRequest, Webhook, WebhookAttempt, WebhookData,
    WebhookDelivery, WebhookPayload, WebhookWithSecrets,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, sea_query::Expr};
use serde::Deserialize;
use uuid::Uuid;

pub fn to_api(w: &webhook::Model) -> Webhook {
    Webhook {
        id: w.id,
        url: w.url.clone(),
        description: w.description.clone(),
        events: service::parse_events(&w.events),
        enabled: w.enabled,
        secret_header: w.secret_header.clone(),
        signing_secret_hint: w.signing_secret_hint.clone(),
        shared_secret_hint: w.shared_secret_hint.clone(),
        previous_secret_valid_until: w.previous_valid_until,
        failing_since: w.failing_since,
        disabled_reason: w.disabled_reason.clone(),
        created_at: w.created_at,
        updated_at: w.updated_at,
    }
}

fn with_secrets(w: &webhook::Model, s: service::Secrets) -> WebhookWithSecrets {
    WebhookWithSecrets {
        webhook: to_api(w),
        signing_secret: s.signing,
        shared_secret: s.shared,
    }
}

fn attempt_to_api(a: &webhook_attempt::Model) -> WebhookAttempt {
    WebhookAttempt {
        attempted_at: a.attempted_at,
        status_code: a.status_code.and_then(|c| u16::try_from(c).ok()),
        latency_ms: a.latency_ms.max(0) as u64,
        error: a.error.clone(),
        response_head: a.response_head.clone(),
    }
}

fn status_of(s: &str) -> DeliveryStatus {
    match s {
        deliver::DELIVERED => DeliveryStatus::Delivered,
        deliver::FAILED => DeliveryStatus::Failed,
        _ => DeliveryStatus::Pending,
    }
}

/// Messages with their attempts (newest first), in one query for the attempts.
async fn deliveries(
    st: &AppState,
    msgs: Vec<webhook_message::Model>,
) -> ApiResult<Vec<WebhookDelivery>> {
    let attempts = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::MessageId.is_in(msgs.iter().map(|m| m.id)))
        .order_by_desc(webhook_attempt::Column::AttemptedAt)
        .order_by_desc(webhook_attempt::Column::Id)
        .all(&st.db)
        .await?;
    Ok(msgs
        .iter()
        .map(|m| WebhookDelivery {
            message_id: deliver::message_header_id(m.id),
            event: m.event.clone(),
            status: status_of(&m.status),
            created_at: m.created_at,
            next_attempt_at: m.next_attempt_at,
            attempts: attempts
                .iter()
                .filter(|a| a.message_id == m.id)
                .map(attempt_to_api)
                .collect(),
        })
        .collect())
}

type IdPath = web::Path<(String, Uuid)>;

/// The org's webhook endpoints, oldest first. Secrets appear only as hints.
#[utoipa::path(operation_id = "listWebhooks", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<Webhook>)))]
#[get("/orgs/{slug}/webhooks")]
pub async fn list(admin: OrgAdmin, st: web::Data<AppState>) -> ApiResult<web::Json<Vec<Webhook>>> {
    let rows = service::list(&st, &admin).await?;
    Ok(web::Json(rows.iter().map(to_api).collect()))
}

/// Add an endpoint. The response holds its signing secret (`whsec_…`, for Standard
/// Webhooks verification) and its shared secret (sent in `secret_header`): both are
/// shown this once.
#[utoipa::path(operation_id = "createWebhook", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path)), request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookWithSecrets), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/webhooks")]
pub async fn create(
    admin: OrgAdmin,
    body: web::Json<CreateWebhookRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let (row, secrets) = service::create(&st, &admin, body.into_inner()).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(with_secrets(&row, secrets)))
}

#[utoipa::path(operation_id = "getWebhook", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = Webhook)))]
#[get("/orgs/{slug}/webhooks/{id}")]
pub async fn get_one(
    admin: OrgAdmin,
    path: IdPath,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Webhook>> {
    let row = service::find(&st.db, admin.member().org.id, path.1).await?;
    Ok(web::Json(to_api(&row)))
}

/// Change the URL, description, events, secret header or whether it is enabled.
/// Enabling an endpoint the server switched off starts it afresh.
#[utoipa::path(operation_id = "updateWebhook", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path)), request_body = UpdateWebhookRequest,
    responses((status = 200, body = Webhook), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}/webhooks/{id}")]
pub async fn update(
    admin: OrgAdmin,
    path: IdPath,
    body: web::Json<UpdateWebhookRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Webhook>> {
    let row = service::update(&st, &admin, path.1, body.into_inner()).await?;
    Ok(web::Json(to_api(&row)))
}

/// Delete an endpoint, its delivery log with it; queued deliveries are dropped.
#[utoipa::path(operation_id = "deleteWebhook", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204)))]
#[delete("/orgs/{slug}/webhooks/{id}")]
pub async fn remove(
    admin: OrgAdmin,
    path: IdPath,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    service::delete(&st, &admin, path.1).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Regenerate the secrets (shown this once). The old signing secret stops working at
/// once, or stays valid up to `keep_previous_hours` (deliveries carry both signatures
/// meanwhile, so a receiver can roll over without missing events).
#[utoipa::path(operation_id = "rotateWebhookSecret", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path)), request_body = RotateWebhookSecretRequest,
    responses((status = 200, body = WebhookWithSecrets), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    admin: OrgAdmin,
    path: IdPath,
    body: web::Json<RotateWebhookSecretRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let (row, secrets) = service::rotate(&st, &admin, path.1, body.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(with_secrets(&row, secrets)))
}

/// "Send Test": delivers a `test` event now (enabled or not, never retried) and
/// answers with the delivery and its attempt, which the log keeps too.
#[utoipa::path(operation_id = "testWebhook", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = WebhookDelivery)))]
#[post("/orgs/{slug}/webhooks/{id}/test")]
pub async fn test(
    admin: OrgAdmin,
    path: IdPath,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<WebhookDelivery>> {
    let m = admin.member();
    let hook = service::find(&st.db, m.org.id, path.1).await?;
    let now = st.clock.now();
    let payload = serde_json::to_string(&WebhookPayload {
        data: WebhookData::Test {
            message: "A test delivery from Gatehouse.".into(),
        },
        timestamp: now,
        organization_id: m.org.id,
    })
    .map_err(ApiError::internal)?;
    let id = Uuid::now_v7();
    webhook_message::Entity::insert(webhook_message::ActiveModel {
        id: Set(id),
        webhook_id: Set(hook.id),
        org_id: Set(hook.org_id),
        event: Set("test".into()),
        payload: Set(payload),
        status: Set(deliver::PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(Some(now)),
        created_at: Set(now),
    })
    .exec_without_returning(&st.db)
    .await?;
    deliver::deliver(&st, id, deliver::Mode::Test)
        .await
        .map_err(ApiError::internal)?;
    let msg = webhook_message::Entity::find_by_id(id)
        .one(&st.db)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    let mut out = deliveries(&st, vec![msg]).await?;
    Ok(web::Json(out.remove(0)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// At most this many, newest first (1 to 100; default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// The delivery log: the endpoint's messages, newest first, each with its attempts
/// (time, status code, latency, error, the first bytes of the answer). Kept 30 days.
#[utoipa::path(operation_id = "listWebhookDeliveries", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path), DeliveryQuery),
    responses((status = 200, body = Vec<WebhookDelivery>)))]
#[get("/orgs/{slug}/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    admin: OrgAdmin,
    path: IdPath,
    query: web::Query<DeliveryQuery>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<WebhookDelivery>>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "1 to 100"));
    }
    let msgs = service::messages(&st, &admin, path.1, limit).await?;
    Ok(web::Json(deliveries(&st, msgs).await?))
}

/// Queues the given failed or delivered messages of `hook` for delivery again, with a
/// fresh set of retries; audited. Returns how many.
async fn replay_messages(
    st: &AppState,
    admin: &OrgAdmin,
    hook: &webhook::Model,
    ids: Vec<Uuid>,
) -> ApiResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let mut n = 0;
    for id in ids {
        let changed = webhook_message::Entity::update_many()
            .col_expr(
                webhook_message::Column::Status,
                Expr::value(deliver::PENDING),
            )
            .col_expr(webhook_message::Column::Attempts, Expr::value(0))
            .col_expr(
                webhook_message::Column::NextAttemptAt,
                Expr::value(Some(now)),
            )
            .filter(webhook_message::Column::Id.eq(id))
            .filter(webhook_message::Column::WebhookId.eq(hook.id))
            .filter(webhook_message::Column::Status.ne(deliver::PENDING))
            .exec(&txn)
            .await?
            .rows_affected;
        if changed > 0 {
            deliver::enqueue(st, &txn, id, None).await?;
            n += 1;
        }
    }
    audit::record(
        &txn,
        &Context::from(admin),
        now,
        Event::WebhookReplayed {
            webhook_id: hook.id,
            messages: n,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

/// Deliver one message again (its id as in the log, `msg_…`), whatever became of it.
#[utoipa::path(operation_id = "replayWebhookDelivery", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path), ("message_id" = String, Path)),
    responses((status = 200, body = ReplayResult), (status = 404, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/webhooks/{id}/deliveries/{message_id}/replay")]
pub async fn replay_one(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid, String)>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<ReplayResult>> {
    let (_, hook_id, message_id) = path.into_inner();
    let hook = service::find(&st.db, admin.member().org.id, hook_id).await?;
    let msg_id = message_id
        .strip_prefix("msg_")
        .and_then(|s| Uuid::try_parse(s).ok())
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    let msg = webhook_message::Entity::find_by_id(msg_id)
        .filter(webhook_message::Column::WebhookId.eq(hook.id))
        .one(&st.db)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    if msg.status == deliver::PENDING {
        return Err(ApiError::conflict(
            "this message is still being delivered; replay it once it has failed or arrived",
        ));
    }
    let replayed = replay_messages(&st, &admin, &hook, vec![msg.id]).await?;
    Ok(web::Json(ReplayResult { replayed }))
}

/// Deliver again every message that failed since `since`.
#[utoipa::path(operation_id = "replayFailedWebhookDeliveries", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path), ("id" = Uuid, Path)), request_body = ReplayWebhookRequest,
    responses((status = 200, body = ReplayResult)))]
#[post("/orgs/{slug}/webhooks/{id}/replay")]
pub async fn replay_failed(
    admin: OrgAdmin,
    path: IdPath,
    body: web::Json<ReplayWebhookRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<ReplayResult>> {
    let hook = service::find(&st.db, admin.member().org.id, path.1).await?;
    let ids: Vec<Uuid> = webhook_message::Entity::find()
        .filter(webhook_message::Column::WebhookId.eq(hook.id))
        .filter(webhook_message::Column::Status.eq(deliver::FAILED))
        .filter(webhook_message::Column::CreatedAt.gte(body.since))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let replayed = replay_messages(&st, &admin, &hook, ids).await?;
    Ok(web::Json(ReplayResult { replayed }))
}

/// Hourly on every replica: the delivery log keeps `log_retention_days` (messages still
/// being delivered stay; their attempts go with them).
pub fn periodic() -> crate::jobs::Periodic {
    crate::jobs::Periodic {
        name: "webhooks.sweep",
        every: std::time::Duration::from_secs(3600),
        run: |st| {
            Box::pin(async move {
                sweep(
                    &st.db,
                    st.clock.now(),
                    st.config.webhooks.log_retention_days,
                )
                .await?;
                Ok(())
            })
        },
    }
}

/// Deletes the log older than `days`; returns how many messages went.
pub async fn sweep<C: sea_orm::ConnectionTrait>(
    db: &C,
    now: chrono::DateTime<chrono::Utc>,
    days: i64,
) -> Result<u64, sea_orm::DbErr> {
    Ok(webhook_message::Entity::delete_many()
        .filter(webhook_message::Column::CreatedAt.lt(now - chrono::Duration::days(days)))
        .filter(webhook_message::Column::Status.ne(deliver::PENDING))
        .exec(db)
        .await?
        .rows_affected)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(remove)
        .service(rotate_secret)
        .service(test)
        .service(list_deliveries)
        .service(replay_one)
        .service(replay_failed);
}
