//! OAuth: the clients connected to the organization, admin-created clients, refresh-token lifetime.
use crate::api::{
    self,
    oauth::{create_client, delete_client, get_settings, list_clients, update_settings},
};
use crate::components::{
    action_error, input_value, is_admin, loaded, reactive, use_role, use_slug, when,
};
use gatehouse_types::{
    CreateOAuthClientRequest, CreatedOAuthClient, OAuthClient, OAuthClientKind, OAuthSettings,
    RefreshTokenLifetime, UpdateOAuthSettings,
};
use leptos::prelude::*;

const LIFETIMES: [(RefreshTokenLifetime, &str); 4] = [
    (RefreshTokenLifetime::Short, "Short"),
    (RefreshTokenLifetime::Medium, "Medium"),
    (RefreshTokenLifetime::Default, "Default"),
    (RefreshTokenLifetime::Long, "Long"),
];

fn days(n: u32) -> String {
    format!("{n} day{}", if n == 1 { "" } else { "s" })
}

fn kind_text(k: OAuthClientKind) -> &'static str {
    match k {
        OAuthClientKind::Registered => "Registered by the client",
        OAuthClientKind::MetadataDocument => "Registered by the client (metadata document)",
        OAuthClientKind::Admin => "Created by an admin",
    }
}

/// This organization's MCP address, as clients such as Claude are given it.
fn mcp_url(slug: &str) -> String {
    let origin = window().location().origin().unwrap_or_default();
    format!("{origin}/mcp/{slug}")
}

#[component]
pub fn OAuthPage() -> impl IntoView {
    let role = use_role();
    let denied = Memo::new(move |_| role.get().is_some_and(|r| !is_admin(Some(r))));
    view! {
        <h1>"OAuth"</h1>
        <Show
            when=move || !denied.get()
            fallback=|| view! { <p class="muted">"Only owners and admins can manage OAuth clients and settings."</p> }
        >
            <p class="muted">
                "MCP clients such as Claude sign people in with OAuth. Each person approves a client once; "
                "the client then keeps a refresh token that lets it stay connected."
            </p>
            <LifetimeCard/>
            <ClientsSection/>
        </Show>
    }
}

#[component]
fn LifetimeCard() -> impl IntoView {
    let slug = use_slug();
    view! {
        <section class="card">
            <h2>"Refresh-token lifetime"</h2>
            // A new resource per org: switching orgs shows "Loading…", not the last org's form.
            {reactive(move || {
                let slug = slug.get();
                let settings = api::resource(move || get_settings(slug.clone()));
                loaded(settings, |s| view! { <LifetimeForm initial=s/> }.into_any()).into_any()
            })}
        </section>
    }
}

