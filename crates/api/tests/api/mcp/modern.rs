//! A client that speaks only MCP 2026-07-28, end to end: the official TypeScript SDK v2
//! client from npm (`@modelcontextprotocol/client`, installed by
//! scripts/mcp-modern-client.sh), pinned to 2026-07-28 with no `initialize` fallback, run
//! by Node from tests/e2e/mcp_modern_client.mjs. It lists and calls the tools of a connector
//! in front of the small test upstream, once with an API key and once through OAuth
//! (discovery from the 401, registration, PKCE; this test plays the browser at the consent
//! page), and reports every HTTP request it made, so the wire is checked too.
use super::sdk::{SdkClient, consent};
use crate::support::*;
use serde_json::{Value, json};
use std::{collections::HashMap, time::Duration};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/e2e/mcp_modern_client.mjs"
);
const MODERN: &str = "2026-07-28";
const CLIENT_NAME: &str = "Gatehouse E2E (MCP TypeScript SDK v2, 2026-07-28)";

/// The v2 client's node_modules folder, for NODE_PATH.
fn client_node_path() -> String {
    let dir = std::env::var("GATEHOUSE_TEST_MCP_CLIENT_V2").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/gatehouse/npm-client-v2/node_modules")
    });
    assert!(
        std::path::Path::new(&dir)
            .join("@modelcontextprotocol/client/package.json")
            .exists(),
        "@modelcontextprotocol/client missing in {dir}: run scripts/test.sh (it installs it) or set GATEHOUSE_TEST_MCP_CLIENT_V2=$(bash scripts/mcp-modern-client.sh | tail -1)"
    );
    dir
}

/// An org with one healthy connector, "Alpha", in front of the test upstream's `echo`.
async fn org_with_echo(app: &TestApp, email: &str) -> (TestUser, String, TestUpstream) {
    let owner = app.signup(email).await;
    let org = app.create_org(&owner, "Modern Org").await;
    let up = start_upstream(vec!["echo"], None, false).await;
    let c = connector(&owner, &org.slug, json!({"name": "Alpha", "url": up.url})).await;
    wait_health(&owner, &org.slug, c["id"].as_str().unwrap(), "healthy").await;
    (owner, org.slug, up)
}

/// What the client reports after the handshake: negotiated version, server, tools, call.
async fn expect_tools_and_call(client: &mut SdkClient) {
    assert_eq!(client.expect("VERSION").await, MODERN, "pinned version");
    let discover: Value = serde_json::from_str(&client.expect("DISCOVER").await).unwrap();
    assert!(
        discover["supportedVersions"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v == MODERN)),
        "{discover}"
    );
    assert_eq!(discover["capabilities"]["tools"]["listChanged"], true);
    // The SDK takes the server's identity from the result's
    // `_meta["io.modelcontextprotocol/serverInfo"]`, which the gateway does not send yet
    // (see `every_2026_07_28_result_names_the_server_in_its_meta`); when it does, this
    // checks it came through.
    let server: Value = serde_json::from_str(&client.expect("SERVER").await).unwrap();
    assert!(
        server.is_null() || server["name"] == "gatehouse",
        "{server}"
    );
    let tools: Value = serde_json::from_str(&client.expect("TOOLS").await).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["alpha__echo"], "{tools}");
    let call: Value = serde_json::from_str(&client.expect("CALL").await).unwrap();
    assert_eq!(
        call["content"][0]["text"], "echo:{\"from\":\"modern\"}",
        "{call}"
    );
    assert_ne!(call["isError"], true, "{call}");
}

/// The client's log of its HTTP requests, after it exits successfully.
async fn wire(client: &mut SdkClient) -> Vec<Value> {
    let wire: Value = serde_json::from_str(&client.expect("WIRE").await).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), client.child.wait())
        .await
        .expect("the client exits")
        .unwrap();
    if !status.success() {
        panic!(
            "modern client: {status}; stderr:\n{}",
            client.stderr().await
        );
    }
    wire.as_array().unwrap().clone()
}

/// Every request to the MCP endpoint is 2026-07-28 and nothing else: no `initialize`, no
/// session, the version in the header and in the body's `_meta`, `Mcp-Method` (and for
/// `tools/call` `Mcp-Name`) naming what the body does. Returns the JSON-RPC methods sent
/// with an authorization header, in order, with their HTTP status.
fn assert_modern_wire(wire: &[Value], mcp_path: &str) -> Vec<(String, u64)> {
    let mut sent = Vec::new();
    for r in wire.iter().filter(|r| r["path"] == mcp_path) {
        assert_eq!(r["http"], "POST", "only POSTs to the endpoint: {r}");
        let rpc = r["rpc"].as_array().unwrap_or_else(|| panic!("{r}"));
        assert_eq!(rpc.len(), 1, "no batches: {r}");
        let method = rpc[0].as_str().unwrap_or_else(|| panic!("{r}"));
        assert!(
            !matches!(method, "initialize" | "notifications/initialized" | "ping"),
            "no handshake (nor ping) from a 2026-07-28 client: {r}"
        );
        assert_eq!(r["protocolVersion"], MODERN, "{r}");
        assert_eq!(r["metaVersion"], MODERN, "{r}");
        for k in ["clientCapabilities", "clientInfo", "protocolVersion"] {
            let k = format!("io.modelcontextprotocol/{k}");
            assert!(
                r["metaKeys"].as_array().unwrap().iter().any(|x| *x == k),
                "{k} in every request's _meta: {r}"
            );
        }
        assert_eq!(r["mcpMethod"], method, "{r}");
        assert!(r["sessionId"].is_null(), "stateless: {r}");
        if method == "tools/call" {
            assert_eq!(r["mcpName"], "alpha__echo", "{r}");
        }
        if !r["auth"].is_null() {
            sent.push((method.to_string(), r["status"].as_u64().unwrap_or(0)));
        }
    }
    sent
}

