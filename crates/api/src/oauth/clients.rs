//! OAuth clients: Dynamic Client Registration (RFC 7591), Client ID Metadata Documents,
//! redirect-URI rules, and client authentication at the token endpoint.
use super::OAuthError;
use crate::{
    crypto::{self, TokenKind},
    entity::oauth_client,
    http::ClientMeta,
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::validation::is_hidden_or_bidi;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::OnConflict};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

pub const METHOD_NONE: &str = "none";
pub const METHOD_POST: &str = "client_secret_post";
pub const METHOD_BASIC: &str = "client_secret_basic";
/// RFC 7523 client assertions, for metadata-document clients that publish keys.
pub const METHOD_PRIVATE_KEY_JWT: &str = "private_key_jwt";
const MAX_REDIRECT_URIS: usize = 10;
const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// Schemes that run code, read local data or name nothing a browser can hand to an app:
/// never a redirect target, whatever the client says.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "filesystem",
    "view-source",
    "ws",
    "wss",
    "ftp",
    "mailto",
    "tel",
    "sms",
];

/// A private-use scheme (RFC 8252 §7.1) a native app claims, such as `cursor`: RFC 3986
/// scheme syntax, not one of the forbidden ones, and not dressed up as http(s)
/// (`https-login:` or `http.evil:` would read as a web address on the consent page).
fn private_scheme_problem(scheme: &str) -> Option<&'static str> {
    let mut chars = scheme.chars();
    let syntax_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !syntax_ok {
        return Some("not a valid URI scheme");
    }
    let lower = scheme.to_ascii_lowercase();
    if FORBIDDEN_SCHEMES.contains(&lower.as_str()) {
        return Some("this scheme is not allowed for redirects");
    }
    if lower.starts_with("http") {
        return Some("a private-use scheme must not look like http or https");
    }
    None
}

/// https anywhere, http on a loopback address, or a native app's private-use scheme
/// (RFC 8252 §7.1: PKCE, which we require of every client, is what protects a code sent
/// to a scheme another app could also claim); never a fragment.
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    // The scheme as sent (the parser lowercases it), checked before parsing.
    let Some((raw_scheme, _)) = uri.split_once(':') else {
        return Some("not an absolute URL");
    };
    let Ok(u) = url::Url::parse(uri) else {
        return Some("not an absolute URL");
    };
    if u.fragment().is_some() || uri.contains('#') {
        return Some("must not have a fragment");
    }
    match (u.scheme(), u.host_str()) {
        ("https", Some(_)) => None,
        ("http", Some(h)) if is_loopback_host(h) => None,
        ("http", _) => Some("http is allowed only on localhost, 127.0.0.1 or [::1]"),
        ("https", None) => Some("an https redirect needs a host"),
        // A bare `app:` names no callback.
        _ if u.host_str().is_none_or(str::is_empty) && u.path().trim_matches('/').is_empty() => {
            Some("a private-use redirect needs a path")
        }
        _ => private_scheme_problem(raw_scheme),
    }
}

/// Whether a redirect goes to a native app through a private-use scheme.
pub fn is_private_use(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| !matches!(u.scheme(), "http" | "https"))
}

/// Exact match, except that a loopback redirect may use any port (native apps pick an
/// ephemeral one).
pub fn redirect_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    r.scheme() == "http"
        && p.scheme() == "http"
        && r.host_str().is_some_and(is_loopback_host)
        && r.host_str() == p.host_str()
        && r.path() == p.path()
        && r.query() == p.query()
}

pub fn redirect_uris(c: &oauth_client::Model) -> Vec<String> {
    serde_json::from_str(&c.redirect_uris).unwrap_or_default()
}

