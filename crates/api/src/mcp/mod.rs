//! The organization's MCP endpoint `/mcp/{slug}`: the gateway is itself an MCP server
//! (Streamable HTTP transport; protocol 2025-03-26, 2025-06-18 and 2025-11-25 with the
//! `initialize` handshake, 2026-07-28 statelessly) whose tools are the tools of the org's
//! enabled, healthy connectors, each behind its tool prefix. Requests go upstream on the
//! caller's own session with each connector; what upstreams send back outside a plain
//! answer (notifications, requests to the client, resource updates) is relayed to the
//! caller it concerns, and only to it.
pub mod cache;
pub mod client;
pub mod health;
pub mod thresholds;
pub mod usage;

use cache::ExposedTools;

use crate::{
    auth::{
        access_token, api_key,
        key_cache::{KeyEntry, OrgEntry},
        org_ref::{self, OrgRef},
        policy::{self, Access, OrgSnapshot},
    },
    crypto,
    entity::{connector, mcp_relay, mcp_session, organization},
    http::{ApiError, ClientMeta, ErrorKind},
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use client::{LEGACY_PROTOCOL_VERSIONS, PROTOCOL_VERSIONS, Upstream, UpstreamError};
use gatehouse_types::ApiKeyScope;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json, value::RawValue};
use std::{borrow::Cow, collections::BTreeMap, sync::Arc};

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";

// JSON-RPC 2.0 error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;
/// Server-defined: the upstream that owns the tool could not be reached.
const UPSTREAM_UNAVAILABLE: i64 = -32001;
/// 2026-07-28: a header does not match the body, or a required one is missing.
const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request's protocol version is not one we speak.
const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
}

/// A JSON-RPC response around an upstream's raw `result`, written without re-parsing it.
/// For a 2026-07-28 client, a result of an older upstream gets the members that version
/// requires (`resultType`, and the caching hints of `resources/read`); a result that
/// has them (an upstream of 2026-07-28, an `input_required` one) passes as it is.
fn result_body(id: &Value, result: &RawValue, modern: bool) -> Vec<u8> {
    if modern && let Some(fixed) = modern_result(result) {
        return result_body(id, &fixed, false);
    }
    let mut body = Vec::with_capacity(result.get().len() + 48);
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    if serde_json::to_writer(&mut body, id).is_err() {
        body.extend_from_slice(b"null");
    }
    body.extend_from_slice(br#","result":"#);
    body.extend_from_slice(result.get().as_bytes());
    body.push(b'}');
    body
}

fn relay_result(id: &Value, result: &RawValue, modern: bool) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(result_body(id, result, modern))
}

/// `result` with `resultType`, the gateway's `_meta` (and, where a `contents` list says
/// it is a resource read, `ttlMs`/`cacheScope`) added when missing; `None` when nothing
/// is missing.
fn modern_result(result: &RawValue) -> Option<Box<RawValue>> {
    let mut members: BTreeMap<Cow<str>, &RawValue> = serde_json::from_str(result.get()).ok()?;
    let complete = RawValue::from_string(r#""complete""#.into()).ok()?;
    let meta = RawValue::from_string(SERVER_META.into()).ok()?;
    let zero = RawValue::from_string("0".into()).ok()?;
    let private = RawValue::from_string(r#""private""#.into()).ok()?;
    let mut changed = false;
    if !members.contains_key("resultType") {
        members.insert("resultType".into(), &complete);
        changed = true;
    }
    // An upstream's own `_meta` (of 2026-07-28 or not) is left as it is.
    if !members.contains_key("_meta") {
        members.insert("_meta".into(), &meta);
        changed = true;
    }
    if members.contains_key("contents") && !members.contains_key("ttlMs") {
        members.insert("ttlMs".into(), &zero);
        members.insert("cacheScope".into(), &private);
        changed = true;
    }
    if !changed {
        return None;
    }
    serde_json::value::to_raw_value(&members).ok()
}

/// The `_meta` with which 2026-07-28 results name their server: the gateway.
const SERVER_META: &str = concat!(
    r#"{"io.modelcontextprotocol/serverInfo":{"name":"gatehouse","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}}"#
);

/// One server-sent event carrying a JSON-RPC message.
fn sse_event(json: &[u8]) -> web::Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"event: message\n");
    for line in json.split(|b| *b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.into()
}

/// Counts a streamed call when its stream ends, however it ends (a client that goes
/// away mid-stream included).
struct CountOnDrop {
    st: web::Data<AppState>,
    usage: (uuid::Uuid, uuid::Uuid, uuid::Uuid),
    failed: bool,
    /// Held for as long as the stream lives.
    #[allow(dead_code)]
    in_flight: Option<InFlightGuard>,
}

/// Forgets a forwarded request's cancellation entry when the call ends.
struct InFlightGuard {
    st: web::Data<AppState>,
    key: (uuid::Uuid, String),
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.st.mcp_cache.take_in_flight(&self.key);
    }
}

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        let (org, key, connector) = self.usage;
        self.st
            .usage
            .record(org, key, connector, self.st.clock.now(), self.failed);
    }
}

