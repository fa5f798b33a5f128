//! `/token` (authorization_code and refresh_token grants) and `/revoke` (RFC 7009).
use super::{OAuthError, batch, clients, tokens};
use crate::{
    audit::{self, Event},
    crypto::{self, TokenKind},
    entity::{oauth_client, oauth_code, oauth_grant, oauth_refresh_token},
    http::ClientMeta,
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use gatehouse_types::events::GrantEndReason;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
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

/// Revokes a grant and its refresh tokens (the whole family), audited.
pub async fn revoke_grant<C: ConnectionTrait>(
    db: &C,
    grant: &oauth_grant::Model,
    now: DateTime<Utc>,
    ctx: &audit::Context,
    reason: GrantEndReason,
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
            &ctx.clone().in_org(grant.org_id),
            now,
            Event::OAuthGrantRevoked {
                grant_id: grant.id,
                user_id: grant.user_id,
                client: grant.client_id,
                reason,
            },
        )
        .await?;
    }
    Ok(done)
}

fn system_ctx(req: &HttpRequest) -> audit::Context {
    audit::Context::system_for(ClientMeta::from_request(req))
}

/// A code used a second time: whatever its first use issued is revoked (RFC 6749
/// §4.1.2).
async fn replayed_code(st: &AppState, req: &HttpRequest, code_hash: &str) -> OAuthError {
    let work = async {
        let now = st.clock.now();
        let _turn = st.write_turn().await;
        let txn = crate::db::begin(&st.db).await?;
        let mut revoked = None;
        if let Some(gid) = oauth_code::Entity::find_by_id(code_hash)
            .one(&txn)
            .await?
            .and_then(|c| c.grant_id)
            && let Some(g) = oauth_grant::Entity::find_by_id(gid).one(&txn).await?
        {
            revoke_grant(
                &txn,
                &g,
                now,
                &system_ctx(req),
                GrantEndReason::AuthorizationCodeReused,
            )
            .await?;
            revoked = Some(gid);
        }
        txn.commit().await?;
        tokens::mark_revoked(st, revoked);
        Ok::<_, sea_orm::DbErr>(())
    };
    match work.await {
        Ok(()) => OAuthError::invalid_grant("code already used"),
        Err(e) => OAuthError::server(e),
    }
}

/// A rotated refresh token used after the grace window: stolen or replayed. The whole
/// family ends.
async fn reused_token(st: &AppState, req: &HttpRequest, grant: &oauth_grant::Model) -> OAuthError {
    let work = async {
        let now = st.clock.now();
        let _turn = st.write_turn().await;
        let txn = crate::db::begin(&st.db).await?;
        revoke_grant(
            &txn,
            grant,
            now,
            &system_ctx(req),
            GrantEndReason::RefreshTokenReused,
        )
        .await?;
        txn.commit().await?;
        tokens::mark_revoked(st, [grant.id]);
        Ok::<_, sea_orm::DbErr>(())
    };
    match work.await {
        Ok(()) => OAuthError::invalid_grant("invalid, expired or revoked refresh token"),
        Err(e) => OAuthError::server(e),
    }
}

/// Hands the request to the group commit and answers with tokens for the grant it
/// created or continued.
async fn through_batch(
    st: &AppState,
    req: &HttpRequest,
    client: &oauth_client::Model,
    op: batch::Op,
    refresh: String,
    code_hash: Option<&str>,
) -> Result<HttpResponse, OAuthError> {
    let grant = match st.batch.run(op).await.map_err(OAuthError::server)? {
        batch::Outcome::Granted(g) => g,
        batch::Outcome::Refused(e) => return Err(e),
        batch::Outcome::CodeReplayed => {
            return Err(replayed_code(st, req, code_hash.unwrap_or_default()).await);
        }
        batch::Outcome::TokenReused(g) => return Err(reused_token(st, req, &g).await),
        batch::Outcome::Registered => return Err(OAuthError::server("unexpected outcome")),
    };
    let (access, expires_in) = tokens::issue(st, &grant, &client.client_id, st.clock.now())
        .await
        .map_err(OAuthError::server)?;
    Ok(answer(access, expires_in, &refresh, &grant.scope))
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
    let code_hash = crypto::hash_token(code);
    let refresh = crypto::generate_token(TokenKind::OAuthRefresh);
    let op = batch::Op::Exchange(Box::new(batch::Exchange {
        code_hash: code_hash.clone(),
        client: client.clone(),
        verifier: verifier.to_string(),
        redirect_uri: f.redirect_uri.clone(),
        resource: f.resource.clone(),
        refresh_hash: crypto::hash_token(&refresh),
        meta: ClientMeta::from_request(req),
    }));
    through_batch(st, req, client, op, refresh, Some(&code_hash)).await
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
    if !crypto::token_is_well_formed(TokenKind::OAuthRefresh, presented) {
        return Err(OAuthError::invalid_grant(
            "invalid, expired or revoked refresh token",
        ));
    }
    let next = crypto::generate_token(TokenKind::OAuthRefresh);
    let op = batch::Op::Refresh(Box::new(batch::Refresh {
        token_hash: crypto::hash_token(presented),
        client_id: client.id,
        next_hash: crypto::hash_token(&next),
    }));
    through_batch(st, req, client, op, next, None).await
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
        clients::ClientCredentials {
            client_id: f.client_id.as_deref(),
            secret: f.client_secret.as_deref(),
            assertion_type: f.client_assertion_type.as_deref(),
            assertion: f.client_assertion.as_deref(),
        },
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
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
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
        clients::ClientCredentials {
            client_id: f.client_id.as_deref(),
            secret: f.client_secret.as_deref(),
            assertion_type: f.client_assertion_type.as_deref(),
            assertion: f.client_assertion.as_deref(),
        },
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
            GrantEndReason::RevokedByClient,
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
