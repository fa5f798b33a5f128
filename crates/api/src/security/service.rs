//! Security-settings rules: what a session timeout and an allowlist may be, and the
//! lockout guard, callable from handlers, the CLI and jobs.
use super::{LABEL_MAX_CHARS, MAX_RANGES, settings};
use crate::{
    audit::{self, Context, Event, change},
    auth::OrgAdmin,
    entity::organization,
    http::{ApiError, ApiResult, ErrorKind, meta::parse_range, problem::Validation},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use gatehouse_types::{
    IpRange, UpdateSecuritySettings,
    validation::{SESSION_TIMEOUT_MAX_MINUTES, SESSION_TIMEOUT_MIN_MINUTES},
};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use std::net::IpAddr;

/// Applies a settings change to the admin's org: every invalid field at once; an
/// allowlist without the caller's address is refused unless `confirm_lockout`. Returns
/// the org unchanged, without a write, when nothing differs; otherwise one audit event
/// per changed setting, and every replica's key cache learns the new allowlist.
pub async fn update_settings(
    st: &AppState,
    admin: &OrgAdmin,
    body: UpdateSecuritySettings,
) -> ApiResult<organization::Model> {
    let m = admin.member();
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
    let pin_change =
        crate::pin::service::check_protection_change(st, admin, body.pin_protection).await?;
    // Only the stored fields are compared below; PIN protection is its own row.
    let old = settings(&m.org, false)?;
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
    if timeout == old.session_timeout_minutes && list == old.ip_allowlist && pin_change.is_none() {
        return Ok(m.org.clone());
    }
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(st).await?;
    let mut am = m.org.clone().into_active_model();
    am.session_timeout_minutes = Set(timeout);
    am.ip_allowlist = Set(serde_json::to_string(&list).map_err(ApiError::internal)?);
    am.updated_at = Set(now);
    let org = am.update(uow.txn()).await?;
    let ctx = Context::from(admin);
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
    if let Some(c) = pin_change {
        crate::pin::service::apply_protection_change(uow.txn(), admin, c, now).await?;
    }
    // Cached API keys carry the allowlist.
    uow.touch_keys().await?;
    uow.commit().await?;
    Ok(org)
}
