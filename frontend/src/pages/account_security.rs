//! Account → Security: two-factor authentication (authenticator app, backup codes) and
//! the personal PIN that orgs with PIN protection ask for.
use crate::api::{self, ApiError, passkeys, pin, two_factor};
use crate::components::{ErrorBox, action_error, input_value, loaded, when};
use gatehouse_types::{
    AccountSecurity, BackupCodes, CreatePasskeyRequest, DisableTotpRequest, Passkey,
    PinResetConfirm, SetPinRequest, TotpEnrolment, pin_well_formed,
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AccountSecurityPage() -> impl IntoView {
    let query = use_query_map();
    let blocked = query.read_untracked().get("mfa_required");
    let reload = RwSignal::new(0u32);
    let summary = api::resource(move || {
        reload.track();
        two_factor::security()
    });
    view! {
        <h1>"Security"</h1>
        {blocked.map(|org| view! {
            <div class="error" role="alert">
                <strong>"Two-factor authentication required"</strong>
                <p>{format!("The organization “{org}” requires two-factor authentication. Set it up below to continue, or sign out.")}</p>
            </div>
        })}
        {loaded(summary, move |s| { let pin_set = s.pin_set; view! {
            <TwoFactorCard s=s reload=reload/>
            <PinCard pin_set=pin_set reload=reload/>
        }.into_any() })}
    }
}

/// The authenticator app: set up, or on with its backup codes.
#[component]
fn TwoFactorCard(s: AccountSecurity, reload: RwSignal<u32>) -> impl IntoView {
    // Backup codes just made (at confirmation or regeneration): shown this once.
    let fresh = RwSignal::new(None::<BackupCodes>);
    view! {
        <section class="card">
            <h2>"Two-factor authentication"</h2>
            {move || fresh.get().map(|c| view! { <ShowCodes codes=c on_done=move || { fresh.set(None); reload.update(|n| *n += 1); }/> })}
            {if s.totp_enabled {
                view! {
                    <p><span class="badge active">"On"</span>" Signing in asks for a code from your authenticator app."</p>
                    <p id="backup-remaining">{format!("{} backup code(s) left.", s.backup_codes_remaining)}</p>
                    <RegenerateCodes fresh=fresh/>
                    <DisableTotp reload=reload/>
                }.into_any()
            } else {
                view! {
                    <p class="muted">"Off. Protect your account with a code from an authenticator app at every sign-in."</p>
                    <SetUpTotp fresh=fresh/>
                }.into_any()
            }}
        </section>
        <PasskeysCard reload=reload/>
    }
}

#[component]
fn SetUpTotp(fresh: RwSignal<Option<BackupCodes>>) -> impl IntoView {
    let start = api::action(|_: &()| two_factor::start_totp());
    let code = RwSignal::new(String::new());
    let confirm = api::action(|c: &String| two_factor::confirm_totp(c.clone()));
    Effect::new(move |_| {
        if let Some(Ok(c)) = confirm.value().get() {
            fresh.set(Some(c));
        }
    });
    view! {
        {move || match start.value().get() {
            Some(Ok(e)) => view! {
                <Enrolment e=e/>
                <form on:submit=move |ev| {
                    ev.prevent_default();
                    confirm.dispatch(code.get_untracked().trim().to_string());
                }>
                    <label for="totp-code">"Code from the app"</label>
                    <input id="totp-code" type="text" inputmode="numeric" autocomplete="one-time-code" required
                        prop:value=move || code.get() on:input=move |ev| code.set(input_value(&ev))/>
                    {action_error(confirm.value())}
                    <button type="submit" class="primary" disabled=move || confirm.pending().get()>"Turn on"</button>
                </form>
            }.into_any(),
            other => view! {
                {other.and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
                <button type="button" class="primary" disabled=move || start.pending().get()
                    on:click=move |_| { start.dispatch(()); }>"Set up an authenticator app"</button>
            }.into_any(),
        }}
    }
}

/// The QR code and the secret of a started enrolment.
#[component]
fn Enrolment(e: TotpEnrolment) -> impl IntoView {
    // The server's SVG goes in an <img> through a data URL, not into the page as HTML:
    // an image cannot run script or reach the page, so nothing in it needs trusting.
    let src = format!(
        "data:image/svg+xml;charset=utf-8,{}",
        String::from(js_sys::encode_uri_component(&e.qr_svg))
    );
    view! {
        <p>"Scan this code with your authenticator app, then enter the code it shows."</p>
        <img class="qr" id="totp-qr" src=src alt="QR code of the authenticator set-up link"/>
        <p class="muted">"Cannot scan it? Enter this key instead: "<code id="totp-secret">{e.secret}</code></p>
    }
}

/// Backup codes, shown once, with copy and download.
#[component]
fn ShowCodes(codes: BackupCodes, on_done: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let text = codes.codes.join("\n") + "\n";
    let download = format!(
        "data:text/plain;charset=utf-8,{}",
        String::from(js_sys::encode_uri_component(&text))
    );
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let p = window().navigator().clipboard().write_text(&text);
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(p).await.is_ok() {
                copied.set(true);
            }
        });
    };
    view! {
        <div class="new-key" role="status">
            <h3>"Your backup codes"</h3>
            <p><strong>"Save them now: you will not see them again."</strong>" Each signs you in once when you cannot use your app."</p>
            <ul class="codes" id="backup-codes">{codes.codes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
            <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
            " "
            <a class="button" href=download download="gatehouse-backup-codes.txt">"Download"</a>
            " "
            <button type="button" class="primary" on:click=move |_| on_done()>"I have saved them"</button>
        </div>
    }
}

