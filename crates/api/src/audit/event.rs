//! Every event the audit log records, typed. `action()` is the stable name stored in the
//! log (an API: the names never change), `metadata()` the JSON stored with it, and
//! `public()` the part a webhook may send out (`gatehouse_types::events`), so the public
//! contract is derived from the same value and pinned by a test.
use crate::{
    auth::{CurrentUser, OrgAdmin, OrgMember, OrgOwner},
    entity::user,
    http::ClientMeta,
};
use chrono::{DateTime, Utc};
use gatehouse_types::{
    ApiKeyScope, IpRange, RefreshTokenLifetime, Role,
    events::{Change, GrantEndReason, PublicActor, PublicEvent, PublicEventData, PublicOrg},
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Who did it.
#[derive(Debug, Clone)]
pub enum Actor {
    User { id: Uuid, email: String },
    ApiKey { id: Uuid, name: String },
    System,
}

impl Actor {
    pub(super) fn parts(&self) -> (&'static str, Option<Uuid>, Option<String>) {
        match self {
            Actor::User { id, email } => ("user", Some(*id), Some(email.clone())),
            Actor::ApiKey { id, name } => ("api_key", Some(*id), Some(name.clone())),
            Actor::System => ("system", None, None),
        }
    }

    pub fn public(&self) -> PublicActor {
        match self {
            Actor::User { id, email } => PublicActor::User {
                id: *id,
                email: email.clone(),
            },
            Actor::ApiKey { id, name } => PublicActor::ApiKey {
                id: *id,
                name: name.clone(),
            },
            Actor::System => PublicActor::System,
        }
    }
}

/// Who acted, in which org (none for account-level and instance-level events), and
/// from where. Made from the principal, so a handler does not assemble it by hand.
#[derive(Debug, Clone)]
pub struct Context {
    pub actor: Actor,
    pub org: Option<Uuid>,
    pub meta: ClientMeta,
}

impl Context {
    /// The server itself (health checks, expiry, support commands).
    pub fn system() -> Self {
        Self {
            actor: Actor::System,
            org: None,
            meta: ClientMeta::default(),
        }
    }
    /// The server, acting on a request it received (e.g. a replayed OAuth code).
    pub fn system_for(meta: ClientMeta) -> Self {
        Self {
            meta,
            ..Self::system()
        }
    }
    /// A user acting through a request that carries no session yet (sign-up, login,
    /// token links, OAuth code exchange).
    pub fn user(u: &user::Model, meta: ClientMeta) -> Self {
        Self::user_id(u.id, u.email.clone(), meta)
    }
    pub fn user_id(id: Uuid, email: String, meta: ClientMeta) -> Self {
        Self {
            actor: Actor::User { id, email },
            org: None,
            meta,
        }
    }
    /// The same actor, for events of `org`.
    pub fn in_org(mut self, org: Uuid) -> Self {
        self.org = Some(org);
        self
    }
}

impl From<&CurrentUser> for Context {
    fn from(me: &CurrentUser) -> Self {
        Self {
            actor: me.actor(),
            org: None,
            meta: me.meta.clone(),
        }
    }
}

impl From<&OrgMember> for Context {
    fn from(m: &OrgMember) -> Self {
        Self {
            actor: m.actor(),
            org: Some(m.org.id),
            meta: m.meta().clone(),
        }
    }
}

impl From<&OrgAdmin> for Context {
    fn from(a: &OrgAdmin) -> Self {
        Self::from(&a.0)
    }
}

impl From<&OrgOwner> for Context {
    fn from(o: &OrgOwner) -> Self {
        Self::from(&o.0)
    }
}

/// What a login attempt that was refused locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockout {
    /// The device cookie's own counter.
    Device,
    /// The account's and the client address's counters.
    Counters { account: bool, ip: bool },
}

/// Why a session ended without its user asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    IdleTimeout,
    AbsoluteLifetime,
}

impl SessionEnd {
    fn as_str(self) -> &'static str {
        match self {
            SessionEnd::IdleTimeout => "idle_timeout",
            SessionEnd::AbsoluteLifetime => "absolute_lifetime",
        }
    }
}

/// The reason text the log has always stored for an ended OAuth grant.
fn grant_end_text(r: GrantEndReason) -> &'static str {
    match r {
        GrantEndReason::AuthorizationCodeReused => "authorization code reused",
        GrantEndReason::RefreshTokenReused => "refresh token reused",
        GrantEndReason::RevokedByClient => "revoked by the client",
        GrantEndReason::ClientDeleted => "client deleted",
        GrantEndReason::MemberRemoved => "member removed",
        GrantEndReason::MfaRequired => "organization requires MFA",
    }
}

/// `Some` when the value changed.
pub fn change<T: PartialEq>(from: T, to: T) -> Option<Change<T>> {
    (from != to).then_some(Change { from, to })
}

fn change_json<T: serde::Serialize>(c: &Change<T>) -> Value {
    json!({"from": c.from, "to": c.to})
}

