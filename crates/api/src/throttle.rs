//! Throttling with counters in the database, so that every replica sees the same
//! counts. Keys: `account:{email}`, `ip:{address}` and `device:{user}:{nonce}` for
//! logins; `mail-to:{email}` and `mail-by:{address}` for the emails a stranger can
//! cause.
//!
//! An attempt is counted *before* the work it guards (a password hash, an email) by
//! one conditional UPDATE that succeeds only while the count is under the limit: a
//! burst arriving together on several replicas gets at most `max` slots, because each
//! database serialises the updates of one row (PostgreSQL re-checks the WHERE clause
//! against the row a concurrent update committed; SQLite has one writer). A successful
//! login gives its slot back (`release`).
use crate::{
    config::{LoginThrottleConfig, MailLimitConfig},
    entity::login_throttle as lt,
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryTrait, Set,
    sea_query::{Condition, Expr, ExprTrait, OnConflict},
};

pub fn account_key(email: &str) -> String {
    format!("account:{email}")
}
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}
pub fn device_key(user_id: uuid::Uuid, nonce: &str) -> String {
    format!("device:{user_id}:{nonce}")
}
pub fn mail_to_key(email: &str) -> String {
    format!("mail-to:{email}")
}
pub fn mail_by_key(ip: &str) -> String {
    format!("mail-by:{ip}")
}

/// At most `max` attempts per `window_seconds`; using the last one locks the key for
/// `lockout_seconds`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: i32,
    pub window_seconds: i64,
    pub lockout_seconds: i64,
}

impl Limit {
    pub fn account(cfg: &LoginThrottleConfig) -> Self {
        Self {
            max: cfg.account_max_failures,
            window_seconds: cfg.window_seconds,
            lockout_seconds: cfg.lockout_seconds,
        }
    }
    pub fn ip(cfg: &LoginThrottleConfig) -> Self {
        Self {
            max: cfg.ip_max_failures,
            ..Self::account(cfg)
        }
    }
}

/// Whether one more email to `to` may go out, counted per recipient and, for requests
/// anyone can make, per requesting client address. Once a limit is used up it stays
/// shut for a whole window.
pub async fn reserve_mail<C: ConnectionTrait>(
    db: &C,
    cfg: &MailLimitConfig,
    to: &str,
    requester_ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Reservation, sea_orm::DbErr> {
    let limit = |max| Limit {
        max,
        window_seconds: cfg.window_seconds,
        lockout_seconds: cfg.window_seconds,
    };
    let mut keys = Vec::with_capacity(2);
    if let Some(ip) = requester_ip {
        keys.push((mail_by_key(ip), limit(cfg.per_requester)));
    }
    keys.push((mail_to_key(to), limit(cfg.per_recipient)));
    reserve_all(db, &keys, now).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead. `locked`: this attempt took the last slot, so the key is now locked.
    Granted { locked: bool },
    /// Over the limit: retry in this many seconds.
    Refused { retry_after: u64 },
}

/// Takes one slot of `key`'s current window, atomically across replicas.
pub async fn reserve<C: ConnectionTrait>(
    db: &C,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> Result<Reservation, sea_orm::DbErr> {
    lt::Entity::insert(lt::ActiveModel {
        key: Set(key.to_string()),
        window_started_at: Set(now),
        failures: Set(0),
        locked_until: Set(None),
    })
    .on_conflict(OnConflict::column(lt::Column::Key).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    // A new window once a lock has passed, or, without a lock, once the window has.
    lt::Entity::update_many()
        .col_expr(lt::Column::WindowStartedAt, Expr::value(now))
        .col_expr(lt::Column::Failures, Expr::value(0))
        .col_expr(
            lt::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(lt::Column::Key.eq(key))
        .filter(
            Condition::any().add(lt::Column::LockedUntil.lte(now)).add(
                Condition::all().add(lt::Column::LockedUntil.is_null()).add(
                    lt::Column::WindowStartedAt.lt(now - Duration::seconds(limit.window_seconds)),
                ),
            ),
        )
        .exec(db)
        .await?;
    // The reservation itself; the slot that reaches the limit also sets the lock.
    let lock_at = now + Duration::seconds(limit.lockout_seconds);
    let mut update = lt::Entity::update_many()
        .col_expr(lt::Column::Failures, Expr::col(lt::Column::Failures).add(1))
        .col_expr(
            lt::Column::LockedUntil,
            Expr::case(
                Expr::col(lt::Column::Failures).add(1).gte(limit.max),
                Expr::value(Some(lock_at)),
            )
            .finally(Expr::value(Option::<DateTime<Utc>>::None))
            .into(),
        )
        .filter(lt::Column::Key.eq(key))
        .filter(lt::Column::Failures.lt(limit.max))
        .filter(
            lt::Column::LockedUntil
                .is_null()
                .or(lt::Column::LockedUntil.lte(now)),
        )
        .into_query();
    update.returning_col(lt::Column::Failures);
    if let Some(row) = db.query_one(&update).await? {
        let count: i32 = row.try_get("", "failures")?;
        return Ok(Reservation::Granted {
            locked: count >= limit.max,
        });
    }
    let row = lt::Entity::find_by_id(key.to_string()).one(db).await?;
    let retry_after = row
        .and_then(|r| r.locked_until)
        .filter(|until| *until > now)
        .map(|until| (until - now).num_seconds())
        .unwrap_or(limit.lockout_seconds);
    Ok(Reservation::Refused {
        retry_after: std::cmp::Ord::max(retry_after, 1) as u64,
    })
}

/// Gives back a slot taken by `reserve` (the attempt succeeded); lifts the lock the
/// slot may have set, since the count is under the limit again.
pub async fn release<C: ConnectionTrait>(db: &C, key: &str) -> Result<(), sea_orm::DbErr> {
    lt::Entity::update_many()
        .col_expr(lt::Column::Failures, Expr::col(lt::Column::Failures).sub(1))
        .col_expr(
            lt::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(lt::Column::Key.eq(key))
        .filter(lt::Column::Failures.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

/// Reserves every key in turn; when one refuses, the slots already taken are given
/// back and the refusal is returned. `Granted { locked }` tells whether any key locked.
pub async fn reserve_all<C: ConnectionTrait>(
    db: &C,
    keys: &[(String, Limit)],
    now: DateTime<Utc>,
) -> Result<Reservation, sea_orm::DbErr> {
    let mut any_locked = false;
    for (i, (key, limit)) in keys.iter().enumerate() {
        match reserve(db, key, *limit, now).await? {
            Reservation::Granted { locked } => any_locked |= locked,
            refused @ Reservation::Refused { .. } => {
                for (taken, _) in &keys[..i] {
                    release(db, taken).await?;
                }
                return Ok(refused);
            }
        }
    }
    Ok(Reservation::Granted { locked: any_locked })
}

pub async fn clear<C: ConnectionTrait>(db: &C, key: &str) -> Result<(), sea_orm::DbErr> {
    lt::Entity::delete_many()
        .filter(lt::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}
