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
    /// `last_used_at` writes of API keys not yet known to have landed (`auth::api_key::touch`
    /// writes off the request path, in a task a stopping worker may drop).
    touches: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl UsageCounter {
    /// Notes a `last_used_at` about to be written, for `flush_on_shutdown`.
    pub fn touching(&self, key: Uuid, at: DateTime<Utc>) {
        if let Ok(mut m) = self.touches.lock() {
            m.insert(key, at);
        }
    }

    /// The write of `touching(key, at)` has landed.
    pub fn touched(&self, key: Uuid, at: DateTime<Utc>) {
        if let Ok(mut m) = self.touches.lock()
            && m.get(&key) == Some(&at)
        {
            m.remove(&key);
        }
    }

    /// Writes what is still in memory once the server has stopped: the counts of the
    /// last calls, and `last_used_at` writes that may not have landed.
    pub async fn flush_on_shutdown(&self, db: &sea_orm::DatabaseConnection) {
        use crate::entity::api_key;
        use sea_orm::{ColumnTrait, QueryFilter};
        if let Err(e) = self.flush(db).await {
            tracing::error!(error = %e, "usage counts were lost at shutdown");
        }
        let touches = match self.touches.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(_) => return,
        };
        for (id, at) in touches {
            let res = api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(at)))
                .filter(api_key::Column::Id.eq(id))
                .filter(
                    api_key::Column::LastUsedAt
                        .is_null()
                        .or(api_key::Column::LastUsedAt.lt(at)),
                )
                .exec(db)
                .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "recording last_used_at at shutdown failed");
            }
        }
    }

    pub fn record(&self, org: Uuid, key: Uuid, connector: Uuid, at: DateTime<Utc>, error: bool) {
        if let Ok(mut m) = self.pending.lock() {
            let e = m.entry((org, at.date_naive(), key, connector)).or_default();
            e.0 += 1;
            e.1 += i64::from(error);
        }
    }

    /// Writes what has accumulated; returns the (org, day) pairs whose counts grew. On
    /// failure the counts are put back for the next try.
    pub async fn flush<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Vec<(Uuid, chrono::NaiveDate)>, sea_orm::DbErr> {
        let batch = match self.pending.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(_) => return Ok(Vec::new()),
        };
        let mut grew = Vec::new();
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
            match res {
                Ok(_) => {
                    if !grew.contains(&(org, day)) {
                        grew.push((org, day));
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    rest.push(((org, day, key, connector), (calls, errors)));
                }
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
        failed.map_or(Ok(grew), Err)
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
    admin: crate::auth::OrgAdmin,
    q: actix_web::web::Query<UsageQuery>,
    st: actix_web::web::Data<crate::state::AppState>,
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
