//! The pages: sign-in, sign-up, organizations, general settings, API keys.
use crate::api;
use crate::components::{ErrorBox, action_error, use_slug};
use gatehouse_types::{
    ApiKey, ApiKeyStatus, CreateApiKeyRequest, CreateOrgRequest, CreatedApiKey, LoginRequest,
    Organization, SignupRequest, UpdateOrgRequest,
};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

/// Where to go after signing in: `next` when it is a path on this site, else `/orgs`.
/// `//host` and `/\host` are other sites to a browser, so they are refused.
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/orgs".into(),
    }
}

fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn input_value(ev: &leptos::ev::Event) -> String {
    event_target_value(ev)
}

#[component]
fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
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

fn org_row(o: Organization) -> impl IntoView {
    let href = format!("/orgs/{}/settings/general", o.slug);
    view! {
        <tr>
            <td><a href=href>{o.name}</a></td>
            <td><code>{o.slug}</code></td>
            <td>{o.membership.role.as_str()}</td>
        </tr>
    }
}

#[component]
pub fn OrgsPage() -> impl IntoView {
    let orgs = LocalResource::new(api::list_orgs);
    let name = RwSignal::new(String::new());
    let slug = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let create = Action::new_local(|req: &CreateOrgRequest| api::create_org(req.clone()));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(org)) = create.value().get() {
            navigate(
                &format!("/orgs/{}/settings/general", org.slug),
                Default::default(),
            );
        }
    });
    view! {
        <h1>"Organizations"</h1>
        <section class="card">
            <h2>"Your organizations"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match orgs.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted">"You do not belong to any organization yet. Create one below."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <table>
                                <thead><tr><th>"Name"</th><th>"Slug"</th><th>"Your role"</th></tr></thead>
                                <tbody>{list.into_iter().map(org_row).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card">
            <h2>"Create an organization"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let s = slug.get_untracked();
                let d = description.get_untracked();
                create.dispatch(CreateOrgRequest {
                    name: name.get_untracked(),
                    slug: (!s.trim().is_empty()).then_some(s),
                    description: (!d.trim().is_empty()).then_some(d),
                });
            }>
                <label for="org-name">"Name"</label>
                <input id="org-name" name="name" type="text" required
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <label for="org-slug">"Slug " <span class="muted">"(optional; derived from the name, cannot be changed later)"</span></label>
                <input id="org-slug" name="slug" type="text"
                    prop:value=move || slug.get() on:input=move |ev| slug.set(input_value(&ev))/>
                <label for="org-description">"Description " <span class="muted">"(optional)"</span></label>
                <textarea id="org-description" name="description" rows="2"
                    prop:value=move || description.get() on:input=move |ev| description.set(input_value(&ev))></textarea>
                {action_error(create.value())}
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create organization"</button>
            </form>
        </section>
    }
}

