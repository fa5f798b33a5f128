//! Organization security settings: session timeout, the IP allowlist (which
//! `auth::policy` enforces) and PIN protection (which `auth::step_up` enforces; the PINs
//! are `pin`'s).
pub mod service;

use crate::{
    auth::{OrgAdmin, step_up},
    entity::organization,
    http::{ApiError, ApiResult, ClientMeta},
    state::AppState,
};
use actix_web::{get, patch, web};
use gatehouse_types::{CallerIp, IpPreset, IpRange, SecuritySettings, UpdateSecuritySettings};

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
#[utoipa::path(operation_id = "updateSecuritySettings", security(("session" = []), ("apiKey" = [])),
    tag = "security", params(("slug" = String, Path)), request_body = UpdateSecuritySettings,
    responses((status = 200, body = SecuritySettings), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}/settings/security")]
pub async fn update_security(
    admin: OrgAdmin,
    body: web::Json<UpdateSecuritySettings>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<SecuritySettings>> {
    let org = service::update_settings(&st, &admin, body.into_inner()).await?;
    Ok(web::Json(current(&st, &org).await?))
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
        .service(my_ip)
        .service(presets);
}
