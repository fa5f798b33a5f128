//! From what happened to what endpoints receive: the public events that webhooks carry
//! are derived from the typed audit event (`data`), and `publish` makes one message per
//! subscribed, enabled endpoint of the org, with its first try queued, in the
//! transaction of the change (`audit::record_public`).
use super::deliver;
use crate::{
    audit::{Context, Event},
    entity::{webhook, webhook_message},
    state::AppState,
};
use chrono::{DateTime, Utc};
use gatehouse_types::{WebhookData, WebhookEvent, WebhookPayload};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

/// The webhook form of an audit event, or `None` for events webhooks do not carry.
pub fn data(event: &Event) -> Option<WebhookData> {
    use Event::*;
    Some(match event {
        ConnectorCreated {
            connector_id,
            name,
            url,
            tool_prefix,
            enabled,
            ..
        } => WebhookData::McpCreated {
            mcp_id: *connector_id,
            name: name.clone(),
            url: url.clone(),
            tool_prefix: tool_prefix.clone(),
            enabled: *enabled,
        },
        ConnectorUpdated {
            connector_id,
            name,
            changed,
            ..
        } => WebhookData::McpUpdated {
            mcp_id: *connector_id,
            name: name.clone(),
            changed: changed.iter().map(|c| c.to_string()).collect(),
        },
        ConnectorDeleted {
            connector_id, name, ..
        } => WebhookData::McpDeleted {
            mcp_id: *connector_id,
            name: name.clone(),
        },
        ConnectorHealthChanged {
            connector_id,
            name,
            status,
            ..
        } => WebhookData::McpHealthChanged {
            mcp_id: *connector_id,
            name: name.clone(),
            status: status.clone(),
        },
        ApiKeyCreated {
            key_id,
            name,
            scopes,
            expires_at,
            ..
        } => WebhookData::ApiKeyCreated {
            api_key_id: *key_id,
            name: name.clone(),
            scopes: scopes.clone(),
            expires_at: *expires_at,
        },
        ApiKeyRevoked { key_id, name, .. } => WebhookData::ApiKeyRevoked {
            api_key_id: *key_id,
            name: name.clone(),
        },
        MemberAdded {
            user_id,
            email,
            role,
            ..
        } => WebhookData::TeamMemberAdded {
            user_id: *user_id,
            email: email.clone(),
            role: *role,
        },
        MemberRemoved {
            user_id,
            email,
            role,
            left,
            ..
        } => WebhookData::TeamMemberRemoved {
            user_id: *user_id,
            email: email.clone(),
            role: *role,
            left: *left,
        },
        UsageThresholdReached {
            period,
            period_start,
            threshold,
            calls,
            ..
        } => WebhookData::UsageThreshold {
            period: period.to_string(),
            period_start: period_start.clone(),
            threshold: *threshold,
            calls: *calls,
        },
        _ => return None,
    })
}

/// Whether an endpoint subscribed to `events` receives `name`.
pub fn subscribed(events: &[WebhookEvent], name: &str) -> bool {
    events
        .iter()
        .any(|e| *e == WebhookEvent::All || e.name() == name)
}

/// Makes a message for `data` for each enabled endpoint of `org_id` that subscribed,
/// with its first try queued. Returns the messages made.
pub async fn to_endpoints<C: ConnectionTrait>(
    st: &AppState,
    txn: &C,
    org_id: Uuid,
    data: WebhookData,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::OrgId.eq(org_id))
        .filter(webhook::Column::Enabled.eq(true))
        .all(txn)
        .await?;
    let name = data.event_name();
    let mut made = Vec::new();
    let mut body = None;
    for hook in hooks {
        if !subscribed(&super::service::parse_events(&hook.events), name) {
            continue;
        }
        // One body for every endpoint: the same event, the same bytes.
        let payload = match &body {
            Some(b) => String::clone(b),
            None => {
                let b = serde_json::to_string(&WebhookPayload {
                    data: data.clone(),
                    timestamp: now,
                    organization_id: org_id,
                })
                .map_err(|e| DbErr::Custom(format!("encoding a webhook payload: {e}")))?;
                body = Some(b.clone());
                b
            }
        };
        made.push(message(st, txn, &hook, name, payload, now).await?);
    }
    Ok(made)
}

/// Stores one message for `hook` and queues its first try.
pub async fn message<C: ConnectionTrait>(
    st: &AppState,
    txn: &C,
    hook: &webhook::Model,
    event: &str,
    payload: String,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    webhook_message::Entity::insert(webhook_message::ActiveModel {
        id: Set(id),
        webhook_id: Set(hook.id),
        org_id: Set(hook.org_id),
        event: Set(event.to_string()),
        payload: Set(payload),
        status: Set(deliver::PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(Some(now)),
        created_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    deliver::enqueue(st, txn, id, None).await?;
    Ok(id)
}

/// `audit::record_public`'s second half: the event's webhook messages, if it has a
/// webhook form and an org.
pub async fn publish<C: ConnectionTrait>(
    st: &AppState,
    txn: &C,
    ctx: &Context,
    now: DateTime<Utc>,
    event: &Event,
) -> Result<(), DbErr> {
    let (Some(data), Some(org)) = (data(event), ctx.org) else {
        return Ok(());
    };
    to_endpoints(st, txn, org, data, now).await?;
    Ok(())
}
