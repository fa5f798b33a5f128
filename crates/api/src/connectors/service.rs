//! Connector rules, callable from handlers, the CLI and jobs: what a name, URL, tool
//! prefix, credential and timeouts may be; that the org's names and exposed tool names
//! stay unique (checked under a per-org lock); the credential sealed at once and never
//! recorded. Every function takes `&OrgAdmin`.
use super::exposed_tool_collisions;
use crate::{
    audit::{self, Context, Event, change},
    auth::OrgAdmin,
    entity::{connector, organization},
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    state::AppState,
};
use gatehouse_types::{
    CALL_TIMEOUT_MAX_SECS, CONNECTOR_DESCRIPTION_MAX_CHARS, CONNECTOR_NAME_MAX_CHARS,
    CONNECTOR_URL_MAX_CHARS, CreateConnectorRequest, DEFAULT_CREDENTIAL_HEADER, HealthStatus,
    IDLE_TIMEOUT_MAX_SECS, TOOL_PREFIX_MAX_CHARS, UpdateConnectorRequest, default_tool_prefix,
    id_tool_prefix, is_valid_tool_prefix,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
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

fn check_name(v: &mut Validation, raw: &str) -> String {
    v.name("name", raw, CONNECTOR_NAME_MAX_CHARS)
}

/// Trimmed; the limit counts the text as sent, like the schema's `maxLength`.
fn check_description(v: &mut Validation, raw: &str) -> String {
    if raw.chars().count() > CONNECTOR_DESCRIPTION_MAX_CHARS {
        v.push(
            "description",
            format!("at most {CONNECTOR_DESCRIPTION_MAX_CHARS} characters"),
        );
    }
    raw.trim().to_string()
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

async fn find<C: ConnectionTrait>(db: &C, org_id: Uuid, id: Uuid) -> ApiResult<connector::Model> {
    connector::Entity::find_by_id(id)
        .filter(connector::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("connector"))
}

/// The admin's org's connectors, oldest first.
pub async fn list(st: &AppState, admin: &OrgAdmin) -> ApiResult<Vec<connector::Model>> {
    Ok(org_connectors(&st.db, admin.org().id).await?)
}

/// One connector of the admin's org, with all of the org's connectors (its tool issues
/// are computed against them).
pub async fn get(
    st: &AppState,
    admin: &OrgAdmin,
    id: Uuid,
) -> ApiResult<(connector::Model, Vec<connector::Model>)> {
    let org = admin.org().id;
    let c = find(&st.db, org, id).await?;
    Ok((c, org_connectors(&st.db, org).await?))
}

/// Adds a connector (health `unknown` until its first check).
pub async fn create(
    st: &AppState,
    admin: &OrgAdmin,
    body: CreateConnectorRequest,
) -> ApiResult<connector::Model> {
    let m = admin.member();
    let mut v = Validation::default();
    let name = check_name(&mut v, &body.name);
    let url = check_url(st, &mut v, &body.url).await;
    let description = check_description(&mut v, body.description.as_deref().unwrap_or_default());
    let id = Uuid::now_v7();
    // A name without ASCII letters or digits gives no prefix; an empty one would make
    // such connectors collide by accident, so the id makes one. `""` stays possible
    // when asked for.
    let tool_prefix = match body.tool_prefix {
        // Not trimmed: the schema's pattern refuses spaces, so the server does too.
        Some(p) => p,
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
            Some(seal(st, c)?),
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
    audit::record_public(
        st,
        &txn,
        &Context::from(admin),
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
    Ok(c)
}

/// Changes a connector; a new URL or credential resets its health. Returns the
/// connector as saved (unchanged, without a write, when nothing differs) and the org's
/// other connectors.
pub async fn update(
    st: &AppState,
    admin: &OrgAdmin,
    id: Uuid,
    body: UpdateConnectorRequest,
) -> ApiResult<(connector::Model, Vec<connector::Model>)> {
    let m = admin.member();

    // An unknown id is 404 before any URL is resolved.
    find(&st.db, m.org.id, id).await?;
    let mut v = Validation::default();
    let name = body.name.map(|n| check_name(&mut v, &n));
    let url = match &body.url {
        Some(u) => Some(check_url(st, &mut v, u).await),
        None => None,
    };
    let description = body.description.map(|d| check_description(&mut v, &d));
    let tool_prefix = body.tool_prefix;
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
        Some(c) => Some(Some(seal(st, c)?)),
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
        return Ok((before, others));
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
    audit::record_public(
        st,
        &txn,
        &Context::from(admin),
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
    Ok((c, others))
}

/// Removes a connector of the admin's org.
pub async fn remove(st: &AppState, admin: &OrgAdmin, id: Uuid) -> ApiResult<()> {
    let m = admin.member();
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let c = find(&txn, m.org.id, id).await?;
    connector::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record_public(
        st,
        &txn,
        &Context::from(admin),
        now,
        Event::ConnectorDeleted {
            connector_id: id,
            name: c.name.clone(),
            url: audit_url(&c.url),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
