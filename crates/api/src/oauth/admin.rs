//! The organization's side of OAuth: the clients connected to it, clients an admin
//! creates for tools that cannot register, and the refresh-token lifetime.
use super::{clients, token::revoke_grant, tokens};
use crate::{
    audit::{self, Context, Event},
    auth::OrgAdmin,
    crypto::{self, TokenKind},
    entity::{oauth_client, oauth_code, oauth_grant, oauth_refresh_token, organization},
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use gatehouse_types::events::{Change, GrantEndReason};
use gatehouse_types::{
    CreateOAuthClientRequest, CreatedOAuthClient, OAuthClient, OAuthClientKind, OAuthSettings,
    RefreshTokenLifetime, UpdateOAuthSettings,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
    sea_query::{Expr, ExprTrait, Query},
};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

fn kind(c: &oauth_client::Model) -> OAuthClientKind {
    match c.kind.as_str() {
        "admin" => OAuthClientKind::Admin,
        "cimd" => OAuthClientKind::MetadataDocument,
        _ => OAuthClientKind::Registered,
    }
}

fn to_api(c: &oauth_client::Model, active: u64) -> OAuthClient {
    OAuthClient {
        id: c.id,
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        kind: kind(c),
        redirect_hosts: clients::redirect_hosts(c),
        created_at: c.created_at,
        last_used_at: c.last_used_at,
        active_grants: active,
    }
}

fn require_user(admin: &OrgAdmin) -> ApiResult<Uuid> {
    admin.0.user_id().ok_or_else(|| {
        ApiError::with_detail(
            ErrorKind::Forbidden,
            "OAuth clients are managed by signed-in owners and admins",
        )
    })
}

/// Revokes every refresh token of the org at once (access tokens run out within the
/// hour), as creating or deleting a client does.
async fn revoke_org_refresh_tokens<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    Ok(oauth_refresh_token::Entity::update_many()
        .col_expr(
            oauth_refresh_token::Column::RevokedAt,
            Expr::value(Some(now)),
        )
        .filter(oauth_refresh_token::Column::RevokedAt.is_null())
        .filter(
            oauth_refresh_token::Column::GrantId.in_subquery(
                Query::select()
                    .column(oauth_grant::Column::Id)
                    .from(oauth_grant::Entity)
                    .and_where(oauth_grant::Column::OrgId.eq(org))
                    .to_owned(),
            ),
        )
        .exec(db)
        .await?
        .rows_affected)
}

/// The clients connected to the org (through grants) and those its admins created.
#[utoipa::path(operation_id = "listOAuthClients", security(("session" = []), ("apiKey" = [])),
    tag = "oauth", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<OAuthClient>), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/oauth/clients")]
pub async fn list_clients(
    admin: OrgAdmin,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<OAuthClient>>> {
    let org = &admin.0.org;
    let now = st.clock.now();
    let grants = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::OrgId.eq(org.id))
        .all(&st.db)
        .await?;
    // A client counts as connected while it holds a live grant: one whose grants were
    // all revoked (e.g. an admin deleted it) is gone from the org's point of view.
    let mut active: HashMap<Uuid, u64> = HashMap::new();
    for g in grants
        .iter()
        .filter(|g| g.revoked_at.is_none() && g.expires_at > now)
    {
        *active.entry(g.client_id).or_default() += 1;
    }
    let ids: Vec<Uuid> = active.keys().copied().collect();
    let rows = oauth_client::Entity::find()
        .filter(
            oauth_client::Column::Id
                .is_in(ids)
                .or(oauth_client::Column::OrgId.eq(org.id)),
        )
        .all(&st.db)
        .await?;
    let mut out: Vec<OAuthClient> = rows
        .iter()
        .map(|c| to_api(c, active.get(&c.id).copied().unwrap_or(0)))
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    Ok(web::Json(out))
}