/// Where a client's redirects go, for people: web hosts, and a native app's scheme with
/// what follows it (`cursor://anysphere.cursor-mcp`), which is no web host.
pub fn redirect_hosts(c: &oauth_client::Model) -> Vec<String> {
    let mut hosts: Vec<String> = redirect_uris(c)
        .iter()
        .filter_map(|u| {
            let u = url::Url::parse(u).ok()?;
            if matches!(u.scheme(), "http" | "https") {
                u.host_str().map(str::to_string)
            } else {
                Some(match u.host_str() {
                    Some(h) => format!("{}://{h}", u.scheme()),
                    None => format!("{}:", u.scheme()),
                })
            }
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[derive(Debug, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    /// OIDC registration's `native` or `web`. Echoed, not enforced against the redirect
    /// URIs: Cursor registers as `web` with a `cursor://` redirect.
    application_type: Option<String>,
}

fn invalid_metadata(detail: &str) -> OAuthError {
    OAuthError::bad_request("invalid_client_metadata", detail)
}

/// Dynamic Client Registration. Registrations are global; a grant ties a client to an
/// org. Claude registers anew on every connection, so this must be cheap.
#[post("/register")]
pub async fn register(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let meta = ClientMeta::from_request(&req);
    if !st.oauth_limits.allow_registration(meta.ip.as_deref()) {
        return Err(OAuthError::too_many());
    }
    let body: RegistrationRequest = serde_json::from_slice(&body)
        .map_err(|e| invalid_metadata(&format!("not a registration request: {e}")))?;
    if body.redirect_uris.is_empty() || body.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::bad_request(
            "invalid_redirect_uri",
            "1 to 10 redirect_uris are required",
        ));
    }
    for u in &body.redirect_uris {
        if let Some(p) = redirect_uri_problem(u) {
            return Err(OAuthError::bad_request(
                "invalid_redirect_uri",
                &format!("{u}: {p}"),
            ));
        }
    }
    let method = body
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or(METHOD_BASIC);
    if ![METHOD_NONE, METHOD_POST, METHOD_BASIC].contains(&method) {
        return Err(invalid_metadata(
            "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic",
        ));
    }
    if let Some(g) = &body.grant_types
        && g.iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return Err(invalid_metadata(
            "grant_types may hold authorization_code and refresh_token",
        ));
    }
    if let Some(r) = &body.response_types
        && r.iter().any(|r| r != "code")
    {
        return Err(invalid_metadata("response_types may hold only code"));
    }
    if let Some(t) = &body.application_type
        && t != "native"
        && t != "web"
    {
        return Err(invalid_metadata("application_type must be native or web"));
    }
    let name: String = body
        .client_name
        .as_deref()
        .unwrap_or("MCP client")
        .chars()
        // Already refused in the request (`http::input`); kept as the stored rule.
        .filter(|c| !c.is_control() && !is_hidden_or_bidi(*c))
        .take(100)
        .collect();
    let now = st.clock.now();
    let client_id = crypto::generate_token(TokenKind::OAuthClientId);
    let secret =
        (method != METHOD_NONE).then(|| crypto::generate_token(TokenKind::OAuthClientSecret));
    st.batch
        .run(super::batch::Op::Register(Box::new(
            oauth_client::ActiveModel {
                id: Set(Uuid::now_v7()),
                client_id: Set(client_id.clone()),
                kind: Set("dcr".into()),
                org_id: Set(None),
                name: Set(name.clone()),
                redirect_uris: Set(json!(body.redirect_uris).to_string()),
                auth_method: Set(method.to_string()),
                secret_hash: Set(secret.as_deref().map(crypto::hash_token)),
                created_by: Set(None),
                created_at: Set(now),
                last_used_at: Set(None),
                fresh_until: Set(None),
                jwks_uri: Set(None),
                jwks: Set(None),
            },
        )))
        .await
        .map_err(OAuthError::server)?;
    let mut answer = json!({
        "client_id": client_id,
        "client_id_issued_at": now.timestamp(),
        "client_name": name,
        "redirect_uris": body.redirect_uris,
        "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    if let Some(t) = &body.application_type {
        answer["application_type"] = json!(t);
    }
    if let Some(s) = secret {
        answer["client_secret"] = json!(s);
        answer["client_secret_expires_at"] = json!(0);
    }
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(answer))
}

/// A client id that names a metadata document.
pub fn is_metadata_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

#[derive(Deserialize)]
struct MetadataDocument {
    client_id: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    jwks_uri: Option<String>,
    jwks: Option<serde_json::Value>,
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let cc = headers.get("cache-control")?.to_str().ok()?;
    if cc.contains("no-store") || cc.contains("no-cache") {
        return Some(0);
    }
    cc.split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.trim().parse().ok())
}