/// One event of the audit log. Org-level events are recorded in the org of the
/// `Context`; account-level events (`account_user()`) in every org of their user.
#[derive(Debug, Clone)]
pub enum Event {
    // Accounts and sessions (account-level: never sent out).
    UserSignedUp {
        user_id: Uuid,
        via_invitation: bool,
    },
    /// Created by support from the command line.
    UserCreated {
        user_id: Uuid,
    },
    UserEmailVerified {
        user_id: Uuid,
    },
    UserUpdated {
        user_id: Uuid,
        display_name: Change<String>,
    },
    PasswordChanged {
        user_id: Uuid,
        sessions_ended: u64,
    },
    PasswordReset {
        user_id: Uuid,
        sessions_ended: u64,
    },
    LoginSucceeded {
        user_id: Uuid,
        session_id: Uuid,
    },
    /// `user_id` is `None` when no account has the address.
    LoginFailed {
        email: String,
        user_id: Option<Uuid>,
    },
    LoginThrottled {
        email: String,
        user_id: Option<Uuid>,
        lockout: Lockout,
    },
    LoggedOut {
        user_id: Uuid,
        session_id: Uuid,
    },
    SessionRevoked {
        user_id: Uuid,
        session_id: Uuid,
    },
    SessionExpired {
        user_id: Uuid,
        session_id: Uuid,
        reason: SessionEnd,
    },
    OtherSessionsRevoked {
        user_id: Uuid,
        count: u64,
    },
    // Organizations.
    OrgCreated {
        org_id: Uuid,
        slug: String,
        name: String,
    },
    OrgUpdated {
        org_id: Uuid,
        name: Option<Change<String>>,
        description: Option<Change<String>>,
    },
    OrgSecurityUpdated {
        org_id: Uuid,
        session_timeout_minutes: Change<i32>,
    },
    IpAllowlistUpdated {
        org_id: Uuid,
        ranges: Change<Vec<IpRange>>,
        confirmed_lockout: bool,
    },
    /// By support, from the command line.
    OrgSlugChanged {
        org_id: Uuid,
        slug: Change<String>,
    },
    OrgOwnershipTransferred {
        from_user_id: Uuid,
        to_user_id: Uuid,
    },
    // Members and invitations.
    MemberAdded {
        user_id: Uuid,
        email: String,
        role: Role,
        /// The invitation and who sent it, when the member came through one.
        invitation: Option<(Uuid, Option<Uuid>)>,
    },
    MemberRemoved {
        user_id: Uuid,
        email: Option<String>,
        role: Role,
        left: bool,
    },
    MemberRoleChanged {
        user_id: Uuid,
        email: String,
        role: Change<Role>,
    },
    InvitationCreated {
        invitation_id: Uuid,
        email: String,
        role: Role,
    },
    InvitationRevoked {
        invitation_id: Uuid,
        email: String,
        replaced: bool,
    },
    InvitationAccepted {
        invitation_id: Uuid,
        email: String,
    },
    // API keys. The prefix is the key's public display prefix, never the secret.
    ApiKeyCreated {
        key_id: Uuid,
        name: String,
        scopes: Vec<ApiKeyScope>,
        prefix: String,
        expires_at: Option<DateTime<Utc>>,
    },
    ApiKeyRevoked {
        key_id: Uuid,
        name: String,
        prefix: String,
    },
    // Connectors. `url` is without query and fragment; never the credential.
    ConnectorCreated {
        connector_id: Uuid,
        name: String,
        url: String,
        tool_prefix: String,
        enabled: bool,
        has_credential: bool,
        idle_timeout_secs: Option<i32>,
        call_timeout_secs: Option<i32>,
    },
    ConnectorUpdated {
        connector_id: Uuid,
        name: String,
        changed: Vec<&'static str>,
        idle_timeout_secs: Option<Change<Option<i32>>>,
        call_timeout_secs: Option<Change<Option<i32>>>,
    },
    ConnectorDeleted {
        connector_id: Uuid,
        name: String,
        url: String,
    },
    ConnectorHealthChanged {
        connector_id: Uuid,
        name: String,
        status: Change<String>,
        error: Option<String>,
    },
    // OAuth.
    OAuthConsentGranted {
        client: Uuid,
        client_id: String,
        client_name: String,
        redirect_uri: String,
        scope: String,
    },
    OAuthGrantCreated {
        grant_id: Uuid,
        client_id: String,
        client_name: String,
        scope: String,
        refresh_token_days: u32,
        expires_at: DateTime<Utc>,
    },
    OAuthGrantRevoked {
        grant_id: Uuid,
        user_id: Uuid,
        client: Uuid,
        reason: GrantEndReason,
    },
    OAuthClientCreated {
        client: Uuid,
        client_id: String,
        name: String,
        redirect_uris: Vec<String>,
        refresh_tokens_revoked: u64,
    },
    OAuthClientDeleted {
        client: Uuid,
        client_id: String,
        name: String,
        grants_revoked: usize,
        refresh_tokens_revoked: u64,
    },
    OAuthSettingsUpdated {
        org_id: Uuid,
        refresh_token_lifetime: Change<RefreshTokenLifetime>,
    },
    /// Instance-level (no org).
    OAuthSigningKeyRotated {
        kid: String,
    },
    // Personal second factors (account-level: never sent out).
    TwoFactorEnabled {
        user_id: Uuid,
    },
    TwoFactorDisabled {
        user_id: Uuid,
    },
    BackupCodesRegenerated {
        user_id: Uuid,
        count: u64,
    },
    BackupCodeUsed {
        user_id: Uuid,
        remaining: u64,
    },
    // PIN protection. The PIN itself is never in an event.
    PinSet {
        user_id: Uuid,
    },
    /// `proof`: `"pin"` (the current PIN) or `"password"`.
    PinChanged {
        user_id: Uuid,
        proof: &'static str,
    },
    /// Through the emailed link.
    PinReset {
        user_id: Uuid,
    },
    PinLockedOut {
        user_id: Uuid,
        /// Lockouts in a row, this one included: each doubles the wait.
        lockouts: i32,
        locked_until: DateTime<Utc>,
    },
    PinStepUpOpened {
        user_id: Uuid,
        session_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    PinProtectionChanged {
        org_id: Uuid,
        pin_protection: Change<bool>,
    },
    // Passkeys (account-level).
    PasskeyAdded {
        user_id: Uuid,
        passkey_id: Uuid,
        name: String,
    },
    PasskeyRenamed {
        user_id: Uuid,
        passkey_id: Uuid,
        name: Change<String>,
    },
    PasskeyRemoved {
        user_id: Uuid,
        passkey_id: Uuid,
        name: String,
    },
    /// Require MFA switched on or off. Switching on revokes the OAuth grants of the
    /// members without a second factor (each also recorded as `oauth.grant_revoked`).
    OrgMfaRequirementUpdated {
        org_id: Uuid,
        require_mfa: Change<bool>,
        members_without_mfa: usize,
        oauth_grants_revoked: usize,
    },
    // Webhook endpoints. `url` without query and fragment; never a secret.
    WebhookCreated {
        webhook_id: Uuid,
        url: String,
        events: Vec<&'static str>,
        enabled: bool,
    },
    WebhookUpdated {
        webhook_id: Uuid,
        url: String,
        changed: Vec<&'static str>,
    },
    WebhookDeleted {
        webhook_id: Uuid,
        url: String,
    },
    /// New secrets; the previous signing secret stays valid until `previous_valid_until`.
    WebhookSecretRotated {
        webhook_id: Uuid,
        previous_valid_until: Option<DateTime<Utc>>,
    },
    /// The server switched the endpoint off: it answered 410 Gone (`gone`) or failed
    /// every delivery for too long (`failing`).
    WebhookDisabled {
        webhook_id: Uuid,
        url: String,
        reason: &'static str,
    },
    /// Messages queued for delivery again by hand.
    WebhookReplayed {
        webhook_id: Uuid,
        messages: u64,
    },
    UsageThresholdsUpdated {
        org_id: Uuid,
        daily: Change<Vec<u64>>,
        monthly: Change<Vec<u64>>,
    },
    /// The org's MCP calls reached a threshold in a UTC day or calendar month.
    UsageThresholdReached {
        org_id: Uuid,
        period: &'static str,
        period_start: String,
        threshold: u64,
        calls: u64,
    },
}

impl Event {
    /// The stable action name (an API: existing names never change).
    pub fn action(&self) -> &'static str {
        use Event::*;
        match self {
            UserSignedUp { .. } => "user.signed_up",
            UserCreated { .. } => "user.created",
            UserEmailVerified { .. } => "user.email_verified",
            UserUpdated { .. } => "user.updated",
            PasswordChanged { .. } => "user.password_changed",
            PasswordReset { .. } => "user.password_reset",
            LoginSucceeded { .. } => "auth.login_succeeded",
            LoginFailed { .. } => "auth.login_failed",
            LoginThrottled { .. } => "auth.login_throttled",
            LoggedOut { .. } => "auth.logged_out",
            SessionRevoked { .. } | SessionExpired { .. } | OtherSessionsRevoked { .. } => {
                "session.revoked"
            }
            OrgCreated { .. } => "org.created",
            OrgUpdated { .. } => "org.updated",
            OrgSecurityUpdated { .. } => "org.security_updated",
            IpAllowlistUpdated { .. } => "org.ip_allowlist_updated",
            OrgSlugChanged { .. } => "org.slug_changed",
            OrgOwnershipTransferred { .. } => "org.ownership_transferred",
            MemberAdded { .. } => "member.added",
            MemberRemoved { .. } => "member.removed",
            MemberRoleChanged { .. } => "member.role_changed",
            InvitationCreated { .. } => "invitation.created",
            InvitationRevoked { .. } => "invitation.revoked",
            InvitationAccepted { .. } => "invitation.accepted",
            ApiKeyCreated { .. } => "api_key.created",
            ApiKeyRevoked { .. } => "api_key.revoked",
            ConnectorCreated { .. } => "mcp.created",
            ConnectorUpdated { .. } => "mcp.updated",
            ConnectorDeleted { .. } => "mcp.deleted",
            ConnectorHealthChanged { .. } => "mcp.health_changed",
            OAuthConsentGranted { .. } => "oauth.consent_granted",
            OAuthGrantCreated { .. } => "oauth.grant_created",
            OAuthGrantRevoked { .. } => "oauth.grant_revoked",
            OAuthClientCreated { .. } => "oauth.client_created",
            OAuthClientDeleted { .. } => "oauth.client_deleted",
            OAuthSettingsUpdated { .. } => "oauth.settings_updated",
            OAuthSigningKeyRotated { .. } => "oauth.signing_key_rotated",
            TwoFactorEnabled { .. } => "user.two_factor_enabled",
            TwoFactorDisabled { .. } => "user.two_factor_disabled",
            BackupCodesRegenerated { .. } => "user.backup_codes_regenerated",
            BackupCodeUsed { .. } => "user.backup_code_used",
            PinSet { .. } => "user.pin_set",
            PinChanged { .. } => "user.pin_changed",
            PinReset { .. } => "user.pin_reset",
            PinLockedOut { .. } => "auth.pin_locked",
            PinStepUpOpened { .. } => "auth.pin_step_up",
            PinProtectionChanged { .. } => "org.pin_protection_changed",
            PasskeyAdded { .. } => "user.passkey_added",
            PasskeyRenamed { .. } => "user.passkey_renamed",
            PasskeyRemoved { .. } => "user.passkey_removed",
            OrgMfaRequirementUpdated { .. } => "org.mfa_requirement_updated",
            WebhookCreated { .. } => "webhook.created",
            WebhookUpdated { .. } => "webhook.updated",
            WebhookDeleted { .. } => "webhook.deleted",
            WebhookSecretRotated { .. } => "webhook.secret_rotated",
            WebhookDisabled { .. } => "webhook.disabled",
            WebhookReplayed { .. } => "webhook.replayed",
            UsageThresholdsUpdated { .. } => "org.usage_thresholds_updated",
            UsageThresholdReached { .. } => "usage.threshold",
        }
    }

