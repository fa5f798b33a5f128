//! Connectors: the organization's upstream MCP servers, exposed through its MCP endpoint
//! with each tool renamed to `tool_prefix + name`. Owners and admins manage them. The
//! credential (a header value) is encrypted under the master key and never leaves the
//! server again: not in responses, logs or audit metadata.
use crate::{
    audit::{self, Context, Event, change},
    auth::OrgAdmin,
    config::McpConfig,
    entity::{connector, organization},
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    mcp::cache::catalog,
    state::AppState,
};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use gatehouse_types::{
    CALL_TIMEOUT_MAX_SECS, CONNECTOR_DESCRIPTION_MAX_CHARS, CONNECTOR_NAME_MAX_CHARS,
    CONNECTOR_URL_MAX_CHARS, Connector, ConnectorHealth, ConnectorTimeouts, CreateConnectorRequest,
    DEFAULT_CREDENTIAL_HEADER, EffectiveTimeout, HealthStatus, IDLE_TIMEOUT_MAX_SECS,
    TOOL_PREFIX_MAX_CHARS, ToolIssue, ToolIssueKind, UpdateConnectorRequest, default_tool_prefix,
    id_tool_prefix, is_valid_tool_prefix,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

/// Longest credential (header value) accepted.
pub const CREDENTIAL_MAX_BYTES: usize = 8 * 1024;
/// Longest credential header name (the column's width).
const CREDENTIAL_HEADER_MAX_CHARS: usize = 128;

/// Headers the gateway sets itself or that describe the connection, not the caller:
/// a credential in one of them would break the request or smuggle another.
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "accept",
    "accept-encoding",
    "expect",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "user-agent",
];

/// The upstream's tools (MCP `Tool` objects) from the last check; unreadable JSON
/// counts as none.
pub fn tools(c: &connector::Model) -> Vec<Value> {
    serde_json::from_str(&c.tools_json).unwrap_or_default()
}

