//! The OAuth 2.1 authorization server MCP clients use to reach `/mcp/{slug}` with
//! nothing but its URL: discovery (RFC 9728, RFC 8414), registration (RFC 7591) and
//! client metadata documents, authorization with PKCE and consent, the token endpoint
//! with rotating refresh tokens, revocation (RFC 7009), and the org's side (connected
//! clients, admin-created clients, refresh-token lifetime).
pub mod admin;
pub mod assertion;
pub mod authorize;
pub mod batch;
pub mod clients;
pub mod token;
pub mod tokens;

use crate::state::AppState;
use actix_web::{HttpResponse, ResponseError, get, http::StatusCode, web};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use std::num::NonZeroU32;

pub const SCOPE_MCP: &str = "mcp";

/// An RFC 6749 error answer (`{"error", "error_description"}`), not problem+json:
/// OAuth clients parse this shape.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl OAuthError {
    pub fn bad_request(code: &'static str, description: &str) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
        }
    }
    pub fn invalid_grant(description: &str) -> Self {
        Self::bad_request("invalid_grant", description)
    }
    /// 401 `invalid_client`: clients such as Claude register anew when they see it.
    pub fn invalid_client(description: &str) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: description.into(),
        }
    }
    pub fn too_many() -> Self {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "slow_down",
            description: "too many requests; retry shortly".into(),
        }
    }
    pub fn server(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "OAuth endpoint failed");
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "server_error",
            description: "temporarily unavailable".into(),
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        r.insert_header(("Cache-Control", "no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header(("WWW-Authenticate", "Basic realm=\"gatehouse\""));
        }
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            r.insert_header(("Retry-After", "1"));
        }
        r.json(json!({"error": self.code, "error_description": self.description}))
    }
}

/// Registration limits, per replica: generous per address, because Anthropic's backend
/// registers every Claude user's connector from one egress range.
pub struct OAuthLimits {
    registrations: DefaultKeyedRateLimiter<String>,
}

impl OAuthLimits {
    pub fn new(per_ip_per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_ip_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst =
            NonZeroU32::new(per_ip_per_second.max(1).saturating_mul(10)).unwrap_or(NonZeroU32::MIN);
        OAuthLimits {
            registrations: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    pub fn allow_registration(&self, ip: Option<&str>) -> bool {
        let ok = self
            .registrations
            .check_key(&ip.unwrap_or("unknown").to_string())
            .is_ok();
        if self.registrations.len() > 100_000 {
            self.registrations.retain_recent();
        }
        ok
    }
}

/// The canonical URL of an org's MCP endpoint: the `resource` of its tokens.
pub fn mcp_url(st: &AppState, slug: &str) -> String {
    format!("{}/mcp/{slug}", st.public_url)
}

/// A resource URI as RFC 3986 §6.2.2-§6.2.3 compares it: scheme and host lowercase,
/// the scheme's default port dropped, no trailing slash. The path keeps its case.
pub fn normalize_resource(resource: &str) -> String {
    let trimmed = resource.trim_end_matches('/');
    match url::Url::parse(trimmed) {
        Ok(u) if u.has_host() => u.as_str().trim_end_matches('/').to_string(),
        _ => trimmed.to_string(),
    }
}

/// The org slug a `resource` names, when it is one of our MCP URLs.
pub fn slug_of_resource(st: &AppState, resource: &str) -> Option<String> {
    let resource = normalize_resource(resource);
    let rest = resource
        .strip_prefix(normalize_resource(&st.public_url).as_str())?
        .strip_prefix("/mcp/")?;
    (!rest.is_empty() && !rest.contains(['/', '?', '#'])).then(|| rest.to_string())
}

fn as_metadata(st: &AppState) -> serde_json::Value {
    let base = &st.public_url;
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "revocation_endpoint": format!("{base}/revoke"),
        "jwks_uri": format!("{base}/jwks.json"),
        "scopes_supported": [SCOPE_MCP],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": assertion::SIGNING_ALGS,
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic", "private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion::SIGNING_ALGS,
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{base}/openapi.yaml"),
    })
}

fn metadata_response(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(body)
}

/// RFC 8414 authorization server metadata.
#[get("/.well-known/oauth-authorization-server")]
async fn as_metadata_root(st: web::Data<AppState>) -> HttpResponse {
    metadata_response(as_metadata(&st))
}

// No `/.well-known/openid-configuration`: we are an OAuth server, not an OpenID
// Provider. We issue no ID tokens (no `openid` scope, no `id_token` response), and the
// JWKS signs access tokens only, so the fields OpenID discovery requires
// (`subject_types_supported`, `id_token_signing_alg_values_supported`) would promise
// what we do not do, and the old copy of the RFC 8414 document there failed the MCP
// TypeScript SDK's OIDC metadata check. Clients try RFC 8414 metadata first (MCP
// 2025-11-25) and treat a 404 here as "not an OpenID Provider".

fn resource_metadata(st: &AppState, resource: String) -> serde_json::Value {
    json!({
        "resource": resource,
        "authorization_servers": [st.public_url],
        "scopes_supported": [SCOPE_MCP],
        "bearer_methods_supported": ["header"],
        "resource_name": "Gatehouse MCP endpoint",
    })
}

/// RFC 9728 protected resource metadata of one org's MCP endpoint (path-inserted).
#[get("/.well-known/oauth-protected-resource/mcp/{slug}")]
async fn resource_metadata_path(st: web::Data<AppState>, slug: web::Path<String>) -> HttpResponse {
    metadata_response(resource_metadata(&st, mcp_url(&st, &slug)))
}

// No root document (`/.well-known/oauth-protected-resource`): the protected resources
// are the orgs' MCP URLs, and the origin is not one of them, so a root document could
// only name a `resource` that /authorize must refuse (`invalid_target`), and clients
// reject a `resource` other than the MCP URL they connect to anyway. Clients find the
// path-inserted document from the 401's `resource_metadata` or by trying it first
// (MCP 2025-11-25); the root is only their last fallback, and a 404 there is harmless.

#[get("/jwks.json")]
async fn jwks(st: web::Data<AppState>) -> HttpResponse {
    metadata_response(tokens::jwks(&st))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(as_metadata_root)
        .service(resource_metadata_path)
        .service(jwks)
        .service(clients::register)
        .service(authorize::authorize_page)
        .service(authorize::decide)
        .service(token::token)
        .service(token::revoke);
}

#[cfg(test)]
mod tests {
    use super::normalize_resource;

    #[test]
    fn resources_normalise_scheme_host_and_default_port_but_not_the_path() {
        assert_eq!(
            normalize_resource("HTTPS://GW.Example.COM:443/mcp/acme/"),
            "https://gw.example.com/mcp/acme"
        );
        assert_eq!(
            normalize_resource("http://127.0.0.1:8080/mcp/acme"),
            "http://127.0.0.1:8080/mcp/acme"
        );
        assert_eq!(
            normalize_resource("https://gw.example.com/MCP/Acme"),
            "https://gw.example.com/MCP/Acme"
        );
    }
}