    /// What the event is about: `(type, id)`.
    pub fn target(&self) -> Option<(&'static str, String)> {
        use Event::*;
        let t = |kind: &'static str, id: &dyn ToString| Some((kind, id.to_string()));
        match self {
            UserSignedUp { user_id, .. }
            | UserCreated { user_id }
            | UserEmailVerified { user_id }
            | UserUpdated { user_id, .. }
            | PasswordChanged { user_id, .. }
            | PasswordReset { user_id, .. } => t("user", user_id),
            LoginFailed { user_id, .. } | LoginThrottled { user_id, .. } => {
                user_id.and_then(|u| t("user", &u))
            }
            LoginSucceeded { session_id, .. }
            | LoggedOut { session_id, .. }
            | SessionRevoked { session_id, .. }
            | SessionExpired { session_id, .. } => t("session", session_id),
            OtherSessionsRevoked { .. } => None,
            OrgCreated { org_id, .. }
            | OrgUpdated { org_id, .. }
            | OrgSecurityUpdated { org_id, .. }
            | IpAllowlistUpdated { org_id, .. }
            | OrgSlugChanged { org_id, .. }
            | OAuthSettingsUpdated { org_id, .. }
            | OrgMfaRequirementUpdated { org_id, .. } => t("org", org_id),
            OrgOwnershipTransferred { to_user_id, .. } => t("user", to_user_id),
            MemberAdded { user_id, .. }
            | MemberRemoved { user_id, .. }
            | MemberRoleChanged { user_id, .. } => t("user", user_id),
            InvitationCreated { invitation_id, .. }
            | InvitationRevoked { invitation_id, .. }
            | InvitationAccepted { invitation_id, .. } => t("invitation", invitation_id),
            ApiKeyCreated { key_id, .. } | ApiKeyRevoked { key_id, .. } => t("api_key", key_id),
            ConnectorCreated { connector_id, .. }
            | ConnectorUpdated { connector_id, .. }
            | ConnectorDeleted { connector_id, .. }
            | ConnectorHealthChanged { connector_id, .. } => t("connector", connector_id),
            OAuthConsentGranted { client, .. }
            | OAuthClientCreated { client, .. }
            | OAuthClientDeleted { client, .. } => t("oauth_client", client),
            OAuthGrantCreated { grant_id, .. } | OAuthGrantRevoked { grant_id, .. } => {
                t("oauth_grant", grant_id)
            }
            OAuthSigningKeyRotated { kid } => t("oauth_signing_key", kid),
            TwoFactorEnabled { user_id }
            | TwoFactorDisabled { user_id }
            | BackupCodesRegenerated { user_id, .. }
            | BackupCodeUsed { user_id, .. } => t("user", user_id),
            PinSet { user_id }
            | PinChanged { user_id, .. }
            | PinReset { user_id }
            | PinLockedOut { user_id, .. } => t("user", user_id),
            PinStepUpOpened { session_id, .. } => t("session", session_id),
            PinProtectionChanged { org_id, .. } => t("org", org_id),
            WebhookCreated { webhook_id, .. }
            | WebhookUpdated { webhook_id, .. }
            | WebhookDeleted { webhook_id, .. }
            | WebhookSecretRotated { webhook_id, .. }
            | WebhookDisabled { webhook_id, .. }
            | WebhookReplayed { webhook_id, .. } => t("webhook", webhook_id),
            UsageThresholdsUpdated { org_id, .. } | UsageThresholdReached { org_id, .. } => {
                t("org", org_id)
            }
            PasskeyAdded { passkey_id, .. }
            | PasskeyRenamed { passkey_id, .. }
            | PasskeyRemoved { passkey_id, .. } => t("passkey", passkey_id),
        }
    }

