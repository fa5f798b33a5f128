//! API keys: create (the key shown once), list, revoke.
use crate::api;
use crate::components::{action_error, input_value, loaded, use_slug, when};
use gatehouse_types::{ApiKey, ApiKeyScope, ApiKeyStatus, CreateApiKeyRequest, CreatedApiKey};

/// The scopes a key can have, with what each lets a program do.
const SCOPES: &[(ApiKeyScope, &str, &str)] = &[
    (
        ApiKeyScope::Mcp,
        "MCP endpoint",
        "call the tools of this organization's connectors",
    ),
    (
        ApiKeyScope::Read,
        "Read REST API",
        "read settings, members, keys and the audit log",
    ),
    (
        ApiKeyScope::Write,
        "Write REST API",
        "change settings, acting as this key",
    ),
];

/// The end (23:59:59 UTC) of a date input's day (`YYYY-MM-DD`); hand-parsed to keep
/// chrono's general parser out of the bundle.
fn end_of_day(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (y, rest) = s.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    let day = chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(day.and_hms_opt(23, 59, 59)?.and_utc())
}
use leptos::prelude::*;

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let slug = use_slug();
    let reload = RwSignal::new(0u32);
    let keys = api::resource(move || {
        reload.track();
        api::api_keys::list_keys(slug.get())
    });
    let name = RwSignal::new(String::new());
    let scopes = RwSignal::new(vec![ApiKeyScope::Mcp]);
    let expires = RwSignal::new(String::new());
    let created: RwSignal<Option<CreatedApiKey>> = RwSignal::new(None);
    let create = api::action(|(slug, req): &(String, CreateApiKeyRequest)| {
        api::api_keys::create_key(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(k)) = create.value().get() {
            created.set(Some(k));
            name.set(String::new());
            scopes.set(vec![ApiKeyScope::Mcp]);
            expires.set(String::new());
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <h1>"API keys"</h1>
        <p class="muted">"API keys let programs call this organization's MCP endpoint and REST API."</p>
        {move || created.get().map(|k| view! { <NewKey created=k on_done=move || created.set(None)/> })}
        <section class="card">
            <h2>"Create a key"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch((slug.get_untracked(), CreateApiKeyRequest {
                    name: name.get_untracked(),
                    scopes: Some(scopes.get_untracked()),
                    expires_at: end_of_day(&expires.get_untracked()),
                }));
            }>
                <label for="key-name">"Name"</label>
                <input id="key-name" name="name" type="text" required placeholder="e.g. claude-prod"
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <fieldset class="scopes">
                    <legend>"Scopes"</legend>
                    {SCOPES.iter().map(|&(scope, label, what)| view! {
                        <label class="check">
                            <input type="checkbox" prop:checked=move || scopes.get().contains(&scope)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    scopes.update(|s| {
                                        s.retain(|x| *x != scope);
                                        if on { s.push(scope); s.sort(); }
                                    });
                                }/>
                            " "{label}<span class="muted">" — "{what}</span>
                        </label>
                    }).collect_view()}
                </fieldset>
                <label for="key-expires">"Expires " <span class="muted">"(optional; end of that day, UTC)"</span></label>
                <input id="key-expires" type="date" prop:value=move || expires.get()
                    on:input=move |ev| expires.set(input_value(&ev))/>
                <button type="submit" class="primary" disabled=move || create.pending().get() || scopes.get().is_empty()>
                    {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                </button>
            </form>
            {action_error(create.value())}
        </section>
        <section class="card">
            <h2>"Keys"</h2>
            {loaded(keys, move |list| {
                if list.is_empty() {
                    return view! { <p class="muted">"No keys yet."</p> }.into_any();
                }
                view! {
                    <table>
                        <thead><tr>
                            <th>"Name"</th><th>"Key"</th><th>"Scopes"</th><th>"Created"</th><th>"Last used"</th><th>"Expires"</th><th>"Status"</th><th><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|k| view! { <KeyRow api_key=k slug=slug.get_untracked() reload=reload/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
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
    let revoke = api::action(|(slug, id): &(String, String)| {
        api::api_keys::revoke_key(slug.clone(), id.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = revoke.value().get() {
            reload.update(|n| *n += 1);
        }
    });
    let active = api_key.status == ApiKeyStatus::Active;
    let status = api_key.status.as_str().to_string();
    let name = api_key.name.clone();
    view! {
        <tr>
            <td>{api_key.name.clone()}</td>
            <td><code>{format!("{}…{}", api_key.prefix, api_key.last_four)}</code></td>
            <td>{api_key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")}</td>
            <td>{when(&api_key.created_at)}</td>
            <td>{api_key.last_used_at.as_ref().map(when).unwrap_or_else(|| "never".into())}</td>
            <td>{api_key.expires_at.as_ref().map(when).unwrap_or_else(|| "never".into())}</td>
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
