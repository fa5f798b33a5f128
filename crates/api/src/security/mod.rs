//! Organization security settings: session timeout, the IP allowlist and MFA
//! enforcement (which `auth::policy` enforces) and PIN protection (which
//! `auth::step_up` enforces; the PINs are `pin`'s).
pub mod service;

use crate::{
    auth::{OrgAdmin, step_up},
    entity::organization,
    http::{ApiError, ApiResult, ClientMeta},
    state::AppState,
};
use actix_web::{get, patch, web};
use gatehouse_types::{
    CallerIp, IpPreset, IpRange, Member, MfaPreview, Role, SecuritySettings, UpdateSecuritySettings,
};

pub const MAX_RANGES: usize = 100;
const LABEL_MAX_CHARS: usize = 100;

pub fn ranges(org: &organization::Model) -> ApiResult<Vec<IpRange>> {
    serde_json::from_str(&org.ip_allowlist)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored allowlist: {e}")))
}

fn settings(org: &organization::Model, pin_protection: bool) -> ApiResult<SecuritySettings> {
    Ok(SecuritySettings {
        session_timeout_minutes: org.session_timeout_minutes,
        ip_allowlist: ranges(org)?,
        pin_protection,
        require_mfa: org.require_mfa,
    })
}

async fn current(st: &AppState, org: &organization::Model) -> ApiResult<SecuritySettings> {
    settings(org, step_up::protection_on(&st.db, org.id).await?)
}

/// Security settings of the organization.
#[utoipa::path(operation_id = "getSecuritySettings", security(("session" = []), ("apiKey" = [])),
    tag = "security", params(("slug" = String, Path)),
    responses((status = 200, body = SecuritySettings), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/settings/security")]
pub async fn get_security(
    admin: OrgAdmin,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<SecuritySettings>> {
    Ok(web::Json(current(&st, &admin.0.org).await?))
}

/// Change security settings. A shorter session timeout applies to members' sessions at
/// their next request; an allowlist applies to the next request on every replica. A
/// list that would lock the caller out is refused unless `confirm_lockout` is true.
/// PIN protection is switched by signed-in owners and admins: on needs the caller's own
/// PIN set (`pin-not-set`), off an open PIN step-up window (`pin-required`).
///
/// `require_mfa: true` needs a signed-in owner or admin who has a second factor (else
/// `mfa-required`; an API key cannot switch it on). From the next request, members
/// signed in without TOTP or a passkey get `mfa-required` (403) on the org's REST API
/// and cannot grant OAuth clients access; their existing OAuth grants are revoked in
/// the same transaction (their tokens are refused at the MCP endpoint within seconds on
/// every replica). API keys are org credentials and are not affected.
#[utoipa::path(operation_id = "updateSecuritySettings", security(("session" = []), ("apiKey" = [])),
    tag = "security", params(("slug" = String, Path)), request_body = UpdateSecuritySettings,
    responses((status = 200, body = SecuritySettings), (status = 403, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}/settings/security")]
pub async fn update_security(
    admin: OrgAdmin,
    body: web::Json<UpdateSecuritySettings>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<SecuritySettings>> {
    let org = service::update_settings(&st, &admin, body.into_inner()).await?;
    Ok(web::Json(current(&st, &org).await?))
}

/// The members "Require MFA" blocks (or would block once switched on): those without
/// TOTP or a passkey, with the number of OAuth grants switching it on would revoke.
#[utoipa::path(operation_id = "previewMfaRequirement", security(("session" = []), ("apiKey" = [])),
    tag = "security", params(("slug" = String, Path)),
    responses((status = 200, body = MfaPreview), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/settings/security/mfa-preview")]
pub async fn mfa_preview(
    admin: OrgAdmin,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<MfaPreview>> {
    let p = service::mfa_preview(&st, &admin).await?;
    Ok(web::Json(MfaPreview {
        require_mfa: admin.org().require_mfa,
        members_without_mfa: p
            .blocked
            .into_iter()
            .map(|(m, u)| Member {
                user_id: u.id,
                email: u.email,
                display_name: u.display_name,
                role: Role::parse(&m.role).unwrap_or(Role::Member),
                joined_at: m.created_at,
            })
            .collect(),
        total_members: p.total_members,
        oauth_grants_to_revoke: p.oauth_grants_to_revoke,
    }))
}

/// The caller's address as the server sees it (after trusted proxies).
#[utoipa::path(operation_id = "getMyIp",
    tag = "security", responses((status = 200, body = CallerIp)))]
#[get("/me/ip")]
pub async fn my_ip(meta: ClientMeta) -> web::Json<CallerIp> {
    web::Json(CallerIp {
        ip: meta.ip.unwrap_or_default(),
    })
}

/// Ranges to add with one click.
#[utoipa::path(operation_id = "listIpAllowlistPresets",
    tag = "security", responses((status = 200, body = Vec<IpPreset>)))]
#[get("/ip-allowlist/presets")]
pub async fn presets() -> web::Json<Vec<IpPreset>> {
    web::Json(vec![IpPreset {
        id: "anthropic".into(),
        label: "Anthropic (Claude.ai)".into(),
        description: "Claude.ai reaches your MCP endpoint from Anthropic's published egress addresses, not from your users' machines.".into(),
        ranges: vec![IpRange { cidr: "160.79.104.0/21".into(), label: "Anthropic egress".into() }],
    }])
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_security)
        .service(update_security)
        .service(mfa_preview)
        .service(my_ip)
        .service(presets);
}
