//! Security settings: the IP allowlist (with the lock-out guard), the session timeout,
//! PIN protection and Require MFA.
use crate::api::{
    self,
    accounts::my_ip,
    orgs::{get_security, mfa_preview, presets, update_security},
    pin, two_factor,
};
use crate::components::{
    ErrorBox, action_error, input_value, is_admin, loaded, reactive, use_role, use_slug,
};
use gatehouse_types::{IpPreset, IpRange, SetPinRequest, UpdateSecuritySettings};
use leptos::prelude::*;
use std::net::IpAddr;

const TIMEOUT_MIN: i32 = 15;
const TIMEOUT_MAX: i32 = 43_200;

/// A network: its (host-bits-cleared) address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

/// `a.b.c.d/n`, `x::y/n`, or a bare address (that address alone), as the server reads them.
fn parse_cidr(s: &str) -> Option<Net> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => {
            // Digits only: no sign, no spaces.
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?)
        }
        None => {
            let a = s.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let addr = match addr {
        IpAddr::V4(a) => {
            if prefix > 32 {
                return None;
            }
            IpAddr::V4((u32::from(a) & mask32(prefix)).into())
        }
        IpAddr::V6(a) => {
            if prefix > 128 {
                return None;
            }
            IpAddr::V6((u128::from(a) & mask128(prefix)).into())
        }
    };
    Some(Net { addr, prefix })
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// Whether `ip` lies in `net` (same family only, like the server).
fn contains(net: Net, ip: IpAddr) -> bool {
    match (net.addr, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(net.prefix) == u32::from(n),
        (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(net.prefix) == u128::from(n),
        _ => false,
    }
}

/// Whether two written ranges name the same network.
fn same_range(a: &str, b: &str) -> bool {
    match (parse_cidr(a), parse_cidr(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// "= 8 hours", "= 1 hour 30 minutes", "= 2 days" for a number of minutes.
fn describe_minutes(m: i32) -> String {
    let plural = |n: i32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if m % 1440 == 0 {
        format!("= {}", plural(m / 1440, "day"))
    } else if m % 60 == 0 {
        format!("= {}", plural(m / 60, "hour"))
    } else if m >= 60 {
        format!("= {} {}", plural(m / 60, "hour"), plural(m % 60, "minute"))
    } else {
        format!("= {}", plural(m, "minute"))
    }
}

#[component]
pub fn SecurityPage() -> impl IntoView {
    let role = use_role();
    // Only once the role is known: the server answers 403 anyway.
    let denied = Memo::new(move |_| role.get().is_some_and(|r| !is_admin(Some(r))));
    view! {
        <h1>"Security"</h1>
        <Show
            when=move || !denied.get()
            fallback=|| view! { <p class="muted">"Only owners and admins can change security settings."</p> }
        >
            <SecuritySettingsView/>
        </Show>
    }
}

#[component]
fn SecuritySettingsView() -> impl IntoView {
    let slug = use_slug();
    // A new resource per org: switching orgs shows "Loading…", not the last org's lists.
    reactive(move || {
        let slug = slug.get();
        let settings = api::resource(move || get_security(slug.clone()));
        loaded(settings, |s| {
            view! {
                <AllowlistCard initial=s.ip_allowlist.clone()/>
                <TimeoutCard initial=s.session_timeout_minutes/>
                <PinProtectionCard initial=s.pin_protection/>
                <RequireMfaCard initial=s.require_mfa/>
            }
            .into_any()
        })
        .into_any()
    })
}

/// One editable row of the allowlist.
#[derive(Clone, Copy)]
struct Row {
    key: u32,
    cidr: RwSignal<String>,
    label: RwSignal<String>,
}

#[component]
fn AllowlistCard(initial: Vec<IpRange>) -> impl IntoView {
    let slug = use_slug();
    // Rows added from event handlers belong to this card, like the first ones.
    let owner = StoredValue::new(Owner::current());
    let next_key = StoredValue::new(0u32);
    let new_row = move |cidr: String, label: String| -> Row {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        let make = || Row {
            key,
            cidr: RwSignal::new(cidr),
            label: RwSignal::new(label),
        };
        owner.with_value(|o| match o {
            Some(o) => o.with(make),
            None => make(),
        })
    };
    let rows: RwSignal<Vec<Row>> = RwSignal::new(
        initial
            .iter()
            .map(|r| new_row(r.cidr.clone(), r.label.clone()))
            .collect(),
    );

    let ip = api::resource(my_ip);
    let caller: Signal<Option<String>> =
        Signal::derive(move || ip.get().and_then(|r| r.ok()).map(|c| c.ip));
    let caller_text = move || {
        caller
            .get()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    let preset_list = api::resource(presets);

    // The list as it would be sent: rows with neither range nor label are left out.
    let current = move || -> Vec<(u32, IpRange)> {
        rows.get()
            .into_iter()
            .map(|r| {
                (
                    r.key,
                    IpRange {
                        cidr: r.cidr.get().trim().to_string(),
                        label: r.label.get().trim().to_string(),
                    },
                )
            })
            .filter(|(_, r)| !(r.cidr.is_empty() && r.label.is_empty()))
            .collect()
    };
    let current_ranges =
        move || -> Vec<IpRange> { current().into_iter().map(|(_, r)| r).collect() };

    // The client-side guard: a non-empty list none of whose readable ranges holds the
    // caller's address. Unknown until the address has loaded (the server still checks).
    // Unreadable rows are left out here: the server refuses them anyway (422).
    let excludes_me = Memo::new(move |_| {
        let nets: Vec<Net> = current_ranges()
            .iter()
            .filter_map(|r| parse_cidr(&r.cidr))
            .collect();
        if nets.is_empty() {
            return false;
        }
        let Some(me) = caller.get() else {
            return false;
        };
        let Ok(me) = me.parse::<IpAddr>() else {
            return true;
        };
        !nets.iter().any(|n| contains(*n, me))
    });
    // The list the server last refused as a lock-out, while it is still the one shown.
    let refused_for: RwSignal<Option<Vec<IpRange>>> = RwSignal::new(None);
    let refused = Memo::new(move |_| {
        refused_for.with(|r| r.as_ref().is_some_and(|l| *l == current_ranges()))
    });
    let needs_confirm = Memo::new(move |_| excludes_me.get() || refused.get());
    let confirmed = RwSignal::new(false);

    // What was last sent (row keys, to place the server's field errors) and saved.
    let sent: RwSignal<Vec<(u32, IpRange)>> = RwSignal::new(vec![]);
    let saved_list: RwSignal<Option<Vec<IpRange>>> = RwSignal::new(None);
    let save = api::action(|(slug, req): &(String, UpdateSecuritySettings)| {
        update_security(slug.clone(), req.clone())
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(s)) => {
            rows.set(
                s.ip_allowlist
                    .iter()
                    .map(|r| new_row(r.cidr.clone(), r.label.clone()))
                    .collect(),
            );
            saved_list.set(Some(s.ip_allowlist));
            refused_for.set(None);
            confirmed.set(false);
        }
        Some(Err(e)) if e.status == 409 => {
            refused_for.set(Some(
                sent.get_untracked().into_iter().map(|(_, r)| r).collect(),
            ));
        }
        _ => {}
    });
    let just_saved = move || {
        saved_list.with(|s| s.as_ref().is_some_and(|l| *l == current_ranges()))
            && matches!(save.value().get(), Some(Ok(_)))
    };

    // The server's message for one row's field (`ip_allowlist[i].cidr`), if any.
    let field_error = move |key: u32, field: &'static str| -> Option<String> {
        save.value().with(|v| match v {
            Some(Err(e)) => {
                let i = sent.with(|s| s.iter().position(|(k, _)| *k == key))?;
                let name = format!("ip_allowlist[{i}].{field}");
                e.fields
                    .iter()
                    .find(|f| f.field == name)
                    .map(|f| f.message.clone())
            }
            _ => None,
        })
    };

    let focus_cidr = |key: u32| {
        request_animation_frame(move || {
            use wasm_bindgen::JsCast;
            if let Some(el) = document()
                .get_element_by_id(&format!("allow-cidr-{key}"))
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = el.focus();
            }
        });
    };
    let add_row = move |_| {
        let r = new_row(String::new(), String::new());
        rows.update(|v| v.push(r));
        focus_cidr(r.key);
    };
    let preset_note: RwSignal<Option<String>> = RwSignal::new(None);
    let add_preset = move |p: &IpPreset| {
        let mut added = 0;
        for range in &p.ranges {
            let present = rows.with_untracked(|v| {
                v.iter()
                    .any(|r| same_range(&r.cidr.get_untracked(), &range.cidr))
            });
            if !present {
                let label = if range.label.trim().is_empty() {
                    p.label.clone()
                } else {
                    range.label.clone()
                };
                let r = new_row(range.cidr.clone(), label);
                rows.update(|v| v.push(r));
                added += 1;
            }
        }
        preset_note.set(Some(if added == 0 {
            format!("{} is already in the list.", p.label)
        } else {
            format!("Added {}. Save the allowlist to apply it.", p.label)
        }));
    };

    let add_mine = move |ip: &str| {
        let present = parse_cidr(ip).is_some_and(|mine| {
            rows.with_untracked(|v| {
                v.iter()
                    .any(|r| parse_cidr(&r.cidr.get_untracked()) == Some(mine))
            })
        });
        if present {
            preset_note.set(Some(format!("{ip} is already in the list.")));
        } else {
            let r = new_row(ip.to_string(), "My address".into());
            rows.update(|v| v.push(r));
            preset_note.set(Some(format!("Added {ip}. Save the allowlist to apply it.")));
        }
    };

    view! {
        <section class="card">
            <h2>"IP allowlist"</h2>
            <p class="muted">
                "Only the addresses in this list may use this organization's REST API and MCP endpoint, "
                "and its settings in this dashboard. An empty list means any address may use them."
            </p>
            <div class="caller-ip">
                "Your current IP address: "
                {move || match ip.get() {
                    None => view! { <span class="loading">"checking…"</span> }.into_any(),
                    Some(Ok(c)) if !c.ip.is_empty() => view! { <strong><code>{c.ip}</code></strong> }.into_any(),
                    Some(Ok(_)) => view! { <strong>"unknown"</strong> }.into_any(),
                    Some(Err(e)) => view! { <ErrorBox err=e/> }.into_any(),
                }}
            </div>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let list = untrack(current);
                let confirm = needs_confirm.get_untracked() && confirmed.get_untracked();
                if needs_confirm.get_untracked() && !confirm {
                    return;
                }
                sent.set(list.clone());
                save.dispatch((slug.get_untracked(), UpdateSecuritySettings {
                    session_timeout_minutes: None,
                    ip_allowlist: Some(list.into_iter().map(|(_, r)| r).collect()),
                    confirm_lockout: confirm,
                    ..Default::default()
                }));
            }>
                <Show
                    when=move || !rows.with(Vec::is_empty)
                    fallback=|| view! {
                        <p class="muted">"No ranges: any address may use this organization. Add a range below to restrict access."</p>
                    }
                >
                    <table class="allowlist">
                        <thead><tr>
                            <th>"CIDR range"</th><th>"Label"</th><th><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            <For each=move || rows.get() key=|r| r.key children=move |r: Row| {
                                let key = r.key;
                                let n = Memo::new(move |_| {
                                    rows.with(|v| v.iter().position(|x| x.key == key).map_or(0, |i| i + 1))
                                });
                                let cidr_id = format!("allow-cidr-{key}");
                                let label_id = format!("allow-label-{key}");
                                let cidr_err_id = format!("allow-cidr-{key}-error");
                                let label_err_id = format!("allow-label-{key}-error");
                                let cidr_err = Memo::new(move |_| field_error(key, "cidr"));
                                let label_err = Memo::new(move |_| field_error(key, "label"));
                                view! {
                                    <tr>
                                        <td>
                                            <label for=cidr_id.clone() class="sr-only">{move || format!("CIDR range {}", n.get())}</label>
                                            <input id=cidr_id type="text" inputmode="text" autocomplete="off" spellcheck="false"
                                                placeholder="e.g. 203.0.113.0/24"
                                                aria-invalid=move || cidr_err.get().is_some().then_some("true")
                                                aria-describedby=move || cidr_err.get().is_some().then(|| cidr_err_id.clone())
                                                prop:value=move || r.cidr.get()
                                                on:input=move |ev| r.cidr.set(input_value(&ev))/>
                                            {
                                                let id = format!("allow-cidr-{key}-error");
                                                move || cidr_err.get().map(|m| view! { <p class="inline-error" id=id.clone()>{m}</p> })
                                            }
                                        </td>
                                        <td>
                                            <label for=label_id.clone() class="sr-only">{move || format!("Label {}", n.get())}</label>
                                            <input id=label_id type="text" autocomplete="off" placeholder="e.g. Office VPN"
                                                aria-invalid=move || label_err.get().is_some().then_some("true")
                                                aria-describedby=move || label_err.get().is_some().then(|| label_err_id.clone())
                                                prop:value=move || r.label.get()
                                                on:input=move |ev| r.label.set(input_value(&ev))/>
                                            {
                                                let id = format!("allow-label-{key}-error");
                                                move || label_err.get().map(|m| view! { <p class="inline-error" id=id.clone()>{m}</p> })
                                            }
                                        </td>
                                        <td class="actions">
                                            <button type="button" aria-label=move || format!("Remove range {}", n.get())
                                                on:click=move |_| rows.update(|v| v.retain(|x| x.key != key))>"Remove"</button>
                                        </td>
                                    </tr>
                                }
                            }/>
                        </tbody>
                    </table>
                </Show>
                <div class="allowlist-add">
                    <button type="button" on:click=add_row>"Add range"</button>
                    {move || caller.get().filter(|ip| ip.parse::<IpAddr>().is_ok()).map(|ip| {
                        let text = format!("Add my current IP address ({ip})");
                        view! { <button type="button" on:click=move |_| add_mine(&ip)>{text}</button> }
                    })}
                    {reactive(move || match preset_list.get() {
                        None => ().into_any(),
                        Some(Ok(list)) => list.into_iter().map(|p| {
                            let cidrs = p.ranges.iter().map(|r| r.cidr.clone()).collect::<Vec<_>>().join(", ");
                            let text = format!("Add {} egress {}", p.label, cidrs);
                            let description = p.description.clone();
                            view! {
                                <button type="button" title=description on:click=move |_| add_preset(&p)>{text}</button>
                            }
                        }).collect_view().into_any(),
                        Some(Err(e)) => view! { <ErrorBox err=e/> }.into_any(),
                    })}
                </div>
                {move || preset_list.get().and_then(Result::ok).map(|list| list.into_iter().map(|p| view! {
                    <p class="muted help"><strong>{p.label}": "</strong>{p.description}</p>
                }).collect_view())}
                {move || preset_note.get().map(|m| view! { <p class="muted help" role="status">{m}</p> })}

                <Show when=move || needs_confirm.get()>
                    <div class="caution" role="alert" id="allowlist-lockout">
                        <p>
                            {move || format!(
                                "This list does not include your current IP address ({}). Saving it will lock you out of this organization's dashboard settings and API from this address.",
                                caller_text(),
                            )}
                        </p>
                        <p class="help">"Add your address above, or confirm that you can change the list from an allowed address."</p>
                        <label for="allowlist-confirm-lockout" class="choice">
                            <input id="allowlist-confirm-lockout" type="checkbox"
                                prop:checked=move || confirmed.get()
                                on:change=move |ev| confirmed.set(event_target_checked(&ev))/>
                            "I understand, save anyway"
                        </label>
                    </div>
                </Show>
                {action_error(save.value())}
                {move || just_saved().then(|| view! { <p class="success" role="status">"Allowlist saved."</p> })}
                <button type="submit" class="primary"
                    aria-describedby=move || needs_confirm.get().then_some("allowlist-lockout")
                    disabled=move || save.pending().get() || (needs_confirm.get() && !confirmed.get())>
                    {move || if save.pending().get() { "Saving…" } else { "Save allowlist" }}
                </button>
            </form>
        </section>
    }
}

#[component]
fn TimeoutCard(initial: i32) -> impl IntoView {
    let slug = use_slug();
    let minutes = RwSignal::new(initial.to_string());
    let saved_value = RwSignal::new(initial);
    let local_error: RwSignal<Option<String>> = RwSignal::new(None);
    let save = api::action(|(slug, req): &(String, UpdateSecuritySettings)| {
        update_security(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(s)) = save.value().get() {
            saved_value.set(s.session_timeout_minutes);
            minutes.set(s.session_timeout_minutes.to_string());
        }
    });
    let parsed = move || minutes.with(|m| m.trim().parse::<i32>().ok());
    let just_saved =
        move || matches!(save.value().get(), Some(Ok(_))) && parsed() == Some(saved_value.get());
    view! {
        <section class="card">
            <h2>"Session timeout"</h2>
            <p class="muted">
                "Members who stay idle this long in the dashboard are signed out. "
                "A shorter timeout applies to existing sessions at their next request."
            </p>
            <form novalidate on:submit=move |ev| {
                ev.prevent_default();
                match parsed() {
                    Some(m) if (TIMEOUT_MIN..=TIMEOUT_MAX).contains(&m) => {
                        local_error.set(None);
                        save.dispatch((slug.get_untracked(), UpdateSecuritySettings {
                            session_timeout_minutes: Some(m),
                            ip_allowlist: None,
                            confirm_lockout: false,
                            ..Default::default()
                        }));
                    }
                    _ => local_error.set(Some(format!(
                        "Enter a whole number of minutes between {TIMEOUT_MIN} (15 minutes) and {TIMEOUT_MAX} (30 days)."
                    ))),
                }
            }>
                <label for="session-timeout">"Idle session timeout (minutes)"</label>
                <input id="session-timeout" name="session_timeout_minutes" type="number"
                    min="15" max="43200" step="1" required
                    aria-describedby="session-timeout-help"
                    aria-invalid=move || local_error.get().is_some().then_some("true")
                    prop:value=move || minutes.get()
                    on:input=move |ev| minutes.set(input_value(&ev))/>
                <p id="session-timeout-help" class="muted help">
                    {move || parsed().filter(|m| *m > 0).map(|m| format!("{} · ", describe_minutes(m)))}
                    "Between 15 minutes and 30 days (43200 minutes)."
                </p>
                {move || local_error.get().map(|m| view! { <p class="inline-error" role="alert">{m}</p> })}
                {action_error(save.value())}
                {move || just_saved().then(|| view! { <p class="success" role="status">"Session timeout saved."</p> })}
                <button type="submit" class="primary" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else { "Save timeout" }}
                </button>
            </form>
        </section>
    }
}

type SaveSecurity = Action<
    (String, UpdateSecuritySettings),
    Result<gatehouse_types::SecuritySettings, api::ApiError>,
>;

fn save_security() -> SaveSecurity {
    api::action(|(slug, req): &(String, UpdateSecuritySettings)| {
        update_security(slug.clone(), req.clone())
    })
}

/// PIN protection. Turning it on needs the person's own PIN, so one without a PIN sets
/// it here first; turning it off asks for the PIN (the step-up prompt).
#[component]
fn PinProtectionCard(initial: bool) -> impl IntoView {
    let slug = use_slug();
    let on = RwSignal::new(initial);
    let save = save_security();
    Effect::new(move |_| {
        if let Some(Ok(s)) = save.value().get() {
            on.set(s.pin_protection);
        }
    });
    // Shown when turning it on finds no personal PIN.
    let needs_pin = RwSignal::new(false);
    let me = api::resource(two_factor::security);
    let pin_v = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let set_pin = api::action(pin::set);
    // The PIN set here (the summary above was read before).
    let pin_known = RwSignal::new(false);
    let switch = move |value: bool| {
        save.dispatch((
            slug.get_untracked(),
            UpdateSecuritySettings {
                pin_protection: Some(value),
                ..Default::default()
            },
        ));
    };
    Effect::new(move |_| {
        if let Some(Ok(())) = set_pin.value().get() {
            pin_known.set(true);
            needs_pin.set(false);
            switch(true);
        }
    });
    view! {
        <section class="card">
            <h2>"PIN protection"</h2>
            <p class="muted">
                "Deleting a connector, revoking an API key and removing a member then need the acting person's own 6-digit PIN. "
                "One PIN opens a short window for a few such actions."
            </p>
            <p id="pin-protection-state">{move || if on.get() { "PIN protection is on." } else { "PIN protection is off." }}</p>
            {move || (!needs_pin.get()).then(|| view! {
                <button type="button" id="pin-protection-toggle" class=move || if on.get() { "danger" } else { "primary" }
                    disabled=move || save.pending().get()
                    on:click=move |_| {
                        let turn_on = !on.get_untracked();
                        let has_pin = pin_known.get_untracked()
                            || me.get().and_then(|r| r.ok()).is_some_and(|s| s.pin_set);
                        if turn_on && !has_pin {
                            needs_pin.set(true);
                        } else {
                            switch(turn_on);
                        }
                    }>
                    {move || if on.get() { "Turn off PIN protection" } else { "Turn on PIN protection" }}
                </button>
            })}
            {move || needs_pin.get().then(|| view! {
                <form on:submit=move |ev| {
                    ev.prevent_default();
                    set_pin.dispatch(SetPinRequest { pin: pin_v.get_untracked(), confirm: confirm.get_untracked(), ..Default::default() });
                }>
                    <p>"First choose your personal PIN. You will enter it before sensitive actions, in every organization that uses PIN protection."</p>
                    <label for="protect-pin">"PIN (6 digits)"</label>
                    <input id="protect-pin" type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{6}" required
                        prop:value=move || pin_v.get() on:input=move |ev| pin_v.set(input_value(&ev))/>
                    <label for="protect-confirm">"The same PIN again"</label>
                    <input id="protect-confirm" type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{6}" required
                        prop:value=move || confirm.get() on:input=move |ev| confirm.set(input_value(&ev))/>
                    {action_error(set_pin.value())}
                    <button type="submit" class="primary" disabled=move || set_pin.pending().get()>"Set PIN and turn on"</button>
                    " "
                    <button type="button" on:click=move |_| needs_pin.set(false)>"Cancel"</button>
                </form>
            })}
            {action_error(save.value())}
        </section>
    }
}

/// Require MFA, with the members it would block listed first.
#[component]
fn RequireMfaCard(initial: bool) -> impl IntoView {
    let slug = use_slug();
    let on = RwSignal::new(initial);
    let save = save_security();
    let confirming = RwSignal::new(false);
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(s)) = save.value().get() {
            on.set(s.require_mfa);
            confirming.set(false);
            reload.update(|n| *n += 1);
        }
    });
    let preview = api::resource(move || {
        reload.track();
        mfa_preview(slug.get_untracked())
    });
    let switch = move |value: bool| {
        save.dispatch((
            slug.get_untracked(),
            UpdateSecuritySettings {
                require_mfa: Some(value),
                ..Default::default()
            },
        ));
    };
    view! {
        <section class="card">
            <h2>"Require MFA"</h2>
            <p class="muted">
                "Members without two-factor authentication (an authenticator app or a passkey) are then blocked from this organization "
                "until they set it up, cannot grant OAuth clients access, and lose the OAuth grants they have. API keys are not affected."
            </p>
            <p id="require-mfa-state">{move || if on.get() { "MFA is required." } else { "MFA is not required." }}</p>
            {loaded(preview, move |p| {
                let n = p.members_without_mfa.len();
                view! {
                    <p>{format!("{n} of {} member(s) have no two-factor authentication", p.total_members)}
                        {(n > 0).then_some(if p.require_mfa { " and are blocked:" } else { " and would be blocked:" })}</p>
                    <ul id="mfa-preview">
                        {p.members_without_mfa.into_iter().map(|m| view! {
                            <li>{if m.display_name.is_empty() { m.email.clone() } else { format!("{} ({})", m.display_name, m.email) }}</li>
                        }).collect_view()}
                    </ul>
                    {(p.oauth_grants_to_revoke > 0).then(|| view! {
                        <p class="muted">{format!("{} OAuth grant(s) of theirs would be revoked.", p.oauth_grants_to_revoke)}</p>
                    })}
                }.into_any()
            })}
            {move || if on.get() {
                view! {
                    <button type="button" id="require-mfa-toggle" disabled=move || save.pending().get()
                        on:click=move |_| switch(false)>"Stop requiring MFA"</button>
                }.into_any()
            } else if confirming.get() {
                view! {
                    <p class="confirm-block">"Require MFA now? The members listed above are blocked at their next request. "
                        <button type="button" class="danger" id="require-mfa-confirm" disabled=move || save.pending().get()
                            on:click=move |_| switch(true)>"Yes, require MFA"</button>
                        " "
                        <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </p>
                }.into_any()
            } else {
                view! {
                    <button type="button" class="primary" id="require-mfa-toggle"
                        on:click=move |_| confirming.set(true)>"Require MFA"</button>
                }.into_any()
            }}
            {move || match save.value().get() {
                Some(Err(e)) if e.code == "mfa-required" => Some(view! {
                    <div class="error" role="alert">
                        <strong>"Set up two-factor authentication for yourself first."</strong>
                        <p><a href="/account/security">"Go to Account → Security"</a></p>
                    </div>
                }.into_any()),
                Some(Err(e)) => Some(view! { <ErrorBox err=e/> }.into_any()),
                _ => None,
            }}
        </section>
    }
}
