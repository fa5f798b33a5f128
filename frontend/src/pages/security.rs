//! Security settings: the IP allowlist (with the lock-out guard) and the session timeout.
use leptos::prelude::*;

#[component]
pub fn SecurityPage() -> impl IntoView {
    view! { <h1>"SecurityPage"</h1> <p class="muted">"Coming soon."</p> }
}
