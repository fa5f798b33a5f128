//! An independent client against our OAuth server and MCP endpoint: the official MCP
//! TypeScript SDK from npm (installed by scripts/mcp-sdk-client.sh) with its OAuth client
//! provider, run by Node from tests/e2e/mcp_oauth_client.mjs. It discovers everything
//! from the endpoint's 401, registers, authorizes with PKCE and lists and calls tools;
//! this test plays the browser at the consent page.
use crate::oauth::allow;
use crate::support::*;
use serde_json::{Value, json};
use std::{collections::HashMap, process::Stdio, time::Duration};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/e2e/mcp_oauth_client.mjs"
);

/// The SDK's node_modules folder, for NODE_PATH.
fn sdk_node_path() -> String {
    let dir = std::env::var("GATEHOUSE_TEST_MCP_SDK").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/gatehouse/npm-sdk/node_modules")
    });
    assert!(
        std::path::Path::new(&dir)
            .join("@modelcontextprotocol/sdk/package.json")
            .exists(),
        "@modelcontextprotocol/sdk missing in {dir}: run scripts/test.sh (it installs the SDK) or set GATEHOUSE_TEST_MCP_SDK=$(bash scripts/mcp-sdk-client.sh | tail -1)"
    );
    dir
}

/// A Node client and its line protocol (see the scripts' headers): tagged lines on
/// stdout, answers on stdin.
pub(crate) struct SdkClient {
    pub(crate) child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<JoinHandle<String>>,
}

impl SdkClient {
    fn spawn(mcp_url: &str, tool: &str) -> Self {
        Self::spawn_script(SCRIPT, &sdk_node_path(), &[mcp_url, tool], &[])
    }

    /// `node <script> <args…>` with `NODE_PATH` = `node_path` and extra environment.
    pub(crate) fn spawn_script(
        script: &str,
        node_path: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .args(args)
            .envs(envs.iter().copied())
            .env("NODE_PATH", node_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            err.read_to_string(&mut s).await.ok();
            s
        });
        SdkClient {
            child,
            stdin,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// Stops the client and returns what it wrote to stderr, for failure messages.
    pub(crate) async fn stderr(&mut self) -> String {
        self.child.start_kill().ok();
        match self.stderr.take() {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        }
    }

    /// The rest of the next line that starts with `tag`.
    pub(crate) async fn expect(&mut self, tag: &str) -> String {
        let mut other = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => {
                    match line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                        Some(rest) => return rest.to_string(),
                        None => other.push(line),
                    }
                }
                end => {
                    let err = self.stderr().await;
                    panic!(
                        "no {tag} line from the Node client ({end:?}); other output: {other:?}; stderr:\n{err}"
                    );
                }
            }
        }
    }

    pub(crate) async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }
}

/// Plays the signed-in user's browser at the consent page `auth_url` of the client named
/// `client_name`, and allows: the redirect's location and its query.
pub(crate) async fn consent(
    app: &TestApp,
    user: &Session,
    auth_url: &url::Url,
    client_name: &str,
) -> (url::Url, HashMap<String, String>) {
    let page = user.http.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200, "consent page");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("Connect {client_name} to Gatehouse?")),
        "the registered client name: {html}"
    );
    allow(app, user, &html).await
}

#[tokio::test]
async fn the_official_typescript_sdk_connects_through_oauth_and_uses_the_tools() {
    let app = mcp_app().await;
    let owner = app.signup("sdk@example.com").await;
    let org = app.create_org(&owner, "SDK Org").await;
    let up = start_upstream(vec!["echo"], None, false).await;
    let c = connector(&owner, &org.slug, json!({"name": "Alpha", "url": up.url})).await;
    wait_health(&owner, &org.slug, c["id"].as_str().unwrap(), "healthy").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));

    let mut sdk = SdkClient::spawn(&mcp, "alpha__echo");

    // The SDK got here on its own: 401 → resource metadata → AS metadata → registration.
    let auth_url = url::Url::parse(&sdk.expect("AUTHORIZE").await).unwrap();
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

    // Consent, as the signed-in owner's browser.
    let (location, back) = consent(
        &app,
        &owner,
        &auth_url,
        "Gatehouse E2E (MCP TypeScript SDK)",
    )
    .await;
    assert!(location.as_str().starts_with(&redirect), "{location}");
    assert_eq!(back.get("state"), q.get("state"));
    assert_eq!(back.get("iss"), Some(&app.base));
    sdk.send(&format!("CODE {}", back["code"])).await;

    // Code exchange, then an authorized session with the org's tools.
    let server: Value = serde_json::from_str(&sdk.expect("SERVER").await).unwrap();
    assert_eq!(server["name"], "gatehouse", "{server}");
    let tools: Value = serde_json::from_str(&sdk.expect("TOOLS").await).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["alpha__echo"], "{tools}");
    let call: Value = serde_json::from_str(&sdk.expect("CALL").await).unwrap();
    assert_eq!(
        call["content"][0]["text"], "echo:{\"from\":\"sdk\"}",
        "{call}"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), sdk.child.wait())
        .await
        .expect("the SDK client exits")
        .unwrap();
    if !status.success() {
        panic!("SDK client: {status}; stderr:\n{}", sdk.stderr().await);
    }

    // The org sees the client it connected, with one live grant.
    let clients: Value = json(
        owner
            .get(&format!("/orgs/{}/oauth/clients", org.slug))
            .await,
    )
    .await;
    let listed = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Gatehouse E2E (MCP TypeScript SDK)")
        .unwrap_or_else(|| panic!("SDK client not listed: {clients}"));
    assert_eq!(listed["active_grants"], 1, "{listed}");
    assert_eq!(listed["redirect_hosts"], json!(["127.0.0.1"]));
}