/// Relays an upstream's event stream: its notifications (progress, logging) as they
/// come, its requests to the client (sampling, elicitation, roots) under ids of the
/// gateway's own, whose answers `post` routes back, then its response under the
/// client's id. A 2026-07-28 client takes no requests on a stream: the upstream is told.
fn relay_events(
    first: Option<client::StreamMessage>,
    mut events: client::EventStream,
    id: Value,
    count: CountOnDrop,
    modern: bool,
) -> HttpResponse {
    let stream = async_stream::stream! {
        // Moved in whole, so that it is dropped (and counts) with the stream.
        let mut count = count;
        let mut first = first;
        loop {
            let next = match first.take() {
                Some(m) => Ok(Some(m)),
                None => events.next().await,
            };
            let (body, failed) = match next {
                Ok(Some(client::StreamMessage::Notification(n))) => {
                    yield Ok::<_, actix_web::Error>(sse_event(n.as_bytes()));
                    continue;
                }
                Ok(Some(client::StreamMessage::Request(upstream_id, json))) => {
                    let Some(responder) = events.responder().cloned() else {
                        continue;
                    };
                    if modern {
                        let _ = responder
                            .refuse(&upstream_id, "a 2026-07-28 client takes no requests on a stream")
                            .await;
                        continue;
                    }
                    let minted = format!("gh-{}", uuid::Uuid::new_v4().simple());
                    let Some(relayed) = with_id(&json, &minted) else {
                        continue;
                    };
                    // Kept here for a quick answer, and in the database for an answer
                    // that reaches another replica.
                    let (session, protocol) = responder.session_ref();
                    let saved = mcp_relay::Entity::insert(mcp_relay::ActiveModel {
                        id: Set(minted.clone()),
                        caller_id: Set(count.usage.1),
                        connector_id: Set(count.usage.2),
                        upstream_session: Set(session),
                        protocol_version: Set(protocol),
                        upstream_request_id: Set(upstream_id.to_string()),
                        created_at: Set(count.st.clock.now()),
                    })
                    .exec_without_returning(&count.st.db)
                    .await;
                    if let Err(e) = saved {
                        tracing::warn!(error = %e, "saving a relayed request failed");
                    }
                    count.st.mcp_cache.put_relay(minted, cache::Relay::new(responder, upstream_id, count.usage.1));
                    yield Ok::<_, actix_web::Error>(sse_event(&relayed));
                    continue;
                }
                Ok(Some(client::StreamMessage::Response(Ok(result)))) => {
                    (result_body(&id, &result, modern), false)
                }
                Ok(Some(client::StreamMessage::Response(Err(UpstreamError::Rpc(err))))) => {
                    (json!({"jsonrpc": "2.0", "id": id, "error": err}).to_string().into_bytes(), true)
                }
                Ok(Some(client::StreamMessage::Response(Err(e)))) | Err(e) => {
                    (unavailable_body(&id, &e.to_string()), true)
                }
                Ok(None) => (unavailable_body(&id, "the stream ended without a response"), true),
            };
            count.failed = failed;
            yield Ok(sse_event(&body));
            break;
        }
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

/// The shape of the ids `relay_events` mints for relayed requests (`gh-` and a simple UUID).
/// Anything else names no relay and is not looked up: a caller's id is free text, and a
/// NUL in it is a database error on PostgreSQL.
fn is_relay_id(id: &str) -> bool {
    id.strip_prefix("gh-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Sends a client's answer to the relayed request `relay_id` to the upstream that asked,
/// if `principal` was the one asked: from this replica's memory, else from the database
/// (the answer may reach any replica; the upstream session does not care which).
async fn answer_relayed(
    st: &AppState,
    relay_id: &str,
    principal: &McpPrincipal,
    member: &str,
    value: &RawValue,
) -> Result<(), UpstreamError> {
    let db = |e: sea_orm::DbErr| UpstreamError::Transport(e.to_string());
    let row = mcp_relay::Entity::find_by_id(relay_id.to_string())
        .filter(mcp_relay::Column::CallerId.eq(principal.key_id()))
        .one(&st.db)
        .await
        .map_err(db)?;
    // Taken once: whichever replica deletes the row answers.
    let taken = mcp_relay::Entity::delete_many()
        .filter(mcp_relay::Column::Id.eq(relay_id))
        .filter(mcp_relay::Column::CallerId.eq(principal.key_id()))
        .exec(&st.db)
        .await
        .map_err(db)?
        .rows_affected
        == 1;
    let local = st.mcp_cache.take_relay(relay_id, principal.key_id());
    if !taken {
        return Ok(());
    }
    if let Some(relay) = local {
        return relay.answer(member, value).await;
    }
    let Some(row) = row else {
        return Ok(());
    };
    let Some(c) = connector::Entity::find_by_id(row.connector_id)
        .one(&st.db)
        .await
        .map_err(db)?
    else {
        return Ok(());
    };
    let upstream_id: Value = serde_json::from_str(&row.upstream_request_id)
        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    let upstream = Upstream {
        outbound: &st.outbound,
        cipher: &st.cipher,
        pool: &st.upstreams,
    };
    upstream
        .answer_on(
            &c,
            (row.upstream_session.as_deref(), &row.protocol_version),
            &upstream_id,
            member,
            value,
        )
        .await
}

/// A JSON-RPC message with its `id` replaced.
fn with_id(json: &str, id: &str) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_str(json).ok()?;
    v.as_object_mut()?.insert("id".into(), id.into());
    serde_json::to_vec(&v).ok()
}

fn unavailable_body(id: &Value, why: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": UPSTREAM_UNAVAILABLE,
        "message": format!("the MCP server behind it is unavailable ({why})")}})
    .to_string()
    .into_bytes()
}

fn rpc_result(id: Value, result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

pub fn resource_metadata_url(st: &AppState, slug: &str) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource/mcp/{slug}",
        st.public_url
    )
}

/// 401 that tells an MCP client where to start OAuth discovery (RFC 9728).
fn unauthorized(st: &AppState, slug: &str, detail: &str) -> HttpResponse {
    let mut resp = actix_web::ResponseError::error_response(&ApiError::with_detail(
        ErrorKind::AuthenticationRequired,
        detail,
    ));
    if let Ok(v) = format!(
        "Bearer resource_metadata=\"{}\", scope=\"mcp\"",
        resource_metadata_url(st, slug)
    )
    .parse()
    {
        resp.headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Who calls the endpoint, with the org it belongs to: an API key, or an OAuth access
/// token (of a grant, for a user).
pub enum McpPrincipal {
    ApiKey(Arc<KeyEntry>),
    OAuth {
        grant: uuid::Uuid,
        org: Arc<OrgEntry>,
    },
}

impl McpPrincipal {
    /// The credential, for binding sessions and counting usage: key id or grant id.
    fn key_id(&self) -> uuid::Uuid {
        match self {
            McpPrincipal::ApiKey(k) => k.key.id,
            McpPrincipal::OAuth { grant, .. } => *grant,
        }
    }

    /// The org the credential belongs to (checked by `authenticate`).
    fn org(&self) -> Option<&organization::Model> {
        match self {
            McpPrincipal::ApiKey(k) => k.org.as_ref(),
            McpPrincipal::OAuth { org, .. } => Some(&org.org),
        }
    }
}

fn insufficient_scope(st: &AppState, slug: &str, detail: &str) -> HttpResponse {
    let mut resp = actix_web::ResponseError::error_response(&ApiError::with_detail(
        ErrorKind::InsufficientScope,
        detail,
    ));
    if let Ok(v) = format!(
        "Bearer error=\"insufficient_scope\", scope=\"mcp\", resource_metadata=\"{}\"",
        resource_metadata_url(st, slug)
    )
    .parse()
    {
        resp.headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// An OAuth access token (see `auth::access_token`; never a database read on the hot
/// path), for a user of this org.
async fn authenticate_oauth(
    req: &HttpRequest,
    st: &AppState,
    slug: &str,
    token: &str,
) -> Result<McpPrincipal, HttpResponse> {
    let bad = || unauthorized(st, slug, "invalid, expired or revoked access token");
    let org_ref = OrgRef::Slug(slug);
    let claims = access_token::verify(st, token, org_ref)
        .await
        .ok_or_else(bad)?;
    let org = match org_ref::find_cached(st, org_ref).await {
        Ok(Some(o)) if o.org.id == claims.org => o,
        Ok(_) => return Err(bad()),
        Err(e) => return Err(actix_web::ResponseError::error_response(&e)),
    };
    if !claims
        .scope
        .split(' ')
        .any(|s| s == crate::oauth::SCOPE_MCP)
    {
        return Err(insufficient_scope(
            st,
            slug,
            "this token lacks the `mcp` scope",
        ));
    }
    policy::check(&Access {
        caller: policy::Caller::OAuthGrant {
            grant: claims.gid,
            user: claims.sub,
        },
        org: OrgSnapshot::cached(&org.org, &org.allowlist),
        client: &ClientMeta::from_request(req),
    })
    .map_err(|e| actix_web::ResponseError::error_response(&e))?;
    Ok(McpPrincipal::OAuth {
        grant: claims.gid,
        org,
    })
}

/// The caller's credential: the guard of every MCP request (DNS-rebinding protection
/// and CORS are `http::cors`'s, before this).
async fn authenticate(
    req: &HttpRequest,
    st: &AppState,
    slug: &str,
) -> Result<McpPrincipal, HttpResponse> {
    let Some(raw) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(
            st,
            slug,
            "send `Authorization: Bearer <API key>`",
        ));
    };
    let Some(key) = api_key::key_from_header(raw) else {
        return match raw.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                authenticate_oauth(req, st, slug, token.trim()).await
            }
            _ => Err(unauthorized(st, slug, "unsupported credential")),
        };
    };
    let entry = match api_key::authenticate(st, key).await {
        Ok(k) => k,
        Err(e) if e.kind == ErrorKind::AuthenticationRequired => {
            return Err(unauthorized(
                st,
                slug,
                "invalid, expired or revoked API key",
            ));
        }
        Err(e) => return Err(actix_web::ResponseError::error_response(&e)),
    };
    // Another org's key is as good as no key here.
    let Some(org) = entry.org.as_ref().filter(|o| OrgRef::Slug(slug).names(o)) else {
        return Err(unauthorized(
            st,
            slug,
            "this key does not belong to this organization",
        ));
    };
    if !entry.key.has(ApiKeyScope::Mcp) {
        return Err(insufficient_scope(
            st,
            slug,
            "this API key lacks the `mcp` scope",
        ));
    }
    policy::check(&Access {
        caller: policy::Caller::ApiKey(&entry.key),
        org: OrgSnapshot::cached(org, &entry.allowlist),
        client: &ClientMeta::from_request(req),
    })
    .map_err(|e| actix_web::ResponseError::error_response(&e))?;
    Ok(McpPrincipal::ApiKey(entry))
}

