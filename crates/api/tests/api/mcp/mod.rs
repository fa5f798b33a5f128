//! The org's MCP endpoint, end to end: an MCP client → the gateway → real upstream MCP
//! servers on 127.0.0.1 (`support::fake_mcp`).
mod conformance;
mod fidelity;
mod modern;
mod sdk;

use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// An MCP client speaking Streamable HTTP to the gateway.
struct Client {
    http: reqwest::Client,
    url: String,
    auth: String,
    session: Option<String>,
}

impl Client {
    fn new(app: &TestApp, slug: &str, key: &str) -> Self {
        Client {
            http: reqwest::Client::new(),
            url: app.url(&format!("/mcp/{slug}")),
            auth: format!("Bearer {key}"),
            session: None,
        }
    }
    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = &self.session {
            rb = rb
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        rb
    }
    async fn initialize(&mut self, version: &str) -> Value {
        let r = self.post(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        self.session = Some(r.headers()["mcp-session-id"].to_str().unwrap().to_string());
        let v: Value = r.json().await.unwrap();
        let r = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        v["result"].clone()
    }
    async fn rpc(&self, method: &str, params: Value) -> Value {
        let r = self
            .post(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}");
        r.json().await.unwrap()
    }
    async fn tool_names(&self) -> Vec<String> {
        let v = self.rpc("tools/list", json!({})).await;
        v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn tools_of_healthy_connectors_are_listed_under_their_prefix_and_calls_are_routed() {
    let app = mcp_app().await;
    let owner = app.signup("mcp1@example.com").await;
    let org = app.create_org(&owner, "Tools Inc").await;
    let a = start_upstream(vec!["echo", "fail"], Some("Bearer upstream-secret"), false).await;
    let b = start_upstream(vec!["echo"], None, true).await;
    let ca = connector(
        &owner,
        &org.slug,
        json!({"name": "Alpha", "url": a.url, "credential": "Bearer upstream-secret"}),
    )
    .await;
    let cb = connector(
        &owner,
        &org.slug,
        json!({"name": "Beta", "url": b.url, "tool_prefix": "beta_"}),
    )
    .await;
    wait_health(&owner, &org.slug, ca["id"].as_str().unwrap(), "healthy").await;
    let cb = wait_health(&owner, &org.slug, cb["id"].as_str().unwrap(), "healthy").await;
    assert_eq!(cb["tool_count"], 1);

    let mut c = Client::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    let init = c.initialize("2025-11-25").await;
    assert_eq!(init["protocolVersion"], "2025-11-25");
    let mut names = c.tool_names().await;
    names.sort();
    assert_eq!(names, ["alpha__echo", "alpha__fail", "beta_echo"]);

    let v = c
        .rpc(
            "tools/call",
            json!({"name": "alpha__echo", "arguments": {"x": 1}}),
        )
        .await;
    assert_eq!(v["result"]["content"][0]["text"], "echo:{\"x\":1}");
    let v = c
        .rpc("tools/call", json!({"name": "beta_echo", "arguments": {}}))
        .await;
    assert_eq!(
        v["result"]["content"][0]["text"], "echo:{}",
        "SSE answers are relayed"
    );
    // The upstream's own JSON-RPC error is relayed as it is.
    let v = c.rpc("tools/call", json!({"name": "alpha__fail"})).await;
    assert_eq!(v["error"]["code"], -32042);
    let v = c.rpc("tools/call", json!({"name": "nope"})).await;
    assert_eq!(v["error"]["code"], -32602);
    // The credential reached the upstream, and only that one.
    assert_eq!(
        a.state.lock().unwrap().seen_auth,
        vec![Some("Bearer upstream-secret".to_string()); 2]
    );
    assert_eq!(b.state.lock().unwrap().seen_auth, vec![None]);

    // Prompts are prefixed like tools; resources keep their URIs; both are routed.
    let v = c.rpc("prompts/list", json!({})).await;
    let prompts: Vec<_> = v["result"]["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        prompts,
        ["alpha__greet"],
        "the SSE upstream has no prompts and stays healthy"
    );
    let v = c
        .rpc(
            "prompts/get",
            json!({"name": "alpha__greet", "arguments": {"who": "Ada"}}),
        )
        .await;
    assert_eq!(v["result"]["messages"][0]["content"]["text"], "greet, Ada");
    let v = c.rpc("resources/list", json!({})).await;
    let mut uris: Vec<_> = v["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap().to_string())
        .collect();
    uris.sort();
    assert_eq!(uris, ["test://a/readme", "test://b/readme"]);
    let v = c
        .rpc("resources/read", json!({"uri": "test://b/readme"}))
        .await;
    assert_eq!(
        v["result"]["contents"][0]["text"],
        "contents of test://b/readme"
    );
    assert_eq!(
        c.rpc("resources/read", json!({"uri": "test://c/none"}))
            .await["error"]["code"],
        -32602
    );

    // Usage per key and connector.
    let usage: Vec<gatehouse_types::UsageRow> =
        json(owner.get(&format!("/orgs/{}/usage", org.slug)).await).await;
    let alpha = usage
        .iter()
        .find(|u| u.connector_id.to_string() == ca["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (alpha.calls, alpha.errors),
        (3, 1),
        "two tool calls and a prompt"
    );
    assert_eq!(usage.iter().map(|u| u.calls).sum::<i64>(), 5);
}

/// An org with one connector `Up` (tool prefix `up__`) on `up`, healthy, and a
/// client initialized with an `mcp` key.
async fn org_with_one_connector(
    app: &TestApp,
    email: &str,
    up: &TestUpstream,
) -> (TestUser, String, Client) {
    let owner = app.signup(email).await;
    let org = app.create_org(&owner, "One Connector").await;
    let c1 = connector(&owner, &org.slug, json!({"name": "Up", "url": up.url})).await;
    wait_health(&owner, &org.slug, c1["id"].as_str().unwrap(), "healthy").await;
    let mut c = Client::new(app, &org.slug, &mcp_key(&owner, &org.slug).await);
    c.initialize("2025-11-25").await;
    (owner, org.slug, c)
}

/// A client that sends a progress token (and accepts an event stream) gets the
/// upstream's progress relayed as it comes, then the response; without a token, or
/// without accepting a stream, it gets plain JSON.
#[tokio::test]
async fn progress_of_a_tool_call_is_streamed_to_a_client_that_asked_for_it() {
    let app = mcp_app().await;
    let up = start_upstream(vec!["work"], None, true).await;
    let (owner, slug, c) = org_with_one_connector(&app, "mcp-progress@example.com", &up).await;
    let call = json!({"jsonrpc": "2.0", "id": "call-9", "method": "tools/call",
        "params": {"name": "up__work", "arguments": {"n": 2}, "_meta": {"progressToken": "tok-1"}}});
    let r = c.post(&call).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = r.text().await.unwrap();
    let messages: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{text}");
    assert_eq!(messages[0]["method"], "notifications/progress");
    assert_eq!(messages[0]["params"]["progressToken"], "tok-1");
    assert_eq!(messages[1]["id"], "call-9");
    assert_eq!(
        messages[1]["result"]["content"][0]["text"],
        r#"work:{"n":2}"#
    );

    // No stream for a client that accepts only JSON, or did not ask for progress.
    let only_json = c
        .http
        .post(&c.url)
        .header("authorization", &c.auth)
        .header("accept", "application/json")
        .header("mcp-session-id", c.session.as_deref().unwrap())
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(
        only_json.headers()["content-type"],
        "application/json",
        "accept: application/json"
    );
    let v: Value = only_json.json().await.unwrap();
    assert_eq!(v["id"], "call-9");
    let v = c
        .rpc("tools/call", json!({"name": "up__work", "arguments": {}}))
        .await;
    assert_eq!(v["result"]["content"][0]["text"], "work:{}");

    let usage: Vec<gatehouse_types::UsageRow> =
        json(owner.get(&format!("/orgs/{slug}/usage")).await).await;
    assert_eq!(
        usage
            .iter()
            .map(|u| (u.calls, u.errors))
            .collect::<Vec<_>>(),
        [(3, 0)]
    );
}

/// Calls are counted in memory: with the periodic flush far away, a burst of calls
/// leaves the usage table untouched until `GET …/usage` flushes it.
#[tokio::test]
async fn usage_is_counted_without_a_database_write_per_call() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = spawn_app_with(|c| {
        c.outbound.allow_loopback = true;
        c.mcp.health_poll_ms = 200;
        c.mcp.usage_flush_ms = 3_600_000;
    })
    .await;
    let up = start_upstream(vec!["echo"], None, false).await;
    let (owner, slug, c) = org_with_one_connector(&app, "mcp-usage@example.com", &up).await;
    for _ in 0..20 {
        let v = c.rpc("tools/call", json!({"name": "up__echo"})).await;
        assert!(v["result"].is_object(), "{v}");
    }
    let rows = || gatehouse::entity::usage_daily::Entity::find().count(&app.db);
    assert_eq!(rows().await.unwrap(), 0, "a call wrote to the usage table");
    let usage: Vec<gatehouse_types::UsageRow> =
        json(owner.get(&format!("/orgs/{slug}/usage")).await).await;
    assert_eq!(usage.iter().map(|u| u.calls).sum::<i64>(), 20);
    assert_eq!(rows().await.unwrap(), 1);
}

#[tokio::test]
async fn an_upstream_that_goes_down_turns_unhealthy_and_its_tools_disappear() {
    let app = mcp_app().await;
    let owner = app.signup("mcp2@example.com").await;
    let org = app.create_org(&owner, "Flaky").await;
    let up = start_upstream(vec!["echo"], None, false).await;
    let c1 = connector(&owner, &org.slug, json!({"name": "Flaky", "url": up.url})).await;
    let id = c1["id"].as_str().unwrap().to_string();
    wait_health(&owner, &org.slug, &id, "healthy").await;
    let mut c = Client::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    c.initialize("2025-06-18").await;
    assert_eq!(c.tool_names().await, ["flaky__echo"]);
    up.handle.stop(false).await;
    let down = wait_health(&owner, &org.slug, &id, "unhealthy").await;
    assert!(
        down["health"]["error"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{down}"
    );
    assert!(c.tool_names().await.is_empty());
    let v = c.rpc("tools/call", json!({"name": "flaky__echo"})).await;
    assert_eq!(v["error"]["code"], -32602);
    let p: gatehouse_types::AuditPage = json(
        owner
            .get(&format!(
                "/orgs/{}/audit-logs?action=mcp.health_changed",
                org.slug
            ))
            .await,
    )
    .await;
    let tos: Vec<_> = p
        .items
        .iter()
        .map(|e| e.metadata["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tos, ["unhealthy", "healthy"]);
}

/// The hot path's client follows no redirects; a redirect sends the connector through
/// the redirect-following client, which keeps to the URL's own origin.
#[tokio::test]
async fn an_upstream_that_redirects_is_followed_on_its_own_origin_only() {
    let app = mcp_app().await;
    let owner = app.signup("mcp-moved@example.com").await;
    let org = app.create_org(&owner, "Moved").await;
    let up = start_upstream(vec!["echo"], None, false).await;
    let moved = connector(
        &owner,
        &org.slug,
        json!({"name": "Moved", "url": up.url.replace("/mcp", "/moved"), "tool_prefix": ""}),
    )
    .await;
    let away = connector(
        &owner,
        &org.slug,
        json!({"name": "Away", "url": up.url.replace("/mcp", "/away")}),
    )
    .await;
    wait_health(&owner, &org.slug, moved["id"].as_str().unwrap(), "healthy").await;
    let refused = wait_health(&owner, &org.slug, away["id"].as_str().unwrap(), "unhealthy").await;
    assert!(
        refused["health"]["error"]
            .as_str()
            .unwrap()
            .contains("redirect"),
        "{refused}"
    );
    let mut c = Client::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    c.initialize("2025-11-25").await;
    assert_eq!(c.tool_names().await, ["echo"]);
    // Without a prefix the params go upstream exactly as sent.
    for _ in 0..3 {
        let v = c
            .rpc(
                "tools/call",
                json!({"name": "echo", "arguments": {"n": [1, "ü"]}}),
            )
            .await;
        assert_eq!(
            v["result"]["content"][0]["text"], r#"echo:{"n":[1,"ü"]}"#,
            "{v}"
        );
    }
}

#[tokio::test]
async fn the_transport_follows_streamable_http() {
    let app = mcp_app().await;
    let owner = app.signup("mcp3@example.com").await;
    let org = app.create_org(&owner, "Transport").await;
    let k = mcp_key(&owner, &org.slug).await;
    let mut c = Client::new(&app, &org.slug, &k);
    // Version negotiation: a supported version is kept, an unknown one gets our latest.
    assert_eq!(
        c.initialize("2025-06-18").await["protocolVersion"],
        "2025-06-18"
    );
    assert_eq!(
        Client::new(&app, &org.slug, &k)
            .initialize("1999-01-01")
            .await["protocolVersion"],
        "2025-11-25"
    );
    assert_eq!(c.rpc("ping", json!({})).await["result"], json!({}));
    assert_eq!(c.rpc("nope/nope", json!({})).await["error"]["code"], -32601);
    assert_eq!(
        c.rpc("resources/list", json!({})).await["result"]["resources"],
        json!([])
    );
    assert_eq!(
        c.rpc("prompts/list", json!({})).await["result"]["prompts"],
        json!([])
    );

    let raw = |body: &str| {
        c.http
            .post(&c.url)
            .header("authorization", format!("Bearer {k}"))
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    // Parse errors and batches get JSON-RPC errors, never a 500.
    let r = raw("{nope")
        .header("mcp-session-id", c.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32700);
    let r = raw(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32600);
    // No session id is fine (the credential is checked on every request; claude.ai
    // never echoes the id), and so is `Accept: */*`.
    let r = raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .header("accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .header("mcp-session-id", "ghm_unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .header("mcp-session-id", c.session.clone().unwrap())
        .header("mcp-protocol-version", "1999-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // DNS-rebinding protection: a foreign Host is refused; any Origin may call with a
    // bearer credential (CORS, see cors.rs).
    let r = raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .header("origin", "https://evil.example")
        .header("mcp-session-id", c.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // No server-initiated stream: 405 with Allow.
    let r = c
        .http
        .get(&c.url)
        .header("authorization", format!("Bearer {k}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST, DELETE");
    // DELETE ends the session.
    let r = c
        .http
        .delete(&c.url)
        .header("authorization", format!("Bearer {k}"))
        .header("mcp-session-id", c.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .post(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn only_a_live_mcp_key_of_this_org_from_an_allowed_address_gets_in() {
    let app = mcp_app().await;
    let owner = app.signup("mcp4@example.com").await;
    let org = app.create_org(&owner, "Guarded").await;
    let url = app.url(&format!("/mcp/{}", org.slug));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let send = |auth: Option<String>| {
        let mut rb = reqwest::Client::new().post(&url).json(&init);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send()
    };
    let r = send(None).await.unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        www,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp/{}\", scope=\"mcp\"",
            app.base, org.slug
        )
    );

    let read_only = key(&owner, &org.slug, &[gatehouse_types::ApiKeyScope::Read]).await;
    let r = send(Some(format!("Bearer {read_only}"))).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );

    let other_owner = app.signup("mcp5@example.com").await;
    let other = app.create_org(&other_owner, "Other").await;
    let foreign = mcp_key(&other_owner, &other.slug).await;
    assert_eq!(
        send(Some(format!("Bearer {foreign}")))
            .await
            .unwrap()
            .status(),
        401
    );

    let good = mcp_key(&owner, &org.slug).await;
    let mut c = Client::new(&app, &org.slug, &good);
    c.initialize("2025-11-25").await;
    assert_eq!(c.rpc("ping", json!({})).await["result"], json!({}));
    // Revocation takes effect on the very next call.
    let keys: Vec<Value> = json(owner.get(&format!("/orgs/{}/api-keys", org.slug)).await).await;
    let id = keys
        .iter()
        .find(|k| {
            good.starts_with(k["prefix"].as_str().unwrap())
                && good.ends_with(k["last_four"].as_str().unwrap())
        })
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner
        .delete(&format!("/orgs/{}/api-keys/{id}", org.slug))
        .await;
    let r = c
        .post(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Expired keys are refused too.
    let exp = mcp_key(&owner, &org.slug).await;
    app.sql(&format!(
        "UPDATE api_keys SET expires_at = {} WHERE revoked_at IS NULL AND scopes = 'mcp'",
        app.minutes_ago(1)
    ))
    .await;
    assert_eq!(
        send(Some(format!("Bearer {exp}"))).await.unwrap().status(),
        401
    );

    // The IP allowlist guards the endpoint as well.
    let fresh = mcp_key(&owner, &org.slug).await;
    assert_eq!(
        send(Some(format!("ApiKey {fresh}")))
            .await
            .unwrap()
            .status(),
        200
    );
    owner.patch(&format!("/orgs/{}/settings/security", org.slug), json!({"ip_allowlist": [{"cidr": "160.79.104.0/21", "label": "Anthropic"}], "confirm_lockout": true})).await;
    assert_eq!(
        send(Some(format!("ApiKey {fresh}")))
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn the_official_everything_server_works_through_the_gateway() {
    let (mut child, port) = start_everything().await;
    let app = mcp_app().await;
    let owner = app.signup("mcp6@example.com").await;
    let org = app.create_org(&owner, "Everything").await;
    let c1 = connector(
        &owner,
        &org.slug,
        json!({"name": "Everything", "url": format!("http://127.0.0.1:{port}/mcp")}),
    )
    .await;
    wait_health(&owner, &org.slug, c1["id"].as_str().unwrap(), "healthy").await;
    let mut c = Client::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    c.initialize("2025-11-25").await;
    let names = c.tool_names().await;
    assert!(names.contains(&"everything__echo".to_string()), "{names:?}");
    let v = c
        .rpc(
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": "hello gateway"}}),
        )
        .await;
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hello gateway"),
        "{v}"
    );
    let v = c
        .rpc(
            "tools/call",
            json!({"name": "everything__get-sum", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains('5'),
        "{v}"
    );
    let v = c.rpc("prompts/list", json!({})).await;
    let prompts = v["result"]["prompts"].as_array().unwrap();
    assert!(
        !prompts.is_empty()
            && prompts
                .iter()
                .all(|p| p["name"].as_str().unwrap().starts_with("everything__")),
        "{v}"
    );
    let v = c.rpc("resources/list", json!({})).await;
    let first = v["result"]["resources"][0]["uri"]
        .as_str()
        .expect("a resource")
        .to_string();
    let v = c.rpc("resources/read", json!({"uri": first})).await;
    assert_eq!(v["result"]["contents"][0]["uri"], first, "{v}");
    child.kill().await.ok();
}

/// Polls `tools/list` until it equals `want` (the tools cache lives a moment).
async fn wait_tools(client: &Client, want: &[&str]) -> Vec<String> {
    let mut exposed = Vec::new();
    for _ in 0..50 {
        exposed = client.tool_names().await;
        exposed.sort();
        if exposed == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exposed
}

/// Collisions no longer take a connector out (one bad tool must not break the rest):
/// B keeps running with its other tools, its `echo` is left out and shown on it, and A,
/// the older, keeps `echo`; health checks that find nothing new change none of that.
#[tokio::test]
async fn a_connector_whose_new_tools_collide_keeps_its_other_tools_and_the_first_keeps_its_names() {
    let app = mcp_app().await;
    let owner = app.signup("cole@example.com").await;
    let org = app.create_org(&owner, "Cole").await;
    let a = start_upstream(vec!["echo"], None, false).await;
    let b = start_upstream(vec!["other"], None, false).await;
    // Both without a prefix: allowed while their names do not collide.
    let ca = connector(
        &owner,
        &org.slug,
        json!({"name": "A", "url": a.url, "tool_prefix": ""}),
    )
    .await;
    let cb = connector(
        &owner,
        &org.slug,
        json!({"name": "B", "url": b.url, "tool_prefix": ""}),
    )
    .await;
    let (ida, idb) = (ca["id"].as_str().unwrap(), cb["id"].as_str().unwrap());
    wait_health(&owner, &org.slug, ida, "healthy").await;
    wait_health(&owner, &org.slug, idb, "healthy").await;
    let mut client = Client::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    client.initialize("2025-11-25").await;
    let mut names = client.tool_names().await;
    names.sort();
    assert_eq!(names, ["echo", "other"]);

    // B's server starts offering `echo` too: B's `echo` is left out, the rest stays.
    b.state.lock().unwrap().tools = vec!["echo", "other"];
    let mut c = Value::Null;
    for _ in 0..50 {
        c = json(
            owner
                .get(&format!("/orgs/{}/connectors/{idb}", org.slug))
                .await,
        )
        .await;
        if c["tool_count"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c["health"]["status"], "healthy", "{c}");
    let issues = c["tool_issues"].as_array().unwrap();
    assert_eq!(issues.len(), 1, "{c}");
    assert_eq!(issues[0]["kind"], "left_out");
    assert_eq!(issues[0]["tool"], "echo");
    assert_eq!(issues[0]["conflicting_connector_id"], ida);
    // Several health checks later (1 s apart), still one `echo`, and it is A's.
    for _ in 0..3 {
        let before = c["health"]["checked_at"].clone();
        for _ in 0..50 {
            c = json(
                owner
                    .get(&format!("/orgs/{}/connectors/{idb}", org.slug))
                    .await,
            )
            .await;
            if c["health"]["checked_at"] != before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_ne!(c["health"]["checked_at"], before, "checked again");
        assert_eq!(c["health"]["status"], "healthy");
        assert_eq!(c["tool_issues"].as_array().unwrap().len(), 1, "{c}");
        assert_eq!(
            wait_tools(&client, &["echo", "other"]).await,
            ["echo", "other"]
        );
    }
    let r = client
        .rpc("tools/call", json!({"name": "echo", "arguments": {}}))
        .await;
    assert!(r.get("result").is_some(), "{r}");
    assert_eq!(
        a.state.lock().unwrap().seen_auth.len(),
        1,
        "the call went to A"
    );
    assert!(b.state.lock().unwrap().seen_auth.is_empty());
    let a_now: Value = json(
        owner
            .get(&format!("/orgs/{}/connectors/{ida}", org.slug))
            .await,
    )
    .await;
    assert_eq!(a_now["tool_issues"], json!([]), "{a_now}");
    let log: Value = json(
        owner
            .get(&format!(
                "/orgs/{}/audit-logs?action=mcp.health_changed",
                org.slug
            ))
            .await,
    )
    .await;
    assert!(
        !log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["metadata"]["to"] == "unhealthy"),
        "{log}"
    );
}

/// The issue's accident: six connectors with the empty prefix all offering `echo`.
/// Exactly one `echo` is listed at every moment, across several health checks, and
/// the others show why theirs is left out.
#[tokio::test]
async fn six_connectors_without_a_prefix_expose_echo_once_across_health_checks() {
    let app = mcp_app().await;
    let owner = app.signup("six@example.com").await;
    let org = app.create_org(&owner, "Six").await;
    let mut ups = Vec::new();
    let mut ids = Vec::new();
    for i in 0..6 {
        let up = start_upstream(vec!["echo"], None, false).await;
        let c = connector(
            &owner,
            &org.slug,
            json!({"name": format!("E{i}"), "url": up.url, "tool_prefix": ""}),
        )
        .await;
        ids.push(c["id"].as_str().unwrap().to_string());
        ups.push(up);
    }
    for id in &ids {
        wait_health(&owner, &org.slug, id, "healthy").await;
    }
    let mut client = Client::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    client.initialize("2025-11-25").await;
    let first: Value = json(
        owner
            .get(&format!("/orgs/{}/connectors/{}", org.slug, ids[0]))
            .await,
    )
    .await;
    // Over more than three health intervals, never a second `echo`.
    let until = std::time::Instant::now() + Duration::from_millis(3500);
    let mut polls = 0;
    while std::time::Instant::now() < until {
        assert_eq!(client.tool_names().await, ["echo"]);
        polls += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(polls > 10);
    let later: Value = json(
        owner
            .get(&format!("/orgs/{}/connectors/{}", org.slug, ids[0]))
            .await,
    )
    .await;
    assert_ne!(
        first["health"]["checked_at"], later["health"]["checked_at"],
        "health was checked again meanwhile"
    );
    let r = client
        .rpc("tools/call", json!({"name": "echo", "arguments": {}}))
        .await;
    assert!(r.get("result").is_some(), "{r}");
    assert_eq!(
        ups[0].state.lock().unwrap().seen_auth.len(),
        1,
        "the oldest answers"
    );
    let listed: Vec<Value> = json(owner.get(&format!("/orgs/{}/connectors", org.slug)).await).await;
    for c in &listed {
        assert_eq!(c["health"]["status"], "healthy", "{c}");
        let issues = c["tool_issues"].as_array().unwrap();
        if c["id"] == ids[0].as_str() {
            assert!(issues.is_empty(), "{c}");
        } else {
            assert_eq!(issues.len(), 1, "{c}");
            assert_eq!(issues[0]["kind"], "left_out");
            assert_eq!(issues[0]["exposed_name"], "echo");
            assert_eq!(issues[0]["conflicting_connector_id"], ids[0].as_str());
            assert!(
                issues[0]["message"].as_str().unwrap().contains("“E0”"),
                "{c}"
            );
        }
    }
}

const LONG_A: &str = "a_tool_whose_name_goes_on_and_on_well_past_what_clients_accept_version_a";
const LONG_B: &str = "a_tool_whose_name_goes_on_and_on_well_past_what_clients_accept_version_b";

fn client_accepts(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Names with `.`, spaces, non-ASCII or over 64 characters are listed under a name
/// clients accept, and a call under that name reaches the upstream under its own.
#[tokio::test]
async fn tool_names_clients_reject_are_mapped_and_calls_reach_the_upstream_under_their_own_name() {
    let app = mcp_app().await;
    let up = start_upstream(
        vec!["get.weather", "say hello", "grüßen", LONG_A, LONG_B, "ok"],
        None,
        false,
    )
    .await;
    let (owner, slug, client) = org_with_one_connector(&app, "odd@example.com", &up).await;
    let tools = client.rpc("tools/list", json!({})).await;
    let names: Vec<String> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 6, "{tools}");
    assert!(names.iter().all(|n| client_accepts(n)), "{names:?}");
    assert_eq!(
        names[..3],
        ["up__get_weather", "up__say_hello", "up__gr__en"],
        "in the upstream's order"
    );
    assert_eq!(names[5], "up__ok");
    assert_ne!(names[3], names[4], "long names stay distinct");
    assert!(
        names[3].starts_with("up__a_tool_whose_name"),
        "{}",
        names[3]
    );
    // The description and schema come along.
    assert_eq!(
        tools["result"]["tools"][0]["description"],
        "the get.weather tool"
    );
    let upstream_names = ["get.weather", "say hello", "grüßen", LONG_A, LONG_B, "ok"];
    for (exposed, own) in names.iter().zip(upstream_names) {
        let r = client
            .rpc(
                "tools/call",
                json!({"name": exposed, "arguments": {"n": 1}}),
            )
            .await;
        assert_eq!(
            r["result"]["content"][0]["text"],
            format!("{own}:{{\"n\":1}}"),
            "{exposed}: {r}"
        );
    }
    // The raw names are not callable: they are not listed.
    let r = client
        .rpc("tools/call", json!({"name": "up__get.weather"}))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // The connector shows each renaming.
    let listed: Vec<Value> = json(owner.get(&format!("/orgs/{slug}/connectors")).await).await;
    let issues = listed[0]["tool_issues"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = issues
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap(),
                i["tool"].as_str().unwrap(),
                i["exposed_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("renamed", "get.weather", "up__get_weather"),
            ("renamed", "say hello", "up__say_hello"),
            ("renamed", "grüßen", "up__gr__en"),
            ("renamed", LONG_A, names[3].as_str()),
            ("renamed", LONG_B, names[4].as_str()),
        ]
    );
}