#[component]
fn RegenerateCodes(fresh: RwSignal<Option<BackupCodes>>) -> impl IntoView {
    let password = RwSignal::new(String::new());
    let regen = api::action(|p: &String| two_factor::regenerate_backup_codes(p.clone()));
    Effect::new(move |_| {
        if let Some(Ok(c)) = regen.value().get() {
            password.set(String::new());
            fresh.set(Some(c));
        }
    });
    view! {
        <details>
            <summary>"New backup codes"</summary>
            <form on:submit=move |ev| { ev.prevent_default(); regen.dispatch(password.get_untracked()); }>
                <p class="muted">"The codes you have now stop working."</p>
                <label for="regen-password">"Password"</label>
                <input id="regen-password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                {action_error(regen.value())}
                <button type="submit" disabled=move || regen.pending().get()>"Make new backup codes"</button>
            </form>
        </details>
    }
}

#[component]
fn DisableTotp(reload: RwSignal<u32>) -> impl IntoView {
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let disable = api::action(two_factor::disable_totp);
    Effect::new(move |_| {
        if let Some(Ok(())) = disable.value().get() {
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <details>
            <summary>"Turn off two-factor authentication"</summary>
            <form on:submit=move |ev| {
                ev.prevent_default();
                disable.dispatch(DisableTotpRequest { password: password.get_untracked(), code: code.get_untracked().trim().to_string() });
            }>
                <label for="disable-password">"Password"</label>
                <input id="disable-password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                <label for="disable-code">"Code from the app, or a backup code"</label>
                <input id="disable-code" type="text" autocomplete="one-time-code" required
                    prop:value=move || code.get() on:input=move |ev| code.set(input_value(&ev))/>
                {action_error(disable.value())}
                <button type="submit" class="danger" disabled=move || disable.pending().get()>"Turn off"</button>
            </form>
        </details>
    }
}

/// Six digits twice; says so before asking the server.
fn pin_fields(
    pin: RwSignal<String>,
    confirm: RwSignal<String>,
    prefix: &'static str,
) -> impl IntoView {
    view! {
        <label for=format!("{prefix}-pin")>"New PIN (6 digits)"</label>
        <input id=format!("{prefix}-pin") type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{6}" required
            prop:value=move || pin.get() on:input=move |ev| pin.set(input_value(&ev))/>
        <label for=format!("{prefix}-confirm")>"The same PIN again"</label>
        <input id=format!("{prefix}-confirm") type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{6}" required
            prop:value=move || confirm.get() on:input=move |ev| confirm.set(input_value(&ev))/>
        {move || {
            let (p, c) = (pin.get(), confirm.get());
            (!c.is_empty() && (p != c || !pin_well_formed(&p))).then(|| view! {
                <p class="muted help">"Six digits, the same twice."</p>
            })
        }}
    }
}

/// The personal PIN: set it, change it, or reset it by email.
#[component]
pub fn PinCard(pin_set: bool, reload: RwSignal<u32>) -> impl IntoView {
    let pin_v = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let current = RwSignal::new(String::new());
    let set = api::action(pin::set);
    let done = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(())) = set.value().get() {
            pin_v.set(String::new());
            confirm.set(String::new());
            current.set(String::new());
            done.set(true);
            reload.update(|n| *n += 1);
        }
    });
    let reset_pw = RwSignal::new(String::new());
    let reset = api::action(|p: &String| pin::request_reset(p.clone()));
    view! {
        <section class="card">
            <h2>"PIN"</h2>
            <p class="muted">"Organizations with PIN protection ask for it before deleting a connector, revoking an API key or removing a member."</p>
            {move || done.get().then(|| view! { <p class="success" role="status">"PIN saved."</p> })}
            <p id="pin-state">{if pin_set { "Your PIN is set." } else { "You have no PIN yet." }}</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let c = current.get_untracked();
                set.dispatch(SetPinRequest {
                    pin: pin_v.get_untracked(),
                    confirm: confirm.get_untracked(),
                    current_pin: (!c.is_empty()).then_some(c),
                    password: None,
                });
            }>
                {pin_set.then(|| view! {
                    <label for="current-pin">"Current PIN"</label>
                    <input id="current-pin" type="password" inputmode="numeric" autocomplete="off" maxlength="6" required
                        prop:value=move || current.get() on:input=move |ev| current.set(input_value(&ev))/>
                })}
                {pin_fields(pin_v, confirm, "set")}
                {action_error(set.value())}
                <button type="submit" class="primary" disabled=move || set.pending().get()>
                    {if pin_set { "Change PIN" } else { "Set PIN" }}
                </button>
            </form>
            {pin_set.then(|| view! {
                <details>
                    <summary>"Forgot your PIN?"</summary>
                    <form on:submit=move |ev| { ev.prevent_default(); reset.dispatch(reset_pw.get_untracked()); }>
                        <p class="muted">"We email you a link to choose a new PIN."</p>
                        <label for="pin-reset-password">"Password"</label>
                        <input id="pin-reset-password" type="password" autocomplete="current-password" required
                            prop:value=move || reset_pw.get() on:input=move |ev| reset_pw.set(input_value(&ev))/>
                        {move || match reset.value().get() {
                            Some(Ok(a)) => Some(view! { <p class="success" role="status">{a.message}</p> }.into_any()),
                            Some(Err(e)) => Some(view! { <ErrorBox err=e/> }.into_any()),
                            None => None,
                        }}
                        <button type="submit" disabled=move || reset.pending().get()>"Email me a reset link"</button>
                    </form>
                </details>
            })}
        </section>
    }
}