/// Tools the org exposes: each enabled, healthy connector's tools under its prefix.
/// Cached per replica for a moment: a connector's new health or tool list shows within
/// `TOOLS_CACHE_TTL`, and no call reaches a connector that was never healthy.
async fn exposed_tools(
    st: &AppState,
    org: &organization::Model,
) -> Result<ExposedTools, sea_orm::DbErr> {
    if let Some(hit) = st.mcp_cache.tools(org.id) {
        return Ok(hit);
    }
    let fresh = std::sync::Arc::new(cache::Exposed::new(load_exposed_tools(st, org).await?));
    st.mcp_cache.put_tools(org.id, fresh.clone());
    Ok(fresh)
}

async fn load_exposed_tools(
    st: &AppState,
    org: &organization::Model,
) -> Result<Vec<(connector::Model, Vec<Value>)>, sea_orm::DbErr> {
    let rows = connector::Entity::find()
        .filter(connector::Column::OrgId.eq(org.id))
        .filter(connector::Column::Enabled.eq(true))
        .filter(connector::Column::HealthStatus.eq("healthy"))
        .all(&st.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let tools: Vec<Value> = serde_json::from_str(&c.tools_json).unwrap_or_default();
            (c, tools)
        })
        .collect())
}

/// A JSON-RPC message as the endpoint reads it: `params` stays raw JSON until a method
/// needs it, so a forwarded call is neither parsed into a tree nor written out again.
#[derive(serde::Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    /// `Some(Null)` for `"id": null`, which is a request, not a notification.
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// For `Option` fields where an explicit `null` is `Some(Null)`: present, not absent.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The answer to a body that is not a JSON-RPC message of the expected shape.
fn malformed(body: &[u8]) -> HttpResponse {
    let (code, message, id) = match serde_json::from_slice::<Value>(body) {
        Err(_) => (PARSE_ERROR, "Parse error", Value::Null),
        Ok(Value::Array(_)) => (
            INVALID_REQUEST,
            "JSON-RPC batches are not supported",
            Value::Null,
        ),
        Ok(v) => (
            INVALID_REQUEST,
            "Invalid Request",
            v.get("id").cloned().unwrap_or(Value::Null),
        ),
    };
    rpc_error(StatusCode::BAD_REQUEST, id, code, message)
}

async fn post(
    req: HttpRequest,
    slug: String,
    body: web::Bytes,
    st: web::Data<AppState>,
) -> HttpResponse {
    let principal = match authenticate(&req, &st, &slug).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Some(org) = principal.org() else {
        return unauthorized(&st, &slug, "organization not found");
    };
    let msg: Incoming = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(_) => return malformed(&body),
    };
    let id = msg.id;
    let Some(method) = msg.method.as_deref() else {
        // A client's answer to an upstream's request that the gateway relayed: back to
        // the upstream, if it is this caller's. Anything else is acknowledged and dropped.
        if let Some((member, value)) = msg
            .result
            .map(|r| ("result", r))
            .or(msg.error.map(|e| ("error", e)))
        {
            if let Some(relay_id) = id.as_ref().and_then(Value::as_str)
                && is_relay_id(relay_id)
                && let Err(e) = answer_relayed(&st, relay_id, &principal, member, value).await
            {
                tracing::warn!(error = %e, "relaying an answer upstream failed");
            }
            return HttpResponse::Accepted().finish();
        }
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            "Invalid Request",
        );
    };
    if msg.jsonrpc.as_deref() != Some("2.0") {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            "jsonrpc must be \"2.0\"",
        );
    }
    let raw_params = msg.params;
    // Parsed only by the methods that read their params here; `tools/call` forwards
    // them as they came.
    let params = || {
        raw_params
            .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
            .unwrap_or_else(|| json!({}))
    };
    let now = st.clock.now();
    let modern = match modern_request(&req, method, raw_params, id.as_ref()) {
        Ok(m) => m,
        Err(resp) => return resp,
    };

    if method == "initialize" && !modern {
        let Some(id) = id else {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                INVALID_REQUEST,
                "initialize needs an id",
            );
        };
        let params = params();
        let asked = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        // 2026-07-28 has no handshake: a client that asks for it here speaks the
        // handshake era and gets our newest version of that era.
        let version = if LEGACY_PROTOCOL_VERSIONS.contains(&asked) {
            asked
        } else {
            client::LATEST_PROTOCOL
        };
        let session = crypto::generate_token(crypto::TokenKind::McpSession);
        let saved = mcp_session::Entity::insert(mcp_session::ActiveModel {
            id_hash: Set(crypto::hash_token(&session)),
            org_id: Set(org.id),
            api_key_id: Set(principal.key_id()),
            protocol_version: Set(version.into()),
            created_at: Set(now),
            last_seen_at: Set(now),
        })
        .exec_without_returning(&st.db)
        .await;
        if let Err(e) = saved {
            tracing::error!(error = %e, "saving MCP session failed");
            return rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                id,
                INTERNAL_ERROR,
                "temporarily unavailable",
            );
        }
        let result = json!({
            "protocolVersion": version,
            "capabilities": server_capabilities(),
            "serverInfo": server_info(org),
            "instructions": instructions(org),
        });
        let mut resp = rpc_result(id, result);
        if let Ok(v) = session.parse() {
            resp.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static(SESSION_HEADER),
                v,
            );
        }
        return resp;
    }

    // A session id, when sent, must be one of this caller's live sessions (else 404, and
    // the client initializes again). Without one the request is served all the same:
    // the credential is checked on every request, and clients such as claude.ai's
    // connector never echo the id.
    // 2026-07-28 has no sessions: a stray id is ignored.
    if !modern
        && let Some(session) = req
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        && let Err(resp) = check_session(&st, session, org, &principal, id.as_ref(), now).await
    {
        return resp;
    }
    if !modern
        && let Some(v) = req
            .headers()
            .get(PROTOCOL_HEADER)
            .and_then(|v| v.to_str().ok())
        && !LEGACY_PROTOCOL_VERSIONS.contains(&v)
    {
        return unsupported_version(id.unwrap_or(Value::Null), v);
    }
    // A client's cancellation reaches the upstream the request went to.
    if id.is_none()
        && method == "notifications/cancelled"
        && let Some(request_id) = params().get("requestId").cloned()
        && let Some(request) = st
            .mcp_cache
            .take_in_flight(&(principal.key_id(), in_flight_id(&request_id)))
    {
        let reason = params()
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        let st = st.clone();
        tokio::spawn(async move {
            if let Err(e) = request.cancel(&st.outbound, reason.as_deref()).await {
                tracing::debug!(error = %e, "forwarding a cancellation failed");
            }
        });
    }
    // Notifications get no answer.
    let Some(id) = id else {
        return HttpResponse::Accepted().finish();
    };

    let caller = Caller {
        org,
        principal: &principal,
        modern,
    };
    let ttl_ms = st.config.mcp.health_interval_secs * 1000;
    match method {
        "server/discover" => {
            let result = json!({
                "supportedVersions": PROTOCOL_VERSIONS,
                "capabilities": server_capabilities(),
                "serverInfo": server_info(org),
                "instructions": instructions(org),
            });
            ours(id, result, true, None)
        }
        "ping" => ours(id, json!({}), modern, None),
        "tools/list" => match exposed_tools(&st, org).await {
            Ok(list) => ours(
                id,
                json!({"tools": list.listed_tools()}),
                modern,
                Some(ttl_ms),
            ),
            Err(e) => {
                tracing::error!(error = %e, "listing tools failed");
                rpc_error(
                    StatusCode::OK,
                    id,
                    INTERNAL_ERROR,
                    "temporarily unavailable",
                )
            }
        },
        "tools/call" => {
            // Every Accept line counts: some clients send one per media type.
            let accepts_events = req
                .headers()
                .get_all(actix_web::http::header::ACCEPT)
                .filter_map(|v| v.to_str().ok())
                .any(|a| a.contains("text/event-stream"));
            call_tool(&st, caller, id, raw_params, accepts_events).await
        }
        "prompts/list" | "resources/list" | "resources/templates/list" => {
            let list = match catalog(&st, org, &id).await {
                Ok(l) => l,
                Err(resp) => return resp,
            };
            ours(id, list_of(&list, method), modern, Some(ttl_ms))
        }
        "prompts/get"
        | "resources/read"
        | "completion/complete"
        | "resources/subscribe"
        | "resources/unsubscribe" => catalog_call(&st, caller, method, id, params()).await,
        "logging/setLevel" if !modern => set_log_level(&st, caller, id, params()).await,
        "subscriptions/listen" if modern => listen_modern(&st, caller, id, &params()).await,
        _ if modern => rpc_error(
            StatusCode::NOT_FOUND,
            id,
            METHOD_NOT_FOUND,
            &format!("Method not found: {method}"),
        ),
        _ => rpc_error(
            StatusCode::OK,
            id,
            METHOD_NOT_FOUND,
            &format!("Method not found: {method}"),
        ),
    }
}

