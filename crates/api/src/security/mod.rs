//! Organization security settings: session timeout and the IP allowlist (which
//! `auth::policy` enforces).
use crate::{
    audit::{self, Context, Event, change},
    auth::OrgAdmin,
    entity::organization,
    http::{ApiError, ApiResult, ClientMeta, ErrorKind, meta::parse_range, problem::Validation},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use actix_web::{get, patch, web};
use gatehouse_types::{
    CallerIp, IpPreset, IpRange, SecuritySettings, UpdateSecuritySettings,
    validation::{SESSION_TIMEOUT_MAX_MINUTES, SESSION_TIMEOUT_MIN_MINUTES},
};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use std::net::IpAddr;

pub const MAX_RANGES: usize = 100;
const LABEL_MAX_CHARS: usize = 100;

pub fn ranges(org: &organization::Model) -> ApiResult<Vec<IpRange>> {
    serde_json::from_str(&org.ip_allowlist)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored allowlist: {e}")))
}

fn settings(org: &organization::Model) -> ApiResult<SecuritySettings> {
    Ok(SecuritySettings {
        session_timeout_minutes: org.session_timeout_minutes,
        ip_allowlist: ranges(org)?,
    })
}

/// Security settings of the organization.
#[utoipa::path(operation_id = "getSecuritySettings", security(("session" = []), ("apiKey" = [])),
    tag = "security", params(("slug" = String, Path)),
    responses((status = 200, body = SecuritySettings), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/settings/security")]
pub async fn get_security(admin: OrgAdmin) -> ApiResult<web::Json<SecuritySettings>> {
    Ok(web::Json(settings(&admin.0.org)?))
}

/// Change security settings. A shorter session timeout applies to members' sessions at
/// their next request; an allowlist applies to the next request on every replica. A
/// list that would lock the caller out is refused unless `confirm_lockout` is true.
#[utoipa::path(operation_id = "updateSecuritySettings", security(("session" = []), ("apiKey" = [])),
    tag = "security", params(("slug" = String, Path)), request_body = UpdateSecuritySettings,
    responses((status = 200, body = SecuritySettings), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}/settings/security")]
pub async fn update_security(
    admin: OrgAdmin,
    body: web::Json<UpdateSecuritySettings>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<SecuritySettings>> {
    let m = admin.0;
    let body = body.into_inner();
    let mut v = Validation::default();
    if let Some(minutes) = body.session_timeout_minutes
        && !(SESSION_TIMEOUT_MIN_MINUTES..=SESSION_TIMEOUT_MAX_MINUTES).contains(&minutes)
    {
        v.push(
            "session_timeout_minutes",
            format!(
                "between {SESSION_TIMEOUT_MIN_MINUTES} and {SESSION_TIMEOUT_MAX_MINUTES} minutes"
            ),
        );
    }
    let mut new_ranges: Option<Vec<IpRange>> = None;
    if let Some(list) = &body.ip_allowlist {
        if list.len() > MAX_RANGES {
            v.push("ip_allowlist", format!("at most {MAX_RANGES} ranges"));
        }
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            match parse_range(&r.cidr) {
                Ok(net) => {
                    let label = r.label.trim().to_string();
                    if label.chars().count() > LABEL_MAX_CHARS
                        || label.chars().any(char::is_control)
                    {
                        v.push(
                            &format!("ip_allowlist[{i}].label"),
                            format!("at most {LABEL_MAX_CHARS} printable characters"),
                        );
                    }
                    if !out.iter().any(|o: &IpRange| o.cidr == net.to_string()) {
                        out.push(IpRange {
                            cidr: net.to_string(),
                            label,
                        });
                    }
                }
                Err(e) => v.push(&format!("ip_allowlist[{i}].cidr"), e),
            }
        }
        new_ranges = Some(out);
    }
    v.finish()?;
    let old = settings(&m.org)?;
    if let Some(list) = &new_ranges
        && !list.is_empty()
        && !body.confirm_lockout
    {
        let me = m
            .meta()
            .ip
            .as_deref()
            .and_then(|s| s.parse::<IpAddr>().ok());
        let inside = me.is_some_and(|ip| {
            list.iter()
                .filter_map(|r| parse_range(&r.cidr).ok())
                .any(|n| n.contains(&ip))
        });
        if !inside {
            return Err(ApiError::with_detail(
                ErrorKind::AllowlistExcludesCaller,
                format!(
                    "this list does not include your address {}: saving it would lock you out; add your address or send confirm_lockout: true",
                    m.meta().ip.as_deref().unwrap_or("(unknown)")
                ),
            ));
        }
    }
    let timeout = body
        .session_timeout_minutes
        .unwrap_or(old.session_timeout_minutes);
    let list = new_ranges.unwrap_or_else(|| old.ip_allowlist.clone());
    if timeout == old.session_timeout_minutes && list == old.ip_allowlist {
        return Ok(web::Json(old));
    }
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(&st).await?;
    let mut am = m.org.clone().into_active_model();
    am.session_timeout_minutes = Set(timeout);
    am.ip_allowlist = Set(serde_json::to_string(&list).map_err(ApiError::internal)?);
    am.updated_at = Set(now);
    let org = am.update(uow.txn()).await?;
    let ctx = Context::from(&m);
    if let Some(c) = change(old.session_timeout_minutes, timeout) {
        let event = Event::OrgSecurityUpdated {
            org_id: org.id,
            session_timeout_minutes: c,
        };
        audit::record(uow.txn(), &ctx, now, event).await?;
    }
    if let Some(c) = change(old.ip_allowlist.clone(), list.clone()) {
        let event = Event::IpAllowlistUpdated {
            org_id: org.id,
            ranges: c,
            confirmed_lockout: body.confirm_lockout,
        };
        audit::record(uow.txn(), &ctx, now, event).await?;
    }
    // Cached API keys carry the allowlist.
    uow.touch_keys().await?;
    uow.commit().await?;
    Ok(web::Json(settings(&org)?))
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
