//! Calls to the REST API under `/api/v1`, with the session cookie (same-origin fetch, so
//! the browser also sends the `Origin` header cookie-authenticated writes require).
use gatehouse_types::{
    ApiKey, CreateApiKeyRequest, CreateOrgRequest, CreatedApiKey, FieldError, LoginRequest,
    Organization, Problem, SignupRequest, UpdateOrgRequest, User,
};
use gloo_net::http::Request;
use serde::{Serialize, de::DeserializeOwned};
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
    body: Option<String>,
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
            Some(json) => b.header("Content-Type", "application/json").body(json),
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

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    finish(request("GET", path, None).await)
}

pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: &'static str,
    path: &str,
    body: &B,
) -> Result<T, ApiError> {
    let json = serde_json::to_string(body).map_err(|e| ApiError::network(e.into()))?;
    finish(request(method, path, Some(json)).await)
}

pub async fn send_empty<T: DeserializeOwned>(
    method: &'static str,
    path: &str,
) -> Result<T, ApiError> {
    finish(request(method, path, None).await)
}

pub async fn me() -> Result<User, ApiError> {
    get("/me").await
}
pub async fn login(req: LoginRequest) -> Result<User, ApiError> {
    send("POST", "/auth/login", &req).await
}
pub async fn signup(req: SignupRequest) -> Result<User, ApiError> {
    send("POST", "/auth/signup", &req).await
}
pub async fn logout() -> Result<(), ApiError> {
    send_empty::<serde_json::Value>("POST", "/auth/logout")
        .await
        .map(|_| ())
}
pub async fn list_orgs() -> Result<Vec<Organization>, ApiError> {
    get("/orgs").await
}
pub async fn create_org(req: CreateOrgRequest) -> Result<Organization, ApiError> {
    send("POST", "/orgs", &req).await
}
pub async fn get_org(slug: String) -> Result<Organization, ApiError> {
    get(&format!("/orgs/{slug}")).await
}
pub async fn update_org(slug: String, req: UpdateOrgRequest) -> Result<Organization, ApiError> {
    send("PATCH", &format!("/orgs/{slug}"), &req).await
}
pub async fn list_keys(slug: String) -> Result<Vec<ApiKey>, ApiError> {
    get(&format!("/orgs/{slug}/api-keys")).await
}
pub async fn create_key(slug: String, req: CreateApiKeyRequest) -> Result<CreatedApiKey, ApiError> {
    send("POST", &format!("/orgs/{slug}/api-keys"), &req).await
}
pub async fn revoke_key(slug: String, id: String) -> Result<(), ApiError> {
    send_empty::<serde_json::Value>("DELETE", &format!("/orgs/{slug}/api-keys/{id}"))
        .await
        .map(|_| ())
}
