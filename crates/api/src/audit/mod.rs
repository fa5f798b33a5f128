//! The audit log: one record of what happened, written in the same transaction as the
//! change it describes. Later features (webhooks) read from this table instead of
//! keeping a second account of events.
use crate::{
    auth::OrgAdmin,
    entity::{audit_event, membership},
    http::{ApiError, ApiResult},
    state::AppState,
};
use actix_web::{HttpResponse, get, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use gatehouse_types::{AuditActor, AuditEvent, AuditPage, AuditTarget};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

pub mod event;

pub use event::{Actor, Context, Event, Lockout, SessionEnd, change};

/// Orders ids made within one millisecond of the same process.
static ID_CONTEXT: std::sync::Mutex<uuid::ContextV7> =
    std::sync::Mutex::new(uuid::ContextV7::new());

/// A UUIDv7 whose timestamp is the event's time, so a time range is also an id range
/// (which the `(org_id, id)` index serves).
pub fn event_id(at: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        &ID_CONTEXT,
        at.timestamp().max(0) as u64,
        at.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

/// The smallest UUIDv7 of the millisecond of `at`: every id of an event at or after
/// `at` is at least this.
pub fn id_floor(at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis().max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70;
    b[8] = 0x80;
    Uuid::from_bytes(b)
}

/// Writes an event in the org of `ctx`, or for an account-level event in every org of
/// its user. Call it with the transaction that makes the change.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    ctx: &Context,
    now: DateTime<Utc>,
    event: Event,
) -> Result<(), sea_orm::DbErr> {
    // Loud, so that no call site can drop an event the org's webhooks are owed.
    if crate::webhooks::publish::data(&event).is_some() {
        return Err(sea_orm::DbErr::Custom(format!(
            "{} is delivered to webhooks: record it with audit::record_public",
            event.action()
        )));
    }
    write(db, ctx, now, event).await
}

/// Records an event that webhooks carry (`webhooks::publish::data`), and makes its
/// messages to the org's subscribed endpoints with their first tries queued, all in
/// the caller's transaction: one record of what happened feeds both.
pub async fn record_public<C: ConnectionTrait>(
    st: &crate::state::AppState,
    db: &C,
    ctx: &Context,
    now: DateTime<Utc>,
    event: Event,
) -> Result<(), sea_orm::DbErr> {
    crate::webhooks::publish::publish(st, db, ctx, now, &event).await?;
    write(db, ctx, now, event).await
}

async fn write<C: ConnectionTrait>(
    db: &C,
    ctx: &Context,
    now: DateTime<Utc>,
    event: Event,
) -> Result<(), sea_orm::DbErr> {
    let Some(user_id) = event.account_user() else {
        return insert(db, row(ctx, now, &event)).await;
    };
    // Logins, sessions and password changes concern every org the user belongs to:
    // each org's admins see them in their log. A user without orgs gets one event
    // without an org.
    let orgs: Vec<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::OrgId)
        .filter(membership::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?;
    if orgs.is_empty() {
        return insert(db, row(ctx, now, &event)).await;
    }
    for org in orgs {
        insert(db, row_in(ctx, Some(org), now, &event)).await?;
    }
    Ok(())
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    row: audit_event::ActiveModel,
) -> Result<(), sea_orm::DbErr> {
    audit_event::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The row `record` writes for an org-level event, for writers that insert many at
/// once (see `oauth::batch`).
pub fn row(ctx: &Context, now: DateTime<Utc>, event: &Event) -> audit_event::ActiveModel {
    row_in(ctx, ctx.org, now, event)
}

fn row_in(
    ctx: &Context,
    org_id: Option<Uuid>,
    now: DateTime<Utc>,
    event: &Event,
) -> audit_event::ActiveModel {
    let (actor_type, actor_id, actor_label) = ctx.actor.parts();
    let (target_type, target_id) = match event.target() {
        Some((t, id)) => (Some(t.to_string()), Some(id)),
        None => (None, None),
    };
    audit_event::ActiveModel {
        id: Set(event_id(now)),
        org_id: Set(org_id),
        occurred_at: Set(now),
        actor_type: Set(actor_type.into()),
        actor_id: Set(actor_id),
        actor_label: Set(actor_label),
        action: Set(event.action().into()),
        target_type: Set(target_type),
        target_id: Set(target_id),
        ip: Set(ctx.meta.ip.clone()),
        user_agent: Set(ctx.meta.user_agent.clone()),
        metadata: Set(event.metadata().to_string()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Events before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Actor id (a user or API key id).
    pub actor: Option<Uuid>,
    /// Exact action (`member.added`) or a prefix ending in a dot (`member.`).
    #[param(min_length = 1, max_length = 64, pattern = r"^[a-z._]*\**$")]
    pub action: Option<String>,
    /// From the previous page's `next_cursor`.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` or `json`.
    #[param(pattern = "^(csv|json)$")]
    pub format: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub actor: Option<Uuid>,
    #[param(min_length = 1, max_length = 64, pattern = r"^[a-z._]*\**$")]
    pub action: Option<String>,
}

/// The filters shared by paging and export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub org_id: Uuid,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub actor: Option<Uuid>,
    pub action: Option<String>,
}

impl Filter {
    /// Newest first, strictly older than `before` when given.
    pub fn select(&self, before: Option<Uuid>) -> Select<audit_event::Entity> {
        use audit_event::Column as C;
        let mut q = audit_event::Entity::find().filter(C::OrgId.eq(self.org_id));
        // The id bounds let the (org_id, id) index narrow a time window; the exact
        // comparison on occurred_at stays for the sub-millisecond edges.
        if let Some(from) = self.from {
            q = q
                .filter(C::OccurredAt.gte(from))
                .filter(C::Id.gte(id_floor(from)));
        }
        if let Some(to) = self.to {
            q = q
                .filter(C::OccurredAt.lt(to))
                .filter(C::Id.lt(id_floor(to + chrono::Duration::milliseconds(1))));
        }
        if let Some(actor) = self.actor {
            q = q.filter(C::ActorId.eq(actor));
        }
        if let Some(action) = &self.action {
            if let Some(prefix) = action
                .strip_suffix('*')
                .or_else(|| action.ends_with('.').then_some(action.as_str()))
            {
                // A range instead of LIKE so that a plain b-tree index serves it on both
                // databases whatever the collation: "member." <= a < "member/".
                let mut upper = prefix.to_string();
                if let Some(last) = upper.pop() {
                    upper.push(char::from_u32(last as u32 + 1).unwrap_or(char::MAX));
                }
                q = q.filter(C::Action.gte(prefix)).filter(C::Action.lt(upper));
            } else {
                q = q.filter(C::Action.eq(action.as_str()));
            }
        }
        if let Some(b) = before {
            q = q.filter(C::Id.lt(b));
        }
        q.order_by_desc(C::Id)
    }
}

fn validate_action(action: &Option<String>) -> ApiResult<()> {
    if let Some(a) = action {
        let ok = !a.is_empty()
            && a.len() <= 64
            && a.trim_end_matches('*')
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
        if !ok {
            return Err(ApiError::field(
                "action",
                "an action name like `member.added` or a prefix like `member.`",
            ));
        }
    }
    Ok(())
}

pub fn to_api(m: audit_event::Model) -> AuditEvent {
    AuditEvent {
        id: m.id,
        org_id: m.org_id,
        occurred_at: m.occurred_at,
        actor: AuditActor {
            type_: m.actor_type,
            id: m.actor_id,
            label: m.actor_label,
        },
        action: m.action,
        target: match (m.target_type, m.target_id) {
            (Some(t), Some(id)) => Some(AuditTarget { type_: t, id }),
            _ => None,
        },
        ip: m.ip,
        user_agent: m.user_agent,
        metadata: serde_json::from_str(&m.metadata).unwrap_or(Value::Null),
    }
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(c: &str) -> ApiResult<Uuid> {
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| ApiError::field("cursor", "not a cursor from a previous page"))
}

/// One page, newest first.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    filter: &Filter,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<AuditPage, sea_orm::DbErr> {
    let mut rows = filter.select(cursor).limit(limit + 1).all(db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor(r.id))
    } else {
        None
    };
    Ok(AuditPage {
        items: rows.into_iter().map(to_api).collect(),
        next_cursor,
    })
}

/// List audit events of the organization.
#[utoipa::path(operation_id = "listAuditEvents", security(("session" = []), ("apiKey" = [])),
    tag = "audit",
    params(("slug" = String, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 404, body = gatehouse_types::Problem))
)]
#[get("/orgs/{slug}/audit-logs")]
pub async fn list(
    admin: OrgAdmin,
    q: web::Query<AuditQuery>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<AuditPage>> {
    let q = q.into_inner();
    validate_action(&q.action)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "between 1 and 200"));
    }
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = Filter {
        org_id: admin.0.org.id,
        from: q.from,
        to: q.to,
        actor: q.actor,
        action: q.action,
    };
    Ok(web::Json(page(&st.db, &filter, cursor, limit).await?))
}

