//! Login throttling with counters in the database, so that every replica sees the same
//! failures. Keys are `account:{email}` and `ip:{address}`.
use crate::{config::LoginThrottleConfig, entity::login_throttle as lt};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};

pub fn account_key(email: &str) -> String {
    format!("account:{email}")
}
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Seconds until the longest current lock among `keys` ends, if any is locked.
pub async fn locked_for<C: ConnectionTrait>(
    db: &C,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Option<u64>, sea_orm::DbErr> {
    let rows = lt::Entity::find()
        .filter(lt::Column::Key.is_in(keys.iter().cloned()))
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.locked_until)
        .filter(|until| *until > now)
        .map(|until| std::cmp::Ord::max((until - now).num_seconds(), 1) as u64)
        .max())
}

/// Counts one failure against `key` and locks it when the limit is reached. The
/// increment is one UPDATE, so concurrent failures on several replicas all count.
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    key: &str,
    limit: i32,
    cfg: &LoginThrottleConfig,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    lt::Entity::insert(lt::ActiveModel {
        key: Set(key.to_string()),
        window_started_at: Set(now),
        failures: Set(0),
        locked_until: Set(None),
    })
    .on_conflict(OnConflict::column(lt::Column::Key).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    // A new window once the old one has passed and no lock is in force.
    lt::Entity::update_many()
        .col_expr(lt::Column::WindowStartedAt, Expr::value(now))
        .col_expr(lt::Column::Failures, Expr::value(0))
        .col_expr(
            lt::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(lt::Column::Key.eq(key))
        .filter(lt::Column::WindowStartedAt.lt(now - Duration::seconds(cfg.window_seconds)))
        .filter(
            lt::Column::LockedUntil
                .is_null()
                .or(lt::Column::LockedUntil.lte(now)),
        )
        .exec(db)
        .await?;
    lt::Entity::update_many()
        .col_expr(lt::Column::Failures, Expr::col(lt::Column::Failures).add(1))
        .filter(lt::Column::Key.eq(key))
        .exec(db)
        .await?;
    let locked = lt::Entity::update_many()
        .col_expr(
            lt::Column::LockedUntil,
            Expr::value(Some(now + Duration::seconds(cfg.lockout_seconds))),
        )
        .filter(lt::Column::Key.eq(key))
        .filter(lt::Column::Failures.gte(limit))
        .filter(
            lt::Column::LockedUntil
                .is_null()
                .or(lt::Column::LockedUntil.lte(now)),
        )
        .exec(db)
        .await?
        .rows_affected
        > 0;
    Ok(locked)
}

pub async fn clear<C: ConnectionTrait>(db: &C, key: &str) -> Result<(), sea_orm::DbErr> {
    lt::Entity::delete_many()
        .filter(lt::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}