/// The names the org's MCP endpoint would expose more than once were it not for
/// `mcp::cache::catalog`, which keeps the first and leaves the others out: among the
/// ENABLED connectors, each tool's exposed (possibly mapped) name. Sorted, each once.
pub fn exposed_tool_collisions(connectors: &[connector::Model]) -> Vec<String> {
    let parsed: Vec<(&connector::Model, Vec<Value>)> = connectors
        .iter()
        .filter(|c| c.enabled)
        .map(|c| (c, tools(c)))
        .collect();
    let refs: Vec<(&connector::Model, &[Value])> =
        parsed.iter().map(|(c, t)| (*c, t.as_slice())).collect();
    catalog(&refs)
        .issues
        .into_iter()
        .filter_map(|(_, i)| i.exposed_name.filter(|_| i.kind == ToolIssueKind::LeftOut))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Each connector's tool issues (same order as `targets`) against the org's
/// connectors `org`: the catalog of its enabled, healthy ones, with the target among
/// them whatever its health or state, so that the answer says what happens to its
/// tools when it is (or comes back) up.
pub fn tool_issues(targets: &[&connector::Model], org: &[connector::Model]) -> Vec<Vec<ToolIssue>> {
    let exposed: Vec<(&connector::Model, Vec<Value>)> = org
        .iter()
        .filter(|o| o.enabled && o.health_status == HealthStatus::Healthy.as_str())
        .map(|o| (o, tools(o)))
        .collect();
    targets
        .iter()
        .map(|t| {
            let own = tools(t);
            let mut refs: Vec<(&connector::Model, &[Value])> = exposed
                .iter()
                .filter(|(c, _)| c.id != t.id)
                .map(|(c, v)| (*c, v.as_slice()))
                .collect();
            refs.push((t, own.as_slice()));
            let me = refs.len() - 1;
            catalog(&refs)
                .issues
                .into_iter()
                .filter(|(ci, _)| *ci == me)
                .map(|(_, i)| i)
                .collect()
        })
        .collect()
}

/// The timeouts a call through `c` gets: the same reading as `mcp::call_limits`, which
/// applies them (a negative stored value, which the API never writes, counts as none).
pub fn timeouts(c: &connector::Model, cfg: &McpConfig) -> ConnectorTimeouts {
    let one = |own: Option<i32>, default: u64| {
        let own = own.and_then(|s| u64::try_from(s).ok());
        EffectiveTimeout {
            secs: own.unwrap_or(default),
            is_default: own.is_none(),
            default_secs: default,
        }
    };
    ConnectorTimeouts {
        idle: one(c.idle_timeout_secs, cfg.idle_timeout_secs),
        overall: one(c.call_timeout_secs, cfg.call_timeout_secs),
    }
}

pub fn to_api(c: &connector::Model, tool_issues: Vec<ToolIssue>, cfg: &McpConfig) -> Connector {
    Connector {
        id: c.id,
        name: c.name.clone(),
        tool_prefix: c.tool_prefix.clone(),
        url: c.url.clone(),
        description: c.description.clone(),
        enabled: c.enabled,
        credential_header: c.credential_enc.as_ref().and(c.credential_header.clone()),
        has_credential: c.credential_enc.is_some(),
        health: ConnectorHealth {
            status: HealthStatus::parse(&c.health_status).unwrap_or(HealthStatus::Unknown),
            checked_at: c.health_checked_at,
            error: c.health_error.clone(),
        },
        tool_count: tools(c).len(),
        tool_issues,
        idle_timeout_secs: c.idle_timeout_secs.and_then(|s| u32::try_from(s).ok()),
        call_timeout_secs: c.call_timeout_secs.and_then(|s| u32::try_from(s).ok()),
        timeouts: timeouts(c, cfg),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// One connector as the API shows it, its tool issues computed against `org`.
fn to_api_in(c: &connector::Model, org: &[connector::Model], cfg: &McpConfig) -> Connector {
    let issues = tool_issues(&[c], org).pop().unwrap_or_default();
    to_api(c, issues, cfg)
}

fn check_name(v: &mut Validation, name: &str) {
    let len = name.chars().count();
    if len == 0 || len > CONNECTOR_NAME_MAX_CHARS || name.chars().any(char::is_control) {
        v.push(
            "name",
            format!("1 to {CONNECTOR_NAME_MAX_CHARS} printable characters"),
        );
    }
}

fn check_description(v: &mut Validation, d: &str) {
    if d.chars().count() > CONNECTOR_DESCRIPTION_MAX_CHARS {
        v.push(
            "description",
            format!("at most {CONNECTOR_DESCRIPTION_MAX_CHARS} characters"),
        );
    }
}

fn check_prefix(v: &mut Validation, p: &str) {
    if !is_valid_tool_prefix(p) {
        v.push(
            "tool_prefix",
            format!("at most {TOOL_PREFIX_MAX_CHARS} of a-z, 0-9 and _"),
        );
    }
}

/// A timeout a connector sets: whole seconds, 1 to `max`. `None` stays `None` (the
/// server's default), and so does an invalid value, which is recorded in `v`.
fn check_timeout(v: &mut Validation, field: &str, secs: Option<i64>, max: i64) -> Option<i32> {
    let secs = secs?;
    match i32::try_from(secs) {
        Ok(s) if (1..=max).contains(&secs) => Some(s),
        _ => {
            v.push(
                field,
                format!("1 to {max} seconds, or null for the server's default"),
            );
            None
        }
    }
}

/// An idle timeout longer than the overall one could never fire, so a connector that sets
/// both is held to idle ≤ overall. Against the server's defaults it is not: those can
/// change with the configuration.
fn check_timeout_order(v: &mut Validation, idle: Option<i32>, overall: Option<i32>) {
    if let (Some(i), Some(o)) = (idle, overall)
        && i > o
    {
        v.push(
            "idle_timeout_secs",
            format!("at most call_timeout_secs ({o} seconds); {i} is longer"),
        );
    }
}

/// A header name (RFC 9110 token) that the gateway does not set itself.
fn check_header(v: &mut Validation, h: &str) {
    let token = !h.is_empty()
        && h.len() <= CREDENTIAL_HEADER_MAX_CHARS
        && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_ok();
    if !token {
        v.push(
            "credential_header",
            format!("an HTTP header name of at most {CREDENTIAL_HEADER_MAX_CHARS} characters"),
        );
    } else if RESERVED_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
        v.push(
            "credential_header",
            format!("`{h}` is set by the gateway; choose another header"),
        );
    }
}

/// A header value: visible ASCII, spaces and tabs, no line breaks.
fn check_credential(v: &mut Validation, c: &str) {
    if c.len() > CREDENTIAL_MAX_BYTES {
        v.push(
            "credential",
            format!("at most {CREDENTIAL_MAX_BYTES} bytes"),
        );
    } else if c.trim().is_empty() || !c.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
        // The message never echoes the value.
        v.push(
            "credential",
            "a header value: printable ASCII without line breaks",
        );
    }
}

async fn check_url(st: &AppState, v: &mut Validation, url: &str) -> String {
    if url.chars().count() > CONNECTOR_URL_MAX_CHARS {
        v.push(
            "url",
            format!("at most {CONNECTOR_URL_MAX_CHARS} characters"),
        );
        return String::new();
    }
    match st.outbound.check_url(url).await {
        Ok(u) => u.to_string(),
        Err(e) => {
            v.push("url", e.to_string());
            String::new()
        }
    }
}

/// The URL for audit metadata: no query string, which may carry a token.
fn audit_url(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

/// Serializes connector writes of one org (a no-op write on its row holds the row lock
/// until commit), so that two concurrent saves cannot both pass the name and tool-name
/// checks. On SQLite the write takes the database's write lock, the same effect.
async fn lock_org<C: ConnectionTrait>(db: &C, org_id: Uuid) -> Result<(), sea_orm::DbErr> {
    organization::Entity::update_many()
        .col_expr(
            organization::Column::UpdatedAt,
            Expr::col(organization::Column::UpdatedAt),
        )
        .filter(organization::Column::Id.eq(org_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn org_connectors<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> Result<Vec<connector::Model>, sea_orm::DbErr> {
    connector::Entity::find()
        .filter(connector::Column::OrgId.eq(org_id))
        .order_by_asc(connector::Column::Id)
        .all(db)
        .await
}

/// Refuses a name another connector of the org has (ignoring case), and a save that
/// makes two exposed tool names coincide. Collisions that existed before (an upstream
/// changed its tools) do not block unrelated edits.
fn check_against_others(
    others: &[connector::Model],
    before: Option<&connector::Model>,
    after: &connector::Model,
) -> ApiResult<()> {
    let lower = after.name.to_lowercase();
    if others.iter().any(|o| o.name.to_lowercase() == lower) {
        return Err(ApiError::conflict(format!(
            "a connector named `{}` exists in this organization",
            after.name
        )));
    }
    let mut old: Vec<connector::Model> = others.to_vec();
    old.extend(before.cloned());
    let existing: BTreeSet<String> = exposed_tool_collisions(&old).into_iter().collect();
    let mut new: Vec<connector::Model> = others.to_vec();
    new.push(after.clone());
    let added: Vec<String> = exposed_tool_collisions(&new)
        .into_iter()
        .filter(|n| !existing.contains(n))
        .collect();
    if !added.is_empty() {
        return Err(ApiError::with_detail(
            ErrorKind::ToolNameCollision,
            format!(
                "these tool names would be exposed twice: {}; choose another tool prefix",
                added
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

fn seal(st: &AppState, credential: &str) -> ApiResult<String> {
    st.cipher
        .encrypt(credential.as_bytes())
        .map_err(ApiError::internal)
}

/// The organization's connectors, oldest first.
#[utoipa::path(operation_id = "listConnectors", security(("session" = []), ("apiKey" = [])),
    tag = "connectors", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<Connector>), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/connectors")]
pub async fn list(
    admin: OrgAdmin,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<Connector>>> {
    let rows = org_connectors(&st.db, admin.0.org.id).await?;
    let targets: Vec<&connector::Model> = rows.iter().collect();
    let issues = tool_issues(&targets, &rows);
    Ok(web::Json(
        rows.iter()
            .zip(issues)
            .map(|(c, i)| to_api(c, i, &st.config.mcp))
            .collect(),
    ))
}

async fn find<C: ConnectionTrait>(db: &C, org_id: Uuid, id: Uuid) -> ApiResult<connector::Model> {
    connector::Entity::find_by_id(id)
        .filter(connector::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("connector"))
}

/// One connector.
#[utoipa::path(operation_id = "getConnector", security(("session" = []), ("apiKey" = [])),
    tag = "connectors", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = Connector), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/connectors/{id}")]
pub async fn get_one(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Connector>> {
    let org = admin.0.org.id;
    let c = find(&st.db, org, path.into_inner().1).await?;
    Ok(web::Json(to_api_in(
        &c,
        &org_connectors(&st.db, org).await?,
        &st.config.mcp,
    )))
}

/// Add an upstream MCP server. Its URL must reach a public address; its health is
/// `unknown` until the first check.
#[utoipa::path(operation_id = "createConnector", security(("session" = []), ("apiKey" = [])),
    tag = "connectors", params(("slug" = String, Path)), request_body = CreateConnectorRequest,
    responses((status = 201, body = Connector), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/connectors")]
pub async fn create(
    admin: OrgAdmin,
    body: web::Json<CreateConnectorRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let m = admin.0;
    let body = body.into_inner();
    let mut v = Validation::default();
    let name = body.name.trim().to_string();
    check_name(&mut v, &name);
    let url = check_url(&st, &mut v, &body.url).await;
    let description = body
        .description
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_string();
    check_description(&mut v, &description);
    let id = Uuid::now_v7();
    // A name without ASCII letters or digits gives no prefix; an empty one would make
    // such connectors collide by accident, so the id makes one. `""` stays possible
    // when asked for.
    let tool_prefix = match body.tool_prefix {
        Some(p) => p.trim().to_string(),
        None => Some(default_tool_prefix(&name))
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| id_tool_prefix(id)),
    };
    check_prefix(&mut v, &tool_prefix);
    let credential = body.credential.filter(|c| !c.is_empty());
    if let Some(c) = &credential {
        check_credential(&mut v, c);
    }
    let header = body.credential_header.map(|h| h.trim().to_string());
    if let Some(h) = &header {
        check_header(&mut v, h);
    }
    let idle_timeout_secs = check_timeout(
        &mut v,
        "idle_timeout_secs",
        body.idle_timeout_secs,
        IDLE_TIMEOUT_MAX_SECS,
    );
    let call_timeout_secs = check_timeout(
        &mut v,
        "call_timeout_secs",
        body.call_timeout_secs,
        CALL_TIMEOUT_MAX_SECS,
    );
    check_timeout_order(&mut v, idle_timeout_secs, call_timeout_secs);
    v.finish()?;
    // A header without a credential carries nothing: it is not kept.
    let (credential_header, credential_enc) = match &credential {
        Some(c) => (
            Some(header.unwrap_or_else(|| DEFAULT_CREDENTIAL_HEADER.into())),
            Some(seal(&st, c)?),
        ),
        None => (None, None),
    };
    let now = st.clock.now();
    let model = connector::Model {
        id,
        org_id: m.org.id,
        name,
        tool_prefix,
        url,
        description,
        credential_header,
        credential_enc,
        enabled: body.enabled.unwrap_or(true),
        health_status: HealthStatus::Unknown.as_str().into(),
        health_checked_at: None,
        health_error: None,
        tools_json: "[]".into(),
        health_claimed_until: None,
        prompts_json: "[]".into(),
        resources_json: "[]".into(),
        resource_templates_json: "[]".into(),
        idle_timeout_secs,
        call_timeout_secs,
        created_by: m.user_id(),
        created_at: now,
        updated_at: now,
    };
    let txn = crate::db::begin(&st.db).await?;
    lock_org(&txn, m.org.id).await?;
    check_against_others(&org_connectors(&txn, m.org.id).await?, None, &model)?;
    // Every column is written, so the row does not depend on database defaults.
    let c = model.into_active_model().reset_all().insert(&txn).await?;
    audit::record(
        &txn,
        &Context::from(&m),
        now,
        Event::ConnectorCreated {
            connector_id: c.id,
            name: c.name.clone(),
            url: audit_url(&c.url),
            tool_prefix: c.tool_prefix.clone(),
            enabled: c.enabled,
            has_credential: c.credential_enc.is_some(),
            idle_timeout_secs: c.idle_timeout_secs,
            call_timeout_secs: c.call_timeout_secs,
        },
    )
    .await?;
    txn.commit().await?;
    // No tools before its first check, so no issues yet.
    Ok(HttpResponse::Created().json(to_api(&c, Vec::new(), &st.config.mcp)))
}

/// Change a connector. A new URL or credential resets its health to `unknown`;
/// `credential: ""` removes the credential; `idle_timeout_secs: null` or
/// `call_timeout_secs: null` returns to the server's default. New timeouts apply to calls
/// that start within a few seconds.
#[utoipa::path(operation_id = "updateConnector", security(("session" = []), ("apiKey" = [])),
    tag = "connectors", params(("slug" = String, Path), ("id" = Uuid, Path)), request_body = UpdateConnectorRequest,
    responses((status = 200, body = Connector), (status = 404, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}/connectors/{id}")]
pub async fn update(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid)>,
    body: web::Json<UpdateConnectorRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Connector>> {
    let m = admin.0;
    let id = path.into_inner().1;
    let body = body.into_inner();
    // An unknown id is 404 before any URL is resolved.
    find(&st.db, m.org.id, id).await?;
    let mut v = Validation::default();
    let name = body.name.map(|n| n.trim().to_string());
    if let Some(n) = &name {
        check_name(&mut v, n);
    }
    let url = match &body.url {
        Some(u) => Some(check_url(&st, &mut v, u).await),
        None => None,
    };
    let description = body.description.map(|d| d.trim().to_string());
    if let Some(d) = &description {
        check_description(&mut v, d);
    }
    let tool_prefix = body.tool_prefix.map(|p| p.trim().to_string());
    if let Some(p) = &tool_prefix {
        check_prefix(&mut v, p);
    }
    if let Some(c) = body.credential.as_deref().filter(|c| !c.is_empty()) {
        check_credential(&mut v, c);
    }
    let header = body.credential_header.map(|h| h.trim().to_string());
    if let Some(h) = &header {
        check_header(&mut v, h);
    }
    // `Some(None)`: back to the server's default.
    let idle_timeout_secs = body
        .idle_timeout_secs
        .map(|s| check_timeout(&mut v, "idle_timeout_secs", s, IDLE_TIMEOUT_MAX_SECS));
    let call_timeout_secs = body
        .call_timeout_secs
        .map(|s| check_timeout(&mut v, "call_timeout_secs", s, CALL_TIMEOUT_MAX_SECS));
    v.finish()?;
    let sealed = match body.credential.as_deref() {
        Some("") => Some(None),
        Some(c) => Some(Some(seal(&st, c)?)),
        None => None,
    };
    let now = st.clock.now();

    let txn = crate::db::begin(&st.db).await?;
    lock_org(&txn, m.org.id).await?;
    // Read again under the lock: the version the checks and the write agree on.
    let before = find(&txn, m.org.id, id).await?;
    let mut after = before.clone();
    let mut changed: Vec<&'static str> = Vec::new();
    let mut set = |field: &'static str, differs: bool| {
        if differs {
            changed.push(field);
        }
        differs
    };
    if let Some(n) = name
        && set("name", n != after.name)
    {
        after.name = n;
    }
    if let Some(u) = url
        && set("url", u != after.url)
    {
        after.url = u;
    }
    if let Some(d) = description
        && set("description", d != after.description)
    {
        after.description = d;
    }
    if let Some(p) = tool_prefix
        && set("tool_prefix", p != after.tool_prefix)
    {
        after.tool_prefix = p;
    }
    if let Some(e) = body.enabled
        && set("enabled", e != after.enabled)
    {
        after.enabled = e;
    }
    if let Some(t) = idle_timeout_secs
        && set("idle_timeout_secs", t != after.idle_timeout_secs)
    {
        after.idle_timeout_secs = t;
    }
    if let Some(t) = call_timeout_secs
        && set("call_timeout_secs", t != after.call_timeout_secs)
    {
        after.call_timeout_secs = t;
    }
    match sealed {
        // Sealing is randomized, so a new value always counts as a change.
        Some(Some(enc)) => {
            set("credential", true);
            after.credential_enc = Some(enc);
        }
        Some(None) if set("credential", after.credential_enc.is_some()) => {
            after.credential_enc = None
        }
        Some(None) | None => {}
    }
    let header = match (&after.credential_enc, header) {
        (None, _) => None,
        (Some(_), Some(h)) => Some(h),
        (Some(_), None) => Some(
            after
                .credential_header
                .clone()
                .unwrap_or_else(|| DEFAULT_CREDENTIAL_HEADER.into()),
        ),
    };
    if set("credential_header", header != after.credential_header) {
        after.credential_header = header;
    }
    let others: Vec<connector::Model> = org_connectors(&txn, m.org.id)
        .await?
        .into_iter()
        .filter(|c| c.id != id)
        .collect();
    if changed.is_empty() {
        txn.commit().await?;
        return Ok(web::Json(to_api_in(&before, &others, &st.config.mcp)));
    }
    // Checked on the merged row, under the lock: a PATCH of one timeout must agree with
    // the other as stored. Returning drops the transaction, so nothing is written.
    if changed
        .iter()
        .any(|f| matches!(*f, "idle_timeout_secs" | "call_timeout_secs"))
    {
        let mut v = Validation::default();
        check_timeout_order(&mut v, after.idle_timeout_secs, after.call_timeout_secs);
        v.finish()?;
    }
    check_against_others(&others, Some(&before), &after)?;
    if changed
        .iter()
        .any(|f| matches!(*f, "url" | "credential" | "credential_header"))
    {
        // The last check spoke about another upstream or another identity.
        after.health_status = HealthStatus::Unknown.as_str().into();
        after.health_checked_at = None;
        after.health_error = None;
    }
    after.updated_at = now;
    let mut am = before.clone().into_active_model();
    am.name = Set(after.name.clone());
    am.url = Set(after.url.clone());
    am.description = Set(after.description.clone());
    am.tool_prefix = Set(after.tool_prefix.clone());
    am.enabled = Set(after.enabled);
    am.idle_timeout_secs = Set(after.idle_timeout_secs);
    am.call_timeout_secs = Set(after.call_timeout_secs);
    am.credential_enc = Set(after.credential_enc.clone());
    am.credential_header = Set(after.credential_header.clone());
    am.health_status = Set(after.health_status.clone());
    am.health_checked_at = Set(after.health_checked_at);
    am.health_error = Set(after.health_error.clone());
    am.updated_at = Set(now);
    let c = am.update(&txn).await?;
    // Field names only: never the credential, and no values that could hold one. The
    // timeouts are plain numbers, so their old and new values are kept too (null: the
    // server's default).
    audit::record(
        &txn,
        &Context::from(&m),
        now,
        Event::ConnectorUpdated {
            connector_id: id,
            name: c.name.clone(),
            changed,
            idle_timeout_secs: change(before.idle_timeout_secs, c.idle_timeout_secs),
            call_timeout_secs: change(before.call_timeout_secs, c.call_timeout_secs),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(to_api_in(&c, &others, &st.config.mcp)))
}

/// Remove a connector; its tools leave the MCP endpoint at once.
#[utoipa::path(operation_id = "deleteConnector", security(("session" = []), ("apiKey" = [])),
    tag = "connectors", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = gatehouse_types::Problem)))]
#[delete("/orgs/{slug}/connectors/{id}")]
pub async fn remove(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let m = admin.0;
    let id = path.into_inner().1;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let c = find(&txn, m.org.id, id).await?;
    connector::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        &Context::from(&m),
        now,
        Event::ConnectorDeleted {
            connector_id: id,
            name: c.name.clone(),
            url: audit_url(&c.url),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(remove);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn conn(prefix: &str, enabled: bool, tools: &[&str]) -> connector::Model {
        let now: DateTime<Utc> = Utc::now();
        connector::Model {
            id: Uuid::now_v7(),
            org_id: Uuid::nil(),
            name: prefix.into(),
            tool_prefix: prefix.into(),
            url: "https://example.com/mcp".into(),
            description: String::new(),
            credential_header: None,
            credential_enc: None,
            enabled,
            health_status: "unknown".into(),
            health_checked_at: None,
            health_error: None,
            tools_json: Value::Array(
                tools
                    .iter()
                    .map(|t| json!({"name": t, "inputSchema": {}}))
                    .collect(),
            )
            .to_string(),
            health_claimed_until: None,
            prompts_json: "[]".into(),
            resources_json: "[]".into(),
            resource_templates_json: "[]".into(),
            idle_timeout_secs: None,
            call_timeout_secs: None,
            created_by: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn exposed_names_collide_only_among_enabled_connectors() {
        let a = conn("gh_", true, &["issues", "search"]);
        let b = conn("gh_", true, &["search", "pulls"]);
        let c = conn("", true, &["gh_pulls"]);
        let off = conn("gh_", false, &["issues"]);
        assert_eq!(
            exposed_tool_collisions(&[a.clone(), b.clone(), c.clone(), off.clone()]),
            vec!["gh_pulls", "gh_search"]
        );
        assert!(exposed_tool_collisions(&[a.clone(), off]).is_empty());
        let broken = connector::Model {
            tools_json: "not json".into(),
            ..b
        };
        assert!(exposed_tool_collisions(&[a, broken]).is_empty());
    }

    #[test]
    fn reserved_and_malformed_credential_headers_are_refused() {
        for h in [
            "Host",
            "content-length",
            "Mcp-Session-Id",
            "Transfer-Encoding",
            "bad header",
            "",
            "x:y",
        ] {
            let mut v = Validation::default();
            check_header(&mut v, h);
            assert!(v.finish().is_err(), "{h}");
        }
        for h in ["Authorization", "X-Api-Key", "Cookie"] {
            let mut v = Validation::default();
            check_header(&mut v, h);
            assert!(v.finish().is_ok(), "{h}");
        }
    }
}