#[component]
fn LifetimeForm(initial: OAuthSettings) -> impl IntoView {
    let slug = use_slug();
    let choice = RwSignal::new(initial.refresh_token_lifetime);
    let stored = RwSignal::new(initial);
    let save = api::action(|(slug, req): &(String, UpdateOAuthSettings)| {
        update_settings(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(s)) = save.value().get() {
            choice.set(s.refresh_token_lifetime);
            stored.set(s);
        }
    });
    let just_saved = move || {
        matches!(save.value().get(), Some(Ok(_)))
            && stored.with(|s| s.refresh_token_lifetime) == choice.get()
    };
    view! {
        <p class="muted">
            "How long a connected client stays signed in without the person approving it again. "
            "Shorter is safer; longer means fewer sign-ins."
        </p>
        <p>"Current lifetime: "<strong>{move || days(stored.with(|s| s.refresh_token_days))}</strong></p>
        <form on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch((slug.get_untracked(), UpdateOAuthSettings {
                refresh_token_lifetime: choice.get_untracked(),
            }));
        }>
            <fieldset class="choices" aria-describedby="lifetime-note">
                <legend class="sr-only">"Refresh-token lifetime"</legend>
                {LIFETIMES.iter().map(|&(l, name)| {
                    let id = format!("lifetime-{}", l.as_str());
                    let for_id = id.clone();
                    view! {
                        <label for=for_id class="choice">
                            <input id=id type="radio" name="refresh_token_lifetime" value=l.as_str()
                                prop:checked=move || choice.get() == l
                                on:change=move |_| choice.set(l)/>
                            {format!("{name} ({})", days(l.days()))}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <p id="lifetime-note" class="muted help">
                "Applies to tokens issued from now on. Tokens already issued keep their lifetime."
            </p>
            {action_error(save.value())}
            {move || just_saved().then(|| view! { <p class="success" role="status">"Lifetime saved."</p> })}
            <button type="submit" class="primary" disabled=move || save.pending().get()>
                {move || if save.pending().get() { "Saving…" } else { "Save lifetime" }}
            </button>
        </form>
    }
}

#[component]
fn ClientsSection() -> impl IntoView {
    let slug = use_slug();
    let reload = RwSignal::new(0u32);
    let clients = api::resource(move || {
        reload.track();
        list_clients(slug.get())
    });
    let created: RwSignal<Option<CreatedOAuthClient>> = RwSignal::new(None);
    // What the last deletion did, shown above the table (the row itself is reloaded).
    let notice: RwSignal<Option<String>> = RwSignal::new(None);
    view! {
        {move || created.get().map(|c| view! { <NewClient created=c on_done=move || created.set(None)/> })}
        <section class="card">
            <h2>"Connected clients"</h2>
            {move || notice.get().map(|m| view! { <p class="success" role="status">{m}</p> })}
            {loaded(clients, move |list| {
                if list.is_empty() {
                    return view! {
                        <p class="muted">
                            "No clients yet. MCP clients such as Claude connect with this organization's MCP URL: "
                            <code>{mcp_url(&slug.get_untracked())}</code>
                        </p>
                    }.into_any();
                }
                view! {
                    <p class="muted help">
                        "Clients connect with this organization's MCP URL: "
                        <code>{mcp_url(&slug.get_untracked())}</code>
                    </p>
                    <div class="table-scroll">
                        <table>
                            <thead><tr>
                                <th>"Name"</th><th>"Kind"</th><th>"Redirect hosts"</th><th>"Created"</th>
                                <th>"Last used"</th><th>"Active grants"</th><th><span class="sr-only">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|c| view! { <ClientRow client=c slug=slug.get_untracked() reload=reload notice=notice/> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            })}
        </section>
        <CreateClientCard created=created reload=reload/>
    }
}

#[component]
fn ClientRow(
    client: OAuthClient,
    slug: String,
    reload: RwSignal<u32>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let id = client.id.to_string();
    let remove =
        api::action(|(slug, id): &(String, String)| delete_client(slug.clone(), id.clone()));
    let ours = client.kind == OAuthClientKind::Admin;
    let name = client.name.clone();
    let done_text = if ours {
        format!("“{name}” deleted. Every refresh token of this organization was revoked.")
    } else {
        format!(
            "“{name}” disconnected: its grants here are revoked. Every refresh token of this organization was revoked."
        )
    };
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            notice.set(Some(done_text.clone()));
            reload.update(|n| *n += 1);
        }
    });
    let grants = client.active_grants;
    let grants_text = match grants {
        0 => "It has no active grants here".to_string(),
        1 => "Its 1 active grant here is revoked".to_string(),
        n => format!("Its {n} active grants here are revoked"),
    };
    let what = if ours {
        format!(
            "Delete “{name}”? The client is deleted: its client ID and secret stop working. {grants_text}."
        )
    } else {
        format!(
            "Delete “{name}” from this organization? {grants_text} and it can no longer act here until someone approves it again."
        )
    };
    let hosts = if client.redirect_hosts.is_empty() {
        "—".to_string()
    } else {
        client.redirect_hosts.join(", ")
    };
    let delete_label = format!("Delete {name}");
    view! {
        <tr>
            <td>
                {client.name.clone()}
                <br/><code class="muted client-id" title="Client ID">{client.client_id.clone()}</code>
            </td>
            <td>{kind_text(client.kind)}</td>
            <td class="wrap">{hosts}</td>
            <td>{when(&client.created_at)}</td>
            <td>{client.last_used_at.as_ref().map(when).unwrap_or_else(|| "never".into())}</td>
            <td>{grants}</td>
            <td class="actions">
                <Show when=move || confirming.get() fallback=move || view! {
                    <button type="button" class="danger" aria-label=delete_label.clone()
                        on:click=move |_| confirming.set(true)>"Delete"</button>
                }>
                    <span class="confirm oauth-confirm" role="group" aria-label="Confirm deletion">
                        {what.clone()}" "
                        <strong>
                            "Every refresh token of this organization is also revoked: people using any connected client "
                            "(Claude included) must sign in again once their current access expires (within the hour)."
                        </strong>
                        <br/>
                        <button type="button" class="danger" disabled=move || remove.pending().get() on:click={
                            let (slug, id) = (slug.clone(), id.clone());
                            move |_| { remove.dispatch((slug.clone(), id.clone())); }
                        }>{move || if remove.pending().get() { "Deleting…" } else { "Yes, delete" }}</button>
                        <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </span>
                </Show>
                {action_error(remove.value())}
            </td>
        </tr>
    }
}

#[component]
fn CreateClientCard(
    created: RwSignal<Option<CreatedOAuthClient>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let slug = use_slug();
    let name = RwSignal::new(String::new());
    let uris = RwSignal::new(String::new());
    let create = api::action(|(slug, req): &(String, CreateOAuthClientRequest)| {
        create_client(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(c)) = create.value().get() {
            created.set(Some(c));
            name.set(String::new());
            uris.set(String::new());
            reload.update(|n| *n += 1);
            // The secret is shown above the list: bring it into view.
            request_animation_frame(|| {
                if let Some(el) = document().get_element_by_id("new-client") {
                    el.scroll_into_view();
                }
            });
        }
    });
    view! {
        <section class="card">
            <h2>"Create a client"</h2>
            <p class="muted">
                "For tools that cannot register themselves. Claude and most MCP clients register on their own: "
                "you do not need this for them. The tool gets a client ID and a client secret."
            </p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let redirect_uris = uris
                    .get_untracked()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                create.dispatch((slug.get_untracked(), CreateOAuthClientRequest {
                    name: name.get_untracked().trim().to_string(),
                    redirect_uris,
                }));
            }>
                <label for="oauth-client-name">"Name"</label>
                <input id="oauth-client-name" name="name" type="text" required maxlength="100"
                    placeholder="e.g. Internal reporting tool"
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <label for="oauth-client-redirects">"Redirect URIs (one per line)"</label>
                <textarea id="oauth-client-redirects" name="redirect_uris" rows="3" required
                    aria-describedby="oauth-client-redirects-help"
                    placeholder="https://tool.example.com/oauth/callback"
                    prop:value=move || uris.get() on:input=move |ev| uris.set(input_value(&ev))></textarea>
                <p id="oauth-client-redirects-help" class="muted help">
                    "1 to 10 addresses. Each must be https, or http on localhost, 127.0.0.1 or [::1]."
                </p>
                <div class="caution" id="oauth-create-warning">
                    <strong>"Creating a client signs everybody out of connected clients. "</strong>
                    "Every refresh token of this organization is revoked: people using any connected client "
                    "(Claude included) must sign in again once their current access expires (within the hour)."
                </div>
                {action_error(create.value())}
                <button type="submit" class="primary" aria-describedby="oauth-create-warning"
                    disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create client" }}
                </button>
            </form>
        </section>
    }
}

/// The new client's credentials, the secret shown once.
#[component]
fn NewClient(created: CreatedOAuthClient, on_done: impl Fn() + 'static) -> impl IntoView {
    let copied: RwSignal<Option<&'static str>> = RwSignal::new(None);
    let copy = move |text: String, what: &'static str| {
        let p = window().navigator().clipboard().write_text(&text);
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(p).await.is_ok() {
                copied.set(Some(what));
            }
        });
    };
    let client_id = created.client.client_id.clone();
    let secret = created.client_secret.clone();
    let revoked = created.refresh_tokens_revoked;
    view! {
        <section class="card new-key" id="new-client" role="status">
            <h2>"Client “"{created.client.name.clone()}"” created"</h2>
            <p><strong>"Copy it now: you will not see it again."</strong>" The client secret cannot be shown later; if it is lost, delete the client and create a new one."</p>
            <p class="field-label">"Client ID"</p>
            <div class="secret">
                <code id="new-client-id">{created.client.client_id.clone()}</code>
                <button type="button" on:click=move |_| copy(client_id.clone(), "Client ID")>"Copy client ID"</button>
            </div>
            <p class="field-label">"Client secret"</p>
            <div class="secret">
                <code id="new-client-secret">{created.client_secret.clone()}</code>
                <button type="button" on:click=move |_| copy(secret.clone(), "Client secret")>"Copy client secret"</button>
            </div>
            {move || copied.get().map(|w| view! { <p class="success">{format!("{w} copied.")}</p> })}
            <p class="muted help">
                {if revoked == 0 {
                    "No refresh tokens needed revoking.".to_string()
                } else {
                    format!(
                        "{revoked} refresh token{} of this organization {} revoked: people using connected clients must sign in again.",
                        if revoked == 1 { "" } else { "s" },
                        if revoked == 1 { "was" } else { "were" },
                    )
                }}
            </p>
            <button type="button" class="link" on:click=move |_| on_done()>"Done"</button>
        </section>
    }
}