fn server_capabilities() -> Value {
    json!({"tools": {"listChanged": true}, "resources": {"subscribe": true, "listChanged": true},
        "prompts": {"listChanged": true}, "completions": {}, "logging": {}})
}

/// `logging/setLevel` reaches each of the org's connectors on this caller's own
/// sessions (so one caller's level is never another's); a connector without logging
/// does not fail the request.
async fn set_log_level(
    st: &web::Data<AppState>,
    caller: Caller<'_>,
    id: Value,
    params: Value,
) -> HttpResponse {
    let list = match catalog(st, caller.org, &id).await {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    let upstream = Upstream {
        outbound: &st.outbound,
        cipher: &st.cipher,
        pool: &st.upstreams,
    };
    let sets = list.connectors.iter().map(|(c, _)| {
        upstream.request_or_follow(
            c,
            caller.principal.key_id(),
            "logging/setLevel",
            &params,
            false,
            call_limits(st, c),
            |_| {},
        )
    });
    futures_util::future::join_all(sets).await;
    ours(id, json!({}), false, None)
}

fn server_info(org: &organization::Model) -> Value {
    json!({"name": "gatehouse", "title": format!("{} (Gatehouse)", org.name), "version": env!("CARGO_PKG_VERSION")})
}

fn instructions(org: &organization::Model) -> String {
    format!(
        "Tools of the MCP servers that {} connected to Gatehouse.",
        org.name
    )
}

/// A result the gateway makes itself. For a 2026-07-28 client it carries `resultType`
/// and, on lists, the caching hints (`private`: the aggregate is this org's).
fn ours(id: Value, mut result: Value, modern: bool, ttl_ms: Option<u64>) -> HttpResponse {
    if modern && let Some(o) = result.as_object_mut() {
        o.insert("resultType".into(), "complete".into());
        o.insert(
            "_meta".into(),
            serde_json::from_str(SERVER_META).unwrap_or_default(),
        );
        if let Some(ttl) = ttl_ms {
            o.insert("ttlMs".into(), ttl.into());
            o.insert("cacheScope".into(), "private".into());
        }
    }
    rpc_result(id, result)
}

/// The aggregate list a list method answers: prompts named `<prefix><name>` like tools,
/// resources and resource templates as their upstreams gave them.
fn list_of(list: &cache::Exposed, method: &str) -> Value {
    match method {
        "prompts/list" => json!({"prompts": list.listed_prompts()}),
        "resources/list" => {
            let resources: Vec<Value> = list
                .connectors
                .iter()
                .flat_map(|(c, _)| parse_list(&c.resources_json))
                .collect();
            json!({"resources": resources})
        }
        _ => {
            let templates: Vec<Value> = list
                .connectors
                .iter()
                .flat_map(|(c, _)| parse_list(&c.resource_templates_json))
                .collect();
            json!({"resourceTemplates": templates})
        }
    }
}

/// 2026-07-28 requests carry their version in `_meta` and mirror method and name into
/// headers. `Ok(true)` for such a request whose headers match its body; `Ok(false)` for
/// a request of the handshake era; otherwise the error to answer. The gateway routes
/// and applies policy by the body, and a mismatch is refused so that nothing in front
/// of it that trusts the headers can be fooled.
#[allow(clippy::result_large_err)]
fn modern_request(
    req: &HttpRequest,
    method: &str,
    params: Option<&RawValue>,
    id: Option<&Value>,
) -> Result<bool, HttpResponse> {
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow, default)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        uri: Option<Cow<'a, str>>,
        #[serde(rename = "_meta", borrow, default)]
        meta: Option<Meta<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
        version: Option<Cow<'a, str>>,
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let version = header(PROTOCOL_HEADER);
    // A client of the handshake era names its version in the header: nothing to parse.
    if version.is_some_and(|v| v != client::MODERN_PROTOCOL) {
        return Ok(false);
    }
    let parsed = params.and_then(|p| serde_json::from_str::<Params>(p.get()).ok());
    let meta_version = parsed
        .as_ref()
        .and_then(|p| p.meta.as_ref())
        .and_then(|m| m.version.as_deref());
    if version.is_none() && meta_version.is_none() {
        return Ok(false);
    }
    let id = || id.cloned().unwrap_or(Value::Null);
    let mismatch = |why: String| {
        Err(rpc_error(
            StatusCode::BAD_REQUEST,
            id(),
            HEADER_MISMATCH,
            &format!("Header mismatch: {why}"),
        ))
    };
    let Some(meta_version) = meta_version else {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            id(),
            INVALID_PARAMS,
            "Missing required _meta field: io.modelcontextprotocol/protocolVersion",
        ));
    };
    let Some(version) = version else {
        return mismatch("the MCP-Protocol-Version header is required".into());
    };
    if version != meta_version {
        return mismatch(format!(
            "MCP-Protocol-Version header value '{version}' does not match body value '{meta_version}'"
        ));
    }
    if meta_version != client::MODERN_PROTOCOL {
        return Err(unsupported_version(id(), meta_version));
    }
    match header("mcp-method") {
        Some(m) if m == method => {}
        Some(m) => {
            return mismatch(format!(
                "Mcp-Method header value '{m}' does not match body value '{method}'"
            ));
        }
        None => return mismatch("the Mcp-Method header is required".into()),
    }
    if matches!(method, "tools/call" | "prompts/get" | "resources/read") {
        let body = parsed.as_ref().and_then(|p| {
            if method == "resources/read" {
                p.uri.as_deref()
            } else {
                p.name.as_deref()
            }
        });
        let sent = header("mcp-name").map(decode_header_value);
        match (sent, body) {
            (Some(Some(h)), Some(b)) if h == b => {}
            (None, _) => return mismatch("the Mcp-Name header is required".into()),
            (Some(h), b) => {
                return mismatch(format!(
                    "Mcp-Name header value '{}' does not match body value '{}'",
                    h.unwrap_or_default(),
                    b.unwrap_or_default()
                ));
            }
        }
    }
    Ok(true)
}