#[tokio::test]
async fn a_client_speaking_only_2026_07_28_uses_the_tools_with_an_api_key() {
    let app = mcp_app().await;
    let (owner, slug, _up) = org_with_echo(&app, "modern-key@example.com").await;
    let secret = mcp_key(&owner, &slug).await;
    let mcp_path = format!("/mcp/{slug}");

    let mut client = SdkClient::spawn_script(
        SCRIPT,
        &client_node_path(),
        &[&app.url(&mcp_path), "alpha__echo"],
        &[("GATEHOUSE_MCP_KEY", &secret)],
    );
    expect_tools_and_call(&mut client).await;
    let wire = wire(&mut client).await;

    assert!(
        wire.iter().all(|r| r["path"] == mcp_path.as_str()),
        "nothing but the endpoint: {wire:?}"
    );
    assert!(
        wire.iter().all(|r| r["auth"] == "Bearer"),
        "the key as a bearer token on every request: {wire:?}"
    );
    let sent = assert_modern_wire(&wire, &mcp_path);
    assert_eq!(
        sent,
        [
            ("server/discover".to_string(), 200),
            ("tools/list".to_string(), 200),
            ("tools/call".to_string(), 200)
        ],
        "{wire:?}"
    );
}

#[tokio::test]
async fn a_client_speaking_only_2026_07_28_connects_through_oauth_and_uses_the_tools() {
    let app = mcp_app().await;
    let (owner, slug, _up) = org_with_echo(&app, "modern-oauth@example.com").await;
    let mcp_path = format!("/mcp/{slug}");
    let mcp = app.url(&mcp_path);

    let mut client =
        SdkClient::spawn_script(SCRIPT, &client_node_path(), &[&mcp, "alpha__echo"], &[]);

    // The client got here on its own: 401 → resource metadata → AS metadata → registration.
    let auth_url = url::Url::parse(&client.expect("AUTHORIZE").await).unwrap();
    assert!(
        auth_url.as_str().starts_with(&app.url("/authorize?")),
        "{auth_url}"
    );
    let q: HashMap<_, _> = auth_url.query_pairs().into_owned().collect();
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert!(q.contains_key("code_challenge"), "{q:?}");
    assert_eq!(q.get("resource"), Some(&mcp), "RFC 8707 resource");
    assert_eq!(
        q.get("scope").map(String::as_str),
        Some("mcp"),
        "scope from the resource metadata"
    );
    let redirect = q["redirect_uri"].clone();

    // Consent, as the signed-in owner's browser; the client gets the whole redirect and
    // checks state and iss itself.
    let (location, back) = consent(&app, &owner, &auth_url, CLIENT_NAME).await;
    assert!(location.as_str().starts_with(&redirect), "{location}");
    assert_eq!(back.get("state"), q.get("state"));
    assert_eq!(back.get("iss"), Some(&app.base));
    client.send(&format!("CALLBACK {location}")).await;

    expect_tools_and_call(&mut client).await;
    let wire = wire(&mut client).await;

    // The OAuth requests, in order, then the modern session with the access token.
    let oauth: Vec<(String, String, u64)> = wire
        .iter()
        .filter(|r| r["path"] != mcp_path.as_str())
        .map(|r| {
            (
                r["http"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let prm = format!("/.well-known/oauth-protected-resource{mcp_path}");
    let want = [
        ("GET", prm.as_str(), 200),
        ("GET", "/.well-known/oauth-authorization-server", 200),
        ("POST", "/register", 201),
        ("POST", "/token", 200),
    ]
    .map(|(m, p, s)| (m.to_string(), p.to_string(), s));
    assert_eq!(oauth, want, "{wire:?}");
    let first = &wire[0];
    assert_eq!(first["path"], mcp_path.as_str(), "{wire:?}");
    assert_eq!(first["status"], 401, "the unauthorized probe: {first}");
    let sent = assert_modern_wire(&wire, &mcp_path);
    assert_eq!(
        sent,
        [
            ("server/discover".to_string(), 200),
            ("tools/list".to_string(), 200),
            ("tools/call".to_string(), 200)
        ],
        "{wire:?}"
    );

    // The org sees the client it connected, with one live grant.
    let clients: Value = json(owner.get(&format!("/orgs/{slug}/oauth/clients")).await).await;
    let listed = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == CLIENT_NAME)
        .unwrap_or_else(|| panic!("modern client not listed: {clients}"));
    assert_eq!(listed["active_grants"], 1, "{listed}");
}

/// Gateway defect, found by the SDK v2 client: in 2026-07-28 a server names itself in every
/// result's `_meta` under `io.modelcontextprotocol/serverInfo` (the SDK's server stamps it
/// on every result; its client reads the server's identity only from there, so
/// `getServerVersion()` is undefined against the gateway). The gateway puts `serverInfo`
/// at the top of the `server/discover` result, which the 2026-07-28 `DiscoverResult`
/// (`supportedVersions`, `capabilities`, `instructions`) does not have, and in no `_meta`.
#[tokio::test]
async fn every_2026_07_28_result_names_the_server_in_its_meta() {
    let app = mcp_app().await;
    let (owner, slug, _up) = org_with_echo(&app, "modern-meta@example.com").await;
    let secret = mcp_key(&owner, &slug).await;
    for method in ["server/discover", "tools/list"] {
        let v: Value = reqwest::Client::new()
            .post(app.url(&format!("/mcp/{slug}")))
            .header("authorization", format!("Bearer {secret}"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", method)
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "gatehouse",
            "{method}: {v}"
        );
    }
}
