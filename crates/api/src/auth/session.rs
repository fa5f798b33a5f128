//! Session-cookie authentication: the cookie's token resolved to its user, ending the
//! session when it has been idle longer than the strictest timeout among the user's
//! orgs or has reached its absolute lifetime. (Sessions are created and listed by the
//! `sessions` area.)
use super::org_ref;
use crate::{
    audit::{self, Context, Event, SessionEnd},
    crypto::{self, TokenKind},
    entity::{membership, organization, session, user},
    http::{ApiError, ApiResult, ErrorKind},
    state::AppState,
};
use actix_web::{HttpRequest, http::Method, http::header};
use chrono::Duration;
use gatehouse_types::validation::SESSION_TIMEOUT_DEFAULT_MINUTES;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

pub const SESSION_COOKIE: &str = "gatehouse_session";
/// `last_seen_at` is written at most this often per session, not on every request.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// The idle timeout that applies to a user: the smallest among their organizations.
pub async fn idle_timeout_minutes<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<i64, sea_orm::DbErr> {
    let min: Option<Option<i32>> = membership::Entity::find()
        .select_only()
        .column_as(
            Expr::col((
                organization::Entity,
                organization::Column::SessionTimeoutMinutes,
            ))
            .min(),
            "m",
        )
        .join(JoinType::InnerJoin, membership::Relation::Org.def())
        .filter(membership::Column::UserId.eq(user_id))
        .filter(org_ref::live())
        .into_tuple()
        .one(db)
        .await?;
    Ok(i64::from(
        min.flatten().unwrap_or(SESSION_TIMEOUT_DEFAULT_MINUTES),
    ))
}

/// Resolves a session token to its user, ending the session if it has been idle too
/// long or outlived its absolute lifetime.
pub async fn authenticate(st: &AppState, token: &str) -> ApiResult<(user::Model, Uuid)> {
    if !crypto::token_is_well_formed(TokenKind::Session, token) {
        return Err(ApiError::new(ErrorKind::AuthenticationRequired));
    }
    let now = st.clock.now();
    let found = session::Entity::find()
        .filter(session::Column::TokenHash.eq(crypto::hash_token(token)))
        .find_also_related(user::Entity)
        .one(&st.db)
        .await?;
    let Some((sess, Some(user))) = found else {
        return Err(ApiError::new(ErrorKind::AuthenticationRequired));
    };
    let timeout = idle_timeout_minutes(&st.db, user.id).await?;
    let idle = now - sess.last_seen_at > Duration::minutes(timeout);
    if idle || now >= sess.expires_at {
        let txn = crate::db::begin(&st.db).await?;
        session::Entity::delete_by_id(sess.id).exec(&txn).await?;
        let reason = if idle {
            SessionEnd::IdleTimeout
        } else {
            SessionEnd::AbsoluteLifetime
        };
        audit::record(
            &txn,
            &Context::system(),
            now,
            Event::SessionExpired {
                user_id: user.id,
                session_id: sess.id,
                reason,
            },
        )
        .await?;
        txn.commit().await?;
        return Err(ApiError::with_detail(
            ErrorKind::SessionExpired,
            if idle {
                format!("the session was idle for more than {timeout} minutes")
            } else {
                "the session reached its maximum lifetime of 30 days".to_string()
            },
        ));
    }
    if now - sess.last_seen_at > Duration::seconds(TOUCH_INTERVAL_SECS) {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(sess.id))
            .exec(&st.db)
            .await?;
    }
    Ok((user, sess.id))
}

pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// CSRF defence for cookie-authenticated writes: the browser's `Origin` (or, failing
/// that, `Referer`) must be our public origin. SameSite=Lax already stops most
/// cross-site posts; this covers the rest (sibling subdomains, old browsers).
pub(crate) fn check_origin(
    req: &HttpRequest,
    public_origin: &str,
    required: bool,
) -> Result<(), ApiError> {
    if !is_unsafe(req.method()) {
        return Ok(());
    }
    let h = req.headers();
    let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let referer = h.get(header::REFERER).and_then(|v| v.to_str().ok());
    let ok = match (origin, referer) {
        (Some(o), _) => o == public_origin,
        (None, Some(r)) => r == public_origin || r.starts_with(&format!("{public_origin}/")),
        (None, None) => !required,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::with_detail(
            ErrorKind::CsrfRejected,
            format!("cookie-authenticated writes must come from {public_origin}"),
        ))
    }
}

pub(crate) fn session_token(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_string())
}
