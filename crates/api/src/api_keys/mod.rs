//! API keys: named, scoped, shown once, stored as a hash, revocable at once. A key
//! authenticates `Authorization: ApiKey <key>` (or `Bearer <key>`), in `auth::api_key`.
pub mod service;

use crate::{
    auth::{OrgAdmin, Sensitive, api_key::parse_scopes},
    entity::api_key,
    http::ApiResult,
    state::AppState,
};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use gatehouse_types::{ApiKey, ApiKeyStatus, CreateApiKeyRequest, CreatedApiKey};
use uuid::Uuid;

pub use service::NAME_MAX_CHARS;

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

/// The organization's API keys, newest first, revoked ones included.
#[utoipa::path(operation_id = "listApiKeys", security(("session" = []), ("apiKey" = [])),
    tag = "api-keys", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<ApiKey>), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/api-keys")]
pub async fn list(admin: OrgAdmin, st: web::Data<AppState>) -> ApiResult<web::Json<Vec<ApiKey>>> {
    let now = st.clock.now();
    let rows = service::list(&st, &admin).await?;
    Ok(web::Json(rows.iter().map(|k| to_api(k, now)).collect()))
}

/// Create a key. The response holds the full key; it is never shown again. The
/// `sensitive` scope (with `write`) lets a key do PIN-guarded actions while protection
/// is on; granting it needs an open PIN step-up window (`pin-required` otherwise).
#[utoipa::path(operation_id = "createApiKey", security(("session" = []), ("apiKey" = [])),
    tag = "api-keys", params(("slug" = String, Path)), request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/api-keys")]
pub async fn create(
    admin: OrgAdmin,
    body: web::Json<CreateApiKeyRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let (k, secret) = service::create(&st, &admin, body.into_inner()).await?;
    // As of its creation, as before: a new key is active.
    let now = k.created_at;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedApiKey {
            api_key: to_api(&k, now),
            secret,
        }))
}

/// Revoke a key. The next request with it, on any replica, gets 401. While the org has
/// PIN protection on, this needs an open PIN step-up window (`pin-required` otherwise).
#[utoipa::path(operation_id = "revokeApiKey", security(("session" = []), ("apiKey" = [])),
    tag = "api-keys", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 403, description = "`pin-required`: enter the PIN (`POST /orgs/{slug}/pin/verify`) and retry", body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[delete("/orgs/{slug}/api-keys/{id}")]
pub async fn revoke(
    admin: Sensitive<OrgAdmin>,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    service::revoke(&st, &admin, path.into_inner().1).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(create).service(revoke);
}
