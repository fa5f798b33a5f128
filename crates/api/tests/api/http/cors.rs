//! CORS for browser-based MCP clients: preflights and bearer-token requests from any
//! origin on the MCP endpoint and the OAuth endpoints, never with credentials; the
//! Host check that keeps DNS-rebinding protection; no CORS on the cookie REST API.
use crate::support::*;
use serde_json::{Value, json};

const FOREIGN: &str = "https://mcp-inspector.example";

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "browser", "version": "1"}}})
}

#[tokio::test]
async fn browser_clients_get_cors_on_mcp_and_oauth_endpoints_without_credentials() {
    let app = spawn_app().await;
    let owner = app.signup("cory@example.com").await;
    let org = app.create_org(&owner, "Cory").await;
    let created: Value = json(
        owner
            .post(
                &format!("/orgs/{}/api-keys", org.slug),
                json!({"name": "browser", "scopes": ["mcp"]}),
            )
            .await,
    )
    .await;
    let key = created["secret"].as_str().unwrap().to_string();
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let http = plain();

    // Preflight from a foreign origin.
    let r = http
        .request(reqwest::Method::OPTIONS, &mcp)
        .header("origin", FOREIGN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version, mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    let methods = header(&r, "access-control-allow-methods")
        .unwrap()
        .to_string();
    for m in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = header(&r, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "authorization",
        "content-type",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    ] {
        assert!(allowed.contains(h), "{allowed}");
    }
    assert!(header(&r, "access-control-max-age").is_some());
    assert!(header(&r, "access-control-allow-credentials").is_none());

    // The real request with a bearer key from that origin works and is readable there.
    let r = http
        .post(&mcp)
        .header("origin", FOREIGN)
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    let exposed = header(&r, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("mcp-session-id") && exposed.contains("www-authenticate"));
    assert!(header(&r, "access-control-allow-credentials").is_none());

    // A browser client without a token can read the challenge that starts OAuth.
    let r = http
        .post(&mcp)
        .header("origin", FOREIGN)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert!(header(&r, "www-authenticate").is_some());

    // The OAuth endpoints and discovery documents, preflight and real answer.
    for path in [
        "/register",
        "/token",
        "/revoke",
        "/.well-known/oauth-authorization-server",
        &format!("/.well-known/oauth-protected-resource/mcp/{}", org.slug),
    ] {
        let r = http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", FOREIGN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert!(header(&r, "access-control-allow-credentials").is_none());
    }
    let r = http
        .post(app.url("/token"))
        .header("origin", FOREIGN)
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    let r = http
        .post(app.url("/register"))
        .header("origin", FOREIGN)
        .json(&json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert!(header(&r, "access-control-allow-credentials").is_none());

    // DNS rebinding: the same request under another host name is refused, preflight
    // included.
    let r = http
        .post(&mcp)
        .header("host", "rebound.attacker.example")
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    assert!(header(&r, "access-control-allow-origin").is_none());
    let r = http
        .request(reqwest::Method::OPTIONS, &mcp)
        .header("host", "rebound.attacker.example")
        .header("origin", "http://rebound.attacker.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The cookie-authenticated REST API has no CORS at all.
    let r = owner
        .http
        .get(app.url("/api/v1/me"))
        .header("origin", FOREIGN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "access-control-allow-origin").is_none());
    let r = http
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/me"))
        .header("origin", FOREIGN)
        .header("access-control-request-method", "PATCH")
        .send()
        .await
        .unwrap();
    assert!(header(&r, "access-control-allow-origin").is_none());
    assert!(header(&r, "access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_host_is_the_one_checked() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let owner = app.signup("prue@example.com").await;
    let org = app.create_org(&owner, "Prue").await;
    let created: Value = json(
        owner
            .post(
                &format!("/orgs/{}/api-keys", org.slug),
                json!({"name": "proxied", "scopes": ["mcp"]}),
            )
            .await,
    )
    .await;
    let key = created["secret"].as_str().unwrap();
    let our_host = app.base.trim_start_matches("http://").to_string();
    let call = |forwarded: &str| {
        plain()
            .post(app.url(&format!("/mcp/{}", org.slug)))
            .header("host", "gatehouse-backend.internal:8080")
            .header("x-forwarded-host", forwarded)
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize_body())
            .send()
    };
    assert_eq!(call(&our_host).await.unwrap().status(), 200);
    assert_eq!(
        call("rebound.attacker.example").await.unwrap().status(),
        403
    );
}
