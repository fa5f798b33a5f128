//! A login between the right password and the second factor. `POST /auth/login` starts
//! one for a user with MFA; the second step (a code here, a passkey in its own module)
//! finishes it with [`complete`], which is the only place such a login becomes a
//! session. The token is random, only its hash is stored, it works once, for five
//! minutes, from the client that typed the password, and for a few wrong codes.
use crate::{
    crypto::{self, TokenKind},
    entity::{pending_login, user},
    http::{ApiError, ApiResult, ClientMeta, ErrorKind},
    sessions::SignInMethod,
    state::AppState,
    throttle,
};
use actix_web::HttpResponse;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    Set,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

pub const TTL_SECONDS: i64 = 300;
/// Wrong codes one pending login takes before it is burned (the account's own limit,
/// 5 by default, counts across pending logins).
pub const MAX_ATTEMPTS: i32 = 3;

/// A live pending login (unknown, used and expired ones never get this far).
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The WebAuthn challenge stored by `set_challenge`, if any.
    pub challenge: Option<String>,
}

/// The second-step throttle of an account, apart from its password counter: a
/// stranger who knows the password must not get unlimited code guesses through fresh
/// pending logins.
pub fn account_key(user_id: Uuid) -> String {
    format!("mfa:{user_id}")
}

fn invalid() -> ApiError {
    ApiError::new(ErrorKind::MfaPendingInvalid)
}

/// Starts a pending login for `user_id` in the caller's transaction; returns its token.
pub(super) async fn start<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<String, sea_orm::DbErr> {
    let token = crypto::generate_token(TokenKind::MfaPending);
    pending_login::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        token_hash: Set(crypto::hash_token(&token)),
        created_at: Set(now),
        expires_at: Set(now + Duration::seconds(TTL_SECONDS)),
        used_at: Set(None),
        ip: Set(meta.ip.clone()),
        user_agent: Set(meta.user_agent.clone()),
        challenge: Set(None),
        attempts: Set(0),
    }
    .insert(db)
    .await?;
    // Expired ones are the janitor's.
    Ok(token)
}

async fn live_row<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<pending_login::Model> {
    pending_login::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|p| p.used_at.is_none() && p.expires_at > now)
        .ok_or_else(invalid)
}

/// The live pending login of `token`; `mfa-pending-invalid` when it is unknown,
/// malformed, used or expired.
pub async fn find(st: &AppState, token: &str) -> ApiResult<Pending> {
    let token = token.trim();
    if !crypto::token_is_well_formed(TokenKind::MfaPending, token) {
        return Err(invalid());
    }
    let now = st.clock.now();
    let row = pending_login::Entity::find()
        .filter(pending_login::Column::TokenHash.eq(crypto::hash_token(token)))
        .one(&st.db)
        .await?
        .filter(|p| p.used_at.is_none() && p.expires_at > now)
        .ok_or_else(invalid)?;
    Ok(Pending {
        id: row.id,
        user_id: row.user_id,
        challenge: row.challenge,
    })
}

/// Keeps a WebAuthn challenge with the pending login (the passkey second step).
pub async fn set_challenge(st: &AppState, id: Uuid, challenge: &str) -> ApiResult<()> {
    let n = pending_login::Entity::update_many()
        .col_expr(pending_login::Column::Challenge, Expr::value(challenge))
        .filter(pending_login::Column::Id.eq(id))
        .filter(pending_login::Column::UsedAt.is_null())
        .filter(pending_login::Column::ExpiresAt.gt(st.clock.now()))
        .exec(&st.db)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(invalid());
    }
    Ok(())
}

/// The second step must come from the client that typed the password.
fn bound_to(row: &pending_login::Model, meta: &ClientMeta) -> bool {
    row.ip == meta.ip && row.user_agent == meta.user_agent
}

/// Takes one slot of the account's code counter (the login limits), or 429 with
/// `Retry-After`: every code typed for the account counts, at login or in settings.
pub(super) async fn reserve_code_slot(
    st: &AppState,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let limit = throttle::Limit::account(&st.config.login);
    match throttle::reserve(&st.db, &account_key(user_id), limit, now).await? {
        throttle::Reservation::Granted { .. } => Ok(()),
        throttle::Reservation::Refused { retry_after } => {
            Err(ApiError::too_many("wrong codes", retry_after))
        }
    }
}

/// Counts one second-step attempt before the code is checked: per pending login
/// (burned after `MAX_ATTEMPTS`, fewer than the account's limit, so a typo-prone user
/// logs in again before the account is locked) and per account (429 with
/// `Retry-After` over the login limit, across pending logins). Also refuses a client
/// other than the one that typed the password.
pub async fn reserve_attempt(st: &AppState, pending: &Pending, meta: &ClientMeta) -> ApiResult<()> {
    let now = st.clock.now();
    let row = live_row(&st.db, pending.id, now).await?;
    if !bound_to(&row, meta) {
        return Err(invalid());
    }
    let n = pending_login::Entity::update_many()
        .col_expr(
            pending_login::Column::Attempts,
            Expr::col(pending_login::Column::Attempts).add(1),
        )
        .filter(pending_login::Column::Id.eq(pending.id))
        .filter(pending_login::Column::UsedAt.is_null())
        .filter(pending_login::Column::Attempts.lt(MAX_ATTEMPTS))
        .exec(&st.db)
        .await?
        .rows_affected;
    if n == 0 {
        // Out of tries: this attempt is over; the user logs in again. (Not marked used:
        // a right answer already counted and in flight may still finish it.)
        return Err(ApiError::with_detail(
            ErrorKind::MfaPendingInvalid,
            "too many wrong codes for this sign-in attempt; log in again",
        ));
    }
    reserve_code_slot(st, pending.user_id, now).await
}

/// Finishes a pending login whose second factor the caller has verified, in the
/// caller's transaction (which used the factor up, so a code is spent only if the
/// session is made): uses the pending login up (exactly once, even under
/// concurrency) and starts the session with `method`.
pub async fn complete(
    st: &AppState,
    txn: DatabaseTransaction,
    meta: &ClientMeta,
    pending: Pending,
    method: SignInMethod,
) -> ApiResult<HttpResponse> {
    let now = st.clock.now();
    let row = live_row(&txn, pending.id, now).await?;
    if !bound_to(&row, meta) {
        return Err(invalid());
    }
    let n = pending_login::Entity::update_many()
        .col_expr(pending_login::Column::UsedAt, Expr::value(Some(now)))
        .filter(pending_login::Column::Id.eq(pending.id))
        .filter(pending_login::Column::UsedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(invalid());
    }
    let u = user::Entity::find_by_id(row.user_id)
        .one(&txn)
        .await?
        .ok_or_else(invalid)?;
    throttle::clear(&txn, &account_key(u.id)).await?;
    super::start_session(st, txn, &u, meta, method, now).await
}
