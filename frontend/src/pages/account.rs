//! The signed-in user's account: profile, password, sessions.
use leptos::prelude::*;

#[component]
pub fn ProfilePage() -> impl IntoView {
    view! { <h1>"ProfilePage"</h1> <p class="muted">"Coming soon."</p> }
}

#[component]
pub fn PasswordPage() -> impl IntoView {
    view! { <h1>"PasswordPage"</h1> <p class="muted">"Coming soon."</p> }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    view! { <h1>"SessionsPage"</h1> <p class="muted">"Coming soon."</p> }
}
