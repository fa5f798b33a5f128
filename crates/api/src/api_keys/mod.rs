//! API keys: named, scoped, shown once, stored as a hash, revocable at once. A key
//! authenticates `Authorization: ApiKey <key>` (or `Bearer <key>`).
use crate::key_cache::KeyEntry;
use crate::{
    audit::{self, Context, Event},
    auth::OrgAdmin,
    crypto::{self, TokenKind},
    entity::{api_key, organization},
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::{ApiKey, ApiKeyScope, ApiKeyStatus, CreateApiKeyRequest, CreatedApiKey};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Expr, ExprTrait},
};
use std::sync::{Arc, atomic::AtomicI64};
use uuid::Uuid;

pub const NAME_MAX_CHARS: usize = 64;
/// `last_used_at` is written at most this often per key: a busy key costs one write a
/// minute, not one per request.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// An authenticated API key.
#[derive(Debug, Clone)]
pub struct KeyPrincipal {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub scopes: Vec<ApiKeyScope>,
}

impl KeyPrincipal {
    pub fn has(&self, scope: ApiKeyScope) -> bool {
        self.scopes.contains(&scope)
    }
}

pub fn parse_scopes(s: &str) -> Vec<ApiKeyScope> {
    s.split_whitespace()
        .filter_map(ApiKeyScope::parse)
        .collect()
}

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

/// Reads `Authorization: ApiKey <key>` or `Bearer <key>` when it holds an API key.
pub fn key_from_header(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    let key = rest.trim();
    (scheme.eq_ignore_ascii_case("apikey") || scheme.eq_ignore_ascii_case("bearer"))
        .then_some(key)
        .filter(|k| k.starts_with("gk_"))
}

/// Resolves a presented key and its organization: from the replica's key cache when it
/// is current (see `key_cache`), otherwise in one query. A malformed key, or one whose
/// checksum fails, is refused before any look-up. Expiry is checked on every call.
pub async fn authenticate(st: &AppState, key: &str) -> ApiResult<Arc<KeyEntry>> {
    let unauthorized = || {
        ApiError::with_detail(
            ErrorKind::AuthenticationRequired,
            "invalid, expired or revoked API key",
        )
    };
    if !crypto::token_is_well_formed(TokenKind::ApiKey, key) {
        return Err(unauthorized());
    }
    let now = st.clock.now();
    let hash = crypto::hash_token(key);
    let ticket = st.keys.ticket();
    let cached = ticket.and_then(|t| st.keys.get(t, &hash));
    let entry = match cached {
        Some(e) => e,
        None => {
            st.keys.lookups.inc();
            let (k, org) = api_key::Entity::find()
                .filter(api_key::Column::TokenHash.eq(hash.as_str()))
                .find_also_related(organization::Entity)
                .one(&st.db)
                .await?
                .ok_or_else(unauthorized)?;
            if k.revoked_at.is_some() {
                return Err(unauthorized());
            }
            let org = org.filter(|o| o.deleted_at.is_none());
            let allowlist = match &org {
                Some(o) => crate::security::allowlist(o)?,
                None => Vec::new(),
            };
            let entry = Arc::new(KeyEntry {
                key: KeyPrincipal {
                    id: k.id,
                    org_id: k.org_id,
                    name: k.name,
                    scopes: parse_scopes(&k.scopes),
                },
                org,
                allowlist,
                expires_at: k.expires_at,
                last_used: AtomicI64::new(k.last_used_at.map_or(0, |t| t.timestamp())),
            });
            if let Some(t) = ticket {
                st.keys.put(t, hash, entry.clone());
            }
            entry
        }
    };
    if entry.expires_at.is_some_and(|e| e <= now) {
        return Err(unauthorized());
    }
    touch(st, &entry, now);
    Ok(entry)
}

/// Writes `last_used_at` at most once a minute per key and replica, off the request
/// path; the conditional update makes concurrent replicas write once.
fn touch(st: &AppState, entry: &KeyEntry, now: DateTime<Utc>) {
    let last = entry.last_used.load(std::sync::atomic::Ordering::Relaxed);
    if now.timestamp() - last <= LAST_USED_RESOLUTION_SECS
        || entry
            .last_used
            .compare_exchange(
                last,
                now.timestamp(),
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_err()
    {
        return;
    }
    let (db, id, usage) = (st.db.clone(), entry.key.id, st.usage.clone());
    usage.touching(id, now);
    tokio::spawn(async move {
        let stale = now - Duration::seconds(LAST_USED_RESOLUTION_SECS);
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(api_key::Column::Id.eq(id))
            .filter(
                api_key::Column::LastUsedAt
                    .is_null()
                    .or(api_key::Column::LastUsedAt.lt(stale)),
            )
            .exec(&db)
            .await;
        match res {
            Ok(_) => usage.touched(id, now),
            Err(e) => tracing::warn!(error = %e, "recording last_used_at failed"),
        }
    });
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