/// `/account/security/pin-reset?token=…`, from the PIN reset email.
#[component]
pub fn PinResetPage() -> impl IntoView {
    let token = use_query_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default();
    let pin_v = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let reset = api::action(pin::confirm_reset);
    view! {
        <h1>"Choose a new PIN"</h1>
        <section class="card">
            {move || match reset.value().get() {
                Some(Ok(())) => view! {
                    <p class="success" role="status">"Your new PIN is set."</p>
                    <p><a href="/account/security">"Back to Security"</a></p>
                }.into_any(),
                _ => {
                    let token = token.clone();
                    view! {
                        <form on:submit=move |ev| {
                            ev.prevent_default();
                            reset.dispatch(PinResetConfirm { token: token.clone(), pin: pin_v.get_untracked(), confirm: confirm.get_untracked() });
                        }>
                            {pin_fields(pin_v, confirm, "reset")}
                            {action_error(reset.value())}
                            <button type="submit" class="primary" disabled=move || reset.pending().get()>"Set new PIN"</button>
                        </form>
                    }.into_any()
                }
            }}
        </section>
    }
}

/// Registers a passkey: the server's options, the browser's ceremony, the server again.
async fn add_passkey(name: String) -> Result<Passkey, ApiError> {
    let options = passkeys::registration_options().await?;
    let credential = crate::webauthn::ceremony(true, &options.public_key).await?;
    passkeys::create(&CreatePasskeyRequest { name, credential }).await
}

