//! The audit log: pages of events and the export link.
use super::{ApiFuture, BASE, get, query_string};
use gatehouse_types::AuditPage;

/// One page of events matching `filter` (query parameters), after `cursor`.
pub fn list_events(
    slug: String,
    mut filter: Vec<(&'static str, String)>,
    cursor: Option<String>,
) -> ApiFuture<AuditPage> {
    if let Some(c) = cursor {
        filter.push(("cursor", c));
    }
    let q = query_string(&filter);
    let sep = if q.is_empty() { "" } else { "?" };
    get(&format!("/orgs/{slug}/audit-logs{sep}{q}"))
}

/// A same-origin link that downloads the filtered log (the session cookie goes along).
pub fn export_href(slug: &str, format: &str, filter: Vec<(&'static str, String)>) -> String {
    let mut params = vec![("format", format.to_string())];
    params.extend(filter);
    format!(
        "{BASE}/orgs/{slug}/audit-logs/export?{}",
        query_string(&params)
    )
}
