//! The MCP endpoint's fidelity to the protocol and to real clients: concurrent calls
//! each get their own result, sessions are optional and expire when idle, every
//! supported protocol version works on both sides (2026-07-28 statelessly, with its
//! header checks), and health checks close the upstream sessions they open.
use crate::support::*;
// server-everything's SDK routes each answer by its request's JSON-RPC id.
use crate::oauth::mcp_access_token;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MODERN: &str = "2026-07-28";

/// A fresh app whose org (of a new owner) has server-everything as its one healthy
/// connector, named "Everything" (tools `everything__…`); the child ends with the test.
async fn everything_org(
    email: &str,
    org_name: &str,
) -> (
    tokio::process::Child,
    TestApp,
    TestUser,
    gatehouse_types::Organization,
) {
    let (everything, port) = start_everything().await;
    let app = mcp_app().await;
    let owner = app.signup(email).await;
    let org = app.create_org(&owner, org_name).await;
    let c = connector(
        &owner,
        &org.slug,
        json!({"name": "Everything", "url": format!("http://127.0.0.1:{port}/mcp")}),
    )
    .await;
    wait_health(&owner, &org.slug, c["id"].as_str().unwrap(), "healthy").await;
    (everything, app, owner, org)
}

/// A caller of the endpoint: a credential, and the session id if it initialized.
struct Caller {
    url: String,
    auth: String,
    session: Option<String>,
}

