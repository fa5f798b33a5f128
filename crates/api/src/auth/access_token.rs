//! OAuth access tokens as the MCP endpoint takes them: signature, issuer, audience (the
//! named org's MCP URL) and expiry, then the replica's revocation set. The signing keys
//! and the revocation set belong to the OAuth server (`oauth::tokens`), which issues
//! the tokens; this is only the "who is calling" side.
use super::org_ref::OrgRef;
use crate::{oauth::tokens::Claims, state::AppState};
use std::sync::Arc;

/// The claims of a valid, unrevoked token for the MCP endpoint of the org `org` names;
/// `None` for any other token. Never a database read while the revocation set is fresh.
pub async fn verify(st: &AppState, token: &str, org: OrgRef<'_>) -> Option<Arc<Claims>> {
    let claims = crate::oauth::tokens::verify(st, token, &crate::oauth::mcp_url(st, org.slug()))?;
    if crate::oauth::tokens::is_revoked(st, claims.gid).await {
        return None;
    }
    Some(claims)
}