/// A header value in the Base64 sentinel form (`=?base64?…?=`) decoded; others as sent.
fn decode_header_value(v: &str) -> Option<String> {
    use base64::Engine;
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_string()),
    }
}

/// Whether `session` is a live session of this caller; touches it now and then so that
/// it expires after inactivity, not at a fixed age.
async fn check_session(
    st: &AppState,
    session: &str,
    org: &organization::Model,
    principal: &McpPrincipal,
    id: Option<&Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), HttpResponse> {
    let id = || id.cloned().unwrap_or(Value::Null);
    if let Some((o, k)) = st.mcp_cache.session(session) {
        return if o == org.id && k == principal.key_id() {
            Ok(())
        } else {
            Err(unknown_session(id()))
        };
    }
    let hash = crypto::hash_token(session);
    let found = mcp_session::Entity::find_by_id(hash.clone())
        .one(&st.db)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading MCP session failed");
            rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                id(),
                INTERNAL_ERROR,
                "temporarily unavailable",
            )
        })?;
    let idle = chrono::Duration::hours(crate::janitor::MCP_SESSION_IDLE_HOURS);
    let Some(row) = found.filter(|s| {
        s.org_id == org.id && s.api_key_id == principal.key_id() && s.last_seen_at > now - idle
    }) else {
        return Err(unknown_session(id()));
    };
    // The cache holds a session for at most a minute, so a session in use is touched
    // about once a minute per replica, off the request path.
    if row.last_seen_at < now - chrono::Duration::seconds(60) {
        let db = st.db.clone();
        tokio::spawn(async move {
            let touched = mcp_session::Entity::update_many()
                .col_expr(
                    mcp_session::Column::LastSeenAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(mcp_session::Column::IdHash.eq(hash))
                .exec(&db)
                .await;
            if let Err(e) = touched {
                tracing::warn!(error = %e, "touching MCP session failed");
            }
        });
    }
    st.mcp_cache
        .put_session(session.to_string(), row.org_id, row.api_key_id);
    Ok(())
}

fn unknown_session(id: Value) -> HttpResponse {
    rpc_error(
        StatusCode::NOT_FOUND,
        id,
        INVALID_REQUEST,
        "unknown or ended session; initialize again",
    )
}

/// `UnsupportedProtocolVersion` (2026-07-28), with the versions we speak.
fn unsupported_version(id: Value, requested: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": UNSUPPORTED_PROTOCOL_VERSION, "message": "Unsupported protocol version",
        "data": {"supported": PROTOCOL_VERSIONS, "requested": requested}}}))
}

/// The org's healthy connectors with their catalogs, or the JSON-RPC error to answer.
async fn catalog(
    st: &AppState,
    org: &organization::Model,
    id: &Value,
) -> Result<ExposedTools, HttpResponse> {
    exposed_tools(st, org).await.map_err(|e| {
        tracing::error!(error = %e, "listing connectors failed");
        rpc_error(
            StatusCode::OK,
            id.clone(),
            INTERNAL_ERROR,
            "temporarily unavailable",
        )
    })
}

/// Whose call is forwarded (for the upstream session and usage counting), and whether
/// it speaks 2026-07-28.
#[derive(Clone, Copy)]
struct Caller<'a> {
    org: &'a organization::Model,
    principal: &'a McpPrincipal,
    modern: bool,
}

/// Sends `method` to the connector that owns the target, counts the call, and relays
/// the result or the upstream's own JSON-RPC error.
async fn forward(
    st: &web::Data<AppState>,
    Caller {
        org,
        principal,
        modern,
    }: Caller<'_>,
    c: &connector::Model,
    method: &str,
    params: impl serde::Serialize,
    id: Value,
    follow_events: bool,
) -> HttpResponse {
    let upstream = Upstream {
        outbound: &st.outbound,
        cipher: &st.cipher,
        pool: &st.upstreams,
    };
    // Registered so that the client's `notifications/cancelled` can reach it; gone when
    // the call ends (with the relayed stream, if there is one).
    let in_flight = InFlightGuard {
        st: st.clone(),
        key: (principal.key_id(), in_flight_id(&id)),
    };
    let result = match upstream
        .request_or_follow(
            c,
            principal.key_id(),
            method,
            params,
            follow_events,
            call_limits(st, c),
            |request| st.mcp_cache.put_in_flight(in_flight.key.clone(), request),
        )
        .await
    {
        // An event stream is relayed as one only if a notification (progress, a log
        // message) comes before the response; a bare response is answered as JSON.
        Ok(client::Answer::Events(mut events)) => match events.next().await {
            Ok(Some(
                first @ (client::StreamMessage::Notification(_)
                | client::StreamMessage::Request(..)),
            )) => {
                let count = CountOnDrop {
                    st: st.clone(),
                    usage: (org.id, principal.key_id(), c.id),
                    failed: true,
                    in_flight: Some(in_flight),
                };
                return relay_events(Some(first), events, id, count, modern);
            }
            Ok(Some(client::StreamMessage::Response(r))) => r,
            Ok(None) => Err(UpstreamError::Protocol(
                "the stream ended without a response".into(),
            )),
            Err(e) => Err(e),
        },
        Ok(client::Answer::Result(r)) => Ok(r),
        Err(e) => Err(e),
    };
    st.usage.record(
        org.id,
        principal.key_id(),
        c.id,
        st.clock.now(),
        result.is_err(),
    );
    match result {
        Ok(r) => relay_result(&id, &r, modern),
        Err(UpstreamError::Rpc(err)) => {
            HttpResponse::Ok().json(json!({"jsonrpc": "2.0", "id": id, "error": err}))
        }
        Err(e) => {
            tracing::warn!(connector = %c.id, method, error = %e, "call failed upstream");
            rpc_error(
                StatusCode::OK,
                id,
                UPSTREAM_UNAVAILABLE,
                &format!("the MCP server behind it is unavailable ({e})"),
            )
        }
    }
}

