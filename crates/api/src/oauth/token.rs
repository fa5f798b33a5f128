//! `/token` (authorization_code and refresh_token grants) and `/revoke` (RFC 7009).
use super::{OAuthError, clients, tokens};
use crate::{
    app::AppState,
    audit::{self, Actor, Event},
    crypto::{self, TokenKind},
    entity::{
        membership, oauth_client, oauth_code, oauth_grant, oauth_refresh_token, organization, user,
    },
    http::ClientMeta,
};
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::RefreshTokenLifetime;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    resource: Option<String>,
}

fn answer(access: String, expires_in: i64, refresh: &str, scope: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh,
            "scope": scope,
        }))
}

fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()))
                .as_bytes(),
            challenge.as_bytes(),
        ))
}

/// Revokes a grant and its refresh tokens (the whole family), audited.
pub async fn revoke_grant<C: ConnectionTrait>(
    db: &C,
    grant: &oauth_grant::Model,
    now: DateTime<Utc>,
    ctx: &audit::Context,
    reason: &str,
) -> Result<bool, sea_orm::DbErr> {
    let done = oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::value(Some(now)))
        .filter(oauth_grant::Column::Id.eq(grant.id))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        > 0;
    oauth_refresh_token::Entity::update_many()
        .col_expr(
            oauth_refresh_token::Column::RevokedAt,
            Expr::value(Some(now)),
        )
        .filter(oauth_refresh_token::Column::GrantId.eq(grant.id))
        .filter(oauth_refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if done {
        audit::record(
            db,
            ctx,
            now,
            Event::new(grant.org_id, audit::action::OAUTH_GRANT_REVOKED)
                .target("oauth_grant", grant.id)
                .meta(
                    json!({"reason": reason, "user_id": grant.user_id, "client": grant.client_id}),
                ),
        )
        .await?;
    }
    Ok(done)
}

fn system_ctx(req: &HttpRequest) -> audit::Context {
    audit::Context {
        actor: Actor::System,
        meta: ClientMeta::from_request(req),
    }
}

