//! API-key authentication: `Authorization: ApiKey <key>` (or `Bearer <key>`) resolved
//! to the key and its org, from the replica's key cache when it is current.
use super::key_cache::KeyEntry;
use crate::{
    crypto::{self, TokenKind},
    entity::{api_key, organization},
    http::{ApiError, ApiResult, ErrorKind},
    state::AppState,
};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::ApiKeyScope;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use std::sync::{Arc, atomic::AtomicI64};
use uuid::Uuid;

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
            let org = org.filter(super::org_ref::is_live);
            let allowlist = match &org {
                Some(o) => super::policy::allowlist(o)?,
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