/// A request id as the in-flight registry keys it: its JSON text (serde_json's writer,
/// not `Display`, which goes through `core::fmt` on the hottest path).
fn in_flight_id(id: &Value) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// A 2026-07-28 caller's params without the protocol's own `_meta` members (version,
/// capabilities, client): they describe the caller's exchange with the gateway, not the
/// gateway's with the upstream, which sends its own when it speaks that version (an
/// upstream of an earlier version refuses a `_meta` version that its header contradicts).
fn without_protocol_meta(params: &mut Value) {
    let Some(o) = params.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(meta)) = o.get_mut("_meta") {
        meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
        if meta.is_empty() {
            o.remove("_meta");
        }
    }
}

/// The connector's own timeouts, or the defaults.
fn call_limits(st: &AppState, c: &connector::Model) -> crate::outbound::CallLimits {
    let secs = |own: Option<i32>, default: u64| {
        std::time::Duration::from_secs(own.and_then(|s| u64::try_from(s).ok()).unwrap_or(default))
    };
    crate::outbound::CallLimits {
        idle: secs(c.idle_timeout_secs, st.config.mcp.idle_timeout_secs),
        overall: secs(c.call_timeout_secs, st.config.mcp.call_timeout_secs),
    }
}

/// `params` with `name` replaced by the upstream's own name.
fn renamed(params: &Value, inner: &str) -> Value {
    let mut forwarded = params.clone();
    forwarded["name"] = Value::String(inner.to_string());
    forwarded
}

fn has_entry(list: &[Value], key: &str, value: &str) -> bool {
    list.iter()
        .any(|e| e.get(key).and_then(Value::as_str) == Some(value))
}

/// `tools/call` params for the upstream: as they came, or with `name` replaced by the
/// upstream's own name (other members stay raw).
enum ToolParams<'a> {
    AsIs(&'a RawValue),
    Renamed(BTreeMap<Cow<'a, str>, &'a RawValue>, &'a str),
    /// A 2026-07-28 caller's params, read whole: renamed, its protocol `_meta` left out.
    Owned(Value),
}

impl serde::Serialize for ToolParams<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ToolParams::AsIs(raw) => raw.serialize(s),
            ToolParams::Owned(v) => v.serialize(s),
            ToolParams::Renamed(members, name) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    if k == "name" {
                        map.serialize_entry(k, name)?;
                    } else {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
        }
    }
}

async fn call_tool(
    st: &web::Data<AppState>,
    caller: Caller<'_>,
    id: Value,
    params: Option<&RawValue>,
    accepts_events: bool,
) -> HttpResponse {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
    }
    let named = params.and_then(|p| serde_json::from_str::<Named>(p.get()).ok());
    let (Some(params), Some(Named { name })) = (params, named) else {
        return rpc_error(
            StatusCode::OK,
            id,
            INVALID_PARAMS,
            "params.name is required",
        );
    };
    let list = match catalog(st, caller.org, &id).await {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    let Some((c, inner)) = list.tool(&name) else {
        return rpc_error(
            StatusCode::OK,
            id,
            INVALID_PARAMS,
            &format!("Unknown tool: {name}"),
        );
    };
    let forwarded = if caller.modern {
        let Ok(mut v) = serde_json::from_str::<Value>(params.get()) else {
            return rpc_error(
                StatusCode::OK,
                id,
                INVALID_PARAMS,
                "params must be an object",
            );
        };
        v["name"] = Value::String(inner.to_string());
        without_protocol_meta(&mut v);
        ToolParams::Owned(v)
    } else if inner == name {
        ToolParams::AsIs(params)
    } else {
        match serde_json::from_str(params.get()) {
            Ok(members) => ToolParams::Renamed(members, inner),
            Err(_) => {
                return rpc_error(
                    StatusCode::OK,
                    id,
                    INVALID_PARAMS,
                    "params must be an object",
                );
            }
        }
    };
    // A client that asked for progress gets the upstream's progress as it comes.
    // A client that takes event streams gets the upstream's notifications (progress,
    // log messages) as they come.
    let follow = accepts_events;
    forward(st, caller, c, "tools/call", forwarded, id, follow).await
}

fn parse_list(json_text: &str) -> Vec<Value> {
    serde_json::from_str(json_text).unwrap_or_default()
}

/// Prompts (named `<prefix><name>`, like tools) and resources (URIs as the upstream
/// gave them) of the org's healthy connectors; `prompts/get` and `resources/read` go
/// to the connector that listed the prompt or resource.
async fn catalog_call(
    st: &web::Data<AppState>,
    caller: Caller<'_>,
    method: &str,
    id: Value,
    params: Value,
) -> HttpResponse {
    let list = match catalog(st, caller.org, &id).await {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    let mut params = params;
    if caller.modern {
        without_protocol_meta(&mut params);
    }
    let owner = match method {
        // Completion goes where the prompt or resource it completes lives.
        "completion/complete" => {
            let r = &params["ref"];
            match (r["type"].as_str(), r["name"].as_str(), r["uri"].as_str()) {
                (Some("ref/prompt"), Some(name), _) => list.connectors.iter().find_map(|(c, _)| {
                    let inner = name.strip_prefix(c.tool_prefix.as_str())?;
                    has_entry(&parse_list(&c.prompts_json), "name", inner).then(|| {
                        let mut forwarded = params.clone();
                        forwarded["ref"]["name"] = Value::String(inner.to_string());
                        (c, forwarded)
                    })
                }),
                (Some("ref/resource"), _, Some(uri)) => list
                    .connectors
                    .iter()
                    .find(|(c, _)| {
                        has_entry(&parse_list(&c.resource_templates_json), "uriTemplate", uri)
                            || has_entry(&parse_list(&c.resources_json), "uri", uri)
                    })
                    .map(|(c, _)| (c, params.clone())),
                _ => {
                    return rpc_error(
                        StatusCode::OK,
                        id,
                        INVALID_PARAMS,
                        "params.ref must name a prompt or a resource",
                    );
                }
            }
        }
        "prompts/get" => {
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return rpc_error(
                    StatusCode::OK,
                    id,
                    INVALID_PARAMS,
                    "params.name is required",
                );
            };
            list.connectors.iter().find_map(|(c, _)| {
                let inner = name.strip_prefix(c.tool_prefix.as_str())?;
                has_entry(&parse_list(&c.prompts_json), "name", inner)
                    .then(|| (c, renamed(&params, inner)))
            })
        }
        _ => {
            let Some(uri) = params.get("uri").and_then(Value::as_str) else {
                return rpc_error(StatusCode::OK, id, INVALID_PARAMS, "params.uri is required");
            };
            owner_of_uri(&list, uri).map(|c| (c, params.clone()))
        }
    };
    let Some((c, forwarded)) = owner else {
        return rpc_error(
            StatusCode::OK,
            id,
            INVALID_PARAMS,
            "unknown prompt or resource",
        );
    };
    forward(st, caller, c, method, forwarded, id, false).await
}

