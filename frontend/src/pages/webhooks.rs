//! Webhooks: add an endpoint (its secrets shown once), list them with their health,
//! edit, send a test, regenerate the secrets, read the delivery log and replay; and the
//! usage thresholds behind `usage.threshold`.
use crate::api;
use crate::components::{action_error, input_value, loaded, use_slug, when};
use gatehouse_types::{
    CreateWebhookRequest, DeliveryStatus, RotateWebhookSecretRequest, UpdateWebhookRequest,
    UsageThresholds, Webhook, WebhookDelivery, WebhookEvent, WebhookWithSecrets,
};
use leptos::prelude::*;

/// Every event, in words.
const EVENTS: &[(WebhookEvent, &str)] = &[
    (
        WebhookEvent::McpCreated,
        "a connector (MCP server) is added",
    ),
    (WebhookEvent::McpUpdated, "a connector's settings change"),
    (WebhookEvent::McpDeleted, "a connector is removed"),
    (
        WebhookEvent::McpHealthChanged,
        "a connector becomes healthy or unhealthy",
    ),
    (WebhookEvent::ApiKeyCreated, "an API key is created"),
    (WebhookEvent::ApiKeyRevoked, "an API key is revoked"),
    (
        WebhookEvent::TeamMemberAdded,
        "someone joins the organization",
    ),
    (
        WebhookEvent::TeamMemberRemoved,
        "a member leaves or is removed",
    ),
    (
        WebhookEvent::UsageThreshold,
        "MCP calls reach a threshold you set below",
    ),
];

fn events_label(events: &[WebhookEvent]) -> String {
    if events.contains(&WebhookEvent::All) {
        return "all events".into();
    }
    events
        .iter()
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Numbers typed as `1000, 5000`.
fn numbers(s: &str) -> Vec<u64> {
    s.split([',', ' '])
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

fn list_text(l: &[u64]) -> String {
    l.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let slug = use_slug();
    let reload = RwSignal::new(0u32);
    let hooks = api::resource(move || {
        reload.track();
        api::webhooks::list(slug.get())
    });
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let all = RwSignal::new(false);
    let chosen: RwSignal<Vec<WebhookEvent>> = RwSignal::new(Vec::new());
    let secrets: RwSignal<Option<WebhookWithSecrets>> = RwSignal::new(None);
    let create = api::action(|(slug, req): &(String, CreateWebhookRequest)| {
        api::webhooks::create(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(w)) = create.value().get() {
            secrets.set(Some(w));
            url.set(String::new());
            description.set(String::new());
            chosen.set(Vec::new());
            all.set(false);
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <h1>"Webhooks"</h1>
        <p class="muted">"Gatehouse POSTs a signed JSON message to your endpoint when something happens in this organization. Deliveries that fail are retried every 10 minutes, up to 5 times."</p>
        {move || secrets.get().map(|w| view! { <Secrets created=w on_done=move || secrets.set(None)/> })}
        <section class="card">
            <h2>"Add a webhook"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let events = if all.get_untracked() { vec![WebhookEvent::All] } else { chosen.get_untracked() };
                let d = description.get_untracked();
                create.dispatch((slug.get_untracked(), CreateWebhookRequest {
                    url: url.get_untracked(),
                    description: (!d.is_empty()).then_some(d),
                    events,
                    ..Default::default()
                }));
            }>
                <label for="hook-url">"Endpoint URL"</label>
                <input id="hook-url" type="url" required placeholder="https://example.com/gatehouse-events"
                    prop:value=move || url.get() on:input=move |ev| url.set(input_value(&ev))/>
                <label for="hook-description">"Description " <span class="muted">"(optional)"</span></label>
                <input id="hook-description" type="text" prop:value=move || description.get()
                    on:input=move |ev| description.set(input_value(&ev))/>
                <fieldset class="scopes">
                    <legend>"Events"</legend>
                    <label class="check">
                        <input type="checkbox" prop:checked=move || all.get()
                            on:change=move |ev| all.set(event_target_checked(&ev))/>
                        " All events" <span class="muted">" — including ones added later"</span>
                    </label>
                    {EVENTS.iter().map(|&(event, what)| view! {
                        <label class="check">
                            <input type="checkbox" disabled=move || all.get()
                                prop:checked=move || all.get() || chosen.get().contains(&event)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|c| {
                                        c.retain(|x| *x != event);
                                        if on { c.push(event); c.sort(); }
                                    });
                                }/>
                            " "<code>{event.name()}</code><span class="muted">" — when "{what}</span>
                        </label>
                    }).collect_view()}
                </fieldset>
                <button type="submit" class="primary"
                    disabled=move || create.pending().get() || (!all.get() && chosen.get().is_empty())>
                    {move || if create.pending().get() { "Adding…" } else { "Add webhook" }}
                </button>
            </form>
            {action_error(create.value())}
        </section>
        <section class="card">
            <h2>"Endpoints"</h2>
            {loaded(hooks, move |list| {
                if list.is_empty() {
                    return view! { <p class="muted">"No webhooks yet."</p> }.into_any();
                }
                list.into_iter()
                    .map(|w| view! { <Endpoint hook=w slug=slug.get_untracked() reload=reload secrets=secrets/> })
                    .collect_view()
                    .into_any()
            })}
        </section>
        <Thresholds/>
    }
}

/// New secrets, shown once, with copy buttons.
#[component]
fn Secrets(created: WebhookWithSecrets, on_done: impl Fn() + 'static) -> impl IntoView {
    view! {
        <section class="card new-key" role="status">
            <h2>"Secrets for "{created.webhook.url.clone()}</h2>
            <p><strong>"Copy them now: you will not see them again."</strong></p>
            <p>"Signing secret — verify each delivery's "<code>"webhook-signature"</code>" with any Standard Webhooks library:"</p>
            <CopyLine id="hook-signing-secret" text=created.signing_secret.clone()/>
            <p>"Shared secret — sent as-is in the "<code>{created.webhook.secret_header.clone()}</code>" header, for receivers that only compare a value:"</p>
            <CopyLine id="hook-shared-secret" text=created.shared_secret.clone()/>
            <button type="button" class="link" on:click=move |_| on_done()>"Done"</button>
        </section>
    }
}

#[component]
fn CopyLine(id: &'static str, text: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let value = text.clone();
    let copy = move |_| {
        let p = window().navigator().clipboard().write_text(&value);
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(p).await.is_ok() {
                copied.set(true);
            }
        });
    };
    view! {
        <div class="secret">
            <code id=id>{text}</code>
            <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
        </div>
    }
}

