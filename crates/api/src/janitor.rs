//! Removes rows whose purpose has passed: ended browser sessions, spent or expired
//! one-time tokens, idle MCP client sessions and stale login-throttle windows. Every
//! replica may run it; the deletes are idempotent.
use crate::entity::{login_throttle, mcp_session, session, user_token};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

/// MCP sessions are dropped a day after they began; clients then get 404 and
/// initialize again, as the transport specification has them do.
pub const MCP_SESSION_MAX_AGE_HOURS: i64 = 24;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub tokens: u64,
    pub mcp_sessions: u64,
    pub throttles: u64,
}

pub async fn sweep<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Swept, sea_orm::DbErr> {
    let sessions = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    // Spent tokens are kept a day for support questions ("my link says used").
    let tokens = user_token::Entity::delete_many()
        .filter(
            Condition::any()
                .add(user_token::Column::ExpiresAt.lte(now - Duration::days(1)))
                .add(user_token::Column::UsedAt.lte(now - Duration::days(1))),
        )
        .exec(db)
        .await?
        .rows_affected;
    let mcp_sessions = mcp_session::Entity::delete_many()
        .filter(
            mcp_session::Column::CreatedAt.lte(now - Duration::hours(MCP_SESSION_MAX_AGE_HOURS)),
        )
        .exec(db)
        .await?
        .rows_affected;
    let throttles = login_throttle::Entity::delete_many()
        .filter(login_throttle::Column::WindowStartedAt.lte(now - Duration::days(1)))
        .filter(
            Condition::any()
                .add(login_throttle::Column::LockedUntil.is_null())
                .add(login_throttle::Column::LockedUntil.lte(now)),
        )
        .exec(db)
        .await?
        .rows_affected;
    Ok(Swept {
        sessions,
        tokens,
        mcp_sessions,
        throttles,
    })
}
