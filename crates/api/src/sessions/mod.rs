//! Browser sessions: a random token in an HttpOnly cookie, only its hash in the
//! database. Sessions end when idle for longer than the strictest session timeout among
//! the user's organizations, and in any case 30 days after they began.
use crate::{
    audit::{self, Context, Event},
    auth::{CurrentUser, extract::SESSION_COOKIE},
    crypto::{self, TokenKind},
    entity::session,
    http::{ApiError, ApiResult, ClientMeta},
    state::AppState,
};
use actix_web::{
    HttpResponse, HttpResponseBuilder, cookie::Cookie, cookie::SameSite, delete, get, post, web,
};
use chrono::{DateTime, Duration, Utc};
pub use gatehouse_types::SignInMethod;
use gatehouse_types::{RevokedCount, SessionInfo};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

pub const ABSOLUTE_LIFETIME_DAYS: i64 = 30;

/// Creates a session signed in with the password alone and returns its token (to be
/// set as the cookie).
pub async fn create<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(String, Uuid), sea_orm::DbErr> {
    create_with(db, user_id, meta, now, SignInMethod::Password).await
}

/// Creates a session that signed in with `method` and returns its token and id.
pub async fn create_with<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    meta: &ClientMeta,
    now: DateTime<Utc>,
    method: SignInMethod,
) -> Result<(String, Uuid), sea_orm::DbErr> {
    let token = crypto::generate_token(TokenKind::Session);
    let id = Uuid::now_v7();
    session::Entity::insert(session::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        token_hash: Set(crypto::hash_token(&token)),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + Duration::days(ABSOLUTE_LIFETIME_DAYS)),
        ip: Set(meta.ip.clone()),
        user_agent: Set(meta.user_agent.clone()),
        sign_in_method: Set(method.as_str().to_string()),
    })
    .exec_without_returning(db)
    .await?;
    Ok((token, id))
}

/// Only through [`set_cookies`] / [`clear_cookies`]: the signed-in hint goes with it.
fn cookie(st: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .secure(st.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(
            ABSOLUTE_LIFETIME_DAYS,
        ))
        .finish()
}

/// Not HttpOnly and not secret: it lets the dashboard know there may be a session
/// without asking `/me` (a signed-out visitor's request would only fail). It lives
/// and dies with the session cookie; a hint that outlives an idle session is dropped
/// by the dashboard after its one 401.
pub const SIGNED_IN_HINT_COOKIE: &str = "gatehouse_signed_in";

fn hint_cookie(st: &AppState) -> Cookie<'static> {
    let mut c = cookie(st, "1");
    c.set_name(SIGNED_IN_HINT_COOKIE);
    c.set_http_only(false);
    c
}

/// Sets the session cookie (first: clients that read one `Set-Cookie` get the session)
/// and the signed-in hint.
pub fn set_cookies(resp: &mut HttpResponseBuilder, st: &AppState, token: &str) {
    resp.cookie(cookie(st, token)).cookie(hint_cookie(st));
}

/// Clears the session cookie and the signed-in hint.
pub fn clear_cookies(resp: &mut HttpResponseBuilder, st: &AppState) {
    for mut c in [cookie(st, ""), hint_cookie(st)] {
        c.make_removal();
        resp.cookie(c);
    }
}

fn to_api(s: session::Model, current: Uuid) -> SessionInfo {
    SessionInfo {
        id: s.id,
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        expires_at: s.expires_at,
        ip: s.ip,
        user_agent: s.user_agent,
        current: s.id == current,
        // An unknown stored value (a newer replica's) shows as the password.
        sign_in_method: SignInMethod::parse(&s.sign_in_method).unwrap_or_default(),
    }
}

/// List the caller's active sessions.
#[utoipa::path(operation_id = "listSessions", security(("session" = [])),
    tag = "sessions", responses((status = 200, body = Vec<SessionInfo>), (status = 401, body = gatehouse_types::Problem)))]
#[get("/me/sessions")]
pub async fn list(
    me: CurrentUser,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<SessionInfo>>> {
    let rows = session::Entity::find()
        .filter(session::Column::UserId.eq(me.user.id))
        .filter(session::Column::ExpiresAt.gt(st.clock.now()))
        .order_by_desc(session::Column::LastSeenAt)
        .all(&st.db)
        .await?;
    Ok(web::Json(
        rows.into_iter().map(|s| to_api(s, me.session_id)).collect(),
    ))
}

/// Revoke one of the caller's sessions (the current one logs out).
#[utoipa::path(operation_id = "revokeSession", security(("session" = [])),
    tag = "sessions", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = gatehouse_types::Problem)))]
#[delete("/me/sessions/{id}")]
pub async fn revoke(
    me: CurrentUser,
    id: web::Path<Uuid>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let n = session::Entity::delete_many()
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::UserId.eq(me.user.id))
        .exec(&txn)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(ApiError::not_found("session"));
    }
    audit::record(
        &txn,
        &Context::from(&me),
        now,
        Event::SessionRevoked {
            user_id: me.user.id,
            session_id: id,
        },
    )
    .await?;
    txn.commit().await?;
    let mut resp = HttpResponse::NoContent();
    if id == me.session_id {
        clear_cookies(&mut resp, &st);
    }
    Ok(resp.finish())
}

/// Revoke every session of the caller except the current one.
#[utoipa::path(operation_id = "revokeOtherSessions", security(("session" = [])),
    tag = "sessions", responses((status = 200, body = RevokedCount)))]
#[post("/me/sessions/revoke-others")]
pub async fn revoke_others(
    me: CurrentUser,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<RevokedCount>> {
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let revoked = end_other_sessions(&txn, me.user.id, Some(me.session_id)).await?;
    audit::record(
        &txn,
        &Context::from(&me),
        now,
        Event::OtherSessionsRevoked {
            user_id: me.user.id,
            count: revoked,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(RevokedCount { revoked }))
}

/// Deletes a user's sessions except `keep`.
pub async fn end_other_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, sea_orm::DbErr> {
    let mut q = session::Entity::delete_many().filter(session::Column::UserId.eq(user_id));
    if let Some(k) = keep {
        q = q.filter(session::Column::Id.ne(k));
    }
    Ok(q.exec(db).await?.rows_affected)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(revoke).service(revoke_others);
}