/// Creates a client with a static id and secret (shown once). As the product promises,
/// this revokes every refresh token of the organization.
#[utoipa::path(operation_id = "createOAuthClient", security(("session" = []), ("apiKey" = [])),
    tag = "oauth", params(("slug" = String, Path)), request_body = CreateOAuthClientRequest,
    responses((status = 201, body = CreatedOAuthClient), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/oauth/clients")]
pub async fn create_client(
    admin: OrgAdmin,
    body: web::Json<CreateOAuthClientRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let user_id = require_user(&admin)?;
    let m = admin.0;
    let body = body.into_inner();
    let mut v = Validation::default();
    let name = v.name("name", &body.name, 100);
    if body.redirect_uris.is_empty() || body.redirect_uris.len() > 10 {
        v.push("redirect_uris", "1 to 10 redirect URIs");
    }
    for u in &body.redirect_uris {
        if let Some(p) = clients::redirect_uri_problem(u) {
            v.push("redirect_uris", format!("{u}: {p}"));
        }
    }
    v.finish()?;
    let now = st.clock.now();
    let secret = crypto::generate_token(TokenKind::OAuthClientSecret);
    let txn = crate::db::begin(&st.db).await?;
    let client = oauth_client::ActiveModel {
        id: Set(Uuid::now_v7()),
        client_id: Set(crypto::generate_token(TokenKind::OAuthClientId)),
        kind: Set("admin".into()),
        org_id: Set(Some(m.org.id)),
        name: Set(name.clone()),
        redirect_uris: Set(json!(body.redirect_uris).to_string()),
        auth_method: Set(clients::METHOD_BASIC.into()),
        secret_hash: Set(Some(crypto::hash_token(&secret))),
        created_by: Set(Some(user_id)),
        created_at: Set(now),
        last_used_at: Set(None),
        fresh_until: Set(None),
        jwks_uri: Set(None),
        jwks: Set(None),
    }
    .insert(&txn)
    .await?;
    let revoked = revoke_org_refresh_tokens(&txn, m.org.id, now).await?;
    audit::record(
        &txn,
        &Context::from(&m),
        now,
        Event::OAuthClientCreated {
            client: client.id,
            client_id: client.client_id.clone(),
            name: name.clone(),
            redirect_uris: body.redirect_uris.clone(),
            refresh_tokens_revoked: revoked,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedOAuthClient {
            client: to_api(&client, 0),
            client_secret: secret,
            refresh_tokens_revoked: revoked,
        }))
}

/// Deletes an admin-created client, or disconnects a registered one from this org
/// (its grants here are revoked). Either way every refresh token of the org is revoked.
#[utoipa::path(operation_id = "deleteOAuthClient", security(("session" = []), ("apiKey" = [])),
    tag = "oauth", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = gatehouse_types::Problem)))]
#[delete("/orgs/{slug}/oauth/clients/{id}")]
pub async fn delete_client(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    require_user(&admin)?;
    let m = admin.0;
    let id = path.into_inner().1;
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(&st).await?;
    let client = oauth_client::Entity::find_by_id(id)
        .one(uow.txn())
        .await?
        .ok_or_else(|| ApiError::not_found("OAuth client"))?;
    let grants = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::OrgId.eq(m.org.id))
        .filter(oauth_grant::Column::ClientId.eq(client.id))
        .all(uow.txn())
        .await?;
    let ours = client.org_id == Some(m.org.id);
    if !ours && grants.is_empty() {
        return Err(ApiError::not_found("OAuth client"));
    }
    let ctx = Context::from(&m);
    for g in &grants {
        revoke_grant(uow.txn(), g, now, &ctx, GrantEndReason::ClientDeleted).await?;
    }
    let revoked = revoke_org_refresh_tokens(uow.txn(), m.org.id, now).await?;
    if ours {
        oauth_client::Entity::delete_by_id(client.id)
            .exec(uow.txn())
            .await?;
    }
    let event = Event::OAuthClientDeleted {
        client: client.id,
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        grants_revoked: grants.len(),
        refresh_tokens_revoked: revoked,
    };
    audit::record(uow.txn(), &ctx, now, event).await?;
    let revoked_grants: Vec<_> = grants.iter().map(|g| g.id).collect();
    uow.after_commit(move |st| tokens::mark_revoked(st, revoked_grants));
    uow.commit().await?;
    st.oauth.clients.forget(&client.client_id);
    Ok(HttpResponse::NoContent().finish())
}

