//! Connectors: the organization's upstream MCP servers, exposed through its MCP endpoint
//! with each tool renamed to `tool_prefix + name`. Owners and admins manage them. The
//! credential (a header value) is encrypted under the master key and never leaves the
//! server again: not in responses, logs or audit metadata.
pub mod service;

use crate::{
    auth::{OrgAdmin, Sensitive},
    config::McpConfig,
    entity::connector,
    http::ApiResult,
    mcp::cache::catalog,
    state::AppState,
};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use gatehouse_types::{
    Connector, ConnectorHealth, ConnectorTimeouts, CreateConnectorRequest, EffectiveTimeout,
    HealthStatus, ToolIssue, ToolIssueKind, UpdateConnectorRequest,
};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

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

/// The organization's connectors, oldest first.
#[utoipa::path(operation_id = "listConnectors", security(("session" = []), ("apiKey" = [])),
    tag = "connectors", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<Connector>), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/connectors")]
pub async fn list(
    admin: OrgAdmin,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<Connector>>> {
    let rows = service::list(&st, &admin).await?;
    let targets: Vec<&connector::Model> = rows.iter().collect();
    let issues = tool_issues(&targets, &rows);
    Ok(web::Json(
        rows.iter()
            .zip(issues)
            .map(|(c, i)| to_api(c, i, &st.config.mcp))
            .collect(),
    ))
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
    let (c, org) = service::get(&st, &admin, path.into_inner().1).await?;
    Ok(web::Json(to_api_in(&c, &org, &st.config.mcp)))
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
    let c = service::create(&st, &admin, body.into_inner()).await?;
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
    let (c, others) = service::update(&st, &admin, path.into_inner().1, body.into_inner()).await?;
    Ok(web::Json(to_api_in(&c, &others, &st.config.mcp)))
}

/// Remove a connector; its tools leave the MCP endpoint at once. While the org has PIN
/// protection on, a session needs an open PIN step-up window (`pin-required`
/// otherwise) and an API key the `sensitive` scope.
#[utoipa::path(operation_id = "deleteConnector", security(("session" = []), ("apiKey" = [])),
    tag = "connectors", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 403, description = "`pin-required`: enter the PIN (`POST /orgs/{slug}/pin/verify`) and retry", body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[delete("/orgs/{slug}/connectors/{id}")]
pub async fn remove(
    admin: Sensitive<OrgAdmin>,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    service::remove(&st, &admin, path.into_inner().1).await?;
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
}