#[component]
fn Endpoint(
    hook: Webhook,
    slug: String,
    reload: RwSignal<u32>,
    secrets: RwSignal<Option<WebhookWithSecrets>>,
) -> impl IntoView {
    let id = hook.id.to_string();
    let key = (slug.clone(), id.clone());
    let show_log = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let keep_old = RwSignal::new(false);
    let test =
        api::action(|(slug, id): &(String, String)| api::webhooks::test(slug.clone(), id.clone()));
    let toggle = api::action(|(slug, id, on): &(String, String, bool)| {
        api::webhooks::update(
            slug.clone(),
            id.clone(),
            UpdateWebhookRequest {
                enabled: Some(*on),
                ..Default::default()
            },
        )
    });
    let rotate = api::action(|(slug, id, keep): &(String, String, bool)| {
        api::webhooks::rotate(
            slug.clone(),
            id.clone(),
            RotateWebhookSecretRequest {
                keep_previous_hours: keep.then_some(24),
            },
        )
    });
    let delete = api::action(|(slug, id): &(String, String)| {
        api::webhooks::delete(slug.clone(), id.clone())
    });
    let log_version = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(_)) = toggle.value().get() {
            reload.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            reload.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(w)) = rotate.value().get() {
            secrets.set(Some(w));
            reload.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = test.value().get() {
            log_version.update(|n| *n += 1);
        }
    });
    let health = match (hook.enabled, &hook.disabled_reason, hook.failing_since) {
        (false, Some(r), _) if r == "gone" => {
            "switched off: the endpoint answered 410 Gone".to_string()
        }
        (false, Some(_), Some(t)) => format!("switched off: failing since {}", when(&t)),
        (false, _, _) => "off".to_string(),
        (true, _, Some(t)) => format!("failing since {}", when(&t)),
        (true, _, None) => "healthy".to_string(),
    };
    let badge = if !hook.enabled {
        "revoked"
    } else if hook.failing_since.is_some() {
        "expired"
    } else {
        "active"
    };
    let enabled = hook.enabled;
    let url = hook.url.clone();
    view! {
        <article class="card webhook" data-url=hook.url.clone()>
            <h3><code>{hook.url.clone()}</code> " " <span class=format!("badge {badge}")>{health}</span></h3>
            {(!hook.description.is_empty()).then(|| view! { <p>{hook.description.clone()}</p> })}
            <p class="muted">"Events: "{events_label(&hook.events)}" · signing secret "<code>{hook.signing_secret_hint.clone()}</code>
                {hook.previous_secret_valid_until.map(|t| format!(" · the previous secret works until {}", when(&t)))}</p>
            <div class="actions">
                <button type="button" on:click={ let k = key.clone(); move |_| { test.dispatch(k.clone()); } }
                    disabled=move || test.pending().get()>
                    {move || if test.pending().get() { "Sending…" } else { "Send test" }}</button>
                <button type="button" on:click={ let k = key.clone(); move |_| { toggle.dispatch((k.0.clone(), k.1.clone(), !enabled)); } }>
                    {if enabled { "Switch off" } else { "Switch on" }}</button>
                <button type="button" on:click=move |_| show_log.update(|s| *s = !*s)>
                    {move || if show_log.get() { "Hide delivery log" } else { "Delivery log" }}</button>
                <label class="check"><input type="checkbox" prop:checked=move || keep_old.get()
                    on:change=move |ev| keep_old.set(event_target_checked(&ev))/>" keep the old signing secret for 24 hours"</label>
                <button type="button" on:click={ let k = key.clone(); move |_| { rotate.dispatch((k.0.clone(), k.1.clone(), keep_old.get_untracked())); } }>
                    "Regenerate secrets"</button>
                <Show when=move || confirming.get() fallback=move || view! {
                    <button type="button" class="danger" on:click=move |_| confirming.set(true)>"Delete"</button>
                }>
                    <span class="confirm">"Delete the webhook to "{url.clone()}" and its log? "
                        <button type="button" class="danger" on:click={ let k = key.clone(); move |_| { delete.dispatch(k.clone()); } }>"Yes, delete"</button>
                        <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </span>
                </Show>
            </div>
            {move || test.value().get().and_then(|r| r.ok()).map(|d| view! {
                <p class="test-result" role="status">{test_result(&d)}</p>
            })}
            {action_error(test.value())}
            {action_error(toggle.value())}
            {action_error(rotate.value())}
            {action_error(delete.value())}
            <Show when=move || show_log.get()>
                <DeliveryLog slug=slug.clone() id=id.clone() version=log_version/>
            </Show>
        </article>
    }
}

