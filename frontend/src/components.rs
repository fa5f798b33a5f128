//! Layout (sidebar, header with org switcher and user menu), the signed-in guard, errors.
use crate::api::{self, ApiError};
use gatehouse_types::User;
use leptos::prelude::*;
use leptos_router::{
    components::{A, Redirect},
    hooks::{use_location, use_navigate, use_params_map},
};

/// The current route's `:slug`, if any.
pub fn use_slug() -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("slug").unwrap_or_default())
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

/// Shows the error of the last finished action, if it failed.
pub fn action_error<T: Clone + Send + Sync + 'static>(
    v: MappedSignal<Option<Result<T, ApiError>>>,
) -> impl IntoView {
    move || match v.get() {
        Some(Err(e)) => Some(view! { <ErrorBox err=e/> }),
        _ => None,
    }
}

/// Signed-in pages: loads the session, sends signed-out visitors to `/login?next=…`.
#[component]
pub fn Shell(children: ChildrenFn) -> impl IntoView {
    let me = LocalResource::new(api::me);
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {
                let children = children.clone();
                move || {
                    let children = children.clone();
                    Suspend::new(async move {
                        match me.await {
                            Ok(user) => view! { <Layout user=user>{children()}</Layout> }.into_any(),
                            Err(e) if e.is_unauthorized() => {
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
                            }
                            Err(e) => view! { <main class="content"><ErrorBox err=e/></main> }.into_any(),
                        }
                    })
                }
            }
        </Suspense>
    }
}

#[component]
fn Layout(user: User, children: Children) -> impl IntoView {
    let slug = use_slug();
    view! {
        <div class="app">
            <aside class="sidebar">
                <a class="brand" href="/orgs">"Gatehouse"</a>
                <nav aria-label="Main">
                    <A href="/orgs" exact=true>"Organizations"</A>
                    {move || {
                        let s = slug.get();
                        (!s.is_empty())
                            .then(|| {
                                view! {
                                    <p class="nav-heading">"Settings"</p>
                                    <A href=format!("/orgs/{s}/settings/general")>"General"</A>
                                    <A href=format!("/orgs/{s}/settings/api-keys")>"API keys"</A>
                                }
                            })
                    }}
                </nav>
            </aside>
            <div class="main">
                <header class="topbar">
                    <OrgSwitcher/>
                    <UserMenu user=user/>
                </header>
                <main class="content">{children()}</main>
            </div>
        </div>
    }
}

#[component]
fn OrgSwitcher() -> impl IntoView {
    let slug = use_slug();
    let orgs = LocalResource::new(api::list_orgs);
    let navigate = use_navigate();
    view! {
        <label class="switcher">
            <span>"Organization"</span>
            <select on:change=move |ev| {
                let v = event_target_value(&ev);
                if !v.is_empty() {
                    navigate(&format!("/orgs/{v}/settings/general"), Default::default());
                }
            }>
                <option value="" selected=move || slug.get().is_empty()>"Choose…"</option>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let current = slug.get_untracked();
                        orgs.await
                            .unwrap_or_default()
                            .into_iter()
                            .map(|o| {
                                let sel = o.slug == current;
                                view! { <option value=o.slug.clone() selected=sel>{o.name}</option> }
                            })
                            .collect_view()
                    })}
                </Suspense>
            </select>
        </label>
    }
}

#[component]
fn UserMenu(user: User) -> impl IntoView {
    let logout = Action::new_local(|_: &()| api::logout());
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
                <button type="button" on:click=move |_| { logout.dispatch(()); }>"Sign out"</button>
                {action_error(logout.value())}
            </div>
        </details>
    }
}