/// The connector a resource URI belongs to: the one that lists it; else one a resource
/// template of which matches it (templated resources are never listed); else, with a
/// single connector, that one: a server may serve URIs it neither lists nor templates,
/// and with one connector there is nobody else it could mean.
fn owner_of_uri<'a>(list: &'a cache::Exposed, uri: &str) -> Option<&'a connector::Model> {
    let single = match list.connectors.as_slice() {
        [only] => Some(only),
        _ => None,
    };
    list.connectors
        .iter()
        .find(|(c, _)| has_entry(&parse_list(&c.resources_json), "uri", uri))
        .or_else(|| {
            list.connectors.iter().find(|(c, _)| {
                parse_list(&c.resource_templates_json).iter().any(|t| {
                    t.get("uriTemplate")
                        .and_then(Value::as_str)
                        .is_some_and(|tpl| template_matches(tpl, uri))
                })
            })
        })
        .or(single)
        .map(|(c, _)| c)
}

/// Whether `uri` is one an RFC 6570 URI template can expand to: literal parts must
/// match exactly; a simple `{var}` stands for text without `/`, `?` or `#`, the other
/// operators (`{+var}`, `{#var}`, `{?var}`, …) for any text.
fn template_matches(template: &str, uri: &str) -> bool {
    fn go(t: &[u8], u: &[u8]) -> bool {
        match t.first() {
            None => u.is_empty(),
            Some(b'{') => {
                let Some(end) = t.iter().position(|b| *b == b'}') else {
                    return false;
                };
                let simple = t
                    .get(1)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
                let rest = &t[end + 1..];
                (0..=u.len())
                    .take_while(|&i| !simple || i == 0 || !matches!(u[i - 1], b'/' | b'?' | b'#'))
                    .any(|i| go(rest, &u[i..]))
            }
            Some(c) => u.first() == Some(c) && go(&t[1..], &u[1..]),
        }
    }
    go(template.as_bytes(), uri.as_bytes())
}

/// Ends a session.
async fn delete(req: HttpRequest, slug: String, st: web::Data<AppState>) -> HttpResponse {
    let principal = match authenticate(&req, &st, &slug).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Some(org) = principal.org() else {
        return unauthorized(&st, &slug, "organization not found");
    };
    let Some(session) = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return actix_web::ResponseError::error_response(&ApiError::with_detail(
            ErrorKind::MalformedRequest,
            "Mcp-Session-Id header required",
        ));
    };
    st.mcp_cache.forget_session(session);
    let hash = crypto::hash_token(session);
    let res = mcp_session::Entity::delete_many()
        .filter(mcp_session::Column::IdHash.eq(hash))
        .filter(mcp_session::Column::OrgId.eq(org.id))
        .filter(mcp_session::Column::ApiKeyId.eq(principal.key_id()))
        .exec(&st.db)
        .await;
    match res {
        Ok(r) if r.rows_affected > 0 => HttpResponse::NoContent().finish(),
        Ok(_) => actix_web::ResponseError::error_response(&ApiError::not_found("session")),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::from(e)),
    }
}

/// Anything but POST, DELETE and a GET for an event stream (spec: 405 with `Allow`).
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "GET, POST, DELETE"))
        .content_type("application/problem+json")
        .json(json!({
            "type": format!("{}method-not-allowed", crate::http::problem::PROBLEM_BASE),
            "title": "Method not allowed", "status": 405, "code": "method-not-allowed",
            "detail": "this MCP endpoint accepts POST (JSON-RPC), GET with Accept: text/event-stream (notifications, before 2026-07-28) and DELETE (end session)"
        }))
}

/// `/mcp/{slug}`, matched by prefix and split by hand: a pattern route costs a regex
/// match per request, which showed in the gateway's profile.
async fn dispatch(req: HttpRequest, body: web::Bytes, st: web::Data<AppState>) -> HttpResponse {
    let Some(slug) = OrgRef::of_mcp_path(req.path()).map(|o| o.slug().to_string()) else {
        return ApiError::not_found("route").into();
    };
    match *req.method() {
        actix_web::http::Method::POST => post(req, slug, body, st).await,
        actix_web::http::Method::DELETE => delete(req, slug, st).await,
        actix_web::http::Method::GET => listen_legacy(req, slug, st).await,
        _ => method_not_allowed().await,
    }
}

/// What a change feed sends: the list-changed notifications, and the subscription id
/// to tag them with (2026-07-28's `subscriptions/listen`).
#[derive(Clone, Copy, Default)]
struct Feed {
    tools: bool,
    prompts: bool,
    resources: bool,
}

/// Notifications from upstreams to relay on a change feed: from the caller's upstream
/// session with each connector, those that pass `wanted`.
struct UpstreamFeed {
    caller: uuid::Uuid,
    connectors: Vec<connector::Model>,
    wanted: Box<dyn Fn(&Value) -> bool + Send + Sync>,
}

