//! Which org a request is for, and the live-org rule, each written once.
//!
//! Today a request names its org by slug: the `{slug}` segment of `/api/v1/orgs/…`
//! (`of_api_path`, read by the org guard) and of `/mcp/…` (`of_mcp_path`); the OAuth
//! consent step gets the slug from the MCP resource URL it is asked for
//! (`oauth::slug_of_resource`) and matches it with `names`. A custom domain (the org
//! named by the `Host`, no slug in the path) becomes a second variant of `OrgRef`, read
//! where `of_api_path`/`of_mcp_path` are, and found by `find`/`find_cached`; the
//! policy and the doors do not change.
use super::key_cache::OrgEntry;
use crate::{entity::organization, http::ApiError, state::AppState};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, SimpleExpr},
};
use std::sync::Arc;

/// How a request names its org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRef<'a> {
    Slug(&'a str),
}

impl<'a> OrgRef<'a> {
    /// The org of an `/api/v1/orgs/{slug}/…` path, before routing has run (the org
    /// guard resolves it before any other extractor).
    pub fn of_api_path(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix("/api/v1/orgs/")?;
        let slug = rest.split('/').next()?;
        (!slug.is_empty()).then_some(OrgRef::Slug(slug))
    }

    /// The org of an MCP endpoint path, `/mcp/{slug}`.
    pub fn of_mcp_path(path: &'a str) -> Option<Self> {
        path.strip_prefix("/mcp/")
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .map(OrgRef::Slug)
    }

    /// The slug this reference names (the key of the replica's org cache).
    pub fn slug(&self) -> &'a str {
        match *self {
            OrgRef::Slug(s) => s,
        }
    }

    /// Whether `org` is the org this reference names (for a credential that brings its
    /// own org, such as an API key): no allocation, no query.
    pub fn names(&self, org: &organization::Model) -> bool {
        match *self {
            OrgRef::Slug(s) => org.slug == s,
        }
    }

    /// The live org this reference names.
    pub async fn find<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Option<organization::Model>, sea_orm::DbErr> {
        let by = match *self {
            OrgRef::Slug(s) => organization::Column::Slug.eq(s),
        };
        organization::Entity::find()
            .filter(by)
            .filter(live())
            .one(db)
            .await
    }
}

/// The live org `org` names, from the replica's cache when it is current (kept with the
/// API keys and invalidated with them), with its allowlist parsed for the policy: the
/// MCP endpoint's look-up for OAuth callers.
pub async fn find_cached(
    st: &AppState,
    org: OrgRef<'_>,
) -> Result<Option<Arc<OrgEntry>>, ApiError> {
    let ticket = st.keys.ticket();
    if let Some(hit) = ticket.and_then(|t| st.keys.get_org(t, org.slug())) {
        return Ok(Some(hit));
    }
    let Some(row) = org.find(&st.db).await? else {
        return Ok(None);
    };
    let entry = Arc::new(OrgEntry {
        allowlist: super::policy::allowlist(&row)?,
        org: row,
    });
    if let Some(t) = ticket {
        st.keys.put_org(t, org.slug().to_string(), entry.clone());
    }
    Ok(Some(entry))
}

/// The live-org rule as a query condition (qualified with the organizations table, so
/// it also works in joins): an org that is deleted is, for every request, no org.
pub fn live() -> SimpleExpr {
    Expr::col((organization::Entity, organization::Column::DeletedAt)).is_null()
}

/// The live-org rule on a loaded row.
pub fn is_live(org: &organization::Model) -> bool {
    org.deleted_at.is_none()
}

#[cfg(test)]
mod tests {
    use super::OrgRef;

    #[test]
    fn the_org_of_an_api_path_is_its_first_segment_after_orgs() {
        assert_eq!(
            OrgRef::of_api_path("/api/v1/orgs/acme/members"),
            Some(OrgRef::Slug("acme"))
        );
        assert_eq!(
            OrgRef::of_api_path("/api/v1/orgs/acme"),
            Some(OrgRef::Slug("acme"))
        );
        assert_eq!(OrgRef::of_api_path("/api/v1/orgs/"), None);
        assert_eq!(OrgRef::of_api_path("/api/v1/orgs"), None);
        assert_eq!(OrgRef::of_api_path("/api/v1/me"), None);
        assert_eq!(OrgRef::of_mcp_path("/mcp/acme"), Some(OrgRef::Slug("acme")));
        assert_eq!(OrgRef::of_mcp_path("/mcp/acme/x"), None);
        assert_eq!(OrgRef::of_mcp_path("/mcp/"), None);
    }
}