/// Passkeys: a second factor by themselves (the device checks who holds it).
#[component]
fn PasskeysCard(reload: RwSignal<u32>) -> impl IntoView {
    let list = api::resource(move || {
        reload.track();
        passkeys::list()
    });
    let name = RwSignal::new(String::new());
    let add = Action::new_local(|n: &String| add_passkey(n.clone()));
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            name.set(String::new());
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <section class="card">
            <h2>"Passkeys"</h2>
            <p class="muted">"Sign in with your device's screen lock or a security key instead of a code."</p>
            {loaded(list, move |keys| if keys.is_empty() {
                view! { <p class="muted">"No passkeys yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Added"</th><th>"Last used"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>{keys.into_iter().map(|k| view! { <PasskeyRow k=k reload=reload/> }).collect_view()}</tbody>
                    </table>
                }.into_any()
            })}
            <form on:submit=move |ev| { ev.prevent_default(); add.dispatch(name.get_untracked()); }>
                <label for="passkey-name">"Name of the new passkey"</label>
                <input id="passkey-name" type="text" maxlength="64" required placeholder="e.g. Work laptop"
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                {action_error(add.value())}
                <button type="submit" class="primary" disabled=move || add.pending().get()>"Add a passkey"</button>
            </form>
        </section>
    }
}

#[component]
fn PasskeyRow(k: Passkey, reload: RwSignal<u32>) -> impl IntoView {
    let id = k.id.to_string();
    let editing = RwSignal::new(false);
    let removing = RwSignal::new(false);
    let name = RwSignal::new(k.name.clone());
    let password = RwSignal::new(String::new());
    let rename = api::action(|(id, n): &(String, String)| passkeys::rename(id, n.clone()));
    let remove = api::action(|(id, p): &(String, String)| passkeys::remove(id, p.clone()));
    Effect::new(move |_| {
        if matches!(rename.value().get(), Some(Ok(_)))
            || matches!(remove.value().get(), Some(Ok(())))
        {
            reload.update(|n| *n += 1);
        }
    });
    let (id2, label) = (id.clone(), k.name.clone());
    view! {
        <tr>
            <td>{k.name.clone()}</td>
            <td>{when(&k.created_at)}</td>
            <td>{k.last_used_at.as_ref().map(when).unwrap_or_else(|| "never".into())}</td>
            <td class="actions">
                <button type="button" aria-label=format!("Rename passkey {label}") on:click=move |_| editing.update(|e| *e = !*e)>"Rename"</button>
                " "
                <button type="button" class="danger" aria-label=format!("Remove passkey {label}") on:click=move |_| removing.update(|e| *e = !*e)>"Remove"</button>
                {move || editing.get().then(|| { let id = id.clone(); view! {
                    <form on:submit=move |ev| { ev.prevent_default(); rename.dispatch((id.clone(), name.get_untracked())); }>
                        <label for="passkey-rename">"New name"</label>
                        <input id="passkey-rename" type="text" maxlength="64" required
                            prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                        <button type="submit" disabled=move || rename.pending().get()>"Save name"</button>
                    </form>
                }})}
                {move || removing.get().then(|| { let id = id2.clone(); view! {
                    <form on:submit=move |ev| { ev.prevent_default(); remove.dispatch((id.clone(), password.get_untracked())); }>
                        <label for="passkey-remove-password">"Password"</label>
                        <input id="passkey-remove-password" type="password" autocomplete="current-password" required
                            prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                        <button type="submit" class="danger" disabled=move || remove.pending().get()>"Remove passkey"</button>
                    </form>
                }})}
                {action_error(rename.value())}
                {action_error(remove.value())}
            </td>
        </tr>
    }
}