impl Caller {
    fn new(app: &TestApp, slug: &str, credential: &str) -> Caller {
        Caller {
            url: app.url(&format!("/mcp/{slug}")),
            auth: format!("Bearer {credential}"),
            session: None,
        }
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut rb = reqwest::Client::new()
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
        let r = self
            .post(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        self.session = Some(r.headers()["mcp-session-id"].to_str().unwrap().to_string());
        let v: Value = r.json().await.unwrap();
        v["result"].clone()
    }

    /// A 2026-07-28 request: no session; the version and client in `_meta`, the method
    /// (and `name`, for a call) in headers.
    fn modern(
        &self,
        id: Value,
        method: &str,
        name: Option<&str>,
        params: Value,
    ) -> reqwest::RequestBuilder {
        let mut rb = reqwest::Client::new()
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", method);
        if let Some(n) = name {
            rb = rb.header("mcp-name", n);
        }
        let mut params = params;
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "modern", "version": "1"}});
        rb.json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
    }

    async fn rpc(&self, id: Value, method: &str, params: Value) -> (u16, Value) {
        let r = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn overlapping_slow_calls_of_different_callers_each_get_their_own_result() {
    let (_everything, app, owner, org) = everything_org("overlap@example.com", "Overlap").await;

    // Two API keys (with sessions) and two OAuth grants (without: claude.ai never echoes
    // the session id), each making two overlapping ~1 s calls that say which call they are.
    let mut callers = Vec::new();
    for _ in 0..2 {
        let mut k = Caller::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
        k.initialize("2025-11-25").await;
        callers.push(k);
    }
    for _ in 0..2 {
        let token = mcp_access_token(&app, &owner, &org.slug).await;
        callers.push(Caller::new(&app, &org.slug, &token));
    }
    let callers = Arc::new(callers);
    let started = std::time::Instant::now();
    let mut calls = Vec::new();
    for (i, _) in callers.iter().enumerate() {
        for j in 0..2 {
            let callers = callers.clone();
            // Distinct step counts tell the results apart; every caller uses id 7, as
            // independent clients may.
            let steps = 2 + i * 2 + j;
            calls.push(tokio::spawn(async move {
                let (status, v) = callers[i]
                    .rpc(
                        json!(7),
                        "tools/call",
                        json!({"name": "everything__trigger-long-running-operation",
                            "arguments": {"duration": 1, "steps": steps}}),
                    )
                    .await;
                (steps, status, v)
            }));
        }
    }
    for call in calls {
        let (steps, status, v) = call.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(v["id"], 7, "{v}");
        let text = v["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains(&format!("Steps: {steps}.")),
            "the call with {steps} steps got {v}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the calls overlapped, they did not wait for each other: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_session_id_is_optional_but_an_unknown_one_gets_404_and_sessions_expire_when_idle() {
    let (_everything, app, owner, org) =
        everything_org("sessionless@example.com", "Sessionless").await;
    let secret = mcp_key(&owner, &org.slug).await;
    let mut with = Caller::new(&app, &org.slug, &secret);
    with.initialize("2025-11-25").await;

    // The same key without the session id: notifications and requests are served.
    let without = Caller::new(&app, &org.slug, &secret);
    let r = without
        .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (status, v) = without.rpc(json!(1), "tools/list", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert!(!v["result"]["tools"].as_array().unwrap().is_empty(), "{v}");
    let (status, v) = without
        .rpc(
            json!(2),
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": "no session"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("no session"),
        "{v}"
    );

    // A session id that was never issued: 404, so the client initializes again.
    let mut unknown = Caller::new(&app, &org.slug, &secret);
    unknown.session = Some("mcps_never-issued".into());
    assert_eq!(unknown.rpc(json!(3), "tools/list", json!({})).await.0, 404);

    // A session begun two days ago but used all along stays; the sweep keeps it.
    app.sql(&format!(
        "UPDATE mcp_sessions SET created_at = {}",
        app.minutes_ago(2 * 24 * 60)
    ))
    .await;
    gatehouse::janitor::sweep(&app.db, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(with.rpc(json!(4), "tools/list", json!({})).await.0, 200);

    // A session unused for more than a day is over, even before the sweep runs.
    let mut idle = Caller::new(&app, &org.slug, &secret);
    idle.initialize("2025-11-25").await;
    app.sql(&format!(
        "UPDATE mcp_sessions SET last_seen_at = {} WHERE created_at > {}",
        app.minutes_ago(25 * 60),
        app.minutes_ago(60)
    ))
    .await;
    assert_eq!(idle.rpc(json!(5), "tools/list", json!({})).await.0, 404);
}

#[tokio::test]
async fn clients_get_the_version_they_ask_for_and_2026_07_28_is_spoken_statelessly() {
    let (_everything, app, owner, org) = everything_org("versions@example.com", "Versions").await;
    let secret = mcp_key(&owner, &org.slug).await;

    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        // No handshake in 2026-07-28: asked in one, the newest handshake version.
        (MODERN, "2025-11-25"),
    ] {
        let mut c = Caller::new(&app, &org.slug, &secret);
        let result = c.initialize(asked).await;
        assert_eq!(result["protocolVersion"], answered, "asked {asked}");
    }
    // A 2025-03-26 client's header is accepted.
    let mut old = Caller::new(&app, &org.slug, &secret);
    old.initialize("2025-03-26").await;
    let r = reqwest::Client::new()
        .post(&old.url)
        .header("authorization", &old.auth)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", old.session.as_deref().unwrap())
        .header("mcp-protocol-version", "2025-03-26")
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // 2026-07-28: no initialize, version and client in `_meta`, method and name in headers.
    let stateless = Caller::new(&app, &org.slug, &secret);
    let modern = |method: &str, name: Option<&str>, params: Value| {
        stateless.modern(json!(9), method, name, params)
    };
    let v: Value = modern("server/discover", None, json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let versions = v["result"]["supportedVersions"].as_array().unwrap();
    for want in [MODERN, "2025-11-25", "2025-06-18", "2025-03-26"] {
        assert!(versions.iter().any(|x| x == want), "{v}");
    }
    assert_eq!(v["result"]["serverInfo"]["name"], "gatehouse");

    let r = modern("tools/list", None, json!({})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("mcp-session-id").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert_eq!(v["result"]["cacheScope"], "private", "{v}");
    assert!(v["result"]["ttlMs"].as_u64().is_some(), "{v}");
    // Deterministic order: the same list twice.
    let again: Value = modern("tools/list", None, json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["tools"], again["result"]["tools"]);

    let call = json!({"name": "everything__echo", "arguments": {"message": "stateless"}});
    let r = modern("tools/call", Some("everything__echo"), call.clone())
        // A stray session id is ignored in this version.
        .header("mcp-session-id", "mcps_whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("stateless"),
        "{v}"
    );
    // The name in Base64 sentinel form is decoded before it is compared.
    let encoded = format!(
        "=?base64?{}?=",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "everything__echo"
        )
    );
    let r = modern("tools/call", Some(&encoded), call.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Headers that disagree with the body are refused: policy cannot be bypassed by
    // routing on one and executing the other.
    for (method_header, name_header) in [
        ("tools/call", Some("everything__get-sum")),
        ("tools/call", None),
        ("tools/list", Some("everything__echo")),
    ] {
        let mut rb = modern(method_header, name_header, json!({}));
        // Same body every time: a call of echo.
        let mut body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": call});
        body["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {}});
        rb = rb.json(&body);
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 400, "{method_header} {name_header:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], -32020, "{v}");
    }
    // A version we do not speak: 400 with the versions we do.
    let r = reqwest::Client::new()
        .post(app.url(&format!("/mcp/{}", org.slug)))
        .header("authorization", format!("Bearer {secret}"))
        .header("mcp-protocol-version", "2099-01-01")
        .header("mcp-method", "tools/list")
        .json(
            &json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2099-01-01",
            "io.modelcontextprotocol/clientCapabilities": {}}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32022, "{v}");
    assert_eq!(v["error"]["data"]["requested"], "2099-01-01");
    // A header that says 2026-07-28 over a body that says otherwise.
    let r = modern("tools/list", None, json!({}))
        .json(
            &json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2025-11-25"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// Upstream servers of each era, written here with actix-web: one of 2025-03-26 (with
/// sessions, counting those opened and closed), and one that speaks only 2026-07-28 and
/// checks its headers as that version requires.
#[derive(Default)]
struct EraState {
    opened: usize,
    closed: usize,
    /// Header problems the modern server saw.
    refused: Vec<String>,
    calls: usize,
    /// Ids of `slow` calls, and the request ids of cancellations received.
    slow_ids: Vec<Value>,
    cancelled: Vec<Value>,
}

async fn era_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<(bool, Arc<Mutex<EraState>>)>,
) -> HttpResponse {
    let (modern, state) = (st.0, st.1.clone());
    if req.method() == actix_web::http::Method::DELETE {
        state.lock().unwrap().closed += 1;
        return HttpResponse::NoContent().finish();
    }
    let msg: Value = serde_json::from_slice(&body).unwrap_or_default();
    let method = msg["method"].as_str().unwrap_or_default().to_string();
    let Some(id) = msg.get("id").cloned() else {
        if method == "notifications/cancelled" {
            state
                .lock()
                .unwrap()
                .cancelled
                .push(msg["params"]["requestId"].clone());
        }
        return HttpResponse::Accepted().finish();
    };
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let result = if modern {
        let meta = &msg["params"]["_meta"];
        let mut problems = Vec::new();
        if header("mcp-protocol-version").as_deref() != Some(MODERN)
            || meta["io.modelcontextprotocol/protocolVersion"] != MODERN
        {
            problems.push(format!("{method}: version"));
        }
        if header("mcp-method").as_deref() != Some(method.as_str()) {
            problems.push(format!("{method}: Mcp-Method"));
        }
        if method == "tools/call" && header("mcp-name").as_deref() != msg["params"]["name"].as_str()
        {
            problems.push(format!("{method}: Mcp-Name"));
        }
        if !problems.is_empty() {
            state.lock().unwrap().refused.extend(problems);
            return HttpResponse::BadRequest().json(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32020, "message": "Header mismatch"}}));
        }
        match method.as_str() {
            "server/discover" => {
                json!({"supportedVersions": [MODERN], "capabilities": {"tools": {}},
                "serverInfo": {"name": "modern-upstream", "version": "1"}, "resultType": "complete"})
            }
            "tools/list" => json!({"tools": [{"name": "shout", "inputSchema": {"type": "object"}}],
                "resultType": "complete", "ttlMs": 1000, "cacheScope": "public"}),
            "tools/call" => {
                state.lock().unwrap().calls += 1;
                json!({"content": [{"type": "text", "text": format!("SHOUT {}", msg["params"]["arguments"]["text"].as_str().unwrap_or(""))}],
                    "resultType": "complete"})
            }
            _ => {
                return HttpResponse::NotFound().json(json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": "Method not found"}}));
            }
        }
    } else {
        // As SDK servers do: a `_meta` version must agree with the header.
        if let Some(v) = msg["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"].as_str()
            && header("mcp-protocol-version").as_deref() != Some(v)
        {
            return HttpResponse::BadRequest().json(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32600, "message": "MCP-Protocol-Version header does not match _meta"}}));
        }
        match method.as_str() {
            "initialize" => {
                state.lock().unwrap().opened += 1;
                let n = state.lock().unwrap().opened;
                return HttpResponse::Ok()
                    .insert_header(("mcp-session-id", format!("old-{n}")))
                    .json(json!({"jsonrpc": "2.0", "id": id, "result": {
                        "protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
                        "serverInfo": {"name": "old-upstream", "version": "1"}}}));
            }
            "ping" => json!({}),
            "tools/list" => {
                json!({"tools": [{"name": "whisper", "inputSchema": {"type": "object"}},
                    {"name": "slow", "inputSchema": {"type": "object"}}]})
            }
            "tools/call" if msg["params"]["name"] == "slow" => {
                state.lock().unwrap().slow_ids.push(id.clone());
                tokio::time::sleep(Duration::from_secs(2)).await;
                json!({"content": [{"type": "text", "text": "finally"}]})
            }
            "tools/call" => {
                state.lock().unwrap().calls += 1;
                json!({"content": [{"type": "text", "text": "psst"}]})
            }
            _ => {
                return HttpResponse::Ok().json(json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": "Method not found"}}));
            }
        }
    };
    HttpResponse::Ok().json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

async fn start_era_upstream(modern: bool) -> (String, Arc<Mutex<EraState>>) {
    let state = Arc::new(Mutex::new(EraState::default()));
    let data = web::Data::new((modern, state.clone()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .route("/mcp", web::post().to(era_endpoint))
            .route("/mcp", web::delete().to(era_endpoint))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/mcp"), state)
}

#[tokio::test]
async fn upstreams_of_2025_03_26_and_2026_07_28_are_healthy_and_health_checks_close_their_sessions()
{
    let app = mcp_app().await;
    let owner = app.signup("eras@example.com").await;
    let org = app.create_org(&owner, "Eras").await;
    let (old_url, old) = start_era_upstream(false).await;
    let (new_url, new) = start_era_upstream(true).await;
    let co = connector(&owner, &org.slug, json!({"name": "Old", "url": old_url})).await;
    let cn = connector(&owner, &org.slug, json!({"name": "New", "url": new_url})).await;
    wait_health(&owner, &org.slug, co["id"].as_str().unwrap(), "healthy").await;
    wait_health(&owner, &org.slug, cn["id"].as_str().unwrap(), "healthy").await;

    // A client of either era reaches both.
    let secret = mcp_key(&owner, &org.slug).await;
    let mut legacy = Caller::new(&app, &org.slug, &secret);
    legacy.initialize("2025-11-25").await;
    let (_, v) = legacy
        .rpc(
            json!(1),
            "tools/call",
            json!({"name": "new__shout", "arguments": {"text": "hi"}}),
        )
        .await;
    assert_eq!(v["result"]["content"][0]["text"], "SHOUT hi", "{v}");
    let (_, v) = legacy
        .rpc(
            json!(2),
            "tools/call",
            json!({"name": "old__whisper", "arguments": {}}),
        )
        .await;
    assert_eq!(v["result"]["content"][0]["text"], "psst", "{v}");
    let r = legacy
        .modern(
            json!(3),
            "tools/call",
            Some("old__whisper"),
            json!({"name": "old__whisper", "arguments": {}}),
        )
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    // An older upstream's result gets what 2026-07-28 requires.
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert_eq!(v["result"]["content"][0]["text"], "psst", "{v}");
    // Past the probe (`initialize`, refused as a server of 2026-07-28 refuses it), every
    // request carried what that version requires.
    let refused: Vec<String> = new
        .lock()
        .unwrap()
        .refused
        .iter()
        .filter(|p| !p.starts_with("initialize"))
        .cloned()
        .collect();
    assert!(refused.is_empty(), "{refused:?}");

    // Health checks every second: each closes the session it opened.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let s = old.lock().unwrap();
    // One session is the caller's; every other was a health check's.
    assert!(s.opened >= 3, "{} opened", s.opened);
    assert!(
        s.closed + 2 >= s.opened,
        "{} upstream sessions opened, {} closed",
        s.opened,
        s.closed
    );
}

#[tokio::test]
async fn a_call_is_cut_after_silence_or_at_its_overall_limit_but_not_while_progress_flows() {
    let (_everything, port) = start_everything().await;
    let app = mcp_app().await;
    let owner = app.signup("timeouts@example.com").await;
    let org = app.create_org(&owner, "Timeouts").await;
    let c = connector(
        &owner,
        &org.slug,
        json!({"name": "Everything", "url": format!("http://127.0.0.1:{port}/mcp")}),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    wait_health(&owner, &org.slug, id, "healthy").await;
    // This connector's limits: 1 s of silence, 4 s in all.
    app.sql(
        "UPDATE connectors SET idle_timeout_secs = 1, call_timeout_secs = 4 WHERE name = 'Everything'",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // the tools cache's moment
    let caller = Caller::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    let call = |duration: f64, steps: u32, progress: bool| {
        let mut params = json!({"name": "everything__trigger-long-running-operation",
            "arguments": {"duration": duration, "steps": steps}});
        if progress {
            params["_meta"] = json!({"progressToken": "p"});
        }
        caller
            .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}))
            .send()
    };
    let last_message = |body: &str| -> Value {
        body.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .next_back()
            .unwrap_or_else(|| serde_json::from_str(body).unwrap_or_default())
    };

    // 2 s, with progress every quarter second: longer than the idle limit, and fine.
    let body = call(2.0, 8, true).await.unwrap().text().await.unwrap();
    let v = last_message(&body);
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Steps: 8."),
        "{body}"
    );
    // 2 s of silence: cut after one.
    let started = std::time::Instant::now();
    let body = call(2.0, 1, false).await.unwrap().text().await.unwrap();
    let v = last_message(&body);
    assert_eq!(v["error"]["code"], -32001, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    // 6 s of steady progress: cut at four.
    let started = std::time::Instant::now();
    let body = call(6.0, 24, true).await.unwrap().text().await.unwrap();
    let v = last_message(&body);
    assert_eq!(v["error"]["code"], -32001, "{body}");
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(3500) && took < Duration::from_millis(5500),
        "{took:?}"
    );
}

#[tokio::test]
async fn templated_resources_completion_and_log_level_reach_the_upstream() {
    let (_everything, app, owner, org) = everything_org("templates@example.com", "Templates").await;
    let mut caller = Caller::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    let init = caller.initialize("2025-11-25").await;
    assert!(init["capabilities"]["completions"].is_object(), "{init}");

    let (_, v) = caller
        .rpc(json!(1), "resources/templates/list", json!({}))
        .await;
    let templates = v["result"]["resourceTemplates"].as_array().unwrap();
    assert!(!templates.is_empty(), "{v}");
    // A URI only a template produces is read from the connector that has the template.
    let template = templates[0]["uriTemplate"].as_str().unwrap().to_string();
    let uri = regex::Regex::new(r"\{[^}]*\}")
        .unwrap()
        .replace_all(&template, "1")
        .to_string();
    let (_, v) = caller
        .rpc(json!(2), "resources/read", json!({"uri": uri}))
        .await;
    assert_eq!(v["result"]["contents"][0]["uri"], uri, "{v}");

    // Completion of a prompt argument goes to the prompt's connector under its own name.
    let (_, v) = caller.rpc(json!(3), "prompts/list", json!({})).await;
    let prompt = v["result"]["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["arguments"].as_array().is_some_and(|a| !a.is_empty())
                && p["name"].as_str().unwrap().contains("complet")
        })
        .cloned()
        .unwrap_or_else(|| panic!("a prompt with completions: {v}"));
    let arg = prompt["arguments"][0]["name"].as_str().unwrap();
    let (_, v) = caller
        .rpc(
            json!(4),
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": prompt["name"]},
                "argument": {"name": arg, "value": ""}}),
        )
        .await;
    assert!(v["result"]["completion"]["values"].is_array(), "{v}");

    let (_, v) = caller
        .rpc(json!(5), "logging/setLevel", json!({"level": "error"}))
        .await;
    assert!(v["result"].is_object(), "{v}");
}

/// Reads server-sent events off `resp` until one carries a JSON-RPC message matching
/// `want`; returns it.
async fn next_message(
    resp: &mut reqwest::Response,
    buf: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(v) = line
                    .strip_prefix("data: ")
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    && want(&v)
                {
                    return v;
                }
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream went on");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn an_upstreams_request_reaches_the_calling_client_and_only_its_answer_goes_back() {
    let (_everything, app, owner, org) = everything_org("sampling@example.com", "Sampling").await;
    let mut a = Caller::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    a.initialize("2025-11-25").await;
    let mut b = Caller::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    b.initialize("2025-11-25").await;

    let mut resp = a
        .post(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "everything__trigger-sampling-request", "arguments": {"prompt": "hi"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut buf = String::new();
    let asked = next_message(&mut resp, &mut buf, |v| {
        v["method"] == "sampling/createMessage"
    })
    .await;
    // The request carries an id of the gateway's, not the upstream's.
    let relay_id = asked["id"].as_str().expect("a string id").to_string();
    assert!(relay_id.starts_with("gh-"), "{asked}");
    let answer = |text: &str| {
        json!({"jsonrpc": "2.0", "id": relay_id, "result": {"role": "assistant",
            "content": {"type": "text", "text": text}, "model": "test-model"}})
    };
    // Another caller cannot answer it: acknowledged, and dropped.
    let r = b.post(&answer("from B")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let r = a.post(&answer("from A")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let done = next_message(&mut resp, &mut buf, |v| v["id"] == 1).await;
    let text = done["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("from A") && !text.contains("from B"),
        "{done}"
    );

    // A 2026-07-28 client takes no requests on a stream: the upstream is told at once,
    // and the call ends instead of hanging.
    let started = std::time::Instant::now();
    let r = a
        .modern(
            json!(2),
            "tools/call",
            Some("everything__trigger-sampling-request"),
            json!({"name": "everything__trigger-sampling-request", "arguments": {"prompt": "hi"}}),
        )
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(!body.contains("sampling/createMessage"), "{body}");
    assert!(body.contains("\"id\":2"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn catalog_changes_reach_listening_clients_of_either_era() {
    let app = mcp_app().await;
    let owner = app.signup("listen@example.com").await;
    let org = app.create_org(&owner, "Listen").await;
    let (old_url, _old) = start_era_upstream(false).await;
    let (new_url, _new) = start_era_upstream(true).await;
    let a = connector(&owner, &org.slug, json!({"name": "Old", "url": old_url})).await;
    let b = connector(&owner, &org.slug, json!({"name": "New", "url": new_url})).await;
    wait_health(&owner, &org.slug, a["id"].as_str().unwrap(), "healthy").await;
    wait_health(&owner, &org.slug, b["id"].as_str().unwrap(), "healthy").await;
    let secret = mcp_key(&owner, &org.slug).await;

    // Before 2026-07-28: the GET stream.
    let mut legacy = reqwest::Client::new()
        .get(app.url(&format!("/mcp/{}", org.slug)))
        .header("authorization", format!("Bearer {secret}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 200);
    // 2026-07-28: subscriptions/listen, acknowledged with what will be sent.
    let mut modern = Caller::new(&app, &org.slug, &secret)
        .modern(
            json!("sub-1"),
            "subscriptions/listen",
            None,
            json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["test://x"]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(modern.status(), 200);
    let mut modern_buf = String::new();
    let ack = next_message(&mut modern, &mut modern_buf, |v| {
        v["method"] == "notifications/subscriptions/acknowledged"
    })
    .await;
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "sub-1"
    );
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true}),
        "{ack}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // A connector is switched off: its tools leave the list, and both hear of it.
    let r = owner
        .patch(
            &format!(
                "/orgs/{}/connectors/{}",
                org.slug,
                b["id"].as_str().unwrap()
            ),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut legacy_buf = String::new();
    let n = next_message(&mut legacy, &mut legacy_buf, |v| {
        v["method"] == "notifications/tools/list_changed"
    })
    .await;
    assert!(n.get("id").is_none(), "{n}");
    let n = next_message(&mut modern, &mut modern_buf, |v| {
        v["method"] == "notifications/tools/list_changed"
    })
    .await;
    assert_eq!(
        n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "sub-1"
    );

    // Another org's key gets no stream of this org.
    let other = app.signup("listen-other@example.com").await;
    let other_org = app.create_org(&other, "Listen Other").await;
    let other_key = mcp_key(&other, &other_org.slug).await;
    let r = reqwest::Client::new()
        .get(app.url(&format!("/mcp/{}", org.slug)))
        .header("authorization", format!("Bearer {other_key}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_clients_cancellation_reaches_the_upstream_under_the_upstreams_own_id() {
    let app = mcp_app().await;
    let owner = app.signup("cancel@example.com").await;
    let org = app.create_org(&owner, "Cancel").await;
    let (old_url, old) = start_era_upstream(false).await;
    let c = connector(&owner, &org.slug, json!({"name": "Old", "url": old_url})).await;
    wait_health(&owner, &org.slug, c["id"].as_str().unwrap(), "healthy").await;
    let mut caller = Caller::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
    caller.initialize("2025-11-25").await;
    let call = caller
        .post(&json!({"jsonrpc": "2.0", "id": 42, "method": "tools/call",
            "params": {"name": "old__slow", "arguments": {}}}))
        .send();
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Another caller's cancellation of "its" request 42 does nothing here.
        let other = Caller::new(&app, &org.slug, &mcp_key(&owner, &org.slug).await);
        let cancelled = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 42, "reason": "changed my mind"}});
        assert_eq!(other.post(&cancelled).send().await.unwrap().status(), 202);
        assert_eq!(caller.post(&cancelled).send().await.unwrap().status(), 202);
    };
    let (answer, _) = tokio::join!(call, cancel);
    let answer: Value = answer.unwrap().json().await.unwrap_or_default();
    // The upstream answered all the same (it may): the client gets it or ignores it.
    assert_eq!(
        answer["result"]["content"][0]["text"], "finally",
        "{answer}"
    );
    for _ in 0..50 {
        if !old.lock().unwrap().cancelled.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = old.lock().unwrap();
    assert_eq!(s.cancelled.len(), 1, "{:?}", s.cancelled);
    // The upstream hears of its own request, not of the client's id.
    assert_eq!(
        s.cancelled, s.slow_ids,
        "cancelled {:?}, calls {:?}",
        s.cancelled, s.slow_ids
    );
}

#[tokio::test]
async fn resource_updates_for_a_callers_subscriptions_reach_it_on_either_eras_stream() {
    let (_everything, app, owner, org) = everything_org("updates@example.com", "Updates").await;
    let secret = mcp_key(&owner, &org.slug).await;
    let mut caller = Caller::new(&app, &org.slug, &secret);
    caller.initialize("2025-11-25").await;
    let (_, v) = caller.rpc(json!(1), "resources/list", json!({})).await;
    let uri = v["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();

    // 2026-07-28: subscriptions/listen subscribes upstream and acknowledges the URI.
    let mut modern = caller
        .modern(
            json!(5),
            "subscriptions/listen",
            None,
            json!({"notifications": {"resourceSubscriptions": [uri, "nowhere://x"]}}),
        )
        .send()
        .await
        .unwrap();
    let mut modern_buf = String::new();
    let ack = next_message(&mut modern, &mut modern_buf, |v| {
        v["method"] == "notifications/subscriptions/acknowledged"
    })
    .await;
    // With one connector every URI goes to it; the server takes both.
    assert!(
        ack["params"]["notifications"]["resourceSubscriptions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|u| u == uri.as_str())),
        "{ack}"
    );
    // Before 2026-07-28: resources/subscribe, and the GET stream.
    let (_, v) = caller
        .rpc(json!(2), "resources/subscribe", json!({"uri": uri}))
        .await;
    assert!(v["result"].is_object(), "{v}");
    let mut legacy = reqwest::Client::new()
        .get(app.url(&format!("/mcp/{}", org.slug)))
        .header("authorization", format!("Bearer {secret}"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", caller.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 200);
    // The server sends updates every 5 s for subscribed resources once this is on.
    let (_, v) = caller
        .rpc(
            json!(3),
            "tools/call",
            json!({"name": "everything__toggle-subscriber-updates", "arguments": {}}),
        )
        .await;
    assert!(v["result"].is_object(), "{v}");
    let mut legacy_buf = String::new();
    let n = next_message(&mut legacy, &mut legacy_buf, |v| {
        v["method"] == "notifications/resources/updated"
    })
    .await;
    assert_eq!(n["params"]["uri"], uri.as_str(), "{n}");
    let n = next_message(&mut modern, &mut modern_buf, |v| {
        v["method"] == "notifications/resources/updated"
    })
    .await;
    assert_eq!(n["params"]["uri"], uri.as_str(), "{n}");
    assert_eq!(
        n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        5
    );
}

#[tokio::test]
async fn an_answer_to_a_relayed_request_may_reach_another_replica() {
    let (_everything, app, owner, org) =
        everything_org("relay-replica@example.com", "Relay Replica").await;
    let secret = mcp_key(&owner, &org.slug).await;
    let a = Caller::new(&app, &org.slug, &secret);
    let mut resp = a
        .post(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "everything__trigger-sampling-request", "arguments": {"prompt": "hi"}}}),
        )
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let asked = next_message(&mut resp, &mut buf, |v| {
        v["method"] == "sampling/createMessage"
    })
    .await;
    // The answer goes to the other replica, as a load balancer may send it.
    let replica = app.replica().await;
    let there = Caller::new(&replica, &org.slug, &secret);
    let r = there
        .post(
            &json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"role": "assistant",
            "content": {"type": "text", "text": "answered elsewhere"}, "model": "m"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let done = next_message(&mut resp, &mut buf, |v| v["id"] == 1).await;
    assert!(
        done["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("answered elsewhere"),
        "{done}"
    );
}
