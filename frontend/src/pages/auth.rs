//! Signed-out pages: sign in, sign up, not found.
use crate::api;
use crate::components::{action_error, input_value};
use gatehouse_types::{LoginRequest, SignupRequest};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Where to go after signing in: `next` when it is a path on this site, else `/orgs`.
/// `//host` and `/\host` are other sites to a browser, so they are refused.
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/orgs".into(),
    }
}

#[component]
pub fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="auth">
            <div class="card auth-card">
                <p class="brand">"Gatehouse"</p>
                <h1>{title}</h1>
                {children()}
            </div>
        </div>
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let next = move || safe_next(query.read_untracked().get("next"));
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let login = Action::new_local(|req: &LoginRequest| api::login(req.clone()));
    Effect::new(move |_| {
        if let Some(Ok(_)) = login.value().get() {
            // A full page load: `next` may be a server page such as /authorize.
            let _ = window().location().set_href(&next());
        }
    });
    let signup_href = move || match query.read().get("next") {
        Some(n) => format!(
            "/signup?next={}",
            String::from(js_sys::encode_uri_component(&n))
        ),
        None => "/signup".into(),
    };
    view! {
        <AuthCard title="Sign in">
            <form on:submit=move |ev| {
                ev.prevent_default();
                login.dispatch(LoginRequest { email: email.get_untracked(), password: password.get_untracked() });
            }>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required
                    prop:value=move || email.get() on:input=move |ev| email.set(input_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                {action_error(login.value())}
                <button type="submit" class="primary" disabled=move || login.pending().get()>"Sign in"</button>
            </form>
            <p class="muted">"No account yet? "<a href=signup_href>"Create one"</a></p>
        </AuthCard>
    }
}

#[component]
pub fn Signup() -> impl IntoView {
    let query = use_query_map();
    let next = move || safe_next(query.read_untracked().get("next"));
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let signup = Action::new_local(|req: &SignupRequest| api::signup(req.clone()));
    Effect::new(move |_| {
        if let Some(Ok(_)) = signup.value().get() {
            let _ = window().location().set_href(&next());
        }
    });
    view! {
        <AuthCard title="Create your account">
            <form on:submit=move |ev| {
                ev.prevent_default();
                let n = name.get_untracked();
                signup.dispatch(SignupRequest {
                    email: email.get_untracked(),
                    password: password.get_untracked(),
                    display_name: (!n.trim().is_empty()).then_some(n),
                });
            }>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required
                    prop:value=move || email.get() on:input=move |ev| email.set(input_value(&ev))/>
                <label for="display_name">"Your name " <span class="muted">"(optional)"</span></label>
                <input id="display_name" name="display_name" type="text" autocomplete="name"
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="new-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                {action_error(signup.value())}
                <button type="submit" class="primary" disabled=move || signup.pending().get()>"Create account"</button>
            </form>
            <p class="muted">"Already have an account? "<a href="/login">"Sign in"</a></p>
        </AuthCard>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <AuthCard title="Page not found">
            <p><a href="/orgs">"Go to your organizations"</a></p>
        </AuthCard>
    }
}


#[component]
pub fn VerifyEmail() -> impl IntoView {
    view! { <h1>"VerifyEmail"</h1> }
}

#[component]
pub fn ForgotPassword() -> impl IntoView {
    view! { <h1>"ForgotPassword"</h1> }
}

#[component]
pub fn ResetPassword() -> impl IntoView {
    view! { <h1>"ResetPassword"</h1> }
}
