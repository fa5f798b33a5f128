use crate::support::*;
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

#[tokio::test]
async fn a_known_path_asked_with_a_wrong_method_gets_405_with_allow() {
    let app = spawn_app().await;
    let owner = app.signup("mona@example.com").await;
    let org = app.create_org(&owner, "Mona").await;
    let id = "0190a2b4-0000-7000-8000-000000000000";
    for (method, path, allow) in [
        ("PUT", "/me".to_string(), "GET, PATCH"),
        ("DELETE", "/auth/login".to_string(), "POST"),
        ("GET", "/auth/logout".to_string(), "POST"),
        (
            "POST",
            format!("/orgs/{}/api-keys/{id}", org.slug),
            "DELETE",
        ),
        (
            "PUT",
            format!("/orgs/{}/connectors/{id}", org.slug),
            "DELETE, GET, PATCH",
        ),
        ("DELETE", format!("/orgs/{}", org.slug), "GET, PATCH"),
        // Methods no route serves at all are the same case (schemathesis tries these).
        ("TRACE", "/me".to_string(), "GET, PATCH"),
        ("QUERY", "/auth/login".to_string(), "POST"),
        // A route of its own that a template also matches (`DELETE /me/sessions/{id}`).
        ("DELETE", "/me/sessions/revoke-others".to_string(), "POST"),
    ] {
        let r = owner.call(method, &path, None).await;
        assert_eq!(
            r.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
        assert_problem(r, 405, "method-not-allowed").await;
    }
    // Routes outside the API too, and an unknown path stays 404.
    let http = reqwest::Client::new();
    let r = http.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    assert_problem(r, 405, "method-not-allowed").await;
    let r = http.get(app.url("/token")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_problem(r, 405, "method-not-allowed").await;
    assert_problem(owner.call("PUT", "/nope", None).await, 404, "not-found").await;
}

/// What third parties build on: errors are problem documents, operations have unique
/// ids and say who may call them, and parameters carry the server's limits.
#[tokio::test]
async fn the_openapi_document_describes_errors_auth_and_limits() {
    let doc: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml"))
            .unwrap(),
    )
    .unwrap();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["apiKey"]["scheme"], "bearer");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            assert!(
                id.chars().next().unwrap().is_ascii_lowercase() && !id.contains('_'),
                "{id}"
            );
            for (status, resp) in op["responses"].as_mapping().unwrap() {
                let status: u16 = status.as_str().unwrap().parse().unwrap();
                if status >= 400 {
                    let content = resp["content"].as_mapping().unwrap();
                    assert_eq!(content.len(), 1, "{method} {path} {status}");
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
            }
            let has = |s: &str| op["responses"][s].is_mapping();
            if path.starts_with("/orgs/{slug}") {
                assert!(has("401") && has("403") && has("404"), "{method} {path}");
                assert!(
                    op["security"].as_sequence().unwrap().len() == 2,
                    "{method} {path}"
                );
            }
            if op["requestBody"].is_mapping() {
                assert!(has("400") && has("413") && has("422"), "{method} {path}");
            }
        }
    }
    let limit = doc["paths"]["/orgs/{slug}/audit-logs"]["get"]["parameters"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 200);
}