#[component]
pub fn GeneralSettings() -> impl IntoView {
    let slug = use_slug();
    let org = LocalResource::new(move || api::get_org(slug.get()));
    view! {
        <h1>"General"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match org.await {
                    Ok(o) => view! { <GeneralForm org=o/> }.into_any(),
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn GeneralForm(org: Organization) -> impl IntoView {
    let slug = org.slug.clone();
    let name = RwSignal::new(org.name.clone());
    let description = RwSignal::new(
        org.details
            .as_ref()
            .map(|d| d.description.clone())
            .unwrap_or_default(),
    );
    let save = Action::new_local(|(slug, req): &(String, UpdateOrgRequest)| {
        api::update_org(slug.clone(), req.clone())
    });
    let slug_for_submit = slug.clone();
    view! {
        <section class="card">
            <form on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch((slug_for_submit.clone(), UpdateOrgRequest {
                    name: Some(name.get_untracked()),
                    description: Some(description.get_untracked()),
                    slug: None,
                }));
            }>
                <label for="org-name">"Name"</label>
                <input id="org-name" name="name" type="text" required
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <label for="org-slug">"Slug"</label>
                <input id="org-slug" name="slug" type="text" readonly=true value=slug aria-describedby="slug-help"/>
                <p id="slug-help" class="muted help">"The slug is part of your MCP and API addresses and cannot be changed."</p>
                <label for="org-description">"Description"</label>
                <textarea id="org-description" name="description" rows="3"
                    prop:value=move || description.get() on:input=move |ev| description.set(input_value(&ev))></textarea>
                {action_error(save.value())}
                {move || matches!(save.value().get(), Some(Ok(_))).then(|| view! { <p class="success" role="status">"Saved."</p> })}
                <button type="submit" class="primary" disabled=move || save.pending().get()>"Save"</button>
            </form>
        </section>
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let slug = use_slug();
    let reload = RwSignal::new(0u32);
    let keys = LocalResource::new(move || {
        reload.track();
        api::list_keys(slug.get())
    });
    let name = RwSignal::new(String::new());
    let created: RwSignal<Option<CreatedApiKey>> = RwSignal::new(None);
    let create = Action::new_local(|(slug, req): &(String, CreateApiKeyRequest)| {
        api::create_key(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(k)) = create.value().get() {
            created.set(Some(k));
            name.set(String::new());
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <h1>"API keys"</h1>
        <p class="muted">"API keys let programs call this organization's MCP endpoint and REST API."</p>
        {move || created.get().map(|k| view! { <NewKey created=k on_done=move || created.set(None)/> })}
        <section class="card">
            <h2>"Create a key"</h2>
            <form class="inline" on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch((slug.get_untracked(), CreateApiKeyRequest { name: name.get_untracked(), scopes: None, expires_at: None }));
            }>
                <div class="field">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" type="text" required placeholder="e.g. CI pipeline"
                        prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                </div>
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create key"</button>
            </form>
            {action_error(create.value())}
        </section>
        <section class="card">
            <h2>"Keys"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No keys yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <table>
                                <thead><tr>
                                    <th>"Name"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th><th>"Status"</th><th><span class="sr-only">"Actions"</span></th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|k| view! { <KeyRow api_key=k slug=slug.get_untracked() reload=reload/> }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The new key, shown once.
#[component]
fn NewKey(created: CreatedApiKey, on_done: impl Fn() + 'static) -> impl IntoView {
    let copied = RwSignal::new(false);
    let secret = created.secret.clone();
    let copy = move |_| {
        let p = window().navigator().clipboard().write_text(&secret);
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(p).await.is_ok() {
                copied.set(true);
            }
        });
    };
    view! {
        <section class="card new-key" role="status">
            <h2>"Key “"{created.api_key.name.clone()}"” created"</h2>
            <p><strong>"Copy it now: you will not see it again."</strong></p>
            <div class="secret">
                <code id="new-key-secret">{created.secret.clone()}</code>
                <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
            </div>
            <button type="button" class="link" on:click=move |_| on_done()>"Done"</button>
        </section>
    }
}

#[component]
fn KeyRow(api_key: ApiKey, slug: String, reload: RwSignal<u32>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let id = api_key.id.to_string();
    let revoke = Action::new_local(|(slug, id): &(String, String)| {
        api::revoke_key(slug.clone(), id.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = revoke.value().get() {
            reload.update(|n| *n += 1);
        }
    });
    let active = api_key.status == ApiKeyStatus::Active;
    let status = format!("{:?}", api_key.status).to_lowercase();
    let name = api_key.name.clone();
    view! {
        <tr>
            <td>{api_key.name.clone()}</td>
            <td><code>{format!("{}…{}", api_key.prefix, api_key.last_four)}</code></td>
            <td>{when(&api_key.created_at)}</td>
            <td>{api_key.last_used_at.as_ref().map(when).unwrap_or_else(|| "never".into())}</td>
            <td><span class=format!("badge {status}")>{status.clone()}</span></td>
            <td class="actions">
                {active.then(move || view! {
                    <Show when=move || confirming.get() fallback=move || view! {
                        <button type="button" class="danger" on:click=move |_| confirming.set(true)>"Revoke"</button>
                    }>
                        <span class="confirm">
                            "Revoke “"{name.clone()}"”? Programs using it stop working. "<br/>
                            <button type="button" class="danger" on:click={
                                let (slug, id) = (slug.clone(), id.clone());
                                move |_| { revoke.dispatch((slug.clone(), id.clone())); }
                            }>"Yes, revoke"</button>
                            <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </span>
                    </Show>
                })}
                {action_error(revoke.value())}
            </td>
        </tr>
    }
}
