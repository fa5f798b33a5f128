//! The audit log: filters, paging, export.
use crate::api::{
    self,
    api_keys::list_keys,
    audit::{export_href, list_events},
    members::list_members,
};
use crate::components::{
    ErrorBox, input_value, is_admin, loading, reactive, use_role, use_slug, when,
};
use gatehouse_types::{AuditActor, AuditEvent, AuditTarget, Member};
use leptos::prelude::*;
use std::collections::HashMap;

/// Action names the server records, offered as suggestions.
const KNOWN_ACTIONS: &[&str] = &[
    "api_key.",
    "api_key.created",
    "api_key.revoked",
    "auth.",
    "auth.logged_out",
    "auth.login_failed",
    "auth.login_succeeded",
    "auth.login_throttled",
    "invitation.",
    "invitation.accepted",
    "invitation.created",
    "invitation.revoked",
    "mcp.",
    "mcp.created",
    "mcp.deleted",
    "mcp.health_changed",
    "mcp.updated",
    "member.",
    "member.added",
    "member.removed",
    "member.role_changed",
    "oauth.",
    "oauth.client_created",
    "oauth.client_deleted",
    "oauth.consent_granted",
    "oauth.grant_created",
    "oauth.grant_revoked",
    "oauth.settings_updated",
    "org.",
    "org.created",
    "org.ip_allowlist_updated",
    "org.ownership_transferred",
    "org.security_updated",
    "org.slug_changed",
    "org.updated",
    "session.revoked",
    "user.",
    "user.created",
    "user.email_verified",
    "user.password_changed",
    "user.password_reset",
    "user.signed_up",
    "user.updated",
];

/// The filters as typed: days as `YYYY-MM-DD` (UTC), the actor as an id.
#[derive(Clone, Default, PartialEq)]
struct Filter {
    from: String,
    to: String,
    actor: String,
    action: String,
}

impl Filter {
    /// The query parameters the API takes. `to` is inclusive here and exclusive there,
    /// so it becomes the start of the next day.
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if !self.from.is_empty() {
            q.push(("from", format!("{}T00:00:00Z", self.from)));
        }
        if let Some(next) = parse_day(&self.to).and_then(|d| d.succ_opt()) {
            q.push(("to", format!("{next}T00:00:00Z")));
        }
        if !self.actor.is_empty() {
            q.push(("actor", self.actor.clone()));
        }
        let action = self.action.trim();
        if !action.is_empty() {
            q.push(("action", action.to_string()));
        }
        q
    }
}

