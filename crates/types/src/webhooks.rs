//! Webhook endpoints of an org, their deliveries, and the payload they receive.
//!
//! A delivery is a `POST` of a [`WebhookPayload`] as JSON, signed the Standard Webhooks
//! way (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`
//! over `{id}.{timestamp}.{body}` with the `whsec_…` signing secret), and carrying the
//! endpoint's shared secret in its own header (`Gatehouse-Secret` unless configured) for
//! receivers that only compare a value. Delivery is at least once; order across
//! messages is not guaranteed: `webhook-id` deduplicates and `timestamp` orders.
use crate::{ApiKeyScope, Role, events::Change};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The header a delivery carries the shared secret in, unless the endpoint says otherwise.
pub const DEFAULT_SECRET_HEADER: &str = "Gatehouse-Secret";
/// The longest a regenerated signing secret's predecessor may stay valid.
pub const MAX_SECRET_OVERLAP_HOURS: u32 = 24;
pub const WEBHOOK_DESCRIPTION_MAX_CHARS: usize = 500;

/// An event an endpoint can subscribe to; `*` is every one, present and future.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEvent {
    #[serde(rename = "mcp.created")]
    McpCreated,
    #[serde(rename = "mcp.updated")]
    McpUpdated,
    #[serde(rename = "mcp.deleted")]
    McpDeleted,
    #[serde(rename = "mcp.health_changed")]
    McpHealthChanged,
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    #[serde(rename = "team.member_added")]
    TeamMemberAdded,
    #[serde(rename = "team.member_removed")]
    TeamMemberRemoved,
    #[serde(rename = "usage.threshold")]
    UsageThreshold,
    #[serde(rename = "*")]
    All,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 9] = [
        Self::McpCreated,
        Self::McpUpdated,
        Self::McpDeleted,
        Self::McpHealthChanged,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::TeamMemberAdded,
        Self::TeamMemberRemoved,
        Self::UsageThreshold,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::McpCreated => "mcp.created",
            Self::McpUpdated => "mcp.updated",
            Self::McpDeleted => "mcp.deleted",
            Self::McpHealthChanged => "mcp.health_changed",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::TeamMemberAdded => "team.member_added",
            Self::TeamMemberRemoved => "team.member_removed",
            Self::UsageThreshold => "usage.threshold",
            Self::All => "*",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([Self::All])
            .find(|e| e.name() == name)
    }
}

/// What a delivery's body is: `{"event", "timestamp", "organization_id", "data"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookPayload {
    #[serde(flatten)]
    pub data: WebhookData,
    pub timestamp: DateTime<Utc>,
    pub organization_id: Uuid,
}

/// `event` and its `data`, one stable shape per event. Never a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", content = "data")]
pub enum WebhookData {
    #[serde(rename = "mcp.created")]
    McpCreated {
        mcp_id: Uuid,
        name: String,
        /// Without query or fragment.
        url: String,
        tool_prefix: String,
        enabled: bool,
    },
    #[serde(rename = "mcp.updated")]
    McpUpdated {
        mcp_id: Uuid,
        name: String,
        /// Names of the fields that changed (never their values).
        changed: Vec<String>,
    },
    #[serde(rename = "mcp.deleted")]
    McpDeleted { mcp_id: Uuid, name: String },
    #[serde(rename = "mcp.health_changed")]
    McpHealthChanged {
        mcp_id: Uuid,
        name: String,
        status: Change<String>,
    },
    #[serde(rename = "api_key.created")]
    ApiKeyCreated {
        api_key_id: Uuid,
        name: String,
        scopes: Vec<ApiKeyScope>,
        expires_at: Option<DateTime<Utc>>,
    },
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked { api_key_id: Uuid, name: String },
    #[serde(rename = "team.member_added")]
    TeamMemberAdded {
        user_id: Uuid,
        email: String,
        role: Role,
    },
    #[serde(rename = "team.member_removed")]
    TeamMemberRemoved {
        user_id: Uuid,
        email: Option<String>,
        role: Role,
        /// The member left on their own.
        left: bool,
    },
    /// The org's MCP calls reached a threshold it set, in a UTC day or calendar month.
    #[serde(rename = "usage.threshold")]
    UsageThreshold {
        /// `day` or `month`.
        period: String,
        /// The period's first day, `YYYY-MM-DD`.
        period_start: String,
        threshold: u64,
        /// Calls counted when it was noticed (at or above the threshold).
        calls: u64,
    },
    /// Sent by "Send Test" only.
    #[serde(rename = "test")]
    Test { message: String },
}

impl WebhookData {
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::McpCreated { .. } => "mcp.created",
            Self::McpUpdated { .. } => "mcp.updated",
            Self::McpDeleted { .. } => "mcp.deleted",
            Self::McpHealthChanged { .. } => "mcp.health_changed",
            Self::ApiKeyCreated { .. } => "api_key.created",
            Self::ApiKeyRevoked { .. } => "api_key.revoked",
            Self::TeamMemberAdded { .. } => "team.member_added",
            Self::TeamMemberRemoved { .. } => "team.member_removed",
            Self::UsageThreshold { .. } => "usage.threshold",
            Self::Test { .. } => "test",
        }
    }
}

/// An endpoint. Its secrets are shown once, at creation and regeneration; afterwards
/// only their last characters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    /// The header the shared secret travels in.
    pub secret_header: String,
    /// `whsec_…` and the last four characters of the signing secret.
    pub signing_secret_hint: String,
    pub shared_secret_hint: String,
    /// While set, deliveries also carry a signature with the previous signing secret.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// Since when every delivery has failed (none since then succeeded).
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the server switched it off (`gone`: the endpoint answered 410; `failing`).
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint or new secrets: the only time the secrets are shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookWithSecrets {
    pub webhook: Webhook,
    /// `whsec_…`: verify deliveries with it (any Standard Webhooks library).
    pub signing_secret: String,
    /// Sent as-is in `secret_header` with every delivery.
    pub shared_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// https (http only to loopback addresses where the server allows them).
    pub url: String,
    /// At most 500 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: Option<String>,
    /// At least one; `*` for all.
    pub events: Vec<WebhookEvent>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Default `Gatehouse-Secret`.
    #[serde(default)]
    pub secret_header: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<WebhookEvent>>,
    /// Switching it on again clears an automatic disable.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub secret_header: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecretRequest {
    /// Keep the previous signing secret valid this many hours (0 to 24; default 0:
    /// it stops working at once). Deliveries meanwhile carry both signatures.
    #[serde(default, deserialize_with = "crate::connectors::nullable_secs")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 24))]
    pub keep_previous_hours: Option<i64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or its next retry.
    Pending,
    Delivered,
    /// Every attempt failed (or the endpoint is gone).
    Failed,
}

/// One message to an endpoint and its attempts, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// The `webhook-id` header: `msg_` and the id.
    pub message_id: String,
    pub event: String,
    pub status: DeliveryStatus,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<WebhookAttempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAttempt {
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's answer; none when it could not be reached.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The first bytes of the answer's body.
    pub response_head: Option<String>,
}

/// Replay every failed message created since `since`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayWebhookRequest {
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayResult {
    /// Messages queued for delivery again.
    pub replayed: u64,
}

/// The org's MCP call counts at which `usage.threshold` fires: once per threshold and
/// UTC day (`daily`) or calendar month (`monthly`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UsageThresholds {
    /// At most 10 numbers, each 1 or more.
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub daily: Vec<u64>,
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub monthly: Vec<u64>,
}