fn test_result(d: &WebhookDelivery) -> String {
    match d.attempts.first() {
        Some(a) => match (a.status_code, &a.error) {
            (Some(code), _) if (200..300).contains(&code) => {
                format!(
                    "Test delivered: the endpoint answered {code} in {} ms.",
                    a.latency_ms
                )
            }
            (Some(code), _) => format!("Test failed: the endpoint answered {code}."),
            (None, Some(e)) => format!("Test failed: {e}"),
            (None, None) => "Test failed.".into(),
        },
        None => "Not sent.".into(),
    }
}

#[component]
fn DeliveryLog(slug: String, id: String, version: RwSignal<u32>) -> impl IntoView {
    let filter = RwSignal::new(String::from("all"));
    let (s, i) = (slug.clone(), id.clone());
    let log = api::resource(move || {
        version.track();
        api::webhooks::deliveries(s.clone(), i.clone())
    });
    let replay = api::action(|(slug, id, msg): &(String, String, String)| {
        api::webhooks::replay(slug.clone(), id.clone(), msg.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = replay.value().get() {
            version.update(|n| *n += 1);
        }
    });
    view! {
        <section class="delivery-log">
            <h4>"Delivery log " <span class="muted">"(30 days)"</span></h4>
            <label for=format!("log-filter-{id}")>"Show "</label>
            <select id=format!("log-filter-{id}") on:change=move |ev| filter.set(event_target_value(&ev))>
                <option value="all">"all"</option>
                <option value="delivered">"delivered"</option>
                <option value="failed">"failed"</option>
                <option value="pending">"pending"</option>
            </select>
            <button type="button" on:click=move |_| version.update(|n| *n += 1)>"Refresh"</button>
            {action_error(replay.value())}
            {loaded(log, move |list| {
                let f = filter.get();
                let rows: Vec<_> = list.into_iter().filter(|d| f == "all" || status_name(d.status) == f).collect();
                if rows.is_empty() {
                    return view! { <p class="muted">"No deliveries."</p> }.into_any();
                }
                let (slug, id) = (slug.clone(), id.clone());
                view! {
                    <table>
                        <thead><tr><th>"Event"</th><th>"Created"</th><th>"Status"</th><th>"Attempts"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|d| {
                                let msg = d.message_id.clone();
                                let (slug, id) = (slug.clone(), id.clone());
                                let status = status_name(d.status);
                                view! {
                                    <tr>
                                        <td><code>{d.event.clone()}</code><br/><small class="muted">{d.message_id.clone()}</small></td>
                                        <td>{when(&d.created_at)}</td>
                                        <td><span class=format!("badge delivery-{status}")>{status}</span>
                                            {d.next_attempt_at.map(|t| format!(" · next try {}", when(&t)))}</td>
                                        <td><ul class="attempts">{d.attempts.iter().map(|a| view! {
                                            <li>{when(&a.attempted_at)}" — "
                                                {a.status_code.map(|c| c.to_string()).unwrap_or_else(|| "no answer".into())}
                                                {format!(" in {} ms", a.latency_ms)}
                                                {a.error.clone().map(|e| view! { <br/><small>{e}</small> })}
                                                {a.response_head.clone().filter(|h| !h.is_empty()).map(|h| view! { <br/><small><code>{h}</code></small> })}
                                            </li>
                                        }).collect_view()}</ul></td>
                                        <td>{(d.status != DeliveryStatus::Pending).then(move || view! {
                                            <button type="button" on:click=move |_| { replay.dispatch((slug.clone(), id.clone(), msg.clone())); }>"Replay"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </section>
    }
}

fn status_name(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    }
}

/// The MCP call counts at which `usage.threshold` fires.
#[component]
fn Thresholds() -> impl IntoView {
    let slug = use_slug();
    let daily = RwSignal::new(String::new());
    let monthly = RwSignal::new(String::new());
    let current = api::resource(move || api::webhooks::thresholds(slug.get()));
    Effect::new(move |_| {
        if let Some(Ok(t)) = current.get() {
            daily.set(list_text(&t.daily));
            monthly.set(list_text(&t.monthly));
        }
    });
    let save = api::action(|(slug, t): &(String, UsageThresholds)| {
        api::webhooks::set_thresholds(slug.clone(), t.clone())
    });
    view! {
        <section class="card">
            <h2>"Usage thresholds"</h2>
            <p class="muted">"The "<code>"usage.threshold"</code>" event fires once per UTC day or calendar month when this organization's MCP calls reach one of these numbers."</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch((slug.get_untracked(), UsageThresholds {
                    daily: numbers(&daily.get_untracked()),
                    monthly: numbers(&monthly.get_untracked()),
                }));
            }>
                <label for="threshold-daily">"Per day " <span class="muted">"(e.g. 1000, 5000)"</span></label>
                <input id="threshold-daily" type="text" inputmode="numeric" prop:value=move || daily.get()
                    on:input=move |ev| daily.set(input_value(&ev))/>
                <label for="threshold-monthly">"Per month"</label>
                <input id="threshold-monthly" type="text" inputmode="numeric" prop:value=move || monthly.get()
                    on:input=move |ev| monthly.set(input_value(&ev))/>
                <button type="submit" class="primary" disabled=move || save.pending().get()>"Save thresholds"</button>
            </form>
            {move || save.value().get().and_then(|r| r.ok()).map(|_| view! { <p role="status">"Saved."</p> })}
            {action_error(save.value())}
        </section>
    }
}
