//! The public shape of an org's events: what a webhook delivery (a later feature) sends
//! and what clients may rely on. It is derived from the server's audit events, but only
//! a subset is public and only fields that are safe to hand out: never a secret, a
//! credential, a token or a client address. Changing anything here changes a public
//! contract; the server pins every event's JSON in a test.
use crate::{ApiKeyScope, IpRange, RefreshTokenLifetime, Role};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One event as delivered: `{"type", "data", "id", "occurred_at", "org", "actor"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublicEvent {
    #[serde(flatten)]
    pub event: PublicEventData,
    /// The audit event's id (a UUIDv7): the same event delivered twice has the same id.
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub org: PublicOrg,
    pub actor: PublicActor,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublicOrg {
    pub id: Uuid,
    pub slug: String,
}

/// Who did it: `{"type": "user", "id", "name": email}`, `{"type": "api_key", "id",
/// "name"}` or `{"type": "system"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PublicActor {
    User { id: Uuid, email: String },
    ApiKey { id: Uuid, name: String },
    System,
}

/// A value before and after a change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

/// Why an OAuth grant ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GrantEndReason {
    AuthorizationCodeReused,
    RefreshTokenReused,
    RevokedByClient,
    ClientDeleted,
    MemberRemoved,
    /// The org started requiring MFA and the grant's user had none.
    MfaRequired,
}

/// The event's `type` (the audit action name) and its `data`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", content = "data")]
pub enum PublicEventData {
    #[serde(rename = "org.updated")]
    OrgUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<Change<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<Change<String>>,
    },
    #[serde(rename = "org.security_updated")]
    OrgSecurityUpdated {
        session_timeout_minutes: Change<i32>,
    },
    #[serde(rename = "org.ip_allowlist_updated")]
    OrgIpAllowlistUpdated { ip_allowlist: Change<Vec<IpRange>> },
    #[serde(rename = "org.slug_changed")]
    OrgSlugChanged { slug: Change<String> },
    #[serde(rename = "org.ownership_transferred")]
    OrgOwnershipTransferred {
        from_user_id: Uuid,
        to_user_id: Uuid,
    },
    #[serde(rename = "member.added")]
    MemberAdded {
        user_id: Uuid,
        email: String,
        role: Role,
        /// The invitation it came from, if any.
        invitation_id: Option<Uuid>,
    },
    #[serde(rename = "member.removed")]
    MemberRemoved {
        user_id: Uuid,
        email: Option<String>,
        role: Role,
        /// The member left on their own.
        left: bool,
    },
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged {
        user_id: Uuid,
        email: String,
        role: Change<Role>,
    },
    #[serde(rename = "invitation.created")]
    InvitationCreated {
        invitation_id: Uuid,
        email: String,
        role: Role,
    },
    #[serde(rename = "invitation.revoked")]
    InvitationRevoked {
        invitation_id: Uuid,
        email: String,
        /// Revoked because a new invitation to the same address replaced it.
        replaced: bool,
    },
    #[serde(rename = "invitation.accepted")]
    InvitationAccepted { invitation_id: Uuid, email: String },
    #[serde(rename = "api_key.created")]
    ApiKeyCreated {
        api_key_id: Uuid,
        name: String,
        scopes: Vec<ApiKeyScope>,
        expires_at: Option<DateTime<Utc>>,
    },
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked { api_key_id: Uuid, name: String },
    #[serde(rename = "mcp.created")]
    ConnectorCreated {
        connector_id: Uuid,
        name: String,
        /// Without query or fragment.
        url: String,
        tool_prefix: String,
        enabled: bool,
    },
    #[serde(rename = "mcp.updated")]
    ConnectorUpdated {
        connector_id: Uuid,
        name: String,
        /// Names of the fields that changed (never their values).
        changed: Vec<String>,
    },
    #[serde(rename = "mcp.deleted")]
    ConnectorDeleted { connector_id: Uuid, name: String },
    #[serde(rename = "mcp.health_changed")]
    ConnectorHealthChanged {
        connector_id: Uuid,
        name: String,
        status: Change<String>,
    },
    #[serde(rename = "oauth.client_created")]
    OAuthClientCreated {
        client_id: String,
        name: String,
        redirect_uris: Vec<String>,
    },
    #[serde(rename = "oauth.client_deleted")]
    OAuthClientDeleted {
        client_id: String,
        name: String,
        grants_revoked: u64,
    },
    #[serde(rename = "oauth.grant_created")]
    OAuthGrantCreated {
        grant_id: Uuid,
        client_id: String,
        client_name: String,
        scope: String,
        expires_at: DateTime<Utc>,
    },
    #[serde(rename = "oauth.grant_revoked")]
    OAuthGrantRevoked {
        grant_id: Uuid,
        user_id: Uuid,
        reason: GrantEndReason,
    },
    #[serde(rename = "oauth.settings_updated")]
    OAuthSettingsUpdated {
        refresh_token_lifetime: Change<RefreshTokenLifetime>,
    },
    #[serde(rename = "org.pin_protection_changed")]
    OrgPinProtectionChanged { pin_protection: Change<bool> },
    #[serde(rename = "org.mfa_requirement_updated")]
    OrgMfaRequirementUpdated {
        require_mfa: Change<bool>,
        oauth_grants_revoked: u64,
    },
}

impl PublicEventData {
    /// The `type` string, which is the audit action name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::OrgUpdated { .. } => "org.updated",
            Self::OrgSecurityUpdated { .. } => "org.security_updated",
            Self::OrgIpAllowlistUpdated { .. } => "org.ip_allowlist_updated",
            Self::OrgSlugChanged { .. } => "org.slug_changed",
            Self::OrgOwnershipTransferred { .. } => "org.ownership_transferred",
            Self::MemberAdded { .. } => "member.added",
            Self::MemberRemoved { .. } => "member.removed",
            Self::MemberRoleChanged { .. } => "member.role_changed",
            Self::InvitationCreated { .. } => "invitation.created",
            Self::InvitationRevoked { .. } => "invitation.revoked",
            Self::InvitationAccepted { .. } => "invitation.accepted",
            Self::ApiKeyCreated { .. } => "api_key.created",
            Self::ApiKeyRevoked { .. } => "api_key.revoked",
            Self::ConnectorCreated { .. } => "mcp.created",
            Self::ConnectorUpdated { .. } => "mcp.updated",
            Self::ConnectorDeleted { .. } => "mcp.deleted",
            Self::ConnectorHealthChanged { .. } => "mcp.health_changed",
            Self::OAuthClientCreated { .. } => "oauth.client_created",
            Self::OAuthClientDeleted { .. } => "oauth.client_deleted",
            Self::OAuthGrantCreated { .. } => "oauth.grant_created",
            Self::OAuthGrantRevoked { .. } => "oauth.grant_revoked",
            Self::OAuthSettingsUpdated { .. } => "oauth.settings_updated",
            Self::OrgPinProtectionChanged { .. } => "org.pin_protection_changed",
            Self::OrgMfaRequirementUpdated { .. } => "org.mfa_requirement_updated",
        }
    }
}
