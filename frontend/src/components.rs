//! Layout (sidebar, header with org switcher and user menu), the signed-in guard, errors.
use crate::api::{self, ApiError};
use gatehouse_types::{Organization, Role, User};
use leptos::prelude::*;
use leptos_router::{
    components::{A, Outlet, Redirect},
    hooks::{use_location, use_navigate},
};
use serde::de::DeserializeOwned;

/// A timestamp as the dashboard shows it.
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Not `t.format(…)`: chrono's formatting code would add several KB to the bundle.
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The value of the input an event came from.
pub fn input_value(ev: &leptos::ev::Event) -> String {
    event_target_value(ev)
}

/// The current org's slug, from the address (`/orgs/{slug}/…`); empty elsewhere.
/// Read from the location rather than route params so the layout, which sits above
/// the matched route, sees it too.
pub fn use_slug() -> Memo<String> {
    let location = use_location();
    Memo::new(move |_| {
        location.pathname.with(|p| {
            p.strip_prefix("/orgs/")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default()
                .to_string()
        })
    })
}

/// An API error in words, for `role="alert"` boxes.
#[component]
pub fn ErrorBox(err: ApiError) -> impl IntoView {
    // The detail often already names the fields; list only those it does not.
    let detail = err.detail.clone().unwrap_or_default();
    let fields = err
        .fields
        .iter()
        .filter(|f| !detail.contains(&f.message))
        .map(|f| view! { <li><code>{f.field.clone()}</code>": "{f.message.clone()}</li> })
        .collect_view();
    view! {
        <div class="error" role="alert">
            <strong>{err.title.clone()}</strong>
            {err.detail.clone().map(|d| view! { <p>{d}</p> })}
            <ul>{fields}</ul>
        </div>
    }
}

/// What a page shows while its data loads.
pub fn loading() -> AnyView {
    view! { <p class="loading">"Loading…"</p> }.into_any()
}

/// Shows a resource: "Loading…" until its first answer, then the error in an alert box
/// or what `ok` makes of the data. While it reloads, the last answer stays on screen (as
/// with `<Transition>`); to show "Loading…" again, key the resource instead (see
/// `GeneralSettings`).
///
/// Rather than `<Transition>` + `Suspend::new(async move { … })`, which compiled every
/// page's view into its own large async state machine: this is synchronous, and all
/// pages share one reactive closure type (`Box<dyn Fn>`), so one copy of its rendering.
pub fn loaded<T: DeserializeOwned + 'static>(
    res: api::Resource<T>,
    ok: impl Fn(T) -> AnyView + Send + 'static,
) -> impl IntoView {
    reactive(move || match res.get() {
        Some(Ok(data)) => ok(data),
        Some(Err(e)) => view! { <ErrorBox err=e/> }.into_any(),
        None => loading(),
    })
}

/// A reactive view of the one closure type every caller shares, so its render code
/// exists once in the bundle (each `move || …` in a view has its own).
pub fn reactive(f: impl Fn() -> AnyView + Send + 'static) -> Box<dyn Fn() -> AnyView + Send> {
    Box::new(f)
}

/// Shows the error of the last finished action, if it failed.
pub fn action_error<T: Clone + Send + Sync + 'static>(
    v: MappedSignal<Option<Result<T, ApiError>>>,
) -> impl IntoView {
    move || match v.get() {
        Some(Err(e)) => Some(view! { <ErrorBox err=e/> }),
        _ => None,
    }
}

/// What every signed-in page can read: the user and their organizations.
#[derive(Clone, Copy)]
pub struct SessionCtx {
    pub user: RwSignal<User>,
    pub orgs: api::Resource<Vec<Organization>>,
    /// Bump to reload `orgs` (after creating or renaming one).
    pub orgs_version: RwSignal<u32>,
}

pub fn use_session() -> SessionCtx {
    expect_context::<SessionCtx>()
}

/// The signed-in user's role in the current org, once the org list has loaded.
pub fn use_role() -> Signal<Option<Role>> {
    let s = use_session();
    let slug = use_slug();
    Signal::derive(move || {
        let slug = slug.get();
        s.orgs
            .get()
            .and_then(|r| r.ok())
            .and_then(|list| list.into_iter().find(|o| o.slug == slug))
            .map(|o| o.membership.role)
    })
}

/// Owners and admins manage settings; members only see what they can use.
pub fn is_admin(role: Option<Role>) -> bool {
    matches!(role, Some(Role::Owner | Role::Admin))
}

