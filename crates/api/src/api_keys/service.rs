//! API-key rules: who may mint and revoke keys, what a key may be named and scoped,
//! callable from handlers, the CLI and jobs. The secret exists only in `create`'s result.
use super::status;
use crate::{
    audit::{self, Context, Event},
    auth::OrgAdmin,
    crypto::{self, TokenKind},
    entity::api_key,
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    state::AppState,
    unit_of_work::UnitOfWork,
};
use chrono::{DateTime, Utc};
use gatehouse_types::{ApiKeyScope, ApiKeyStatus, CreateApiKeyRequest};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use uuid::Uuid;

pub const NAME_MAX_CHARS: usize = 64;

fn require_user(admin: &OrgAdmin) -> ApiResult<Uuid> {
    // A key that could mint keys would outlive its own revocation.
    admin.0.user_id().ok_or_else(|| {
        ApiError::with_detail(
            ErrorKind::Forbidden,
            "API keys are managed by signed-in owners and admins, not by other keys",
        )
    })
}

/// The admin's org's keys, newest first, revoked ones included.
pub async fn list(st: &AppState, admin: &OrgAdmin) -> ApiResult<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(admin.org().id))
        .order_by_desc(api_key::Column::Id)
        .all(&st.db)
        .await?)
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

/// Creates a key in the admin's org (a signed-in admin only): the stored row and the
/// secret, which is never stored or shown again.
pub async fn create(
    st: &AppState,
    admin: &OrgAdmin,
    body: CreateApiKeyRequest,
) -> ApiResult<(api_key::Model, String)> {
    let user_id = require_user(admin)?;
    let m = admin.member();
    let now = st.clock.now();
    let mut v = Validation::default();
    let name = v.name("name", &body.name, NAME_MAX_CHARS);
    let mut scopes = body.scopes.unwrap_or_else(|| vec![ApiKeyScope::Mcp]);
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        v.push("scopes", "at least one of mcp, read, write");
    }
    let sensitive = scopes.contains(&ApiKeyScope::Sensitive);
    if sensitive && !scopes.contains(&ApiKeyScope::Write) {
        v.push("scopes", "`sensitive` is granted with `write` only");
    }
    if body.expires_at.is_some_and(|e| e <= now) {
        v.push("expires_at", "must be in the future");
    }
    v.finish()?;
    // A key cannot type a PIN, so what it may do in its stead is granted only by
    // someone who just did.
    if sensitive {
        crate::auth::step_up::require_window(st, m).await?;
    }
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
    audit::record_public(
        st,
        &txn,
        &Context::from(admin),
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
    Ok((k, secret))
}

/// Revokes a key of the admin's org (idempotent); every replica forgets it on commit.
pub async fn revoke(st: &AppState, admin: &OrgAdmin, id: Uuid) -> ApiResult<()> {
    require_user(admin)?;
    let m = admin.member();
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(st).await?;
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
        audit::record_public(
            st,
            uow.txn(),
            &Context::from(admin),
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
    Ok(())
}
