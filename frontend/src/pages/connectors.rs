//! MCP connectors (health, add, edit, delete) and the MCP endpoint's usage.
use leptos::prelude::*;

#[component]
pub fn ConnectorsPage() -> impl IntoView {
    view! { <h1>"ConnectorsPage"</h1> <p class="muted">"Coming soon."</p> }
}

#[component]
pub fn UsagePage() -> impl IntoView {
    view! { <h1>"UsagePage"</h1> <p class="muted">"Coming soon."</p> }
}
