//! Usage thresholds: the MCP call counts of an org at which `usage.threshold` fires,
//! once per threshold and UTC day or calendar month. Checked after each usage flush
//! (every few seconds, per replica) for the orgs whose counts grew, from the counters
//! in `usage_daily`: no database write per MCP call. A threshold fires exactly once per
//! period, on any replica: its row in `usage_threshold_hits` is inserted by whoever
//! notices first, and only that insert records the event.
use crate::{
    audit::{self, Context, Event},
    auth::OrgAdmin,
    entity::{usage_daily as ud, usage_threshold as ut, usage_threshold_hit as hit},
    http::{ApiResult, problem::Validation},
    state::AppState,
};
use actix_web::{get, put, web};
use chrono::{Datelike, NaiveDate};
use gatehouse_types::{UsageThresholds, events::Change};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set, sea_query::OnConflict,
};
use uuid::Uuid;

pub const MAX_THRESHOLDS: usize = 10;

fn parse(s: &str) -> Vec<u64> {
    serde_json::from_str(s).unwrap_or_default()
}

fn clean(v: &mut Validation, field: &str, list: &[u64]) -> Vec<u64> {
    let mut l = list.to_vec();
    l.sort_unstable();
    l.dedup();
    if l.len() > MAX_THRESHOLDS {
        v.push(field, format!("at most {MAX_THRESHOLDS} thresholds"));
    }
    if l.iter().any(|n| *n == 0 || *n > i64::MAX as u64) {
        v.push(field, "each threshold is a call count of 1 or more");
    }
    l
}

async fn current<C: ConnectionTrait>(db: &C, org: Uuid) -> Result<UsageThresholds, sea_orm::DbErr> {
    Ok(ut::Entity::find_by_id(org)
        .one(db)
        .await?
        .map(|r| UsageThresholds {
            daily: parse(&r.daily),
            monthly: parse(&r.monthly),
        })
        .unwrap_or_default())
}

/// The org's usage thresholds (none set: both lists empty).
#[utoipa::path(operation_id = "getUsageThresholds", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path)),
    responses((status = 200, body = UsageThresholds)))]
#[get("/orgs/{slug}/usage/thresholds")]
pub async fn get_thresholds(
    admin: OrgAdmin,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<UsageThresholds>> {
    Ok(web::Json(current(&st.db, admin.member().org.id).await?))
}

/// Set the MCP call counts at which `usage.threshold` fires, per UTC day and per
/// calendar month (at most 10 each). Each fires once per period, within seconds of the
/// call that reaches it.
#[utoipa::path(operation_id = "setUsageThresholds", security(("session" = []), ("apiKey" = [])),
    tag = "webhooks", params(("slug" = String, Path)), request_body = UsageThresholds,
    responses((status = 200, body = UsageThresholds), (status = 422, body = gatehouse_types::Problem)))]
#[put("/orgs/{slug}/usage/thresholds")]
pub async fn set_thresholds(
    admin: OrgAdmin,
    body: web::Json<UsageThresholds>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<UsageThresholds>> {
    let org = admin.member().org.id;
    let mut v = Validation::default();
    let daily = clean(&mut v, "daily", &body.daily);
    let monthly = clean(&mut v, "monthly", &body.monthly);
    v.finish()?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let before = current(&txn, org).await?;
    let after = UsageThresholds { daily, monthly };
    if before == after {
        return Ok(web::Json(after));
    }
    let json = |l: &[u64]| serde_json::to_string(l).unwrap_or_else(|_| "[]".into());
    ut::Entity::insert(ut::ActiveModel {
        org_id: Set(org),
        daily: Set(json(&after.daily)),
        monthly: Set(json(&after.monthly)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(ut::Column::OrgId)
            .update_columns([
                ut::Column::Daily,
                ut::Column::Monthly,
                ut::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    audit::record(
        &txn,
        &Context::from(&admin),
        now,
        Event::UsageThresholdsUpdated {
            org_id: org,
            daily: Change {
                from: before.daily,
                to: after.daily.clone(),
            },
            monthly: Change {
                from: before.monthly,
                to: after.monthly.clone(),
            },
        },
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(after))
}

async fn calls<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    days: impl Fn(&str) -> bool,
    like: String,
) -> Result<u64, sea_orm::DbErr> {
    let rows: Vec<(String, i64)> = ud::Entity::find()
        .select_only()
        .column(ud::Column::Day)
        .column(ud::Column::Calls)
        .filter(ud::Column::OrgId.eq(org))
        .filter(ud::Column::Day.like(like))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .filter(|(d, _)| days(d))
        .map(|(_, c)| (*c).max(0) as u64)
        .sum())
}

/// After a flush: for each (org, day) whose counts grew, the day's and the month's
/// totals against the org's thresholds; each threshold newly reached records
/// `usage.threshold` (and its webhook messages).
pub async fn check(st: &AppState, grew: Vec<(Uuid, NaiveDate)>) -> Result<(), sea_orm::DbErr> {
    for (org, day) in grew {
        let Some(row) = ut::Entity::find_by_id(org).one(&st.db).await? else {
            continue;
        };
        let (daily, monthly) = (parse(&row.daily), parse(&row.monthly));
        if daily.is_empty() && monthly.is_empty() {
            continue;
        }
        let day_s = day.format("%Y-%m-%d").to_string();
        let month_s = day.format("%Y-%m").to_string();
        let day_calls = calls(&st.db, org, |d| d == day_s, day_s.clone()).await?;
        let month_calls = calls(&st.db, org, |_| true, format!("{month_s}-%")).await?;
        let month_start = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day);
        let mut reached = Vec::new();
        for t in daily.iter().filter(|t| day_calls >= **t) {
            reached.push(("day", format!("day:{day_s}"), day_s.clone(), *t, day_calls));
        }
        for t in monthly.iter().filter(|t| month_calls >= **t) {
            reached.push((
                "month",
                format!("month:{month_s}"),
                month_start.format("%Y-%m-%d").to_string(),
                *t,
                month_calls,
            ));
        }
        if reached.is_empty() {
            continue;
        }
        let now = st.clock.now();
        let txn = crate::db::begin(&st.db).await?;
        for (period, key, period_start, threshold, calls) in reached {
            let inserted = hit::Entity::insert(hit::ActiveModel {
                org_id: Set(org),
                period: Set(key),
                threshold: Set(threshold as i64),
                reached_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([
                    hit::Column::OrgId,
                    hit::Column::Period,
                    hit::Column::Threshold,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
            if inserted == 0 {
                continue;
            }
            audit::record_public(
                st,
                &txn,
                &Context::system().in_org(org),
                now,
                Event::UsageThresholdReached {
                    org_id: org,
                    period,
                    period_start,
                    threshold,
                    calls,
                },
            )
            .await?;
        }
        txn.commit().await?;
    }
    Ok(())
}
