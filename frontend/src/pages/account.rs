//! The signed-in user's account: profile, password, sessions.
use crate::api::{
    self,
    accounts::{
        change_password, list_sessions, resend_verification, revoke_others, revoke_session,
        update_me,
    },
};
use crate::components::{ErrorBox, action_error, input_value, loaded, use_session, when};
use gatehouse_types::{ChangePasswordRequest, SessionInfo, SignInMethod, UpdateMeRequest};
use leptos::prelude::*;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let session = use_session();
    let user = session.user;
    let name = RwSignal::new(user.get_untracked().display_name);
    let save = api::action(|req: &UpdateMeRequest| update_me(req.clone()));
    Effect::new(move |_| {
        if let Some(Ok(u)) = save.value().get() {
            user.set(u);
        }
    });
    let resend = api::action(|_: &()| resend_verification());
    view! {
        <h1>"Profile"</h1>
        <section class="card">
            <form on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch(UpdateMeRequest { display_name: Some(name.get_untracked()) });
            }>
                <label for="profile-email">"Email"</label>
                <input id="profile-email" type="email" readonly=true value=move || user.get().email/>
                <p class="muted help">
                    {move || if user.get().email_verified {
                        "Verified.".to_string()
                    } else {
                        "Not verified yet: open the link we emailed you.".to_string()
                    }}
                </p>
                <label for="profile-name">"Display name"</label>
                <input id="profile-name" name="display_name" type="text" autocomplete="name"
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                {action_error(save.value())}
                {move || matches!(save.value().get(), Some(Ok(_))).then(|| view! { <p class="success" role="status">"Profile saved."</p> })}
                <button type="submit" class="primary" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else { "Save profile" }}
                </button>
            </form>
            {move || (!user.get().email_verified).then(|| view! {
                <button type="button" class="link" disabled=move || resend.pending().get()
                    on:click=move |_| { resend.dispatch(()); }>"Send the verification email again"</button>
                {move || match resend.value().get() {
                    Some(Ok(a)) => Some(view! { <p class="success" role="status">{a.message}</p> }.into_any()),
                    Some(Err(e)) => Some(view! { <ErrorBox err=e/> }.into_any()),
                    None => None,
                }}
            })}
            <p class="muted help">{move || format!("Member since {}", when(&user.get().created_at))}</p>
        </section>
    }
}

#[component]
pub fn PasswordPage() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let mismatch = RwSignal::new(false);
    let change = api::action(|req: &ChangePasswordRequest| change_password(req.clone()));
    Effect::new(move |_| {
        if let Some(Ok(())) = change.value().get() {
            current.set(String::new());
            new.set(String::new());
            repeat.set(String::new());
        }
    });
    view! {
        <h1>"Password"</h1>
        <section class="card">
            <p class="muted">"Changing your password signs you out everywhere else."</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                if new.get_untracked() != repeat.get_untracked() {
                    mismatch.set(true);
                    return;
                }
                mismatch.set(false);
                change.dispatch(ChangePasswordRequest {
                    current_password: current.get_untracked(),
                    new_password: new.get_untracked(),
                });
            }>
                <label for="current-password">"Current password"</label>
                <input id="current-password" type="password" autocomplete="current-password" required
                    prop:value=move || current.get() on:input=move |ev| current.set(input_value(&ev))/>
                <label for="new-password">"New password"</label>
                <input id="new-password" type="password" autocomplete="new-password" required minlength="12"
                    aria-describedby="new-password-help"
                    prop:value=move || new.get() on:input=move |ev| new.set(input_value(&ev))/>
                <p id="new-password-help" class="muted help">"At least 12 characters."</p>
                <label for="repeat-password">"Repeat the new password"</label>
                <input id="repeat-password" type="password" autocomplete="new-password" required
                    prop:value=move || repeat.get() on:input=move |ev| repeat.set(input_value(&ev))/>
                {move || mismatch.get().then(|| view! {
                    <div class="error" role="alert"><strong>"The two new passwords differ."</strong></div>
                })}
                {action_error(change.value())}
                {move || matches!(change.value().get(), Some(Ok(()))).then(|| view! {
                    <p class="success" role="status">"Password changed. Your other sessions have been signed out."</p>
                })}
                <button type="submit" class="primary" disabled=move || change.pending().get()>
                    {move || if change.pending().get() { "Changing…" } else { "Change password" }}
                </button>
            </form>
        </section>
    }
}

/// A short name for a browser's user agent ("Chrome on Linux").
fn device(ua: Option<&str>) -> String {
    let Some(ua) = ua else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.into(),
        (None, Some(o)) => o.into(),
        (None, None) => ua.chars().take(60).collect(),
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let sessions = api::resource(move || {
        reload.track();
        list_sessions()
    });
    let others = api::action(|_: &()| revoke_others());
    let confirming = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(_)) = others.value().get() {
            confirming.set(false);
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <h1>"Sessions"</h1>
        <p class="muted">"Every browser signed in to your account. Revoke any you do not recognise."</p>
        <section class="card">
            {loaded(sessions, move |list| {
                let has_others = list.iter().any(|s| !s.current);
                view! {
                    <table>
                        <thead><tr>
                            <th>"Device"</th><th>"IP address"</th><th>"Signed in"</th><th>"Sign-in method"</th><th>"Last active"</th><th><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|s| view! { <SessionRow s=s reload=reload/> }).collect_view()}
                        </tbody>
                    </table>
                    {has_others.then(|| view! {
                        <Show when=move || confirming.get() fallback=move || view! {
                            <button type="button" class="danger" on:click=move |_| confirming.set(true)>"Revoke all other sessions"</button>
                        }>
                            <p class="confirm-block">"Sign out every other browser? This one stays signed in. "
                                <button type="button" class="danger" on:click=move |_| { others.dispatch(()); }>"Yes, revoke all others"</button>
                                " "
                                <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                            </p>
                        </Show>
                    })}
                    {(!has_others).then(|| view! { <p class="muted">"You are signed in only here."</p> })}
                }.into_any()
            })}
            {move || others.value().get().and_then(|r| r.ok()).map(|c| view! {
                <p class="success" role="status">{format!("{} session(s) signed out.", c.revoked)}</p>
            })}
            {action_error(others.value())}
        </section>
    }
}

#[component]
fn SessionRow(s: SessionInfo, reload: RwSignal<u32>) -> impl IntoView {
    let revoke = api::action(|id: &String| revoke_session(id.clone()));
    Effect::new(move |_| {
        if let Some(Ok(())) = revoke.value().get() {
            reload.update(|n| *n += 1);
        }
    });
    let id = s.id.to_string();
    let name = device(s.user_agent.as_deref());
    view! {
        <tr>
            <td>
                {name.clone()}
                {s.current.then(|| view! { " " <span class="badge active">"this device"</span> })}
            </td>
            <td>{s.ip.clone().unwrap_or_else(|| "unknown".into())}</td>
            <td>{when(&s.created_at)}</td>
            <td class="sign-in-method">{match s.sign_in_method {
                SignInMethod::Password => "Password",
                SignInMethod::Totp => "Password + authenticator app",
                SignInMethod::BackupCode => "Password + backup code",
                SignInMethod::Passkey => "Passkey",
            }}</td>
            <td>{when(&s.last_seen_at)}</td>
            <td class="actions">
                {(!s.current).then(|| view! {
                    <button type="button" class="danger" aria-label=format!("Revoke session {name}")
                        disabled=move || revoke.pending().get()
                        on:click=move |_| { revoke.dispatch(id.clone()); }>"Revoke"</button>
                })}
                {action_error(revoke.value())}
            </td>
        </tr>
    }
}
