use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an API key may do: `mcp` calls the organization's MCP endpoint; `read` and
/// `write` use the REST API of the organization; `sensitive` (with `write`) lets it do
/// the actions PIN protection guards (deleting a connector, removing a member) while
/// protection is on. A key cannot type a PIN, so only an owner or admin with an open
/// PIN step-up window may grant `sensitive`, when creating the key.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyScope {
    Mcp,
    Read,
    Write,
    Sensitive,
}

impl ApiKeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyScope::Mcp => "mcp",
            ApiKeyScope::Read => "read",
            ApiKeyScope::Write => "write",
            ApiKeyScope::Sensitive => "sensitive",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mcp" => Some(ApiKeyScope::Mcp),
            "read" => Some(ApiKeyScope::Read),
            "write" => Some(ApiKeyScope::Write),
            "sensitive" => Some(ApiKeyScope::Sensitive),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 1 to 64 characters, e.g. `claude-prod`; unique among the org's active keys.
    pub name: String,
    /// Defaults to `["mcp"]`.
    #[serde(default)]
    pub scopes: Option<Vec<ApiKeyScope>>,
    /// Optional expiry, in the future.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

impl ApiKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyStatus::Active => "active",
            ApiKeyStatus::Expired => "expired",
            ApiKeyStatus::Revoked => "revoked",
        }
    }
}

/// An API key as listed: never the secret itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, e.g. `gk_Xa12Bc`.
    pub prefix: String,
    /// The last four characters of the key.
    pub last_four: String,
    pub scopes: Vec<ApiKeyScope>,
    pub status: ApiKeyStatus,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The answer to creating a key: the only time the full key is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// The full key. Store it now: it cannot be shown again.
    pub secret: String,
}

/// One allowed range of client addresses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IpRange {
    /// IPv4 or IPv6 CIDR, e.g. `203.0.113.0/24` or `2001:db8::/32`; a bare address means
    /// that address alone.
    pub cidr: String,
    #[serde(default)]
    pub label: String,
}

/// The caller's address as the server sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallerIp {
    pub ip: String,
}

/// A labelled set of ranges to add with one click.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IpPreset {
    pub id: String,
    pub label: String,
    pub description: String,
    pub ranges: Vec<IpRange>,
}

/// MCP calls of one UTC day, per API key and connector.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub api_key_id: Uuid,
    pub connector_id: Uuid,
    pub calls: i64,
    /// Calls that failed upstream.
    pub errors: i64,
}