    /// The JSON stored with the event.
    pub fn metadata(&self) -> Value {
        use Event::*;
        match self {
            UserSignedUp {
                via_invitation: true,
                ..
            } => json!({"via": "invitation"}),
            UserCreated { .. } => json!({"via": "cli"}),
            UserSignedUp { .. }
            | UserEmailVerified { .. }
            | LoginSucceeded { .. }
            | LoggedOut { .. }
            | SessionRevoked { .. }
            | OAuthSigningKeyRotated { .. } => json!({}),
            TwoFactorEnabled { .. } | TwoFactorDisabled { .. } => json!({"method": "totp"}),
            BackupCodesRegenerated { count, .. } => json!({"count": count}),
            BackupCodeUsed { remaining, .. } => json!({"remaining": remaining}),
            UserUpdated { display_name, .. } => {
                json!({"changes": {"display_name": change_json(display_name)}})
            }
            PasswordChanged { sessions_ended, .. } | PasswordReset { sessions_ended, .. } => {
                json!({"sessions_ended": sessions_ended})
            }
            LoginFailed { email, .. } => json!({"email": email}),
            LoginThrottled {
                email,
                lockout: Lockout::Device,
                ..
            } => json!({"email": email, "device_locked": true}),
            LoginThrottled {
                email,
                lockout: Lockout::Counters { account, ip },
                ..
            } => json!({"email": email, "account_locked": account, "ip_locked": ip}),
            SessionExpired {
                user_id, reason, ..
            } => json!({"reason": reason.as_str(), "user_id": user_id}),
            OtherSessionsRevoked { count, .. } => json!({"scope": "all_others", "count": count}),
            OrgCreated { slug, name, .. } => json!({"slug": slug, "name": name}),
            OrgUpdated {
                name, description, ..
            } => {
                let mut changes = Map::new();
                if let Some(c) = name {
                    changes.insert("name".into(), change_json(c));
                }
                if let Some(c) = description {
                    changes.insert("description".into(), change_json(c));
                }
                json!({"changes": changes})
            }
            OrgSecurityUpdated {
                session_timeout_minutes,
                ..
            } => {
                json!({"changes": {"session_timeout_minutes": change_json(session_timeout_minutes)}})
            }
            IpAllowlistUpdated {
                ranges,
                confirmed_lockout,
                ..
            } => {
                json!({"from": ranges.from, "to": ranges.to, "confirmed_lockout": confirmed_lockout})
            }
            OrgSlugChanged { slug, .. } => json!({"from": slug.from, "to": slug.to, "via": "cli"}),
            OrgOwnershipTransferred {
                from_user_id,
                to_user_id,
            } => json!({"from_user_id": from_user_id, "to_user_id": to_user_id}),
            MemberAdded {
                email,
                role,
                invitation: None,
                ..
            } => json!({"email": email, "role": role.as_str()}),
            MemberAdded {
                email,
                role,
                invitation: Some((invitation_id, invited_by)),
                ..
            } => {
                json!({"email": email, "role": role.as_str(), "invitation_id": invitation_id, "invited_by": invited_by})
            }
            MemberRemoved {
                email, role, left, ..
            } => json!({"email": email, "role": role.as_str(), "left": left}),
            MemberRoleChanged { email, role, .. } => {
                json!({"email": email, "from": role.from.as_str(), "to": role.to.as_str()})
            }
            InvitationCreated { email, role, .. } => {
                json!({"email": email, "role": role.as_str()})
            }
            InvitationRevoked {
                email,
                replaced: true,
                ..
            } => json!({"email": email, "reason": "replaced"}),
            InvitationRevoked { email, .. } | InvitationAccepted { email, .. } => {
                json!({"email": email})
            }
            ApiKeyCreated {
                name,
                scopes,
                prefix,
                expires_at,
                ..
            } => {
                json!({"name": name, "scopes": scopes, "prefix": prefix, "expires_at": expires_at})
            }
            ApiKeyRevoked { name, prefix, .. } => json!({"name": name, "prefix": prefix}),
            ConnectorCreated {
                name,
                url,
                tool_prefix,
                enabled,
                has_credential,
                idle_timeout_secs,
                call_timeout_secs,
                ..
            } => json!({
                "name": name, "url": url, "tool_prefix": tool_prefix, "enabled": enabled,
                "has_credential": has_credential,
                "idle_timeout_secs": idle_timeout_secs, "call_timeout_secs": call_timeout_secs,
            }),
            ConnectorUpdated {
                name,
                changed,
                idle_timeout_secs,
                call_timeout_secs,
                ..
            } => {
                // The timeouts are plain numbers, so their values are kept (null: the
                // server's default); of other fields only the names.
                let mut changes = Map::new();
                for (field, c) in [
                    ("idle_timeout_secs", idle_timeout_secs),
                    ("call_timeout_secs", call_timeout_secs),
                ] {
                    if let Some(c) = c {
                        changes.insert(field.into(), change_json(c));
                    }
                }
                let mut meta = json!({"name": name, "changed": changed});
                if !changes.is_empty() {
                    meta["changes"] = Value::Object(changes);
                }
                meta
            }
            ConnectorDeleted { name, url, .. } => json!({"name": name, "url": url}),
            ConnectorHealthChanged {
                name,
                status,
                error,
                ..
            } => json!({"name": name, "from": status.from, "to": status.to, "error": error}),
            OAuthConsentGranted {
                client_id,
                client_name,
                redirect_uri,
                scope,
                ..
            } => {
                json!({"client_id": client_id, "client_name": client_name, "redirect_uri": redirect_uri, "scope": scope})
            }
            OAuthGrantCreated {
                client_id,
                client_name,
                scope,
                refresh_token_days,
                expires_at,
                ..
            } => {
                json!({"client_id": client_id, "client_name": client_name, "scope": scope, "refresh_token_days": refresh_token_days, "expires_at": expires_at})
            }
            OAuthGrantRevoked {
                user_id,
                client,
                reason,
                ..
            } => json!({"reason": grant_end_text(*reason), "user_id": user_id, "client": client}),
            OAuthClientCreated {
                client_id,
                name,
                redirect_uris,
                refresh_tokens_revoked,
                ..
            } => {
                json!({"name": name, "client_id": client_id, "redirect_uris": redirect_uris, "refresh_tokens_revoked": refresh_tokens_revoked})
            }
            OAuthClientDeleted {
                client_id,
                name,
                grants_revoked,
                refresh_tokens_revoked,
                ..
            } => {
                json!({"name": name, "client_id": client_id, "grants_revoked": grants_revoked, "refresh_tokens_revoked": refresh_tokens_revoked})
            }
            OAuthSettingsUpdated {
                refresh_token_lifetime,
                ..
            } => json!({"refresh_token_lifetime": change_json(refresh_token_lifetime)}),
            PinSet { .. } | PinReset { .. } => json!({}),
            PinChanged { proof, .. } => json!({"proof": proof}),
            PinLockedOut {
                lockouts,
                locked_until,
                ..
            } => json!({"lockouts": lockouts, "locked_until": locked_until}),
            PinStepUpOpened {
                user_id,
                expires_at,
                ..
            } => json!({"user_id": user_id, "expires_at": expires_at}),
            PinProtectionChanged { pin_protection, .. } => {
                json!({"changes": {"pin_protection": change_json(pin_protection)}})
            }
            PasskeyAdded { name, .. } | PasskeyRemoved { name, .. } => json!({"name": name}),
            PasskeyRenamed { name, .. } => json!({"changes": {"name": change_json(name)}}),
            OrgMfaRequirementUpdated {
                require_mfa,
                members_without_mfa,
                oauth_grants_revoked,
                ..
            } => json!({
                "changes": {"require_mfa": change_json(require_mfa)},
                "members_without_mfa": members_without_mfa,
                "oauth_grants_revoked": oauth_grants_revoked,
            }),
            WebhookCreated {
                url,
                events,
                enabled,
                ..
            } => json!({"url": url, "events": events, "enabled": enabled}),
            WebhookUpdated { url, changed, .. } => json!({"url": url, "changed": changed}),
            WebhookDeleted { url, .. } => json!({"url": url}),
            WebhookSecretRotated {
                previous_valid_until,
                ..
            } => json!({"previous_valid_until": previous_valid_until}),
            WebhookDisabled { url, reason, .. } => json!({"url": url, "reason": reason}),
            WebhookReplayed { messages, .. } => json!({"messages": messages}),
            UsageThresholdsUpdated { daily, monthly, .. } => json!({
                "changes": {"daily": change_json(daily), "monthly": change_json(monthly)},
            }),
            UsageThresholdReached {
                period,
                period_start,
                threshold,
                calls,
                ..
            } => json!({
                "period": period,
                "period_start": period_start,
                "threshold": threshold,
                "calls": calls,
            }),
        }
    }

