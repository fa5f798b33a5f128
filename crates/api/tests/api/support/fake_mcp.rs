//! Upstream MCP servers for the gateway to reach: a small one written here with
//! actix-web, and the official `@modelcontextprotocol/server-everything` from npm; and
//! the app, key and connector set-up the MCP tests share.
use super::{TestApp, TestUser, json, spawn_app_with};
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_types::{ApiKeyScope, CreateApiKeyRequest};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A minimal upstream MCP server (Streamable HTTP, JSON answers or SSE).
#[derive(Default)]
pub struct UpstreamState {
    pub tools: Vec<&'static str>,
    /// The `Authorization` value it demands, if any.
    pub credential: Option<String>,
    /// Headers of every tools/call it received.
    pub seen_auth: Vec<Option<String>>,
    pub sse: bool,
}

pub struct TestUpstream {
    pub url: String,
    pub state: Arc<Mutex<UpstreamState>>,
    pub handle: actix_web::dev::ServerHandle,
}

async fn upstream_endpoint(
    req: HttpRequest,
    body: web::Json<Value>,
    st: web::Data<Arc<Mutex<UpstreamState>>>,
) -> HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let msg = body.into_inner();
    let (want, sse, tools) = {
        let s = st.lock().unwrap();
        (s.credential.clone(), s.sse, s.tools.clone())
    };
    if want.is_some() && want != auth {
        return HttpResponse::Unauthorized().finish();
    }
    let method = msg["method"].as_str().unwrap_or_default();
    let Some(id) = msg.get("id").cloned() else {
        return HttpResponse::Accepted().finish();
    };
    if method != "initialize"
        && req
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            != Some("up-session-1")
    {
        return HttpResponse::NotFound().finish();
    }
    let answer = match method {
        "initialize" => json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
            "serverInfo": {"name": "test-upstream", "version": "1"}}}),
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        "tools/list" => {
            json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools.iter().map(|t| json!({
            "name": t, "description": format!("the {t} tool"), "inputSchema": {"type": "object"}})).collect::<Vec<_>>()}})
        }
        "tools/call" => {
            st.lock().unwrap().seen_auth.push(auth);
            match msg["params"]["name"].as_str() {
                Some("fail") => {
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32042, "message": "upstream says no"}})
                }
                Some(name) => {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text",
                    "text": format!("{name}:{}", msg["params"]["arguments"])}], "isError": false}})
                }
                None => {
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "no name"}})
                }
            }
        }
        "prompts/list" if sse => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no prompts here"}})
        }
        "prompts/list" => {
            json!({"jsonrpc": "2.0", "id": id, "result": {"prompts": [{"name": "greet", "arguments": [{"name": "who"}]}]}})
        }
        "prompts/get" => {
            json!({"jsonrpc": "2.0", "id": id, "result": {"messages": [{"role": "user",
            "content": {"type": "text", "text": format!("{}, {}", msg["params"]["name"].as_str().unwrap_or(""), msg["params"]["arguments"]["who"].as_str().unwrap_or(""))}}]}})
        }
        "resources/list" => {
            json!({"jsonrpc": "2.0", "id": id, "result": {"resources": [{"uri": format!("test://{}/readme", if sse { "b" } else { "a" }), "name": "readme"}]}})
        }
        "resources/read" => {
            json!({"jsonrpc": "2.0", "id": id, "result": {"contents": [{"uri": msg["params"]["uri"], "text": format!("contents of {}", msg["params"]["uri"].as_str().unwrap_or(""))}]}})
        }
        _ => json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "nope"}}),
    };
    let mut resp = HttpResponse::Ok();
    if method == "initialize" {
        resp.insert_header(("mcp-session-id", "up-session-1"));
    }
    if sse {
        // A caller that asked for progress gets some first, with a comment and an event
        // without data around it.
        let token = &msg["params"]["_meta"]["progressToken"];
        let before = if method == "tools/call" && !token.is_null() {
            let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": token, "progress": 1, "total": 2}});
            format!(": keep-alive\n\nevent: message\r\ndata: {progress}\r\n\r\nid: 3\n\n")
        } else {
            String::new()
        };
        resp.content_type("text/event-stream")
            .body(format!("{before}event: message\ndata: {answer}\n\n"))
    } else {
        resp.json(answer)
    }
}

pub async fn start_upstream(
    tools: Vec<&'static str>,
    credential: Option<&str>,
    sse: bool,
) -> TestUpstream {
    let state = Arc::new(Mutex::new(UpstreamState {
        tools,
        credential: credential.map(str::to_string),
        sse,
        ..Default::default()
    }));
    let data = web::Data::new(state.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(move || {
        // `/moved` redirects to `/mcp` on this origin; `/away` to the same port under
        // another host name.
        let to = |location: String| {
            move || {
                let location = location.clone();
                async move {
                    HttpResponse::TemporaryRedirect()
                        .insert_header(("location", location))
                        .finish()
                }
            }
        };
        actix_web::App::new()
            .app_data(data.clone())
            .route("/mcp", web::post().to(upstream_endpoint))
            .route("/moved", web::post().to(to("/mcp".into())))
            .route(
                "/away",
                web::post().to(to(format!("http://localhost:{port}/mcp"))),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    TestUpstream {
        url: format!("http://127.0.0.1:{port}/mcp"),
        state,
        handle,
    }
}

pub async fn mcp_app() -> TestApp {
    spawn_app_with(|c| {
        c.outbound.allow_loopback = true;
        c.mcp.health_interval_secs = 1;
        c.mcp.health_poll_ms = 200;
    })
    .await
}

/// A new API key of the org with `scopes`; its secret.
pub async fn key(owner: &TestUser, slug: &str, scopes: &[ApiKeyScope]) -> String {
    let req = CreateApiKeyRequest {
        name: format!("k{}", uuid::Uuid::now_v7()),
        scopes: Some(scopes.to_vec()),
        expires_at: None,
    };
    owner.create_api_key(slug, &req).await.ok().await.secret
}

/// A new `mcp` key of the org; its secret.
pub async fn mcp_key(owner: &TestUser, slug: &str) -> String {
    key(owner, slug, &[ApiKeyScope::Mcp]).await
}

pub async fn connector(owner: &TestUser, slug: &str, body: Value) -> Value {
    let r = owner.post(&format!("/orgs/{slug}/connectors"), body).await;
    json(r).await
}

pub async fn wait_health(owner: &TestUser, slug: &str, id: &str, status: &str) -> Value {
    for _ in 0..150 {
        let c: Value = json(owner.get(&format!("/orgs/{slug}/connectors/{id}")).await).await;
        if c["health"]["status"] == status {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("connector {id} never became {status}");
}

/// The official reference server, installed from npm by scripts/test.sh.
pub fn server_everything() -> String {
    let path = std::env::var("GATEHOUSE_TEST_MCP_EVERYTHING").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/gatehouse/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
    });
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} missing: run scripts/test.sh (it installs @modelcontextprotocol/server-everything) or set GATEHOUSE_TEST_MCP_EVERYTHING"
    );
    path
}

/// The official reference server on a free port, in Streamable HTTP mode; killed when
/// the returned child is dropped.
pub async fn start_everything() -> (tokio::process::Child, u16) {
    let script = server_everything();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new("node")
        .arg(&script)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, port)
}
