//! The Gatehouse dashboard: Leptos, client-side rendered, served by `gatehouse serve`.
mod api;
mod components;
mod pages;

use leptos::prelude::*;
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    path,
};

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    use components::Shell;
    use pages::*;
    view! {
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/") view=|| view! { <Redirect path="/orgs"/> }/>
                <Route path=path!("/login") view=Login/>
                <Route path=path!("/signup") view=Signup/>
                <Route path=path!("/orgs") view=|| view! { <Shell><OrgsPage/></Shell> }/>
                <Route
                    path=path!("/orgs/:slug/settings/general")
                    view=|| view! { <Shell><GeneralSettings/></Shell> }
                />
                <Route
                    path=path!("/orgs/:slug/settings/api-keys")
                    view=|| view! { <Shell><ApiKeysPage/></Shell> }
                />
            </Routes>
        </Router>
    }
}