    /// Account-level events concern every org their user belongs to and are recorded in
    /// each (a user without orgs gets one event without an org).
    pub fn account_user(&self) -> Option<Uuid> {
        use Event::*;
        match self {
            UserEmailVerified { user_id }
            | UserUpdated { user_id, .. }
            | PasswordChanged { user_id, .. }
            | PasswordReset { user_id, .. }
            | LoginSucceeded { user_id, .. }
            | LoggedOut { user_id, .. }
            | SessionRevoked { user_id, .. }
            | SessionExpired { user_id, .. }
            | OtherSessionsRevoked { user_id, .. }
            | TwoFactorEnabled { user_id }
            | TwoFactorDisabled { user_id }
            | BackupCodesRegenerated { user_id, .. }
            | BackupCodeUsed { user_id, .. } => Some(*user_id),
            PinSet { user_id }
            | PinChanged { user_id, .. }
            | PinReset { user_id }
            | PinLockedOut { user_id, .. } => Some(*user_id),
            PasskeyAdded { user_id, .. }
            | PasskeyRenamed { user_id, .. }
            | PasskeyRemoved { user_id, .. } => Some(*user_id),
            LoginFailed { user_id, .. } | LoginThrottled { user_id, .. } => *user_id,
            // A new account has no orgs yet.
            UserSignedUp { .. } | UserCreated { .. } => None,
            _ => None,
        }
    }

