//! Usage counting without a database write per call: counts accumulate in memory and
//! a background task adds them to `usage_daily` every few seconds (an upsert that
//! increments, so replicas add up).
use crate::entity::usage_daily as ud;
use actix_web::get;
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, EntityTrait, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use std::{collections::HashMap, sync::Mutex};
use uuid::Uuid;

type Key = (Uuid, chrono::NaiveDate, Uuid, Uuid);

#[derive(Default)]
pub struct UsageCounter {
    pending: Mutex<HashMap<Key, (i64, i64)>>,
}

impl UsageCounter {
    pub fn record(&self, org: Uuid, key: Uuid, connector: Uuid, at: DateTime<Utc>, error: bool) {
        if let Ok(mut m) = self.pending.lock() {
            let e = m.entry((org, at.date_naive(), key, connector)).or_default();
            e.0 += 1;
            e.1 += i64::from(error);
        }
    }

    /// Writes what has accumulated. On failure the counts are put back for the next try.
    pub async fn flush<C: ConnectionTrait>(&self, db: &C) -> Result<(), sea_orm::DbErr> {
        let batch = match self.pending.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(_) => return Ok(()),
        };
        let mut failed = None;
        let mut rest = Vec::new();
        for ((org, day, key, connector), (calls, errors)) in batch {
            if failed.is_some() {
                rest.push(((org, day, key, connector), (calls, errors)));
                continue;
            }
            let res = ud::Entity::insert(ud::ActiveModel {
                org_id: Set(org),
                day: Set(day.format("%Y-%m-%d").to_string()),
                api_key_id: Set(key),
                connector_id: Set(connector),
                calls: Set(calls),
                errors: Set(errors),
            })
            .on_conflict(
                OnConflict::columns([
                    ud::Column::OrgId,
                    ud::Column::Day,
                    ud::Column::ApiKeyId,
                    ud::Column::ConnectorId,
                ])
                .value(
                    ud::Column::Calls,
                    Expr::col((ud::Entity, ud::Column::Calls)).add(calls),
                )
                .value(
                    ud::Column::Errors,
                    Expr::col((ud::Entity, ud::Column::Errors)).add(errors),
                )
                .to_owned(),
            )
            .exec_without_returning(db)
            .await;
            if let Err(e) = res {
                failed = Some(e);
                rest.push(((org, day, key, connector), (calls, errors)));
            }
        }
        if !rest.is_empty()
            && let Ok(mut m) = self.pending.lock()
        {
            for (k, (c, e)) in rest {
                let v = m.entry(k).or_default();
                v.0 += c;
                v.1 += e;
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First day, `YYYY-MM-DD` (default: 30 days ago).
    pub from: Option<chrono::NaiveDate>,
    /// Last day, inclusive (default: today).
    pub to: Option<chrono::NaiveDate>,
}

/// MCP usage per day, API key and connector. Counts reach the database within a few
/// seconds of the calls.
#[utoipa::path(operation_id = "getUsage", security(("session" = []), ("apiKey" = [])),
    tag = "mcp", params(("slug" = String, Path), UsageQuery),
    responses((status = 200, body = Vec<gatehouse_types::UsageRow>), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/usage")]
pub async fn get_usage(
    admin: crate::http::OrgAdmin,
    q: actix_web::web::Query<UsageQuery>,
    st: actix_web::web::Data<crate::app::AppState>,
) -> crate::http::ApiResult<actix_web::web::Json<Vec<gatehouse_types::UsageRow>>> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    // This replica's pending counts first, so a caller sees its own calls.
    st.usage.flush(&st.db).await?;
    let today = st.clock.now().date_naive();
    let to = q.to.unwrap_or(today);
    let from = q.from.unwrap_or(to - chrono::Duration::days(30));
    if from > to {
        return Err(crate::http::ApiError::field(
            "from",
            "must not be after `to`",
        ));
    }
    let rows = ud::Entity::find()
        .filter(ud::Column::OrgId.eq(admin.0.org.id))
        .filter(ud::Column::Day.gte(from.format("%Y-%m-%d").to_string()))
        .filter(ud::Column::Day.lte(to.format("%Y-%m-%d").to_string()))
        .order_by_asc(ud::Column::Day)
        .all(&st.db)
        .await?;
    Ok(actix_web::web::Json(
        rows.into_iter()
            .map(|r| gatehouse_types::UsageRow {
                day: r.day,
                api_key_id: r.api_key_id,
                connector_id: r.connector_id,
                calls: r.calls,
                errors: r.errors,
            })
            .collect(),
    ))
}