async fn fetch_document(
    st: &AppState,
    url: &str,
    now: DateTime<Utc>,
) -> Result<(MetadataDocument, DateTime<Utc>), String> {
    let parsed = st
        .outbound
        .check_url(url)
        .await
        .map_err(|e| e.to_string())?;
    // https only, but for loopback hosts in development (tests serve documents locally).
    if parsed.scheme() != "https"
        && !(st.config.outbound.allow_loopback && parsed.host_str().is_some_and(is_loopback_host))
    {
        return Err("a client metadata document must be served over https".into());
    }
    let resp = st
        .outbound
        .client()
        .get(parsed)
        .header("accept", "application/json")
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "fetching the document timed out".to_string()
            } else {
                "fetching the document failed".to_string()
            }
        })?;
    if !resp.status().is_success() {
        return Err(format!(
            "the document answered HTTP {}",
            resp.status().as_u16()
        ));
    }
    let ttl = max_age(resp.headers()).unwrap_or(3600).clamp(60, 86_400);
    let bytes = st
        .outbound
        .read_limited(resp)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err("the document is larger than 16 KiB".into());
    }
    let doc: MetadataDocument =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a metadata document: {e}"))?;
    if doc.client_id != url {
        return Err("the document does not name itself as client_id".into());
    }
    if doc.redirect_uris.is_empty() {
        return Err("the document lists no redirect_uris".into());
    }
    if let Some(u) = doc
        .redirect_uris
        .iter()
        .find(|u| redirect_uri_problem(u).is_some())
    {
        return Err(format!("redirect URI {u} is not allowed"));
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some(METHOD_NONE) => {}
        Some(METHOD_PRIVATE_KEY_JWT) => match (&doc.jwks_uri, &doc.jwks) {
            (Some(uri), None) => {
                super::assertion::check_jwks_uri(st, uri).await?;
            }
            (None, Some(jwks)) => {
                super::assertion::parse_jwks(&jwks.to_string())?;
            }
            _ => {
                return Err(
                    "a private_key_jwt client needs exactly one of jwks_uri and jwks".into(),
                );
            }
        },
        Some(_) => {
            return Err(
                "metadata-document clients use token_endpoint_auth_method none or private_key_jwt"
                    .into(),
            );
        }
    }
    Ok((doc, now + Duration::seconds(ttl)))
}

/// The client behind `client_id`: a registered one, or a metadata document fetched
/// (and cached as HTTP caching allows; a stale copy serves when a refetch fails).
/// Registered clients the token endpoint authenticated lately, so a token request does
/// not read its client row. A row changes only by deletion, and deleting a client deletes
/// every code, grant and refresh token it held (foreign keys cascade), so a stale entry
/// lets nothing through; entries still go after a short time. Metadata-document clients
/// keep their own freshness (`resolve`).
#[derive(Default)]
pub struct ClientCache {
    map: std::sync::RwLock<
        std::collections::HashMap<
            String,
            (std::time::Instant, std::sync::Arc<oauth_client::Model>),
        >,
    >,
}

const CLIENT_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// Clients register anew on every connection: past this many entries the cache starts
/// over rather than grow.
const CLIENT_CAP: usize = 10_000;