    /// The part of the event a webhook may send, or `None` for events that never
    /// leave the server: account-level events (about one person, recorded in each of
    /// their orgs; a failed login names whatever address was typed), `org.created`
    /// (nothing can subscribe to an org before it exists), the consent step (the grant
    /// that follows is the event) and instance-level events.
    pub fn public(&self) -> Option<PublicEventData> {
        use Event::*;
        Some(match self {
            UserSignedUp { .. }
            | UserCreated { .. }
            | UserEmailVerified { .. }
            | UserUpdated { .. }
            | PasswordChanged { .. }
            | PasswordReset { .. }
            | LoginSucceeded { .. }
            | LoginFailed { .. }
            | LoginThrottled { .. }
            | LoggedOut { .. }
            | SessionRevoked { .. }
            | SessionExpired { .. }
            | OtherSessionsRevoked { .. }
            | OrgCreated { .. }
            | OAuthConsentGranted { .. }
            | OAuthSigningKeyRotated { .. }
            | TwoFactorEnabled { .. }
            | TwoFactorDisabled { .. }
            | BackupCodesRegenerated { .. }
            | BackupCodeUsed { .. } => return None,
            PinSet { .. }
            | PinChanged { .. }
            | PinReset { .. }
            | PinLockedOut { .. }
            | PinStepUpOpened { .. } => return None,
            // An endpoint's own settings are not events it delivers.
            WebhookCreated { .. }
            | WebhookUpdated { .. }
            | WebhookDeleted { .. }
            | WebhookSecretRotated { .. }
            | WebhookDisabled { .. }
            | WebhookReplayed { .. } => return None,
            // Webhooks carry `usage.threshold` in their own shape (`webhooks::publish`).
            UsageThresholdsUpdated { .. } | UsageThresholdReached { .. } => return None,
            PinProtectionChanged { pin_protection, .. } => {
                PublicEventData::OrgPinProtectionChanged {
                    pin_protection: pin_protection.clone(),
                }
            }
            PasskeyAdded { .. } | PasskeyRenamed { .. } | PasskeyRemoved { .. } => return None,
            OrgUpdated {
                name, description, ..
            } => PublicEventData::OrgUpdated {
                name: name.clone(),
                description: description.clone(),
            },
            OrgSecurityUpdated {
                session_timeout_minutes,
                ..
            } => PublicEventData::OrgSecurityUpdated {
                session_timeout_minutes: session_timeout_minutes.clone(),
            },
            IpAllowlistUpdated { ranges, .. } => PublicEventData::OrgIpAllowlistUpdated {
                ip_allowlist: ranges.clone(),
            },
            OrgSlugChanged { slug, .. } => PublicEventData::OrgSlugChanged { slug: slug.clone() },
            OrgOwnershipTransferred {
                from_user_id,
                to_user_id,
            } => PublicEventData::OrgOwnershipTransferred {
                from_user_id: *from_user_id,
                to_user_id: *to_user_id,
            },
            MemberAdded {
                user_id,
                email,
                role,
                invitation,
            } => PublicEventData::MemberAdded {
                user_id: *user_id,
                email: email.clone(),
                role: *role,
                invitation_id: invitation.map(|(id, _)| id),
            },
            MemberRemoved {
                user_id,
                email,
                role,
                left,
            } => PublicEventData::MemberRemoved {
                user_id: *user_id,
                email: email.clone(),
                role: *role,
                left: *left,
            },
            MemberRoleChanged {
                user_id,
                email,
                role,
            } => PublicEventData::MemberRoleChanged {
                user_id: *user_id,
                email: email.clone(),
                role: role.clone(),
            },
            InvitationCreated {
                invitation_id,
                email,
                role,
            } => PublicEventData::InvitationCreated {
                invitation_id: *invitation_id,
                email: email.clone(),
                role: *role,
            },
            InvitationRevoked {
                invitation_id,
                email,
                replaced,
            } => PublicEventData::InvitationRevoked {
                invitation_id: *invitation_id,
                email: email.clone(),
                replaced: *replaced,
            },
            InvitationAccepted {
                invitation_id,
                email,
            } => PublicEventData::InvitationAccepted {
                invitation_id: *invitation_id,
                email: email.clone(),
            },
            ApiKeyCreated {
                key_id,
                name,
                scopes,
                expires_at,
                ..
            } => PublicEventData::ApiKeyCreated {
                api_key_id: *key_id,
                name: name.clone(),
                scopes: scopes.clone(),
                expires_at: *expires_at,
            },
            ApiKeyRevoked { key_id, name, .. } => PublicEventData::ApiKeyRevoked {
                api_key_id: *key_id,
                name: name.clone(),
            },
            ConnectorCreated {
                connector_id,
                name,
                url,
                tool_prefix,
                enabled,
                ..
            } => PublicEventData::ConnectorCreated {
                connector_id: *connector_id,
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
            } => PublicEventData::ConnectorUpdated {
                connector_id: *connector_id,
                name: name.clone(),
                changed: changed.iter().map(|s| s.to_string()).collect(),
            },
            ConnectorDeleted {
                connector_id, name, ..
            } => PublicEventData::ConnectorDeleted {
                connector_id: *connector_id,
                name: name.clone(),
            },
            // The upstream's error text stays in the audit log: it can quote anything
            // the upstream said.
            ConnectorHealthChanged {
                connector_id,
                name,
                status,
                ..
            } => PublicEventData::ConnectorHealthChanged {
                connector_id: *connector_id,
                name: name.clone(),
                status: status.clone(),
            },
            OAuthGrantCreated {
                grant_id,
                client_id,
                client_name,
                scope,
                expires_at,
                ..
            } => PublicEventData::OAuthGrantCreated {
                grant_id: *grant_id,
                client_id: client_id.clone(),
                client_name: client_name.clone(),
                scope: scope.clone(),
                expires_at: *expires_at,
            },
            OAuthGrantRevoked {
                grant_id,
                user_id,
                reason,
                ..
            } => PublicEventData::OAuthGrantRevoked {
                grant_id: *grant_id,
                user_id: *user_id,
                reason: *reason,
            },
            OAuthClientCreated {
                client_id,
                name,
                redirect_uris,
                ..
            } => PublicEventData::OAuthClientCreated {
                client_id: client_id.clone(),
                name: name.clone(),
                redirect_uris: redirect_uris.clone(),
            },
            OAuthClientDeleted {
                client_id,
                name,
                grants_revoked,
                ..
            } => PublicEventData::OAuthClientDeleted {
                client_id: client_id.clone(),
                name: name.clone(),
                grants_revoked: *grants_revoked as u64,
            },
            OAuthSettingsUpdated {
                refresh_token_lifetime,
                ..
            } => PublicEventData::OAuthSettingsUpdated {
                refresh_token_lifetime: refresh_token_lifetime.clone(),
            },
            OrgMfaRequirementUpdated {
                require_mfa,
                oauth_grants_revoked,
                ..
            } => PublicEventData::OrgMfaRequirementUpdated {
                require_mfa: require_mfa.clone(),
                oauth_grants_revoked: *oauth_grants_revoked as u64,
            },
        })
    }

