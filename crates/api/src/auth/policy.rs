//! The one access check: may this caller act on this org from this address? The REST
//! org guard, the MCP endpoint and the OAuth consent step all ask `check`, after they
//! have found the org (`org_ref`) and authenticated the caller, so a rule added here
//! (MFA or SSO required, a plan gate, pending deletion, a step-up) holds at every door.
//!
//! It is a pure function of data the door has already loaded: on the MCP hot path the
//! org and its parsed allowlist come from the replica's key cache, so a check costs no
//! query and no allocation unless it refuses.
//!
//! MFA required (`organizations.require_mfa`) binds people, not org credentials: a
//! session without a second factor is refused, API keys are not affected, and an OAuth
//! grant is never made without one (consent is a session door) while switching the rule
//! on revokes the grants of members without one (`security::service`).
use super::{api_key::KeyPrincipal, org_ref};
use crate::{
    accounts::mfa,
    entity::{organization, user},
    http::{ApiError, ApiResult, ClientMeta, ErrorKind, meta::parse_range},
};
use gatehouse_types::IpRange;
use ipnet::IpNet;
use std::net::IpAddr;
use uuid::Uuid;

/// Who asks, as far as a rule may need to know.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A signed-in user with their session cookie: the REST API and the consent step.
    Session {
        user: &'a user::Model,
        session_id: Uuid,
        second_factor: SecondFactor,
    },
    /// An API key of the org.
    ApiKey(&'a KeyPrincipal),
    /// An OAuth access token, of a grant a user gave a client.
    OAuthGrant { grant: Uuid, user: Uuid },
}

/// Whether a signed-in user has a second factor (`accounts::mfa`). Looked up by the
/// door only when the org requires MFA (`second_factor`), so other orgs pay no query; a
/// door that did not look it up is refused by an org that requires it (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Has,
    Lacks,
    NotLookedUp,
}

/// What `Caller::Session` needs for this org: `NotLookedUp` unless the org requires MFA.
pub async fn second_factor(
    db: &impl sea_orm::ConnectionTrait,
    org: &organization::Model,
    user: Uuid,
) -> ApiResult<SecondFactor> {
    if !org.require_mfa {
        return Ok(SecondFactor::NotLookedUp);
    }
    Ok(if mfa::has_mfa(db, user).await? {
        SecondFactor::Has
    } else {
        SecondFactor::Lacks
    })
}

/// The org as the door has it: the row, and its allowlist already parsed when the door
/// keeps it cached (`None`: read it from the row).
#[derive(Debug, Clone, Copy)]
pub struct OrgSnapshot<'a> {
    pub org: &'a organization::Model,
    pub allowlist: Option<&'a [IpNet]>,
}

impl<'a> OrgSnapshot<'a> {
    /// A row just read from the database.
    pub fn row(org: &'a organization::Model) -> Self {
        OrgSnapshot {
            org,
            allowlist: None,
        }
    }

    /// A row with its allowlist as parsed by `allowlist` when it was cached.
    pub fn cached(org: &'a organization::Model, allowlist: &'a [IpNet]) -> Self {
        OrgSnapshot {
            org,
            allowlist: Some(allowlist),
        }
    }
}

/// One request's question to the policy.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub caller: Caller<'a>,
    pub org: OrgSnapshot<'a>,
    pub client: &'a ClientMeta,
}

/// Allows the access or says why not, with the problem type each refusal has always
/// had (`ip-not-allowed`; a deleted org is `not-found`). Doors that answer in another
/// shape (the consent page) show the error's text.
///
/// Ask only once the caller is known to belong to the org, so that an outsider learns
/// nothing of the org's rules.
pub fn check(access: &Access<'_>) -> ApiResult<()> {
    let org = access.org.org;
    if !org_ref::is_live(org) {
        return Err(ApiError::not_found("organization"));
    }
    match access.org.allowlist {
        Some(nets) => admits(nets, access.client)?,
        None => admits(&allowlist(org)?, access.client)?,
    }
    requires_mfa(org, &access.caller)
}

/// A person signed in without a second factor, in an org that requires one. The
/// problem says where to set it up (`/me` and the 2FA routes are outside the org, so
/// they stay reachable).
fn requires_mfa(org: &organization::Model, caller: &Caller<'_>) -> ApiResult<()> {
    match caller {
        Caller::Session { second_factor, .. }
            if org.require_mfa && *second_factor != SecondFactor::Has =>
        {
            Err(ApiError::with_detail(
                ErrorKind::MfaRequired,
                format!(
                    "{} requires two-factor authentication: set up an authenticator app or a passkey under Account → Security, then try again",
                    org.name
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The org's IP allowlist as networks (empty: no restriction); an unreadable stored
/// list fails closed. Caches that hand `OrgSnapshot::cached` a list get it from here.
pub fn allowlist(org: &organization::Model) -> ApiResult<Vec<IpNet>> {
    let stored = |e: String| ApiError::internal(anyhow::anyhow!("stored allowlist: {e}"));
    serde_json::from_str::<Vec<IpRange>>(&org.ip_allowlist)
        .map_err(|e| stored(e.to_string()))?
        .iter()
        .map(|r| parse_range(&r.cidr))
        .collect::<Result<Vec<_>, _>>()
        .map_err(stored)
}

/// Refuses a client outside a non-empty allowlist.
fn admits(nets: &[IpNet], client: &ClientMeta) -> ApiResult<()> {
    if nets.is_empty() {
        return Ok(());
    }
    let ip = client.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
    if ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))) {
        return Ok(());
    }
    Err(ApiError::with_detail(
        ErrorKind::IpNotAllowed,
        format!(
            "{} is not in this organization's IP allowlist",
            client.ip.as_deref().unwrap_or("your address")
        ),
    ))
}
