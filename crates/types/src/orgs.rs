use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
    /// Owners and admins read and change settings.
    pub fn can_manage(self) -> bool {
        self >= Role::Admin
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    pub name: String,
    /// Derived from the name when absent. Immutable once created.
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Not changeable through the API; any other value than the current slug is refused
    /// with `slug-immutable`.
    #[serde(default)]
    pub slug: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyMembership {
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// What owners and admins see in addition to the name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgDetails {
    pub description: String,
    pub plan: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub membership: MyMembership,
    /// Present for owners and admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<OrgDetails>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecuritySettings {
    /// Idle sessions of members end after this many minutes (15..43200).
    pub session_timeout_minutes: i32,
    /// Client addresses allowed to use the org's REST API and MCP endpoint; empty
    /// means any.
    pub ip_allowlist: Vec<crate::IpRange>,
    /// Deleting a connector, revoking an API key and removing a member need the acting
    /// person's PIN (a step-up window, `POST /orgs/{slug}/pin/verify`).
    #[serde(default)]
    pub pin_protection: bool,
    /// Members signed in without a second factor (TOTP or a passkey) are refused with
    /// `mfa-required` on the org's REST API and dashboard, and cannot grant OAuth
    /// clients access. API keys are org credentials and are not affected.
    #[serde(default)]
    pub require_mfa: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSecuritySettings {
    #[serde(default)]
    pub session_timeout_minutes: Option<i32>,
    /// Replaces the whole list (at most 100 ranges).
    #[serde(default)]
    pub ip_allowlist: Option<Vec<crate::IpRange>>,
    /// Save a list that excludes the caller's own address anyway.
    #[serde(default)]
    pub confirm_lockout: bool,
    /// Turn PIN protection on (the caller must have set a personal PIN) or off (needs
    /// an open step-up window). Signed-in owners and admins only, never an API key.
    #[serde(default)]
    pub pin_protection: Option<bool>,
    /// Switching it on needs a signed-in owner or admin who has a second factor
    /// (`mfa-required` otherwise), and revokes the OAuth grants of members without
    /// one (see `mfa-preview` first).
    #[serde(default)]
    pub require_mfa: Option<bool>,
}

/// Who "Require MFA" would block: the members without a second factor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaPreview {
    /// Whether the org requires MFA now.
    pub require_mfa: bool,
    /// Members without TOTP or a passkey, oldest membership first.
    pub members_without_mfa: Vec<Member>,
    /// How many members the org has in all.
    pub total_members: u64,
    /// Active OAuth grants of those members, revoked when MFA becomes required.
    pub oauth_grants_to_revoke: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransferOwnershipRequest {
    /// An admin of the organization.
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// `admin` or `member`; ownership moves only by transfer.
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    pub invited_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the holder of an invitation link may learn before accepting it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationPreview {
    pub org_name: String,
    pub org_slug: String,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// Whether an account with the invited address exists (then accept after logging in,
    /// or with that account's password).
    pub account_exists: bool,
    /// The org requires two-factor authentication: set it up to use the org once joined.
    #[serde(default)]
    pub mfa_required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    pub token: String,
    /// Without a session: the password of the existing account, or of the new account
    /// to create for the invited address.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}
