//! API keys: named, scoped, shown once, stored as a hash, revocable at once. A key
//! authenticates `Authorization: ApiKey <key>` (or `Bearer <key>`), in `auth::api_key`.
use crate::{
    audit::{self, Context, Event},
    auth::{OrgAdmin, api_key::parse_scopes},
    crypto::{self, TokenKind},
    entity::api_key,
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use gatehouse_types::{ApiKey, ApiKeyScope, ApiKeyStatus, CreateApiKeyRequest, CreatedApiKey};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use uuid::Uuid;

pub const NAME_MAX_CHARS: usize = 64;

fn status(k: &api_key::Model, now: DateTime<Utc>) -> ApiKeyStatus {
    if k.revoked_at.is_some() {
        ApiKeyStatus::Revoked
    } else if k.expires_at.is_some_and(|e| e <= now) {
        ApiKeyStatus::Expired
    } else {
        ApiKeyStatus::Active
    }
}

pub fn to_api(k: &api_key::Model, now: DateTime<Utc>) -> ApiKey {
    ApiKey {
        id: k.id,
        name: k.name.clone(),
        prefix: k.display_prefix.clone(),
        last_four: k.last_four.clone(),
        scopes: parse_scopes(&k.scopes),
        status: status(k, now),
        created_by: k.created_by,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
    }
}

fn require_user(admin: &OrgAdmin) -> ApiResult<Uuid> {
    // A key that could mint keys would outlive its own revocation.
    admin.0.user_id().ok_or_else(|| {
        ApiError::with_detail(
            ErrorKind::Forbidden,
            "API keys are managed by signed-in owners and admins, not by other keys",
        )
    })
}

/// The organization's API keys, newest first, revoked ones included.
#[utoipa::path(operation_id = "listApiKeys", security(("session" = []), ("apiKey" = [])),
    tag = "api-keys", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<ApiKey>), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/api-keys")]
pub async fn list(admin: OrgAdmin, st: web::Data<AppState>) -> ApiResult<web::Json<Vec<ApiKey>>> {
    let now = st.clock.now();
    let rows = api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(admin.0.org.id))
        .order_by_desc(api_key::Column::Id)
        .all(&st.db)
        .await?;
    Ok(web::Json(rows.iter().map(|k| to_api(k, now)).collect()))
}

async fn active_name_taken<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    name: &str,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let rows = api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(org_id))
        .filter(api_key::Column::Name.eq(name))
        .filter(api_key::Column::RevokedAt.is_null())
        .all(db)
        .await?;
    Ok(rows.iter().any(|k| status(k, now) == ApiKeyStatus::Active))
}

/// Create a key. The response holds the full key; it is never shown again.
#[utoipa::path(operation_id = "createApiKey", security(("session" = []), ("apiKey" = [])),
    tag = "api-keys", params(("slug" = String, Path)), request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/api-keys")]
pub async fn create(
    admin: OrgAdmin,
    body: web::Json<CreateApiKeyRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let user_id = require_user(&admin)?;
    let m = admin.0;
    let body = body.into_inner();
    let now = st.clock.now();
    let mut v = Validation::default();
    let name = body.name.trim().to_string();
    let len = name.chars().count();
    if len == 0 || len > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        v.push(
            "name",
            format!("1 to {NAME_MAX_CHARS} printable characters"),
        );
    }
    let mut scopes = body.scopes.unwrap_or_else(|| vec![ApiKeyScope::Mcp]);
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        v.push("scopes", "at least one of mcp, read, write");
    }
    if body.expires_at.is_some_and(|e| e <= now) {
        v.push("expires_at", "must be in the future");
    }
    v.finish()?;
    let secret = crypto::generate_token(TokenKind::ApiKey);
    let txn = crate::db::begin(&st.db).await?;
    if active_name_taken(&txn, m.org.id, &name, now).await? {
        return Err(ApiError::conflict(format!(
            "an active key named `{name}` exists; revoke it or choose another name"
        )));
    }
    let scope_str = scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let k = api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(m.org.id),
        name: Set(name.clone()),
        display_prefix: Set(secret.chars().take(9).collect()),
        last_four: Set(secret.chars().skip(secret.len() - 4).collect()),
        token_hash: Set(crypto::hash_token(&secret)),
        scopes: Set(scope_str.clone()),
        created_by: Set(Some(user_id)),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(body.expires_at),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        &Context::from(&m),
        now,
        Event::ApiKeyCreated {
            key_id: k.id,
            name,
            scopes,
            prefix: k.display_prefix.clone(),
            expires_at: k.expires_at,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedApiKey {
            api_key: to_api(&k, now),
            secret,
        }))
}

/// Revoke a key. The next request with it, on any replica, gets 401.
#[utoipa::path(operation_id = "revokeApiKey", security(("session" = []), ("apiKey" = [])),
    tag = "api-keys", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = gatehouse_types::Problem)))]
#[delete("/orgs/{slug}/api-keys/{id}")]
pub async fn revoke(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    require_user(&admin)?;
    let m = admin.0;
    let id = path.into_inner().1;
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(&st).await?;
    let k = api_key::Entity::find_by_id(id)
        .filter(api_key::Column::OrgId.eq(m.org.id))
        .one(uow.txn())
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    if k.revoked_at.is_none() {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
            .filter(api_key::Column::Id.eq(id))
            .exec(uow.txn())
            .await?;
        audit::record(
            uow.txn(),
            &Context::from(&m),
            now,
            Event::ApiKeyRevoked {
                key_id: id,
                name: k.name.clone(),
                prefix: k.display_prefix.clone(),
            },
        )
        .await?;
    }
    uow.touch_keys().await?;
    uow.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(create).service(revoke);
}