async fn new_refresh(
    txn: &DatabaseTransaction,
    grant: &oauth_grant::Model,
    now: DateTime<Utc>,
) -> Result<String, sea_orm::DbErr> {
    let secret = crypto::generate_token(TokenKind::OAuthRefresh);
    oauth_refresh_token::Entity::insert(oauth_refresh_token::ActiveModel {
        token_hash: Set(crypto::hash_token(&secret)),
        grant_id: Set(grant.id),
        created_at: Set(now),
        // Rotation never extends the grant.
        expires_at: Set(grant.expires_at),
        rotated_at: Set(None),
        revoked_at: Set(None),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(secret)
}

async fn exchange_code(
    st: &AppState,
    req: &HttpRequest,
    client: &oauth_client::Model,
    f: &TokenRequest,
) -> Result<HttpResponse, OAuthError> {
    let code = f
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::bad_request("invalid_request", "code is required"))?;
    let verifier = f
        .code_verifier
        .as_deref()
        .ok_or_else(|| OAuthError::bad_request("invalid_request", "code_verifier is required"))?;
    let now = st.clock.now();
    let hash = crypto::hash_token(code);
    let _turn = st.write_turn().await;
    let txn = crate::db::begin(&st.db).await.map_err(OAuthError::server)?;
    // Claim the code first: writing first makes SQLite take its write lock before any
    // read, so parallel exchanges queue instead of failing; any error below rolls the
    // claim back.
    let grant_id = Uuid::now_v7();
    let claimed = oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::UsedAt, Expr::value(Some(now)))
        .col_expr(oauth_code::Column::GrantId, Expr::value(Some(grant_id)))
        .filter(oauth_code::Column::CodeHash.eq(hash.clone()))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(&txn)
        .await
        .map_err(OAuthError::server)?
        .rows_affected
        == 1;
    let row = oauth_code::Entity::find_by_id(hash)
        .one(&txn)
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(|| OAuthError::invalid_grant("unknown or expired code"))?;
    if !claimed {
        // A replayed code: whatever the first use issued is revoked (RFC 6749 §4.1.2).
        let mut revoked = None;
        if let Some(gid) = row.grant_id
            && let Some(g) = oauth_grant::Entity::find_by_id(gid)
                .one(&txn)
                .await
                .map_err(OAuthError::server)?
        {
            revoke_grant(&txn, &g, now, &system_ctx(req), "authorization code reused")
                .await
                .map_err(OAuthError::server)?;
            revoked = Some(gid);
        }
        txn.commit().await.map_err(OAuthError::server)?;
        tokens::mark_revoked(st, revoked);
        return Err(OAuthError::invalid_grant("code already used"));
    }
    if row.expires_at <= now || row.client_id != client.id {
        return Err(OAuthError::invalid_grant("unknown or expired code"));
    }
    if f.redirect_uri
        .as_deref()
        .is_some_and(|r| r != row.redirect_uri)
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if f.resource
        .as_deref()
        .is_some_and(|r| r.trim_end_matches('/') != row.resource)
    {
        return Err(OAuthError::bad_request(
            "invalid_target",
            "resource does not match the authorization request",
        ));
    }
    if !pkce_ok(verifier, &row.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    // Still a member of a live org?
    let org = organization::Entity::find_by_id(row.org_id)
        .filter(organization::Column::DeletedAt.is_null())
        .one(&txn)
        .await
        .map_err(OAuthError::server)?;
    let member = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(row.org_id))
        .filter(membership::Column::UserId.eq(row.user_id))
        .one(&txn)
        .await
        .map_err(OAuthError::server)?;
    let user = user::Entity::find_by_id(row.user_id)
        .one(&txn)
        .await
        .map_err(OAuthError::server)?;
    let (Some(org), Some(_), Some(user)) = (org, member, user) else {
        return Err(OAuthError::invalid_grant(
            "the user can no longer grant access to this organization",
        ));
    };
    let days = RefreshTokenLifetime::parse(&org.refresh_token_lifetime)
        .unwrap_or(RefreshTokenLifetime::Default)
        .days();
    let grant = oauth_grant::Model {
        id: grant_id,
        org_id: org.id,
        user_id: user.id,
        client_id: client.id,
        scope: row.scope.clone(),
        resource: row.resource.clone(),
        created_at: now,
        expires_at: now + Duration::days(days.into()),
        revoked_at: None,
        last_used_at: Some(now),
    };
    let am: oauth_grant::ActiveModel = grant.clone().into();
    oauth_grant::Entity::insert(am)
        .exec_without_returning(&txn)
        .await
        .map_err(OAuthError::server)?;
    let refresh = new_refresh(&txn, &grant, now)
        .await
        .map_err(OAuthError::server)?;
    // last_used_at is for people: a minute's precision saves a write per exchange.
    if client
        .last_used_at
        .is_none_or(|t| now - t > Duration::seconds(60))
    {
        oauth_client::Entity::update_many()
            .col_expr(oauth_client::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(oauth_client::Column::Id.eq(client.id))
            .exec(&txn)
            .await
            .map_err(OAuthError::server)?;
    }
    let ctx = audit::Context {
        actor: Actor::User {
            id: user.id,
            email: user.email.clone(),
        },
        meta: ClientMeta::from_request(req),
    };
    audit::record(&txn, &ctx, now, Event::new(org.id, audit::action::OAUTH_GRANT_CREATED)
        .target("oauth_grant", grant.id)
        .meta(json!({"client_id": client.client_id, "client_name": client.name, "scope": grant.scope, "refresh_token_days": days, "expires_at": grant.expires_at}))).await
        .map_err(OAuthError::server)?;
    txn.commit().await.map_err(OAuthError::server)?;
    let (access, expires_in) = tokens::issue(st, &grant, &client.client_id, now)
        .await
        .map_err(OAuthError::server)?;
    Ok(answer(access, expires_in, &refresh, &grant.scope))
}

async fn refresh(
    st: &AppState,
    req: &HttpRequest,
    client: &oauth_client::Model,
    f: &TokenRequest,
) -> Result<HttpResponse, OAuthError> {
    let presented = f
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::bad_request("invalid_request", "refresh_token is required"))?;
    let invalid = || OAuthError::invalid_grant("invalid, expired or revoked refresh token");
    if !crypto::token_is_well_formed(TokenKind::OAuthRefresh, presented) {
        return Err(invalid());
    }
    let now = st.clock.now();
    let hash = crypto::hash_token(presented);
    let _turn = st.write_turn().await;
    let txn = crate::db::begin(&st.db).await.map_err(OAuthError::server)?;
    // Rotate first (see exchange_code); a token rotated before stays usable for the
    // grace window, so parallel refreshes by one client all succeed.
    oauth_refresh_token::Entity::update_many()
        .col_expr(
            oauth_refresh_token::Column::RotatedAt,
            Expr::value(Some(now)),
        )
        .filter(oauth_refresh_token::Column::TokenHash.eq(hash.clone()))
        .filter(oauth_refresh_token::Column::RotatedAt.is_null())
        .exec(&txn)
        .await
        .map_err(OAuthError::server)?;
    let row = oauth_refresh_token::Entity::find_by_id(hash)
        .one(&txn)
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(invalid)?;
    let grant = oauth_grant::Entity::find_by_id(row.grant_id)
        .one(&txn)
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(invalid)?;
    if grant.client_id != client.id
        || grant.revoked_at.is_some()
        || row.revoked_at.is_some()
        || grant.expires_at <= now
        || row.expires_at <= now
    {
        return Err(invalid());
    }
    if let Some(rotated) = row.rotated_at
        && now - rotated > Duration::seconds(st.config.oauth.refresh_grace_secs)
    {
        // A rotated token used after the grace window: stolen or replayed. End the family.
        revoke_grant(&txn, &grant, now, &system_ctx(req), "refresh token reused")
            .await
            .map_err(OAuthError::server)?;
        txn.commit().await.map_err(OAuthError::server)?;
        tokens::mark_revoked(st, [grant.id]);
        return Err(invalid());
    }
    let next = new_refresh(&txn, &grant, now)
        .await
        .map_err(OAuthError::server)?;
    if grant
        .last_used_at
        .is_none_or(|t| now - t > Duration::seconds(60))
    {
        oauth_grant::Entity::update_many()
            .col_expr(oauth_grant::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(oauth_grant::Column::Id.eq(grant.id))
            .exec(&txn)
            .await
            .map_err(OAuthError::server)?;
    }
    txn.commit().await.map_err(OAuthError::server)?;
    let (access, expires_in) = tokens::issue(st, &grant, &client.client_id, now)
        .await
        .map_err(OAuthError::server)?;
    Ok(answer(access, expires_in, &next, &grant.scope))
}

/// The form body, or the RFC 6749 error for a body that is not one.
fn form_of<T>(form: Result<web::Form<T>, actix_web::Error>) -> Result<T, OAuthError> {
    form.map(web::Form::into_inner).map_err(|_| {
        OAuthError::bad_request(
            "invalid_request",
            "send application/x-www-form-urlencoded parameters",
        )
    })
}

#[post("/token")]
pub async fn token(
    req: HttpRequest,
    form: Result<web::Form<TokenRequest>, actix_web::Error>,
    st: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let f = form_of(form)?;
    let client = clients::authenticate(
        &st,
        &req,
        f.client_id.as_deref(),
        f.client_secret.as_deref(),
    )
    .await?;
    match f.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(&st, &req, &client, &f).await,
        Some("refresh_token") => refresh(&st, &req, &client, &f).await,
        Some(_) => Err(OAuthError::bad_request(
            "unsupported_grant_type",
            "use authorization_code or refresh_token",
        )),
        None => Err(OAuthError::bad_request(
            "invalid_request",
            "grant_type is required",
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct RevokeRequest {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009: revoking a refresh token or an access token ends its grant. Unknown tokens
/// answer 200 too, so the endpoint tells nothing.
#[post("/revoke")]
pub async fn revoke(
    req: HttpRequest,
    form: Result<web::Form<RevokeRequest>, actix_web::Error>,
    st: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let f = form_of(form)?;
    let client = clients::authenticate(
        &st,
        &req,
        f.client_id.as_deref(),
        f.client_secret.as_deref(),
    )
    .await?;
    let presented = f
        .token
        .as_deref()
        .ok_or_else(|| OAuthError::bad_request("invalid_request", "token is required"))?;
    let grant_id = if crypto::token_is_well_formed(TokenKind::OAuthRefresh, presented) {
        oauth_refresh_token::Entity::find_by_id(crypto::hash_token(presented))
            .one(&st.db)
            .await
            .map_err(OAuthError::server)?
            .map(|r| r.grant_id)
    } else {
        tokens::grant_of(&st, presented)
    };
    let now = st.clock.now();
    if let Some(gid) = grant_id
        && let Some(grant) = oauth_grant::Entity::find_by_id(gid)
            .one(&st.db)
            .await
            .map_err(OAuthError::server)?
        && grant.client_id == client.id
    {
        let _turn = st.write_turn().await;
        let txn = crate::db::begin(&st.db).await.map_err(OAuthError::server)?;
        revoke_grant(
            &txn,
            &grant,
            now,
            &system_ctx(&req),
            "revoked by the client",
        )
        .await
        .map_err(OAuthError::server)?;
        txn.commit().await.map_err(OAuthError::server)?;
        tokens::mark_revoked(&st, [grant.id]);
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
