//! OAuth: the clients connected to the organization, admin-created clients, refresh-token lifetime.
use leptos::prelude::*;

#[component]
pub fn OAuthPage() -> impl IntoView {
    view! { <h1>"OAuthPage"</h1> <p class="muted">"Coming soon."</p> }
}
