use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long refresh tokens issued from now on live: 1, 7, 30 or 90 days.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RefreshTokenLifetime {
    Short,
    Medium,
    Default,
    Long,
}

impl RefreshTokenLifetime {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Short => "short",
            Self::Medium => "medium",
            Self::Default => "default",
            Self::Long => "long",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "short" => Some(Self::Short),
            "medium" => Some(Self::Medium),
            "default" => Some(Self::Default),
            "long" => Some(Self::Long),
            _ => None,
        }
    }
    pub fn days(self) -> u32 {
        match self {
            Self::Short => 1,
            Self::Medium => 7,
            Self::Default => 30,
            Self::Long => 90,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthSettings {
    pub refresh_token_lifetime: RefreshTokenLifetime,
    /// The lifetime in days, for display.
    pub refresh_token_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOAuthSettings {
    /// Applies to refresh tokens issued after the change.
    pub refresh_token_lifetime: RefreshTokenLifetime,
}

/// How a client came to exist.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OAuthClientKind {
    /// Registered itself (RFC 7591).
    Registered,
    /// Identified by the URL of its metadata document.
    MetadataDocument,
    /// Created by an admin of this organization.
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthClient {
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub kind: OAuthClientKind,
    /// Hosts of its redirect URIs, what a person recognises.
    pub redirect_hosts: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Grants in this organization that are neither revoked nor expired.
    pub active_grants: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOAuthClientRequest {
    pub name: String,
    /// https, or http on a loopback address.
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedOAuthClient {
    pub client: OAuthClient,
    /// Shown once.
    pub client_secret: String,
    /// Refresh tokens of the organization revoked by this creation.
    pub refresh_tokens_revoked: u64,
}
