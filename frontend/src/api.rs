//! Calls to the REST API under `/api/v1`, with the session cookie (same-origin fetch, so
//! the browser also sends the `Origin` header cookie-authenticated writes require).
use gatehouse_types::{
    ApiKey, CreateApiKeyRequest, CreateOrgRequest, CreatedApiKey, FieldError, LoginRequest,
    Organization, Problem, SignupRequest, UpdateOrgRequest, User,
};
use gloo_net::http::Request;
use leptos::prelude::{Action, LocalResource};
use serde::{
    Serialize,
    de::{DeserializeOwned, IgnoredAny},
};
use std::pin::Pin;
use web_sys::RequestCredentials;

const BASE: &str = "/api/v1";

/// An API failure in words: the problem document's `title` and `detail`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub title: String,
    pub detail: Option<String>,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    fn network(e: gloo_net::Error) -> Self {
        Self {
            status: 0,
            title: "The server could not be reached".into(),
            detail: Some(e.to_string()),
            fields: vec![],
        }
    }
    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }
}

/// The status and body of an answer.
struct Reply {
    status: u16,
    ok: bool,
    text: String,
}

/// Sends one request and reads the answer's text. Not generic and boxed: every call
/// shares this one fetch state machine, so each typed call below adds only its JSON
/// decoding (the dashboard has a bundle-size budget).
fn request(
    method: &'static str,
    path: &str,
    body: Option<Result<String, ApiError>>,
) -> Pin<Box<dyn Future<Output = Result<Reply, ApiError>>>> {
    let url = format!("{BASE}{path}");
    Box::pin(async move {
        let b = match method {
            "POST" => Request::post(&url),
            "PATCH" => Request::patch(&url),
            "DELETE" => Request::delete(&url),
            _ => Request::get(&url),
        }
        .credentials(RequestCredentials::SameOrigin)
        .header("Accept", "application/json, application/problem+json");
        let req = match body {
            Some(json) => b.header("Content-Type", "application/json").body(json?),
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
        },
        Err(_) => ApiError {
            status,
            title: format!("Request failed (HTTP {status})"),
            detail: (!text.is_empty() && text.len() < 300).then_some(text),
            fields: vec![],
        },
    }
}

/// A request in flight. Boxed, so every resource and action of the same data type
/// shares one copy of Leptos's generic code for it (see [`resource`]).
pub type ApiFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

fn decode<T: DeserializeOwned + 'static>(
    reply: Pin<Box<dyn Future<Output = Result<Reply, ApiError>>>>,
) -> ApiFuture<T> {
    Box::pin(async move { finish(reply.await) })
}

pub fn get<T: DeserializeOwned + 'static>(path: &str) -> ApiFuture<T> {
    decode(request("GET", path, None))
}

pub fn send<B: Serialize, T: DeserializeOwned + 'static>(
    method: &'static str,
    path: &str,
    body: &B,
) -> ApiFuture<T> {
    let json = serde_json::to_string(body).map_err(|e| ApiError::network(e.into()));
    decode(request(method, path, Some(json)))
}

pub fn send_empty<T: DeserializeOwned + 'static>(method: &'static str, path: &str) -> ApiFuture<T> {
    decode(request(method, path, None))
}

/// For calls whose answer has nothing the dashboard uses.
pub fn ignore_answer(call: ApiFuture<IgnoredAny>) -> ApiFuture<()> {
    Box::pin(async move { call.await.map(|_| ()) })
}

/// A resource loading from the API (re-run when a signal `fetch` reads changes). The
/// fetcher is boxed like the future, so resources of the same data type share one copy
/// of `LocalResource`'s large generic code instead of one per call site.
pub fn resource<T: 'static>(
    fetch: impl Fn() -> ApiFuture<T> + 'static,
) -> LocalResource<Result<T, ApiError>> {
    let fetch: Box<dyn Fn() -> ApiFuture<T>> = Box::new(fetch);
    LocalResource::new(fetch)
}

type ActionFn<I, T> = Box<dyn Fn(&I) -> ApiFuture<T>>;

/// An action calling the API, boxed for the same reason as [`resource`].
pub fn action<I: 'static, T: 'static>(
    run: impl Fn(&I) -> ApiFuture<T> + 'static,
) -> Action<I, Result<T, ApiError>> {
    let run: ActionFn<I, T> = Box::new(run);
    Action::new_local(run)
}

pub fn me() -> ApiFuture<User> {
    get("/me")
}
pub fn login(req: LoginRequest) -> ApiFuture<User> {
    send("POST", "/auth/login", &req)
}
pub fn signup(req: SignupRequest) -> ApiFuture<User> {
    send("POST", "/auth/signup", &req)
}
pub fn logout() -> ApiFuture<()> {
    ignore_answer(send_empty("POST", "/auth/logout"))
}
pub fn list_orgs() -> ApiFuture<Vec<Organization>> {
    get("/orgs")
}
pub fn create_org(req: CreateOrgRequest) -> ApiFuture<Organization> {
    send("POST", "/orgs", &req)
}
pub fn get_org(slug: String) -> ApiFuture<Organization> {
    get(&format!("/orgs/{slug}"))
}
pub fn update_org(slug: String, req: UpdateOrgRequest) -> ApiFuture<Organization> {
    send("PATCH", &format!("/orgs/{slug}"), &req)
}
pub fn list_keys(slug: String) -> ApiFuture<Vec<ApiKey>> {
    get(&format!("/orgs/{slug}/api-keys"))
}
pub fn create_key(slug: String, req: CreateApiKeyRequest) -> ApiFuture<CreatedApiKey> {
    send("POST", &format!("/orgs/{slug}/api-keys"), &req)
}
pub fn revoke_key(slug: String, id: String) -> ApiFuture<()> {
    ignore_answer(send_empty("DELETE", &format!("/orgs/{slug}/api-keys/{id}")))
}
