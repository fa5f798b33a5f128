use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let c = reqwest::Client::new();
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let text = c
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "gatehouse_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_caller_supplied_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn_app().await;
    let c = reqwest::Client::new();
    let r = c
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = c
        .get(app.url("/healthz"))
        .header("x-request-id", "evil\tid")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "evil\tid");
    // Without one, every request gets its own.
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        let r = c.get(app.url("/healthz")).send().await.unwrap();
        ids.insert(r.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn unknown_api_routes_and_bad_json_get_problem_documents() {
    let app = spawn_app().await;
    let s = app.session();
    assert_problem(s.get("/nope").await, 404, "not-found").await;
    let r = s
        .http
        .post(app.url("/api/v1/auth/signup"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "malformed-request").await;
    let r = s
        .http
        .post(app.url("/api/v1/auth/signup"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "malformed-request").await;
    let r = s
        .post("/auth/signup", serde_json::json!({"email": 5}))
        .await;
    assert_problem(r, 422, "validation").await;
    let big = "x".repeat(100 * 1024);
    let r = s
        .post(
            "/auth/signup",
            serde_json::json!({"email": "a@b.co", "password": big}),
        )
        .await;
    assert_problem(r, 413, "payload-too-large").await;
}

#[tokio::test]
async fn the_served_openapi_document_is_the_checked_in_one() {
    let app = spawn_app().await;
    let served = reqwest::get(app.url("/openapi.yaml"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml"))
            .unwrap();
    assert!(
        served == checked_in,
        "openapi.yaml is out of date: run `cargo run -p gatehouse-api --bin gatehouse -- openapi > openapi.yaml`"
    );
    let doc: serde_yaml::Value = serde_yaml::from_str(&served).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/orgs/{slug}/audit-logs"].is_mapping());
}

#[tokio::test]
async fn the_dashboard_fallback_serves_html_and_old_settings_urls_redirect() {
    let app = spawn_app().await;
    let s = app.session();
    let r = s
        .http
        .get(app.url("/orgs/acme/settings/general"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Gatehouse"));
    let r = s
        .http
        .get(app.url("/_admin/_settings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/settings/integrations");
    let r = s
        .http
        .get(app.url("/_admin/_settings/_api"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/settings/api");
}

#[tokio::test]
async fn a_body_over_any_payload_limit_is_a_problem_document() {
    let app = spawn_app().await;
    let owner = app.signup("pia@example.com").await;
    let org = app.create_org(&owner, "Pia").await;
    let http = reqwest::Client::new();
    // The MCP endpoint's own limit (4 MiB).
    let r = http
        .post(app.url(&format!("/mcp/{}", org.slug)))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(vec![b' '; 5 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 413, "payload-too-large").await;
    assert_eq!(p.status, 413);
    // Registration reads raw bytes under actix's default limit.
    let r = http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_problem(r, 413, "payload-too-large").await;
}