/// What the caller's upstream streams carry (as `wanted` lets through), merged into one
/// channel that ends the relays when its receiver goes.
fn spawn_upstream_feed(
    st: &web::Data<AppState>,
    feed: UpstreamFeed,
) -> tokio::sync::mpsc::Receiver<Value> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(64);
    let wanted = std::sync::Arc::new(feed.wanted);
    for c in feed.connectors {
        let mut from = upstream_stream(st, c, feed.caller);
        let (tx, wanted) = (tx.clone(), wanted.clone());
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = tx.closed() => return,
                    n = from.recv() => n,
                };
                match next {
                    Ok(v) if wanted(&v) => {
                        if tx.send(v).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    rx
}

/// The caller's standalone stream with a connector, shared by all its listeners on this
/// replica (a server keeps one such stream per session). The task holding it reopens it
/// after a growing pause when it ends, and stops once nobody listens.
fn upstream_stream(
    st: &web::Data<AppState>,
    c: connector::Model,
    caller: uuid::Uuid,
) -> tokio::sync::broadcast::Receiver<Value> {
    let key = (c.id, caller);
    let (sender, fresh) = {
        let Ok(mut feeds) = st.mcp_cache.feeds.lock() else {
            return tokio::sync::broadcast::channel(1).1;
        };
        match feeds.get(&key) {
            Some(s) => (s.clone(), false),
            None => {
                let s = tokio::sync::broadcast::channel(64).0;
                feeds.insert(key, s.clone());
                (s, true)
            }
        }
    };
    let rx = sender.subscribe();
    if !fresh {
        return rx;
    }
    let st = st.clone();
    tokio::spawn(async move {
        let mut pause = std::time::Duration::from_secs(2);
        let listened = |s: &tokio::sync::broadcast::Sender<Value>| s.receiver_count() > 0;
        while listened(&sender) {
            let upstream = Upstream {
                outbound: &st.outbound,
                cipher: &st.cipher,
                pool: &st.upstreams,
            };
            if let Ok(mut stream) = upstream.listen(&c, caller).await {
                pause = std::time::Duration::from_secs(2);
                loop {
                    // Wakes now and then to see whether anybody still listens.
                    let next =
                        tokio::time::timeout(std::time::Duration::from_secs(15), stream.next())
                            .await;
                    match next {
                        Ok(Some(n)) => {
                            if let Ok(v) = serde_json::from_str::<Value>(&n)
                                && v.get("id").is_none()
                            {
                                let _ = sender.send(v);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {}
                    }
                    if !listened(&sender) {
                        break;
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(60));
        }
        if let Ok(mut feeds) = st.mcp_cache.feeds.lock()
            && feeds.get(&key).is_some_and(|s| s.same_channel(&sender))
        {
            feeds.remove(&key);
        }
    });
    rx
}

/// The org's catalog changes as notifications, what `upstream` relays, and an SSE
/// comment now and then to keep the connection open through proxies. It reads the
/// replica's tools cache (refreshed from the database every `TOOLS_TTL`), so a change
/// made on any replica shows.
fn change_feed(
    st: web::Data<AppState>,
    org: organization::Model,
    feed: Feed,
    tag: Option<Value>,
    first: Option<Vec<u8>>,
    upstream: Option<UpstreamFeed>,
) -> HttpResponse {
    fn digest<T: serde::Serialize>(v: &T) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(serde_json::to_vec(v).unwrap_or_default()).to_vec()
    }
    let snapshot = |list: &cache::Exposed| {
        (
            digest(&list.listed_tools()),
            digest(&list.listed_prompts()),
            digest(&list_of(list, "resources/list")),
        )
    };
    let tagged = move |mut n: Value| {
        if let Some(t) = &tag
            && let Some(o) = n.as_object_mut()
        {
            let params = o.entry("params").or_insert_with(|| json!({}));
            if !params.is_object() {
                *params = json!({});
            }
            params["_meta"]["io.modelcontextprotocol/subscriptionId"] = t.clone();
        }
        sse_event(n.to_string().as_bytes())
    };
    let mut relayed = upstream.map(|u| spawn_upstream_feed(&st, u));
    let stream = async_stream::stream! {
        if let Some(first) = first {
            yield Ok::<_, actix_web::Error>(sse_event(&first));
        }
        let mut last = exposed_tools(&st, &org).await.ok().map(|l| snapshot(&l));
        let mut tick = tokio::time::interval(cache::TOOLS_TTL);
        let mut quiet = 0u32;
        loop {
            let from_upstream = match &mut relayed {
                Some(rx) => tokio::select! {
                    n = rx.recv() => n,
                    _ = tick.tick() => None,
                },
                None => {
                    tick.tick().await;
                    None
                }
            };
            if let Some(n) = from_upstream {
                quiet = 0;
                yield Ok(tagged(n));
                continue;
            }
            let Ok(list) = exposed_tools(&st, &org).await else {
                continue;
            };
            let now = snapshot(&list);
            if let Some(before) = &last {
                let changes = [
                    (feed.tools && before.0 != now.0, "notifications/tools/list_changed"),
                    (feed.prompts && before.1 != now.1, "notifications/prompts/list_changed"),
                    (feed.resources && before.2 != now.2, "notifications/resources/list_changed"),
                ];
                for (changed, method) in changes {
                    if changed {
                        quiet = 0;
                        yield Ok(tagged(json!({"jsonrpc": "2.0", "method": method})));
                    }
                }
            }
            last = Some(now);
            quiet += 1;
            if quiet >= 8 {
                quiet = 0;
                yield Ok(web::Bytes::from_static(b":\n\n"));
            }
        }
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream)
}

/// GET: the standalone stream of protocol versions before 2026-07-28, carrying the
/// list-changed notifications of the org's catalog. 2026-07-28 removed it (405).
async fn listen_legacy(req: HttpRequest, slug: String, st: web::Data<AppState>) -> HttpResponse {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    if header(PROTOCOL_HEADER) == Some(client::MODERN_PROTOCOL)
        || !req
            .headers()
            .get_all(actix_web::http::header::ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .any(|a| a.contains("text/event-stream"))
    {
        return method_not_allowed().await;
    }
    let principal = match authenticate(&req, &st, &slug).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Some(org) = principal.org().cloned() else {
        return unauthorized(&st, &slug, "organization not found");
    };
    if let Some(session) = header(SESSION_HEADER)
        && let Err(resp) = check_session(&st, session, &org, &principal, None, st.clock.now()).await
    {
        return resp;
    }
    let all = Feed {
        tools: true,
        prompts: true,
        resources: true,
    };
    // What the caller's upstream sessions say outside any request (resource updates for
    // its subscriptions, log messages) comes along; list changes are the gateway's own.
    let connectors = match exposed_tools(&st, &org).await {
        Ok(list) => list.connectors.iter().map(|(c, _)| c.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let upstream = UpstreamFeed {
        caller: principal.key_id(),
        connectors,
        wanted: Box::new(|n| {
            matches!(
                n["method"].as_str(),
                Some("notifications/resources/updated" | "notifications/message")
            )
        }),
    };
    change_feed(st.clone(), org, all, None, None, Some(upstream))
}

/// 2026-07-28's `subscriptions/listen`: acknowledges the notifications it will send
/// (list changes, and updates of the resources it could subscribe to upstream on the
/// caller's sessions), then streams them tagged with the request's id.
async fn listen_modern(
    st: &web::Data<AppState>,
    caller: Caller<'_>,
    id: Value,
    params: &Value,
) -> HttpResponse {
    let asked = &params["notifications"];
    let feed = Feed {
        tools: asked["toolsListChanged"] == true,
        prompts: asked["promptsListChanged"] == true,
        resources: asked["resourcesListChanged"] == true,
    };
    let mut honoured = serde_json::Map::new();
    for (key, on) in [
        ("toolsListChanged", feed.tools),
        ("promptsListChanged", feed.prompts),
        ("resourcesListChanged", feed.resources),
    ] {
        if on {
            honoured.insert(key.into(), true.into());
        }
    }
    let mut upstream = None;
    let uris: Vec<String> = asked["resourceSubscriptions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !uris.is_empty()
        && let Ok(list) = exposed_tools(st, caller.org).await
    {
        let up = Upstream {
            outbound: &st.outbound,
            cipher: &st.cipher,
            pool: &st.upstreams,
        };
        let mut subscribed = Vec::new();
        let mut connectors: Vec<connector::Model> = Vec::new();
        for uri in uris {
            let Some(c) = owner_of_uri(&list, &uri) else {
                continue;
            };
            let done = up
                .request_or_follow(
                    c,
                    caller.principal.key_id(),
                    "resources/subscribe",
                    json!({"uri": uri}),
                    false,
                    call_limits(st, c),
                    |_| {},
                )
                .await;
            if done.is_ok() {
                subscribed.push(uri);
                if !connectors.iter().any(|k| k.id == c.id) {
                    connectors.push(c.clone());
                }
            }
        }
        if !subscribed.is_empty() {
            honoured.insert("resourceSubscriptions".into(), json!(subscribed));
            let wanted: std::collections::HashSet<String> = subscribed.into_iter().collect();
            upstream = Some(UpstreamFeed {
                caller: caller.principal.key_id(),
                connectors,
                wanted: Box::new(move |n| {
                    n["method"] == "notifications/resources/updated"
                        && n["params"]["uri"]
                            .as_str()
                            .is_some_and(|u| wanted.contains(u))
                }),
            });
        }
    }
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
        "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": id}, "notifications": honoured}});
    change_feed(
        st.clone(),
        caller.org.clone(),
        feed,
        Some(id),
        Some(ack.to_string().into_bytes()),
        upstream,
    )
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/mcp")
            .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
            .default_service(web::to(dispatch)),
    );
}
