//! Security-settings rules: what a session timeout and an allowlist may be, the
//! lockout guard, and switching MFA enforcement (who may, who it blocks, the grants it
//! ends), callable from handlers, the CLI and jobs.
use super::{LABEL_MAX_CHARS, MAX_RANGES, settings};
use crate::{
    accounts::mfa,
    audit::{self, Context, Event, change},
    auth::{OrgAdmin, OrgMember},
    entity::{membership, organization, user},
    http::{ApiError, ApiResult, ErrorKind, meta::parse_range, problem::Validation},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use gatehouse_types::events::GrantEndReason;
use gatehouse_types::{
    IpRange, UpdateSecuritySettings,
    validation::{SESSION_TIMEOUT_MAX_MINUTES, SESSION_TIMEOUT_MIN_MINUTES},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use std::net::IpAddr;
use uuid::Uuid;

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
                    if r.label.chars().count() > LABEL_MAX_CHARS
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
    let require_mfa = body.require_mfa.unwrap_or(m.org.require_mfa);
    if require_mfa && !m.org.require_mfa {
        may_require_mfa(st, m).await?;
    } else if !require_mfa && m.org.require_mfa {
        // Lowering the org's guard is a person's decision (a leaked write key must not
        // be able to), and a sensitive one under PIN protection.
        if m.user().is_none() {
            return Err(ApiError::with_detail(
                ErrorKind::Forbidden,
                "Require MFA is switched off by signed-in owners and admins, not by API keys",
            ));
        }
        crate::auth::step_up::require(st, m).await?;
    }
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
    if timeout == old.session_timeout_minutes
        && list == old.ip_allowlist
        && require_mfa == old.require_mfa
        && pin_change.is_none()
    {
        return Ok(m.org.clone());
    }
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(st).await?;
    let mut am = m.org.clone().into_active_model();
    am.session_timeout_minutes = Set(timeout);
    am.ip_allowlist = Set(serde_json::to_string(&list).map_err(ApiError::internal)?);
    am.require_mfa = Set(require_mfa);
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
    if let Some(c) = change(old.require_mfa, require_mfa) {
        // Members are refused at their next request by the policy; their OAuth grants
        // end here, in the same transaction, and every replica refuses the tokens
        // within its revocation refresh.
        let without = members_without_mfa(uow.txn(), org.id).await?;
        let users: Vec<Uuid> = without.iter().map(|(_, u)| u.id).collect();
        let revoked = if c.to {
            crate::oauth::admin::revoke_users_grants(
                uow.txn(),
                org.id,
                &users,
                now,
                &ctx,
                GrantEndReason::MfaRequired,
            )
            .await?
        } else {
            Vec::new()
        };
        let event = Event::OrgMfaRequirementUpdated {
            org_id: org.id,
            require_mfa: c,
            members_without_mfa: users.len(),
            oauth_grants_revoked: revoked.len(),
        };
        audit::record(uow.txn(), &ctx, now, event).await?;
        if !revoked.is_empty() {
            uow.after_commit(move |st| crate::oauth::tokens::mark_revoked(st, revoked));
        }
    }
    // Cached API keys carry the org row (allowlist, MFA requirement).
    uow.touch_keys().await?;
    uow.commit().await?;
    Ok(org)
}

/// Switching MFA enforcement on takes a person who has a second factor: no one can
/// require of others what they lack, and an API key is nobody's second factor.
async fn may_require_mfa(st: &AppState, m: &OrgMember) -> ApiResult<()> {
    let Some(user) = m.user_id() else {
        return Err(ApiError::with_detail(
            ErrorKind::MfaRequired,
            "only a signed-in owner or admin with two-factor authentication can require it; an API key cannot",
        ));
    };
    if !mfa::has_mfa(&st.db, user).await? {
        return Err(ApiError::with_detail(
            ErrorKind::MfaRequired,
            "set up two-factor authentication for your own account (Account → Security) before requiring it of the organization",
        ));
    }
    Ok(())
}

/// The org's members without a second factor, oldest membership first.
pub async fn members_without_mfa<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> ApiResult<Vec<(membership::Model, user::Model)>> {
    let all = members(db, org_id).await?;
    let ids: Vec<Uuid> = all.iter().map(|(_, u)| u.id).collect();
    let with = mfa::with_mfa(db, &ids).await?;
    Ok(all
        .into_iter()
        .filter(|(_, u)| !with.contains(&u.id))
        .collect())
}

async fn members<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> ApiResult<Vec<(membership::Model, user::Model)>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org_id))
        .find_also_related(user::Entity)
        .order_by_asc(membership::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(m, u)| Some((m, u?)))
        .collect())
}

/// What switching MFA enforcement on would do now.
pub struct MfaPreview {
    pub blocked: Vec<(membership::Model, user::Model)>,
    pub total_members: u64,
    pub oauth_grants_to_revoke: u64,
}

/// Who "Require MFA" blocks (or would block) in the admin's org, and how many OAuth
/// grants switching it on would end.
pub async fn mfa_preview(st: &AppState, admin: &OrgAdmin) -> ApiResult<MfaPreview> {
    let org = admin.org();
    let total_members = members(&st.db, org.id).await?.len() as u64;
    let blocked = members_without_mfa(&st.db, org.id).await?;
    let users: Vec<Uuid> = blocked.iter().map(|(_, u)| u.id).collect();
    let oauth_grants_to_revoke =
        crate::oauth::admin::count_users_grants(&st.db, org.id, &users).await?;
    Ok(MfaPreview {
        blocked,
        total_members,
        oauth_grants_to_revoke,
    })
}
