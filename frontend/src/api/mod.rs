//! Calls to the REST API under `/api/v1`, with the session cookie (same-origin fetch, so
//! the browser also sends the `Origin` header cookie-authenticated writes require).
//!
//! The only place REST paths are written: one submodule per area of the API, whose
//! functions pages call. The request helpers below are private to this module, so a page
//! cannot build a path of its own.
pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod connectors;
pub mod members;
pub mod oauth;
pub mod orgs;
pub mod passkeys;
pub mod pin;
pub mod two_factor;
pub mod webhooks;

use gatehouse_types::{FieldError, Problem};
use gloo_net::http::Request;
use leptos::prelude::{Action, Get, LocalResource};
use serde::{
    Serialize,
    de::{DeserializeOwned, IgnoredAny},
};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use web_sys::RequestCredentials;

const BASE: &str = "/api/v1";

/// An API failure in words: the problem document's `title` and `detail`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub title: String,
    pub detail: Option<String>,
    pub fields: Vec<FieldError>,
    /// The problem type's short name (`pin-required`, `mfa-code-invalid`, …); empty when
    /// the answer was not a problem document.
    pub code: String,
}

impl ApiError {
    fn network(e: gloo_net::Error) -> Self {
        Self {
            status: 0,
            title: "The server could not be reached".into(),
            detail: Some(e.to_string()),
            fields: vec![],
            code: String::new(),
        }
    }
    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }
}

/// The status and body of an answer.
#[derive(Clone)]
pub struct Reply {
    status: u16,
    ok: bool,
    text: String,
}

type ReplyFuture = Pin<Box<dyn Future<Output = Result<Reply, ApiError>>>>;

/// Sends one request and reads the answer's text. Not generic and boxed: every call
/// shares this one fetch state machine, so each typed call below adds only its JSON
/// decoding (the dashboard has a bundle-size budget).
///
/// Two org-wide rules are answered here, once for every page:
/// - `pin-required` (PIN protection, a sensitive action without an open step-up window):
///   the PIN dialog asks for the PIN and opens the window, then the request is sent once
///   more (see [`crate::pin_prompt`]).
/// - `mfa-required` on a page load (the org requires MFA, the member has none): the
///   member is sent to Account → Security to set it up.
fn request(
    method: &'static str,
    path: &str,
    body: Option<Result<String, ApiError>>,
) -> ReplyFuture {
    let path = path.to_string();
    Box::pin(async move {
        let body = body.transpose()?;
        let reply = send_once(method, &path, body.as_deref()).await?;
        if reply.ok || reply.status != 403 {
            return Ok(reply);
        }
        let code = serde_json::from_str::<Problem>(&reply.text)
            .map(|p| p.code)
            .unwrap_or_default();
        match code.as_str() {
            "pin-required" => match org_of(&path) {
                Some(slug) if crate::pin_prompt::ask(slug.clone()).await => {
                    send_once(method, &path, body.as_deref()).await
                }
                _ => Ok(reply),
            },
            "mfa-required" if method == "GET" => {
                crate::pin_prompt::mfa_required(org_of(&path).unwrap_or_default());
                Ok(reply)
            }
            _ => Ok(reply),
        }
    })
}

/// The org slug of `/orgs/{slug}` and the paths under it.
fn org_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/orgs/")?;
    let slug = rest.split(['/', '?']).next()?;
    (!slug.is_empty()).then(|| slug.to_string())
}

async fn send_once(
    method: &'static str,
    path: &str,
    body: Option<&str>,
) -> Result<Reply, ApiError> {
    let url = format!("{BASE}{path}");
    let b = match method {
        "POST" => Request::post(&url),
        "PUT" => Request::put(&url),
        "PATCH" => Request::patch(&url),
        "DELETE" => Request::delete(&url),
        _ => Request::get(&url),
    }
    .credentials(RequestCredentials::SameOrigin)
    .header("Accept", "application/json, application/problem+json");
    let req = match body {
        Some(json) => b
            .header("Content-Type", "application/json")
            .body(json.to_string()),
        None => b.build(),
    }
    .map_err(ApiError::network)?;
    let r = req.send().await.map_err(ApiError::network)?;
    let text = r.text().await.map_err(ApiError::network)?;
    Ok(Reply {
        status: r.status(),
        ok: r.ok(),
        text,
    })
}

fn finish<T: DeserializeOwned>(r: Result<Reply, ApiError>) -> Result<T, ApiError> {
    let Reply { status, ok, text } = r?;
    if !ok {
        return Err(problem(status, text));
    }
    let body = if text.trim().is_empty() {
        "null"
    } else {
        &text
    };
    serde_json::from_str(body).map_err(|e| ApiError {
        status,
        title: "Unexpected answer from the server".into(),
        detail: Some(e.to_string()),
        fields: vec![],
        code: String::new(),
    })
}

