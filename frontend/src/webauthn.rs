//! The browser's WebAuthn ceremonies (`navigator.credentials.create()` / `.get()`),
//! with the server's JSON options in and the credential's JSON out. The browser reads
//! and writes that JSON itself (`PublicKeyCredential.parse…FromJSON`, `toJSON()`), so
//! no base64url code of ours is involved.
use crate::api::ApiError;
use js_sys::{Function, JSON, Object, Promise, Reflect};
use leptos::prelude::window;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn failed(title: &str, detail: Option<String>) -> ApiError {
    ApiError {
        status: 0,
        title: title.into(),
        detail,
        fields: vec![],
        code: String::new(),
    }
}

fn unsupported() -> ApiError {
    failed("This browser cannot use passkeys", None)
}

fn method(target: &JsValue, name: &str) -> Result<Function, ApiError> {
    Reflect::get(target, &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(unsupported)
}

/// Registers (`create`) or uses (`get`) a passkey with `public_key`, the options'
/// `publicKey` member; returns the credential as JSON for the server.
pub async fn ceremony(
    create: bool,
    public_key: &serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    let pkc = Reflect::get(&js_sys::global(), &"PublicKeyCredential".into())
        .ok()
        .filter(|v| !v.is_undefined())
        .ok_or_else(unsupported)?;
    let parse = method(
        &pkc,
        if create {
            "parseCreationOptionsFromJSON"
        } else {
            "parseRequestOptionsFromJSON"
        },
    )?;
    let json = JSON::parse(&public_key.to_string()).map_err(|_| unsupported())?;
    let parsed = parse
        .call1(&pkc, &json)
        .map_err(|e| failed("The server's passkey options were refused", e.as_string()))?;
    let options = Object::new();
    let _ = Reflect::set(&options, &"publicKey".into(), &parsed);
    let credentials = Reflect::get(&window().navigator(), &"credentials".into())
        .ok()
        .filter(|v| v.is_object())
        .ok_or_else(unsupported)?;
    let run = method(&credentials, if create { "create" } else { "get" })?;
    let promise: Promise = run
        .call1(&credentials, &options)
        .ok()
        .and_then(|p| p.dyn_into().ok())
        .ok_or_else(unsupported)?;
    let credential = JsFuture::from(promise).await.map_err(|e| {
        let name = Reflect::get(&e, &"name".into())
            .ok()
            .and_then(|n| n.as_string());
        let message = Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|n| n.as_string());
        match name.as_deref() {
            Some("NotAllowedError") => {
                failed("The passkey prompt was cancelled or timed out", None)
            }
            Some("InvalidStateError") => failed("This passkey is already registered", None),
            _ => failed("The passkey did not work", message),
        }
    })?;
    let as_json = method(&credential, "toJSON")?
        .call0(&credential)
        .map_err(|_| unsupported())?;
    let text: String = JSON::stringify(&as_json).map_err(|_| unsupported())?.into();
    serde_json::from_str(&text)
        .map_err(|e| failed("The passkey answer was unreadable", Some(e.to_string())))
}
