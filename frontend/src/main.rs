//! The Gatehouse dashboard: Leptos, client-side rendered, served by `gatehouse serve`.
mod api;
mod components;
mod pages;
mod pin_prompt;
mod sections;
mod webauthn;

use leptos::prelude::*;
use leptos_router::{
    components::{ParentRoute, Redirect, Route, Router, Routes},
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
    use sections::{SettingsRedirect, SettingsSection};
    view! {
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/") view=|| view! { <Redirect path="/orgs"/> }/>
                <Route path=path!("/login") view=Login/>
                <Route path=path!("/signup") view=Signup/>
                <Route path=path!("/verify-email") view=VerifyEmail/>
                <Route path=path!("/forgot-password") view=ForgotPassword/>
                <Route path=path!("/reset-password") view=ResetPassword/>
                <Route path=path!("/invitations/accept") view=AcceptInvitation/>
                // Signed-in pages share one Shell, so the layout stays mounted while the
                // user moves between them.
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("/orgs") view=OrgsPage/>
                    <Route path=path!("/settings") view=SettingsRedirect/>
                    <Route path=path!("/settings/:section") view=SettingsRedirect/>
                    // Every settings section, from the table in sections.rs.
                    <Route path=path!("/orgs/:slug/settings/:section") view=SettingsSection/>
                    <Route path=path!("/account/profile") view=ProfilePage/>
                    <Route path=path!("/account/password") view=PasswordPage/>
                    <Route path=path!("/account/sessions") view=SessionsPage/>
                    <Route path=path!("/account/security") view=AccountSecurityPage/>
                    <Route path=path!("/account/security/pin-reset") view=PinResetPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