impl ClientCache {
    pub async fn resolve(
        &self,
        st: &AppState,
        client_id: &str,
    ) -> Result<oauth_client::Model, String> {
        if is_metadata_url(client_id) {
            return resolve(st, client_id).await;
        }
        if let Ok(map) = self.map.read()
            && let Some((at, c)) = map.get(client_id)
            && at.elapsed() < CLIENT_TTL
        {
            return Ok((**c).clone());
        }
        let client = resolve(st, client_id).await?;
        if let Ok(mut map) = self.map.write() {
            if map.len() >= CLIENT_CAP {
                map.clear();
            }
            map.insert(
                client_id.to_string(),
                (
                    std::time::Instant::now(),
                    std::sync::Arc::new(client.clone()),
                ),
            );
        }
        Ok(client)
    }

    pub fn forget(&self, client_id: &str) {
        if let Ok(mut map) = self.map.write() {
            map.remove(client_id);
        }
    }
}

pub async fn resolve(st: &AppState, client_id: &str) -> Result<oauth_client::Model, String> {
    let now = st.clock.now();
    let stored = oauth_client::Entity::find()
        .filter(oauth_client::Column::ClientId.eq(client_id))
        .one(&st.db)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading a client failed");
            "temporarily unavailable".to_string()
        })?;
    if !is_metadata_url(client_id) {
        return stored.ok_or_else(|| "unknown client_id".to_string());
    }
    if let Some(c) = &stored
        && c.fresh_until.is_some_and(|f| f > now)
    {
        return Ok(c.clone());
    }
    match fetch_document(st, client_id, now).await {
        Ok((doc, fresh_until)) => {
            let method =
                if doc.token_endpoint_auth_method.as_deref() == Some(METHOD_PRIVATE_KEY_JWT) {
                    METHOD_PRIVATE_KEY_JWT
                } else {
                    METHOD_NONE
                };
            let jwks = doc.jwks.as_ref().map(|k| k.to_string());
            let name: String = doc
                .client_name
                .unwrap_or_else(|| {
                    url::Url::parse(client_id)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .chars()
                // Shown on the consent page: a document we fetched cannot be refused
                // field by field like a request (`http::input`), so what would hide or
                // reorder text is dropped.
                .filter(|c| !c.is_control() && !is_hidden_or_bidi(*c))
                .take(100)
                .collect();
            let row = oauth_client::ActiveModel {
                id: Set(stored.as_ref().map_or_else(Uuid::now_v7, |s| s.id)),
                client_id: Set(client_id.to_string()),
                kind: Set("cimd".into()),
                org_id: Set(None),
                name: Set(name),
                redirect_uris: Set(json!(doc.redirect_uris).to_string()),
                auth_method: Set(method.into()),
                secret_hash: Set(None),
                created_by: Set(None),
                created_at: Set(stored.as_ref().map_or(now, |s| s.created_at)),
                last_used_at: Set(stored.as_ref().and_then(|s| s.last_used_at)),
                fresh_until: Set(Some(fresh_until)),
                jwks_uri: Set(doc.jwks_uri.clone()),
                jwks: Set(jwks),
            };
            oauth_client::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(oauth_client::Column::ClientId)
                        .update_columns([
                            oauth_client::Column::Name,
                            oauth_client::Column::RedirectUris,
                            oauth_client::Column::FreshUntil,
                            oauth_client::Column::AuthMethod,
                            oauth_client::Column::JwksUri,
                            oauth_client::Column::Jwks,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&st.db)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "caching a client document failed");
                    "temporarily unavailable".to_string()
                })?;
            oauth_client::Entity::find()
                .filter(oauth_client::Column::ClientId.eq(client_id))
                .one(&st.db)
                .await
                .ok()
                .flatten()
                .ok_or_else(|| "temporarily unavailable".to_string())
        }
        Err(e) => match stored {
            Some(c) => {
                tracing::warn!(client_id, error = %e, "refetching a client document failed; using the cached copy");
                Ok(c)
            }
            None => Err(e),
        },
    }
}

