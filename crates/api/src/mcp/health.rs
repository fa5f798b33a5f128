//! The connector health checker. Every replica runs it; a conditional UPDATE claims a
//! connector before checking it, so two replicas never check the same one at once.
use super::client::Upstream;
use crate::{
    audit::{self, Context, Event},
    entity::connector,
    state::AppState,
};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::events::Change;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::Value;

/// Checks every enabled connector whose last check is older than the interval.
pub async fn run_once(st: &AppState) -> Result<usize, sea_orm::DbErr> {
    let now = st.clock.now();
    let interval = Duration::seconds(st.config.mcp.health_interval_secs as i64);
    let due = connector::Entity::find()
        .filter(connector::Column::Enabled.eq(true))
        .filter(
            Condition::any()
                .add(connector::Column::HealthCheckedAt.is_null())
                .add(connector::Column::HealthCheckedAt.lt(now - interval)),
        )
        .all(&st.db)
        .await?;
    let mut checked = 0;
    for c in due {
        if claim(st, &c, now).await? {
            check(st, c).await?;
            checked += 1;
        }
    }
    Ok(checked)
}

async fn claim(
    st: &AppState,
    c: &connector::Model,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let n = connector::Entity::update_many()
        .col_expr(
            connector::Column::HealthClaimedUntil,
            Expr::value(Some(now + Duration::seconds(120))),
        )
        .filter(connector::Column::Id.eq(c.id))
        .filter(
            connector::Column::HealthClaimedUntil
                .is_null()
                .or(connector::Column::HealthClaimedUntil.lt(now)),
        )
        .exec(&st.db)
        .await?
        .rows_affected;
    Ok(n == 1)
}

/// Checks one connector and records the outcome; a change of status is audited.
pub async fn check(st: &AppState, c: connector::Model) -> Result<(), sea_orm::DbErr> {
    let upstream = Upstream {
        outbound: &st.outbound,
        cipher: &st.cipher,
        pool: &st.upstreams,
    };
    let outcome = tokio::time::timeout(super::client::UPSTREAM_TIMEOUT, upstream.check(&c)).await;
    let now = st.clock.now();
    let (status, error, catalog) = match outcome {
        Ok(Ok(catalog)) => ("healthy", None, Some(catalog)),
        Ok(Err(e)) => ("unhealthy", Some(e.to_string()), None),
        Err(_) => (
            "unhealthy",
            Some("health check timed out".to_string()),
            None,
        ),
    };
    let tools = catalog.as_ref().map(|cat| cat.tools.clone());
    let tools_json = tools
        .as_ref()
        .map(|t| Value::Array(t.clone()).to_string())
        .unwrap_or_else(|| c.tools_json.clone());
    // Collisions with other connectors' tool names do not make a connector unhealthy:
    // the exposed catalog (`cache::catalog`) leaves the later tool out and reports it,
    // on every read, so nothing here can forget one.
    let txn = crate::db::begin(&st.db).await?;
    let changed = c.health_status != status;
    let mut am = c.clone().into_active_model();
    am.health_status = Set(status.into());
    am.health_error = Set(error.clone());
    am.health_checked_at = Set(Some(now));
    am.health_claimed_until = Set(None);
    // A failed check keeps the last known tool list (hidden while unhealthy).
    if let Some(cat) = &catalog {
        am.tools_json = Set(tools_json);
        am.prompts_json = Set(Value::Array(cat.prompts.clone()).to_string());
        am.resources_json = Set(Value::Array(cat.resources.clone()).to_string());
        am.resource_templates_json = Set(Value::Array(cat.resource_templates.clone()).to_string());
    }
    am.update(&txn).await?;
    if changed {
        audit::record_public(
            st,
            &txn,
            &Context::system().in_org(c.org_id),
            now,
            Event::ConnectorHealthChanged {
                connector_id: c.id,
                name: c.name.clone(),
                status: Change {
                    from: c.health_status.clone(),
                    to: status.to_string(),
                },
                error: error.clone(),
            },
        )
        .await?;
    }
    txn.commit().await?;
    st.mcp_cache.forget_tools(c.org_id);
    if status != "healthy" {
        upstream.forget(c.id);
    }
    Ok(())
}

/// The checker, and the usage flush, on every replica.
pub fn periodic(config: &crate::config::Config) -> Vec<crate::jobs::Periodic> {
    use std::time::Duration;
    vec![
        crate::jobs::Periodic {
            name: "mcp.health",
            every: Duration::from_millis(Ord::max(config.mcp.health_poll_ms, 100)),
            run: |st| {
                Box::pin(async move {
                    let round = run_once(st).await;
                    let upstream = Upstream {
                        outbound: &st.outbound,
                        cipher: &st.cipher,
                        pool: &st.upstreams,
                    };
                    upstream.close_idle(Duration::from_secs(st.config.mcp.upstream_idle_secs));
                    round?;
                    Ok(())
                })
            },
        },
        crate::jobs::Periodic {
            name: "mcp.usage_flush",
            every: Duration::from_millis(Ord::max(config.mcp.usage_flush_ms, 100)),
            run: |st| {
                Box::pin(async move {
                    let grew = st.usage.flush(&st.db).await?;
                    crate::mcp::thresholds::check(st, grew).await?;
                    Ok(())
                })
            },
        },
    ]
}
