//! Members and invitations: list, roles, invite, revoke, remove, transfer ownership; accepting an invitation.
use leptos::prelude::*;

#[component]
pub fn MembersPage() -> impl IntoView {
    view! { <h1>"MembersPage"</h1> <p class="muted">"Coming soon."</p> }
}

#[component]
pub fn AcceptInvitation() -> impl IntoView {
    view! { <h1>"AcceptInvitation"</h1> <p class="muted">"Coming soon."</p> }
}