    /// The delivery body for this event as recorded (`id` and time from the log row),
    /// or `None` when it is not public.
    pub fn public_event(
        &self,
        id: Uuid,
        occurred_at: DateTime<Utc>,
        org: PublicOrg,
        actor: &Actor,
    ) -> Option<PublicEvent> {
        Some(PublicEvent {
            event: self.public()?,
            id,
            occurred_at,
            org,
            actor: actor.public(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ch<T>(from: T, to: T) -> Change<T> {
        Change { from, to }
    }

    /// One sample of every variant. `index` has no wildcard arm: a new variant does not
    /// compile until it has a sample here and an expected name/JSON below.
    fn samples() -> Vec<Event> {
        use Event::*;
        let range = |c: &str| IpRange {
            cidr: c.into(),
            label: "office".into(),
        };
        vec![
            UserSignedUp {
                user_id: id(1),
                via_invitation: false,
            },
            UserCreated { user_id: id(1) },
            UserEmailVerified { user_id: id(1) },
            UserUpdated {
                user_id: id(1),
                display_name: ch("Ann".into(), "Anne".into()),
            },
            PasswordChanged {
                user_id: id(1),
                sessions_ended: 2,
            },
            PasswordReset {
                user_id: id(1),
                sessions_ended: 3,
            },
            LoginSucceeded {
                user_id: id(1),
                session_id: id(2),
            },
            LoginFailed {
                email: "ann@example.com".into(),
                user_id: None,
            },
            LoginThrottled {
                email: "ann@example.com".into(),
                user_id: Some(id(1)),
                lockout: Lockout::Counters {
                    account: true,
                    ip: false,
                },
            },
            LoggedOut {
                user_id: id(1),
                session_id: id(2),
            },
            SessionRevoked {
                user_id: id(1),
                session_id: id(2),
            },
            SessionExpired {
                user_id: id(1),
                session_id: id(2),
                reason: SessionEnd::IdleTimeout,
            },
            OtherSessionsRevoked {
                user_id: id(1),
                count: 4,
            },
            OrgCreated {
                org_id: id(10),
                slug: "acme".into(),
                name: "Acme".into(),
            },
            OrgUpdated {
                org_id: id(10),
                name: Some(ch("Acme".into(), "Acme Inc".into())),
                description: None,
            },
            OrgSecurityUpdated {
                org_id: id(10),
                session_timeout_minutes: ch(60, 120),
            },
            IpAllowlistUpdated {
                org_id: id(10),
                ranges: ch(vec![], vec![range("203.0.113.0/24")]),
                confirmed_lockout: false,
            },
            OrgSlugChanged {
                org_id: id(10),
                slug: ch("acme".into(), "acme-inc".into()),
            },
            OrgOwnershipTransferred {
                from_user_id: id(1),
                to_user_id: id(3),
            },
            MemberAdded {
                user_id: id(3),
                email: "bob@example.com".into(),
                role: Role::Admin,
                invitation: Some((id(20), Some(id(1)))),
            },
            MemberRemoved {
                user_id: id(3),
                email: Some("bob@example.com".into()),
                role: Role::Member,
                left: true,
            },
            MemberRoleChanged {
                user_id: id(3),
                email: "bob@example.com".into(),
                role: ch(Role::Member, Role::Admin),
            },
            InvitationCreated {
                invitation_id: id(20),
                email: "bob@example.com".into(),
                role: Role::Member,
            },
            InvitationRevoked {
                invitation_id: id(20),
                email: "bob@example.com".into(),
                replaced: true,
            },
            InvitationAccepted {
                invitation_id: id(20),
                email: "bob@example.com".into(),
            },
            ApiKeyCreated {
                key_id: id(30),
                name: "ci".into(),
                scopes: vec![ApiKeyScope::Mcp, ApiKeyScope::Read],
                prefix: "gh_live_a".into(),
                expires_at: Some(at()),
            },
            ApiKeyRevoked {
                key_id: id(30),
                name: "ci".into(),
                prefix: "gh_live_a".into(),
            },
            ConnectorCreated {
                connector_id: id(40),
                name: "Docs".into(),
                url: "https://mcp.example.com/mcp".into(),
                tool_prefix: "docs".into(),
                enabled: true,
                has_credential: true,
                idle_timeout_secs: None,
                call_timeout_secs: Some(30),
            },
            ConnectorUpdated {
                connector_id: id(40),
                name: "Docs".into(),
                changed: vec!["credential", "call_timeout_secs"],
                idle_timeout_secs: None,
                call_timeout_secs: Some(ch(Some(30), None)),
            },
            ConnectorDeleted {
                connector_id: id(40),
                name: "Docs".into(),
                url: "https://mcp.example.com/mcp".into(),
            },
            ConnectorHealthChanged {
                connector_id: id(40),
                name: "Docs".into(),
                status: ch("healthy".into(), "unhealthy".into()),
                error: Some("connection refused".into()),
            },
            OAuthConsentGranted {
                client: id(50),
                client_id: "c_1".into(),
                client_name: "Claude".into(),
                redirect_uri: "https://claude.ai/cb".into(),
                scope: "mcp".into(),
            },
            OAuthGrantCreated {
                grant_id: id(60),
                client_id: "c_1".into(),
                client_name: "Claude".into(),
                scope: "mcp".into(),
                refresh_token_days: 30,
                expires_at: at(),
            },
            OAuthGrantRevoked {
                grant_id: id(60),
                user_id: id(1),
                client: id(50),
                reason: GrantEndReason::MemberRemoved,
            },
            OAuthClientCreated {
                client: id(50),
                client_id: "c_1".into(),
                name: "Claude".into(),
                redirect_uris: vec!["https://claude.ai/cb".into()],
                refresh_tokens_revoked: 1,
            },
            OAuthClientDeleted {
                client: id(50),
                client_id: "c_1".into(),
                name: "Claude".into(),
                grants_revoked: 2,
                refresh_tokens_revoked: 3,
            },
            OAuthSettingsUpdated {
                org_id: id(10),
                refresh_token_lifetime: ch(
                    RefreshTokenLifetime::Default,
                    RefreshTokenLifetime::Short,
                ),
            },
            OAuthSigningKeyRotated { kid: "k1".into() },
            TwoFactorEnabled { user_id: id(1) },
            TwoFactorDisabled { user_id: id(1) },
            BackupCodesRegenerated {
                user_id: id(1),
                count: 10,
            },
            BackupCodeUsed {
                user_id: id(1),
                remaining: 9,
            },
            PinSet { user_id: id(1) },
            PinChanged {
                user_id: id(1),
                proof: "password",
            },
            PinReset { user_id: id(1) },
            PinLockedOut {
                user_id: id(1),
                lockouts: 2,
                locked_until: at(),
            },
            PinStepUpOpened {
                user_id: id(1),
                session_id: id(2),
                expires_at: at(),
            },
            PinProtectionChanged {
                org_id: id(10),
                pin_protection: ch(false, true),
            },
            PasskeyAdded {
                user_id: id(1),
                passkey_id: id(60),
                name: "Laptop".into(),
            },
            PasskeyRenamed {
                user_id: id(1),
                passkey_id: id(60),
                name: ch("Laptop".into(), "Work laptop".into()),
            },
            PasskeyRemoved {
                user_id: id(1),
                passkey_id: id(60),
                name: "Work laptop".into(),
            },
            OrgMfaRequirementUpdated {
                org_id: id(10),
                require_mfa: ch(false, true),
                members_without_mfa: 2,
                oauth_grants_revoked: 3,
            },
            WebhookCreated {
                webhook_id: id(70),
                url: "https://hooks.example.com/gatehouse".into(),
                events: vec!["mcp.created", "api_key.revoked"],
                enabled: true,
            },
            WebhookUpdated {
                webhook_id: id(70),
                url: "https://hooks.example.com/gatehouse".into(),
                changed: vec!["events", "enabled"],
            },
            WebhookDeleted {
                webhook_id: id(70),
                url: "https://hooks.example.com/gatehouse".into(),
            },
            WebhookSecretRotated {
                webhook_id: id(70),
                previous_valid_until: Some(at()),
            },
            WebhookDisabled {
                webhook_id: id(70),
                url: "https://hooks.example.com/gatehouse".into(),
                reason: "gone",
            },
            WebhookReplayed {
                webhook_id: id(70),
                messages: 4,
            },
            UsageThresholdsUpdated {
                org_id: id(10),
                daily: ch(vec![], vec![1000, 5000]),
                monthly: ch(vec![100_000], vec![100_000]),
            },
            UsageThresholdReached {
                org_id: id(10),
                period: "day",
                period_start: "2026-01-02".into(),
                threshold: 1000,
                calls: 1004,
            },
        ]
    }

    fn index(e: &Event) -> usize {
        use Event::*;
        match e {
            UserSignedUp { .. } => 0,
            UserCreated { .. } => 1,
            UserEmailVerified { .. } => 2,
            UserUpdated { .. } => 3,
            PasswordChanged { .. } => 4,
            PasswordReset { .. } => 5,
            LoginSucceeded { .. } => 6,
            LoginFailed { .. } => 7,
            LoginThrottled { .. } => 8,
            LoggedOut { .. } => 9,
            SessionRevoked { .. } => 10,
            SessionExpired { .. } => 11,
            OtherSessionsRevoked { .. } => 12,
            OrgCreated { .. } => 13,
            OrgUpdated { .. } => 14,
            OrgSecurityUpdated { .. } => 15,
            IpAllowlistUpdated { .. } => 16,
            OrgSlugChanged { .. } => 17,
            OrgOwnershipTransferred { .. } => 18,
            MemberAdded { .. } => 19,
            MemberRemoved { .. } => 20,
            MemberRoleChanged { .. } => 21,
            InvitationCreated { .. } => 22,
            InvitationRevoked { .. } => 23,
            InvitationAccepted { .. } => 24,
            ApiKeyCreated { .. } => 25,
            ApiKeyRevoked { .. } => 26,
            ConnectorCreated { .. } => 27,
            ConnectorUpdated { .. } => 28,
            ConnectorDeleted { .. } => 29,
            ConnectorHealthChanged { .. } => 30,
            OAuthConsentGranted { .. } => 31,
            OAuthGrantCreated { .. } => 32,
            OAuthGrantRevoked { .. } => 33,
            OAuthClientCreated { .. } => 34,
            OAuthClientDeleted { .. } => 35,
            OAuthSettingsUpdated { .. } => 36,
            OAuthSigningKeyRotated { .. } => 37,
            TwoFactorEnabled { .. } => 38,
            TwoFactorDisabled { .. } => 39,
            BackupCodesRegenerated { .. } => 40,
            BackupCodeUsed { .. } => 41,
            PinSet { .. } => 42,
            PinChanged { .. } => 43,
            PinReset { .. } => 44,
            PinLockedOut { .. } => 45,
            PinStepUpOpened { .. } => 46,
            PinProtectionChanged { .. } => 47,
            PasskeyAdded { .. } => 48,
            PasskeyRenamed { .. } => 49,
            PasskeyRemoved { .. } => 50,
            OrgMfaRequirementUpdated { .. } => 51,
            WebhookCreated { .. } => 52,
            WebhookUpdated { .. } => 53,
            WebhookDeleted { .. } => 54,
            WebhookSecretRotated { .. } => 55,
            WebhookDisabled { .. } => 56,
            WebhookReplayed { .. } => 57,
            UsageThresholdsUpdated { .. } => 58,
            UsageThresholdReached { .. } => 59,
        }
    }

    #[test]
    fn the_samples_cover_every_variant_once_in_order() {
        let got: Vec<usize> = samples().iter().map(index).collect();
        assert_eq!(got, (0..60).collect::<Vec<_>>());
    }

    /// Action names are an API (audit filters, exports, webhook types): this list is
    /// the contract and only ever grows.
    #[test]
    fn every_action_name_is_pinned() {
        let names: Vec<&str> = samples().iter().map(Event::action).collect();
        assert_eq!(
            names,
            [
                "user.signed_up",
                "user.created",
                "user.email_verified",
                "user.updated",
                "user.password_changed",
                "user.password_reset",
                "auth.login_succeeded",
                "auth.login_failed",
                "auth.login_throttled",
                "auth.logged_out",
                "session.revoked",
                "session.revoked",
                "session.revoked",
                "org.created",
                "org.updated",
                "org.security_updated",
                "org.ip_allowlist_updated",
                "org.slug_changed",
                "org.ownership_transferred",
                "member.added",
                "member.removed",
                "member.role_changed",
                "invitation.created",
                "invitation.revoked",
                "invitation.accepted",
                "api_key.created",
                "api_key.revoked",
                "mcp.created",
                "mcp.updated",
                "mcp.deleted",
                "mcp.health_changed",
                "oauth.consent_granted",
                "oauth.grant_created",
                "oauth.grant_revoked",
                "oauth.client_created",
                "oauth.client_deleted",
                "oauth.settings_updated",
                "oauth.signing_key_rotated",
                "user.two_factor_enabled",
                "user.two_factor_disabled",
                "user.backup_codes_regenerated",
                "user.backup_code_used",
                "user.pin_set",
                "user.pin_changed",
                "user.pin_reset",
                "auth.pin_locked",
                "auth.pin_step_up",
                "org.pin_protection_changed",
                "user.passkey_added",
                "user.passkey_renamed",
                "user.passkey_removed",
                "org.mfa_requirement_updated",
                "webhook.created",
                "webhook.updated",
                "webhook.deleted",
                "webhook.secret_rotated",
                "webhook.disabled",
                "webhook.replayed",
                "org.usage_thresholds_updated",
                "usage.threshold",
            ]
        );
    }

    /// The stored metadata of every sample, which the audit log's readers (the
    /// dashboard, exports) already depend on.
    #[test]
    fn stored_metadata_and_targets_are_pinned() {
        let got: Vec<Value> = samples()
            .iter()
            .map(|e| {
                json!({
                    "action": e.action(),
                    "target": e.target().map(|(t, id)| format!("{t}:{id}")),
                    "metadata": e.metadata(),
                })
            })
            .collect();
        let want: Value =
            serde_json::from_str(include_str!("testdata/stored_events.json")).unwrap();
        assert_eq!(Value::Array(got), want, "stored audit events changed");
    }

    /// The public (webhook) form of every event: a public contract. Events that are
    /// not public appear as `null`.
    #[test]
    fn public_events_are_pinned() {
        let org = PublicOrg {
            id: id(10),
            slug: "acme".into(),
        };
        let actor = Actor::User {
            id: id(1),
            email: "ann@example.com".into(),
        };
        let got: Vec<Value> = samples()
            .iter()
            .map(|e| {
                let p = e.public_event(id(99), at(), org.clone(), &actor);
                if let Some(p) = &p {
                    // Receivers parse what we send.
                    let back: PublicEvent =
                        serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap();
                    assert_eq!(&back, p);
                    assert_eq!(p.event.type_name(), e.action());
                }
                serde_json::to_value(p).unwrap()
            })
            .collect();
        let want: Value =
            serde_json::from_str(include_str!("testdata/public_events.json")).unwrap();
        assert_eq!(Value::Array(got), want, "the public event contract changed");
    }

    #[test]
    fn the_other_actors_have_a_public_form() {
        assert_eq!(
            serde_json::to_value(Actor::System.public()).unwrap(),
            json!({"type": "system"})
        );
        assert_eq!(
            serde_json::to_value(
                Actor::ApiKey {
                    id: id(30),
                    name: "ci".into()
                }
                .public()
            )
            .unwrap(),
            json!({"type": "api_key", "id": id(30), "name": "ci"})
        );
    }
}