/// A date input's value (`YYYY-MM-DD`). Not `str::parse`: chrono's general parser would
/// add several KB to the bundle.
fn parse_day(s: &str) -> Option<chrono::NaiveDate> {
    let (y, rest) = s.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// A same-origin link that downloads the filtered log (the session cookie goes along).
fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Names for the ids events carry, from the member and key lists.
#[derive(Default)]
struct Names {
    members: HashMap<String, Member>,
    keys: HashMap<String, String>,
}

fn actor_view(a: &AuditActor, names: &Names) -> AnyView {
    let id = a.id.map(|i| i.to_string()).unwrap_or_default();
    let label = a.label.clone().unwrap_or_default();
    match a.type_.as_str() {
        "user" => match names.members.get(&id) {
            Some(m) if !m.display_name.is_empty() => view! {
                {m.display_name.clone()}<br/><span class="muted help">{m.email.clone()}</span>
            }
            .into_any(),
            Some(m) => view! { {m.email.clone()} }.into_any(),
            None if !label.is_empty() => view! { {label} }.into_any(),
            None => view! { "User "<code>{short_id(&id)}</code> }.into_any(),
        },
        "api_key" => {
            let name = names.keys.get(&id).cloned().unwrap_or(label);
            view! { "API key “"{name}"”" }.into_any()
        }
        "system" => view! { <span class="muted">"System"</span> }.into_any(),
        other => view! { {other.replace('_', " ")}" "{label} }.into_any(),
    }
}

fn target_view(t: Option<&AuditTarget>, names: &Names) -> AnyView {
    let Some(t) = t else {
        return view! { <span class="muted">"—"</span> }.into_any();
    };
    let kind = t.type_.replace('_', " ");
    let known = match t.type_.as_str() {
        "user" => names.members.get(&t.id).map(|m| m.email.clone()),
        "api_key" => names.keys.get(&t.id).map(|n| format!("“{n}”")),
        _ => None,
    };
    match known {
        Some(n) => view! { <span class="muted">{kind}" "</span>{n} }.into_any(),
        None => view! {
            <span class="muted">{kind}" "</span><code title=t.id.clone()>{short_id(&t.id)}</code>
        }
        .into_any(),
    }
}

fn details_view(e: &AuditEvent) -> AnyView {
    let empty_meta = match &e.metadata {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        _ => false,
    };
    if empty_meta && e.user_agent.is_none() && e.target.is_none() {
        return view! { <span class="muted">"—"</span> }.into_any();
    }
    let json = (!empty_meta).then(|| {
        serde_json::to_string_pretty(&e.metadata).unwrap_or_else(|_| e.metadata.to_string())
    });
    let target = e.target.clone();
    let ua = e.user_agent.clone();
    view! {
        <details class="audit-details">
            <summary>"Details"</summary>
            <dl>
                <dt>"Event id"</dt><dd><code>{e.id.to_string()}</code></dd>
                {target.map(|t| view! { <dt>"Target id"</dt><dd><code>{t.id}</code></dd> })}
                {ua.map(|u| view! { <dt>"User agent"</dt><dd>{u}</dd> })}
            </dl>
            {json.map(|j| view! { <pre>{j}</pre> })}
        </details>
    }
    .into_any()
}

fn event_row(e: AuditEvent, names: &Names) -> impl IntoView {
    let stamp = e.occurred_at.to_rfc3339();
    view! {
        <tr>
            <td><time datetime=stamp.clone() title=stamp>{when(&e.occurred_at)}</time></td>
            <td class="wrap">{actor_view(&e.actor, names)}</td>
            <td><code>{e.action.clone()}</code></td>
            <td class="wrap">{target_view(e.target.as_ref(), names)}</td>
            <td>{e.ip.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="wrap">{details_view(&e)}</td>
        </tr>
    }
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let slug = use_slug();
    let role = use_role();
    let hidden = move || role.get().is_some_and(|r| !is_admin(Some(r)));

    // What the form shows, and what the list and exports use (set by "Apply filters").
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let applied = RwSignal::new(Filter::default());
    let form_error: RwSignal<Option<&'static str>> = RwSignal::new(None);
    // Cursors of the pages passed on the way to the current one; empty on the newest.
    let cursors: RwSignal<Vec<String>> = RwSignal::new(Vec::new());
    let reload = RwSignal::new(0u32);

    let events = api::resource(move || {
        reload.track();
        let f = applied.get();
        let c = cursors.with(|v| v.last().cloned());
        list_events(slug.get(), f.params(), c)
    });
    let members = api::resource(move || list_members(slug.get()));
    let keys = api::resource(move || list_keys(slug.get()));

    let apply = move || {
        let f = Filter {
            from: from.get_untracked(),
            to: to.get_untracked(),
            actor: actor.get_untracked(),
            action: action.get_untracked().trim().to_string(),
        };
        if !f.from.is_empty() && !f.to.is_empty() && f.from > f.to {
            form_error.set(Some("“From” must not be after “To”."));
            return;
        }
        form_error.set(None);
        cursors.set(Vec::new());
        applied.set(f);
        reload.update(|n| *n += 1);
    };

    let actor_options = move || {
        let current = actor.get();
        let members = members.get().and_then(Result::ok).unwrap_or_default();
        let keys = keys.get().and_then(Result::ok).unwrap_or_default();
        let member_opts = members
            .into_iter()
            .map(|m| {
                let id = m.user_id.to_string();
                let sel = id == current;
                let text = if m.display_name.is_empty() {
                    m.email.clone()
                } else {
                    format!("{} ({})", m.display_name, m.email)
                };
                view! { <option value=id selected=sel>{text}</option> }
            })
            .collect_view();
        let key_opts = keys
            .into_iter()
            .map(|k| {
                let id = k.id.to_string();
                let sel = id == current;
                let status = k.status.as_str();
                let text = format!("{} ({}…, {status})", k.name, k.prefix);
                view! { <option value=id selected=sel>{text}</option> }
            })
            .collect_view();
        view! {
            <option value="" selected=current.is_empty()>"Anyone"</option>
            <optgroup label="Members">{member_opts}</optgroup>
            <optgroup label="API keys">{key_opts}</optgroup>
        }
    };
    let list_errors = move || {
        [
            members.get().and_then(Result::err),
            keys.get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .map(|e| view! { <ErrorBox err=e/> })
        .collect_view()
    };

    view! {
        <h1>"Audit log"</h1>
        <p class="muted">
            "What happened in this organization, who did it and from where: sign-ins, member and key changes, connector changes and more. Newest first; times in UTC."
        </p>
        {move || hidden().then(|| view! {
            <p class="muted" role="note">"Only owners and admins can see the audit log."</p>
        })}
        <Show when=move || !hidden()>
            <section class="card">
                <h2>"Filters"</h2>
                <form class="inline filters" on:submit=move |ev| {
                    ev.prevent_default();
                    apply();
                }>
                    <div class="field">
                        <label for="audit-from">"From"</label>
                        <input id="audit-from" name="from" type="date" aria-describedby="audit-filter-help"
                            prop:value=move || from.get() on:input=move |ev| from.set(input_value(&ev))/>
                    </div>
                    <div class="field">
                        <label for="audit-to">"To"</label>
                        <input id="audit-to" name="to" type="date" aria-describedby="audit-filter-help"
                            prop:value=move || to.get() on:input=move |ev| to.set(input_value(&ev))/>
                    </div>
                    <div class="field">
                        <label for="audit-actor">"User"</label>
                        <select id="audit-actor" name="actor"
                            on:change=move |ev| actor.set(event_target_value(&ev))>
                            {actor_options}
                        </select>
                    </div>
                    <div class="field">
                        <label for="audit-action">"Action"</label>
                        <input id="audit-action" name="action" type="text" list="audit-actions"
                            autocomplete="off" spellcheck="false" placeholder="e.g. api_key.created or member."
                            aria-describedby="audit-filter-help"
                            prop:value=move || action.get() on:input=move |ev| action.set(input_value(&ev))/>
                        <datalist id="audit-actions">
                            {KNOWN_ACTIONS.iter().map(|a| view! { <option value=*a></option> }).collect_view()}
                        </datalist>
                    </div>
                    <div class="filter-buttons">
                        <button type="submit" class="primary" disabled=move || events.get().is_none()>"Apply filters"</button>
                        <button type="button" on:click=move |_| {
                            from.set(String::new());
                            to.set(String::new());
                            actor.set(String::new());
                            action.set(String::new());
                            apply();
                        }>"Clear"</button>
                    </div>
                </form>
                <p id="audit-filter-help" class="muted help">
                    "Days are UTC and both are included. User is the member or API key that acted. "
                    "Action is an exact name such as "<code>"api_key.created"</code>
                    " or a prefix ending in a dot such as "<code>"member."</code>" for all member events."
                </p>
                {move || form_error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                {list_errors}
            </section>
            <section class="card">
                <div class="card-head">
                    <h2>"Events"</h2>
                    <div class="exports">
                        <a href=move || export_href(&slug.get(), "csv", applied.get().params()) download>"Export CSV"</a>
                        <a href=move || export_href(&slug.get(), "json", applied.get().params()) download>"Export JSON"</a>
                    </div>
                </div>
                <p class="muted help">"Exports hold every event that matches the applied filters, not only this page."</p>
                {reactive(move || {
                    // The names come with the page: wait for all three lists.
                    let (Some(page), Some(members), Some(keys)) = (events.get(), members.get(), keys.get()) else {
                        return loading();
                    };
                    let names = Names {
                        members: members
                            .unwrap_or_default()
                            .into_iter()
                            .map(|m| (m.user_id.to_string(), m))
                            .collect(),
                        keys: keys
                            .unwrap_or_default()
                            .into_iter()
                            .map(|k| (k.id.to_string(), k.name))
                            .collect(),
                    };
                    let page = match page {
                        Ok(p) => p,
                        Err(e) => return view! { <ErrorBox err=e/> }.into_any(),
                    };
                    let depth = cursors.with_untracked(Vec::len);
                    let next = page.next_cursor.clone();
                    let has_older = next.is_some();
                    let table = if page.items.is_empty() {
                        view! { <p class="muted">"No events match these filters."</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-scroll">
                                <table class="audit">
                                    <thead><tr>
                                        <th>"Time"</th><th>"Actor"</th><th>"Action"</th>
                                        <th>"Target"</th><th>"IP address"</th><th>"Details"</th>
                                    </tr></thead>
                                    <tbody>
                                        {page.items.into_iter().map(|e| event_row(e, &names)).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    };
                    view! {
                        {table}
                        {(depth > 0 || has_older).then(|| view! {
                            <nav class="pager" aria-label="Audit log pages">
                                <button type="button" disabled={depth == 0}
                                    on:click=move |_| cursors.update(|v| { v.pop(); })>"Newer"</button>
                                <span class="muted">"Page "{depth + 1}</span>
                                <button type="button" disabled={!has_older}
                                    on:click=move |_| {
                                        if let Some(c) = next.clone() {
                                            cursors.update(|v| v.push(c));
                                        }
                                    }>"Older"</button>
                                {(depth > 1).then(|| view! {
                                    <button type="button" class="link" on:click=move |_| cursors.set(Vec::new())>"Back to newest"</button>
                                })}
                            </nav>
                        })}
                    }.into_any()
                })}
            </section>
        </Show>
    }
}
