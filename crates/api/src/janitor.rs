//! Removes rows whose purpose has passed: ended browser sessions, spent or expired
//! one-time tokens, idle MCP client sessions, stale login-throttle windows, spent OAuth
//! codes, ended OAuth grants, registered OAuth clients that never got a grant, signing
//! keys whose tokens have all expired since a rotation, expired client-assertion ids, and
//! the expired rows of sign-in and step-up (pending logins, passkey ceremonies, PIN
//! step-ups).
//! Every replica may run it; the deletes are idempotent.
use crate::entity::{
    login_throttle, mcp_relay, mcp_session, oauth_client, oauth_code, oauth_grant,
    passkey_registration, passkey_sign_in, pending_login, pin_step_up, session, user_token,
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

/// MCP sessions are dropped after a day without a request (not a day after they began:
/// a client in steady use keeps its session); clients then get 404 and initialize
/// again, as the transport specification has them do.
pub const MCP_SESSION_IDLE_HOURS: i64 = 24;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub tokens: u64,
    pub mcp_sessions: u64,
    pub mcp_relays: u64,
    pub throttles: u64,
    pub oauth_codes: u64,
    pub oauth_grants: u64,
    pub oauth_clients: u64,
    pub signing_keys: u64,
    pub oauth_assertions: u64,
    pub ceremonies: u64,
}

/// Every ten minutes on every replica (the deletes are idempotent).
pub fn periodic() -> crate::jobs::Periodic {
    crate::jobs::Periodic {
        name: "janitor.sweep",
        every: std::time::Duration::from_secs(600),
        run: |st| {
            Box::pin(async move {
                let swept = sweep(&st.db, st.clock.now()).await?;
                tracing::debug!(?swept, "swept expired rows");
                Ok(())
            })
        },
    }
}

/// A registered client that never got a grant is forgotten after this long.
pub const IDLE_CLIENT_HOURS: i64 = 24;

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
        .filter(mcp_session::Column::LastSeenAt.lte(now - Duration::hours(MCP_SESSION_IDLE_HOURS)))
        .exec(db)
        .await?
        .rows_affected;
    // A relayed request's answer is due within the call's time; an hour is plenty.
    let mcp_relays = mcp_relay::Entity::delete_many()
        .filter(mcp_relay::Column::CreatedAt.lte(now - Duration::hours(1)))
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
    let oauth_codes = oauth_code::Entity::delete_many()
        .filter(oauth_code::Column::ExpiresAt.lte(now - Duration::days(1)))
        .exec(db)
        .await?
        .rows_affected;
    // A revoked grant is kept while its access tokens could live (the revocation set
    // reads it); its refresh tokens go with it (cascade).
    let oauth_grants = oauth_grant::Entity::delete_many()
        .filter(
            Condition::any()
                .add(oauth_grant::Column::ExpiresAt.lte(now - Duration::days(1)))
                .add(oauth_grant::Column::RevokedAt.lte(now - Duration::hours(2))),
        )
        .exec(db)
        .await?
        .rows_affected;
    let oauth_clients = oauth_client::Entity::delete_many()
        .filter(oauth_client::Column::Kind.ne("admin"))
        .filter(oauth_client::Column::CreatedAt.lte(now - Duration::hours(IDLE_CLIENT_HOURS)))
        .filter(
            oauth_client::Column::Id.not_in_subquery(
                Query::select()
                    .column(oauth_grant::Column::ClientId)
                    .from(oauth_grant::Entity)
                    .to_owned(),
            ),
        )
        .exec(db)
        .await?
        .rows_affected;
    // Pending logins, passkey ceremonies and PIN step-ups are of no use once expired.
    let mut ceremonies = pending_login::Entity::delete_many()
        .filter(pending_login::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    ceremonies += passkey_registration::Entity::delete_many()
        .filter(passkey_registration::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    ceremonies += passkey_sign_in::Entity::delete_many()
        .filter(passkey_sign_in::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    ceremonies += pin_step_up::Entity::delete_many()
        .filter(pin_step_up::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    let signing_keys = crate::oauth::tokens::retire_superseded(db, now).await?;
    let oauth_assertions = crate::oauth::assertion::sweep(db, now).await?;
    Ok(Swept {
        sessions,
        tokens,
        mcp_sessions,
        mcp_relays,
        throttles,
        oauth_codes,
        oauth_grants,
        oauth_clients,
        signing_keys,
        oauth_assertions,
        ceremonies,
    })
}