pub const EXPORT_BATCH: u64 = 1000;

const CSV_HEADER: &str = "id,occurred_at,action,actor_type,actor_id,actor_label,target_type,target_id,ip,user_agent,metadata\n";

fn csv_field(out: &mut String, s: &str) {
    // RFC 4180 quoting; a leading formula character is defused for spreadsheet apps.
    let needs_guard = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if needs_guard || s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if needs_guard {
            out.push('\'');
        }
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

pub fn csv_row(out: &mut String, m: &audit_event::Model) {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let fields = [
        m.id.to_string(),
        m.occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        m.action.clone(),
        m.actor_type.clone(),
        m.actor_id.map(|u| u.to_string()).unwrap_or_default(),
        opt(&m.actor_label),
        opt(&m.target_type),
        opt(&m.target_id),
        opt(&m.ip),
        opt(&m.user_agent),
        m.metadata.clone(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push('\n');
}

/// Streams every matching event in batches fetched by keyset, so memory stays flat
/// whatever the size of the log.
pub fn export_stream(
    db: sea_orm::DatabaseConnection,
    filter: Filter,
    csv: bool,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, ApiError>> {
    async_stream::try_stream! {
        yield bytes::Bytes::from_static(if csv { CSV_HEADER.as_bytes() } else { b"[" });
        let mut cursor = None;
        let mut first = true;
        loop {
            let rows = filter.select(cursor).limit(EXPORT_BATCH).all(&db).await?;
            let n = rows.len() as u64;
            let mut buf = String::with_capacity(rows.len() * 256);
            for m in rows {
                cursor = Some(m.id);
                if csv {
                    csv_row(&mut buf, &m);
                } else {
                    if !first {
                        buf.push(',');
                    }
                    first = false;
                    buf.push_str(&serde_json::to_string(&to_api(m)).map_err(ApiError::internal)?);
                    buf.push('\n');
                }
            }
            if !buf.is_empty() {
                yield bytes::Bytes::from(buf);
            }
            if n < EXPORT_BATCH {
                break;
            }
        }
        if !csv {
            yield bytes::Bytes::from_static(b"]\n");
        }
    }
}

/// Export the filtered audit log as CSV or JSON, streamed.
#[utoipa::path(operation_id = "exportAuditEvents", security(("session" = []), ("apiKey" = [])),
    tag = "audit",
    params(("slug" = String, Path), ExportQuery),
    responses(
        (status = 200, description = "CSV (`text/csv`) or a JSON array (`application/json`) of audit events"),
        (status = 422, body = gatehouse_types::Problem)
    )
)]
#[get("/orgs/{slug}/audit-logs/export")]
pub async fn export(
    admin: OrgAdmin,
    q: web::Query<ExportQuery>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let csv = match q.format.as_str() {
        "csv" => true,
        "json" => false,
        _ => return Err(ApiError::field("format", "`csv` or `json`")),
    };
    validate_action(&q.action)?;
    let org = admin.0.org;
    let filter = Filter {
        org_id: org.id,
        from: q.from,
        to: q.to,
        actor: q.actor,
        action: q.action,
    };
    let stamp = st.clock.now().format("%Y%m%dT%H%M%SZ");
    let (ctype, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/json", "json")
    };
    Ok(HttpResponse::Ok()
        .content_type(ctype)
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}-audit-log-{stamp}.{ext}\"",
                org.slug
            ),
        ))
        .streaming(export_stream(st.db.clone(), filter, csv)))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(export);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_follow_event_time_and_the_floor_bounds_them() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00.123456Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let a = event_id(t);
        let b = event_id(t);
        assert!(a < b, "ids of one millisecond keep their order");
        assert!(id_floor(t) <= a);
        assert!(a < id_floor(t + chrono::Duration::milliseconds(1)));
        assert!(id_floor(t - chrono::Duration::milliseconds(1)) < id_floor(t));
        assert_eq!(a.get_version_num(), 7);
    }
}
