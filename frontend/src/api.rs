//! Calls to the REST API under `/api/v1`, with the session cookie (same-origin fetch, so
//! the browser also sends the `Origin` header cookie-authenticated writes require).
use gatehouse_types::{
    ApiKey, CreateApiKeyRequest, CreateOrgRequest, CreatedApiKey, FieldError, LoginRequest,
    Organization, Problem, SignupRequest, UpdateOrgRequest, User,
};
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::{Serialize, de::DeserializeOwned};
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

fn builder(method: &str, path: &str) -> RequestBuilder {
    let url = format!("{BASE}{path}");
    let b = match method {
        "POST" => Request::post(&url),
        "PATCH" => Request::patch(&url),
        "DELETE" => Request::delete(&url),
        _ => Request::get(&url),
    };
    b.credentials(RequestCredentials::SameOrigin)
        .header("Accept", "application/json, application/problem+json")
}

async fn finish<T: DeserializeOwned>(r: Result<Response, gloo_net::Error>) -> Result<T, ApiError> {
    let r = r.map_err(ApiError::network)?;
    let status = r.status();
    let text = r.text().await.map_err(ApiError::network)?;
    if r.ok() {
        let body = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        return serde_json::from_str(body).map_err(|e| ApiError {
            status,
            title: "Unexpected answer from the server".into(),
            detail: Some(e.to_string()),
            fields: vec![],
        });
    }
    Err(match serde_json::from_str::<Problem>(&text) {
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
    })
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    finish(builder("GET", path).send().await).await
}

pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: &B,
) -> Result<T, ApiError> {
    let req = builder(method, path)
        .json(body)
        .map_err(ApiError::network)?;
    finish(req.send().await).await
}

pub async fn send_empty<T: DeserializeOwned>(method: &str, path: &str) -> Result<T, ApiError> {
    finish(builder(method, path).send().await).await
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