fn settings(org: &organization::Model) -> OAuthSettings {
    let l = RefreshTokenLifetime::parse(&org.refresh_token_lifetime)
        .unwrap_or(RefreshTokenLifetime::Default);
    OAuthSettings {
        refresh_token_lifetime: l,
        refresh_token_days: l.days(),
    }
}

#[utoipa::path(operation_id = "getOAuthSettings", security(("session" = []), ("apiKey" = [])),
    tag = "oauth", params(("slug" = String, Path)),
    responses((status = 200, body = OAuthSettings), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/oauth/settings")]
pub async fn get_settings(admin: OrgAdmin) -> web::Json<OAuthSettings> {
    web::Json(settings(&admin.0.org))
}

/// Changes the refresh-token lifetime; tokens already issued keep theirs.
#[utoipa::path(operation_id = "updateOAuthSettings", security(("session" = []), ("apiKey" = [])),
    tag = "oauth", params(("slug" = String, Path)), request_body = UpdateOAuthSettings,
    responses((status = 200, body = OAuthSettings), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}/oauth/settings")]
pub async fn update_settings(
    admin: OrgAdmin,
    body: web::Json<UpdateOAuthSettings>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<OAuthSettings>> {
    let m = admin.0;
    let new = body.into_inner().refresh_token_lifetime;
    let old = settings(&m.org);
    if old.refresh_token_lifetime == new {
        return Ok(web::Json(old));
    }
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let mut am = m.org.clone().into_active_model();
    am.refresh_token_lifetime = Set(new.as_str().into());
    am.updated_at = Set(now);
    let org = am.update(&txn).await?;
    audit::record(
        &txn,
        &Context::from(&m),
        now,
        Event::OAuthSettingsUpdated {
            org_id: org.id,
            refresh_token_lifetime: Change {
                from: old.refresh_token_lifetime,
                to: new,
            },
        },
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(settings(&org)))
}

/// Revokes a member's grants in an org (called when the member leaves or is removed).
pub async fn revoke_member_grants<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
    ctx: &audit::Context,
) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let grants = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::OrgId.eq(org))
        .filter(oauth_grant::Column::UserId.eq(user))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .all(db)
        .await?;
    for g in &grants {
        revoke_grant(db, g, now, ctx, GrantEndReason::MemberRemoved).await?;
    }
    Ok(grants.into_iter().map(|g| g.id).collect())
}

/// Ends the active grants of `users` in `org` for `reason` (each audited) and drops
/// their authorization codes not yet exchanged, so no grant follows from a consent
/// given just before. The caller marks the returned grants revoked after commit
/// (`tokens::mark_revoked`).
pub async fn revoke_users_grants<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    users: &[Uuid],
    now: DateTime<Utc>,
    ctx: &audit::Context,
    reason: GrantEndReason,
) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let grants = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::OrgId.eq(org))
        .filter(oauth_grant::Column::UserId.is_in(users.iter().copied()))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .all(db)
        .await?;
    for g in &grants {
        revoke_grant(db, g, now, ctx, reason).await?;
    }
    oauth_code::Entity::delete_many()
        .filter(oauth_code::Column::OrgId.eq(org))
        .filter(oauth_code::Column::UserId.is_in(users.iter().copied()))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(grants.into_iter().map(|g| g.id).collect())
}

/// How many active grants `users` hold in `org`.
pub async fn count_users_grants<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    users: &[Uuid],
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::PaginatorTrait;
    if users.is_empty() {
        return Ok(0);
    }
    oauth_grant::Entity::find()
        .filter(oauth_grant::Column::OrgId.eq(org))
        .filter(oauth_grant::Column::UserId.is_in(users.iter().copied()))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .count(db)
        .await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_clients)
        .service(create_client)
        .service(delete_client)
        .service(get_settings)
        .service(update_settings);
}