/// Signed-in pages: loads the session, sends signed-out visitors to `/login?next=…`.
#[component]
pub fn Shell() -> impl IntoView {
    let location = use_location();
    let to_login = move || {
        let here = format!(
            "{}{}",
            location.pathname.get_untracked(),
            location.search.get_untracked(),
        );
        let to = format!(
            "/login?next={}",
            String::from(js_sys::encode_uri_component(&here)),
        );
        view! { <Redirect path=to/> }.into_any()
    };
    // Without the server's signed-in hint there is no session to ask about: asking would
    // only fail (a 401 the browser logs as an error on every signed-out visit).
    if !api::session_hint() {
        return reactive(to_login);
    }
    let me = api::resource(api::accounts::me);
    reactive(move || match me.get() {
        None => loading(),
        Some(Ok(user)) => view! { <Layout user=user/> }.into_any(),
        Some(Err(e)) if e.is_unauthorized() => {
            // The session ended on the server (idle timeout, signed out elsewhere).
            api::forget_session_hint();
            to_login()
        }
        Some(Err(e)) => view! { <main class="content"><ErrorBox err=e/></main> }.into_any(),
    })
}

#[component]
fn Layout(user: User) -> impl IntoView {
    let orgs_version = RwSignal::new(0u32);
    let orgs = api::resource(move || {
        orgs_version.track();
        api::orgs::list_orgs()
    });
    provide_context(SessionCtx {
        user: RwSignal::new(user.clone()),
        orgs,
        orgs_version,
    });
    let slug = use_slug();
    let role = use_role();
    // Remember the org in use for /settings/… links.
    Effect::new(move |_| {
        let s = slug.get();
        if !s.is_empty() {
            crate::sections::remember_org(&s);
        }
    });
    let menu_open = RwSignal::new(false);
    let location = use_location();
    // Close the phone menu whenever the page changes.
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
    });
    view! {
        <a class="skip" href="#content">"Skip to content"</a>
        <div class="app" class:menu-open=move || menu_open.get()>
            <aside class="sidebar">
                <a class="brand" href="/orgs">"Gatehouse"</a>
                <nav aria-label="Main">
                    <A href="/orgs" exact=true>"Organizations"</A>
                    {move || {
                        let s = slug.get();
                        let admin = is_admin(role.get());
                        (!s.is_empty()).then(|| view! {
                            <p class="nav-heading">"Settings"</p>
                            {crate::sections::SECTIONS
                                .iter()
                                .filter(|i| admin || !i.admin_only)
                                .map(|i| view! { <A href=format!("/orgs/{s}/settings/{}", i.path)>{i.label}</A> })
                                .collect_view()}
                        })
                    }}
                    <p class="nav-heading">"Account"</p>
                    <A href="/account/profile">"Profile"</A>
                    <A href="/account/password">"Password"</A>
                    <A href="/account/sessions">"Sessions"</A>
                    <A href="/account/security">"Security"</A>
                </nav>
            </aside>
            <div class="main">
                <header class="topbar">
                    <button type="button" class="menu-toggle" aria-label="Menu"
                        aria-expanded=move || menu_open.get().to_string()
                        on:click=move |_| menu_open.update(|o| *o = !*o)>"☰"</button>
                    <OrgSwitcher/>
                    <UserMenu user=user/>
                </header>
                <main class="content" id="content" tabindex="-1"><Outlet/></main>
            </div>
        </div>
        <crate::pin_prompt::PinDialog/>
    }
}

#[component]
fn OrgSwitcher() -> impl IntoView {
    let slug = use_slug();
    let s = use_session();
    let navigate = use_navigate();
    view! {
        <label class="switcher">
            <span>"Organization"</span>
            <select on:change=move |ev| {
                let v = event_target_value(&ev);
                if v == "+" {
                    navigate("/orgs", Default::default());
                } else if !v.is_empty() {
                    navigate(&format!("/orgs/{v}/settings/general"), Default::default());
                }
            }>
                <option value="" selected=move || slug.get().is_empty()>"Choose…"</option>
                {move || {
                    let current = slug.get();
                    s.orgs
                        .get()
                        .and_then(|r| r.ok())
                        .unwrap_or_default()
                        .into_iter()
                        .map(|o| {
                            let sel = o.slug == current;
                            view! { <option value=o.slug.clone() selected=sel>{o.name}</option> }
                        })
                        .collect_view()
                }}
                <option value="+">"+ Create organization"</option>
            </select>
        </label>
    }
}

#[component]
fn UserMenu(user: User) -> impl IntoView {
    let logout = api::action(|_: &()| api::accounts::logout());
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            let _ = window().location().set_href("/login");
        }
    });
    let label = if user.display_name.is_empty() {
        user.email.clone()
    } else {
        user.display_name.clone()
    };
    view! {
        <details class="user-menu">
            <summary>{label}</summary>
            <div class="menu">
                <p class="muted">"Signed in as "<strong>{user.email}</strong></p>
                <a href="/account/profile">"Account settings"</a>
                <button type="button" on:click=move |_| { logout.dispatch(()); }>"Sign out"</button>
                {action_error(logout.value())}
            </div>
        </details>
    }
}