/// The error a failed request answered with.
fn problem(status: u16, text: String) -> ApiError {
    match serde_json::from_str::<Problem>(&text) {
        Ok(p) => ApiError {
            status,
            title: p.title,
            detail: p.detail,
            fields: p.errors,
            code: p.code,
        },
        Err(_) => ApiError {
            status,
            title: format!("Request failed (HTTP {status})"),
            detail: (!text.is_empty() && text.len() < 300).then_some(text),
            fields: vec![],
            code: String::new(),
        },
    }
}

/// How a call's answer becomes its result.
type Decode<T> = fn(Result<Reply, ApiError>) -> Result<T, ApiError>;

/// A request in flight: the untyped request and how to decode its answer. Calls of all
/// types share one future type (the bundle has a size budget; see [`resource`]).
pub struct ApiFuture<T> {
    reply: ReplyFuture,
    decode: Decode<T>,
}

impl<T> Future for ApiFuture<T> {
    type Output = Result<T, ApiError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let decode = self.decode;
        self.reply.as_mut().poll(cx).map(decode)
    }
}

fn get<T: DeserializeOwned>(path: &str) -> ApiFuture<T> {
    ApiFuture {
        reply: request("GET", path, None),
        decode: finish,
    }
}

fn send<B: Serialize, T: DeserializeOwned>(
    method: &'static str,
    path: &str,
    body: &B,
) -> ApiFuture<T> {
    let json = serde_json::to_string(body).map_err(|e| ApiError::network(e.into()));
    ApiFuture {
        reply: request(method, path, Some(json)),
        decode: finish,
    }
}

fn send_empty<T: DeserializeOwned>(method: &'static str, path: &str) -> ApiFuture<T> {
    ApiFuture {
        reply: request(method, path, None),
        decode: finish,
    }
}

/// For calls whose answer has nothing the dashboard uses.
fn ignore_answer(call: ApiFuture<IgnoredAny>) -> ApiFuture<()> {
    ApiFuture {
        reply: call.reply,
        decode: |r| finish::<IgnoredAny>(r).map(|_| ()),
    }
}

/// Data loaded from the API, re-fetched when a signal its fetcher reads changes.
///
/// It keeps the answer as text and decodes it when read, so that all resources share
/// one `LocalResource` type: Leptos's resource code is large and generic, and one copy
/// per data type cost the bundle (which has a size budget) tens of KB.
pub struct Resource<T> {
    reply: LocalResource<Result<Reply, ApiError>>,
    data: PhantomData<fn() -> T>,
}

impl<T> Clone for Resource<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Resource<T> {}

impl<T: DeserializeOwned> Resource<T> {
    /// The data once loaded; while it reloads, still the last answer. Reactive.
    pub fn get(&self) -> Option<Result<T, ApiError>> {
        self.reply.get().map(finish)
    }
}

pub fn resource<T>(fetch: impl Fn() -> ApiFuture<T> + 'static) -> Resource<T> {
    let fetch: Box<dyn Fn() -> ReplyFuture> = Box::new(move || fetch().reply);
    Resource {
        reply: LocalResource::new(fetch),
        data: PhantomData,
    }
}

type ActionFn<I, T> = Box<dyn Fn(&I) -> ApiFuture<T>>;

/// An action calling the API. Boxed, so actions with the same input and output share
/// Leptos's generic action code.
pub fn action<I: 'static, T: 'static>(
    run: impl Fn(&I) -> ApiFuture<T> + 'static,
) -> Action<I, Result<T, ApiError>> {
    let run: ActionFn<I, T> = Box::new(run);
    Action::new_local(run)
}

/// The cookie the server sets next to the (HttpOnly) session cookie, with the same
/// lifetime, and clears with it: readable here, it tells whether asking `/me` can succeed.
const SESSION_HINT: &str = "gatehouse_signed_in";

fn document() -> Option<web_sys::HtmlDocument> {
    use wasm_bindgen::JsCast;
    leptos::prelude::document().dyn_into().ok()
}

/// Whether this browser may have a session (the hint cookie is there).
pub fn session_hint() -> bool {
    document().and_then(|d| d.cookie().ok()).is_some_and(|c| {
        c.split(';').any(|kv| {
            kv.trim_start()
                .strip_prefix(SESSION_HINT)
                .is_some_and(|v| v.starts_with('='))
        })
    })
}

/// Drops a hint that outlived its session, so later visits skip the failing `/me`.
pub fn forget_session_hint() {
    if let Some(d) = document() {
        let _ = d.set_cookie(&format!("{SESSION_HINT}=; Max-Age=0; Path=/"));
    }
}

/// `k=v&…` with each value percent-encoded.
fn query_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", String::from(js_sys::encode_uri_component(v))))
        .collect::<Vec<_>>()
        .join("&")
}