/// How a token or revocation request authenticates its client, from its form.
#[derive(Default)]
pub struct ClientCredentials<'a> {
    pub client_id: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub assertion_type: Option<&'a str>,
    pub assertion: Option<&'a str>,
}

/// Client authentication at the token and revocation endpoints: the method the client
/// registered with (a secret by Basic or in the body, or a signed assertion), or none
/// for public clients.
pub async fn authenticate(
    st: &AppState,
    req: &HttpRequest,
    creds: ClientCredentials<'_>,
) -> Result<oauth_client::Model, OAuthError> {
    let (form_client_id, form_secret) = (creds.client_id, creds.secret);
    if creds.assertion.is_some() || creds.assertion_type.is_some() {
        if req.headers().contains_key("authorization") || form_secret.is_some() {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "use one client authentication method",
            ));
        }
        return super::assertion::authenticate(
            st,
            form_client_id,
            creds.assertion_type,
            creds.assertion,
        )
        .await;
    }
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        })
        .and_then(|b| {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (id, secret) = text.split_once(':')?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((dec(id)?, dec(secret)?))
        });
    let (client_id, secret) = match (&basic, form_client_id) {
        (Some((id, s)), _) => (id.clone(), Some(s.clone())),
        (None, Some(id)) => (id.to_string(), form_secret.map(str::to_string)),
        (None, None) => return Err(OAuthError::invalid_client("client authentication required")),
    };
    if let (Some((id, _)), Some(f)) = (&basic, form_client_id)
        && id != f
    {
        return Err(OAuthError::invalid_client("client_id does not match"));
    }
    let client = st
        .oauth
        .clients
        .resolve(st, &client_id)
        .await
        .map_err(|e| OAuthError::invalid_client(&e))?;
    if client.auth_method == METHOD_PRIVATE_KEY_JWT {
        return Err(OAuthError::invalid_client(
            "this client authenticates with a private_key_jwt client assertion",
        ));
    }
    match (&client.secret_hash, secret) {
        (None, _) => Ok(client),
        (Some(h), Some(s)) => {
            let ok: bool =
                subtle::ConstantTimeEq::ct_eq(crypto::hash_token(&s).as_bytes(), h.as_bytes())
                    .into();
            if ok {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client("wrong client secret"))
            }
        }
        (Some(_), None) => Err(OAuthError::invalid_client(
            "this client authenticates with its client_secret",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_others_exactly() {
        assert!(redirect_matches(
            "http://localhost/callback",
            "http://localhost:53123/callback"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:9999/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:9/other"
        ));
        assert!(!redirect_matches(
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.ai/api/mcp/auth_callback/"
        ));
        assert!(!redirect_matches(
            "https://a.example/cb",
            "https://a.example:444/cb"
        ));
        assert!(redirect_uri_problem("http://example.com/cb").is_some());
        assert!(redirect_uri_problem("https://claude.ai/api/mcp/auth_callback").is_none());
        assert!(redirect_uri_problem("http://[::1]:3000/cb").is_none());
        assert!(redirect_uri_problem("https://x.example/cb#frag").is_some());
        assert!(redirect_uri_problem("cursor://anysphere.cursor-mcp/oauth/callback").is_none());
        assert!(redirect_uri_problem("com.example.app:/oauth2redirect").is_none());
        for bad in [
            "javascript:alert(1)",
            "JavaScript://x/%0Aalert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "vbscript:x",
            "about:blank",
            "blob:https://a.example/x",
            "cursor://a/cb#frag",
            "https-login://a/cb",
            "1app://cb",
            "ftp://a.example/cb",
            "cursor:",
            "cursor:/",
        ] {
            assert!(redirect_uri_problem(bad).is_some(), "{bad}");
        }
        assert!(redirect_matches(
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "cursor://anysphere.cursor-mcp/oauth/callback"
        ));
        assert!(!redirect_matches(
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "cursor://anysphere.cursor-mcp/oauth/callback/x"
        ));
    }
}
