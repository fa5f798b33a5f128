//! The audit log: filters, paging, export.
use leptos::prelude::*;

#[component]
pub fn AuditLogPage() -> impl IntoView {
    view! { <h1>"AuditLogPage"</h1> <p class="muted">"Coming soon."</p> }
}
