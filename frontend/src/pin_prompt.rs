//! The answers to two org-wide refusals, shared by every page (the API request helper
//! calls them; see `api::request`):
//! - `pin-required`: [`ask`] opens the [`PinDialog`] and waits; the PIN opens the
//!   session's step-up window in that org, and the helper retries the action once.
//! - `mfa-required`: [`mfa_required`] sends the member to Account → Security.
use crate::api;
use crate::components::{ErrorBox, input_value};
use leptos::prelude::*;
use std::cell::RefCell;
use wasm_bindgen::JsValue;

thread_local! {
    /// The org whose PIN the dialog asks for; `None` while it is closed.
    static ASKING: ArcRwSignal<Option<String>> = ArcRwSignal::new(None);
    /// Resolves the promise [`ask`] waits on.
    static WAITING: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

fn asking() -> ArcRwSignal<Option<String>> {
    ASKING.with(|a| a.clone())
}

/// Asks for the PIN of `slug`'s step-up; true once the window is open, false if the
/// person cancelled.
pub async fn ask(slug: String) -> bool {
    // A prompt still open for an earlier action: that one is given up.
    answer(false);
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        WAITING.with(|w| *w.borrow_mut() = Some(resolve));
    });
    asking().set(Some(slug));
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn answer(ok: bool) {
    if let Some(resolve) = WAITING.with(|w| w.borrow_mut().take()) {
        let _ = resolve.call1(&JsValue::NULL, &JsValue::from_bool(ok));
    }
    asking().set(None);
}

/// The org requires MFA and this member has none: only setting it up (and signing out)
/// is left, so go there.
pub fn mfa_required(slug: String) {
    let to = format!(
        "/account/security?mfa_required={}",
        String::from(js_sys::encode_uri_component(&slug))
    );
    let _ = window().location().set_href(&to);
}

/// The PIN prompt, mounted once in the signed-in layout.
#[component]
pub fn PinDialog() -> impl IntoView {
    let open = asking();
    let pin = RwSignal::new(String::new());
    let verify = api::action(|(slug, pin): &(String, String)| api::pin::verify(slug, pin.clone()));
    Effect::new(move |_| {
        if let Some(Ok(_)) = verify.value().get() {
            pin.set(String::new());
            verify.value().set(None);
            answer(true);
        }
    });
    let cancel = move || {
        pin.set(String::new());
        verify.value().set(None);
        answer(false);
    };
    let shown = open.clone();
    move || {
        let slug = shown.get()?;
        Some(view! {
            <div class="dialog-backdrop">
                <div class="card dialog" role="dialog" aria-modal="true" aria-labelledby="pin-dialog-title">
                    <h2 id="pin-dialog-title">"Enter your PIN"</h2>
                    <p class="muted">"This organization protects this action with a PIN. Your PIN keeps it open for a few minutes."</p>
                    <form on:submit=move |ev| {
                        ev.prevent_default();
                        verify.dispatch((slug.clone(), pin.get_untracked()));
                    }>
                        <label for="pin-dialog-pin">"PIN"</label>
                        <input id="pin-dialog-pin" type="password" inputmode="numeric" autocomplete="off"
                            maxlength="6" pattern="[0-9]{6}" required autofocus=true
                            prop:value=move || pin.get() on:input=move |ev| pin.set(input_value(&ev))/>
                        {move || match verify.value().get() {
                            Some(Err(e)) if e.code == "pin-not-set" => Some(view! {
                                <div class="error" role="alert">
                                    <strong>"You have no PIN yet."</strong>
                                    <p><a href="/account/security">"Set your PIN in Account → Security"</a></p>
                                </div>
                            }.into_any()),
                            Some(Err(e)) => Some(view! { <ErrorBox err=e/> }.into_any()),
                            _ => None,
                        }}
                        <button type="submit" class="primary" disabled=move || verify.pending().get()>"Continue"</button>
                        " "
                        <button type="button" on:click=move |_| cancel()>"Cancel"</button>
                    </form>
                </div>
            </div>
        })
    }
}
