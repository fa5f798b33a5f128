//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, every server
//! scenario), run against a backend directly and then through the gateway, where that
//! backend is the org's only connector: whatever passes directly must pass through the
//! gateway. Backends: our fixture server (tests/e2e/conformance_server.mjs, which
//! implements what each scenario expects) with an empty tool prefix, and the official
//! `@modelcontextprotocol/server-everything` (which has none of the scenarios' tools, so
//! there only the protocol-level scenarios pass, directly or not).
//!
//! Everything comes from npm, installed by scripts/mcp-conformance.sh (suite + SDK) and
//! scripts/mcp-everything.sh; scripts/test.sh passes their paths in.
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/e2e/conformance_server.mjs"
);
/// Lets the CLI run on Node 20 and send our API key (it has no option for a header).
const PRELOAD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/e2e/conformance_preload.mjs"
);
/// No scenario takes more than a few seconds against a working server; one that takes
/// longer waits for an answer that will not come (the SDK client's own limit is 60 s).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(20);
/// Scenarios run one by one in a single CLI process (the cheap path: one Node start-up);
/// only after a stall do the remaining ones get a process each, this many at a time.
const PARALLEL: usize = 4;

/// The node_modules folder with the suite and the SDK.
fn modules() -> String {
    let dir = std::env::var("GATEHOUSE_TEST_MCP_CONFORMANCE").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/gatehouse/npm-conformance/node_modules")
    });
    for pkg in [
        "@modelcontextprotocol/conformance",
        "@modelcontextprotocol/sdk",
    ] {
        assert!(
            std::path::Path::new(&dir)
                .join(pkg)
                .join("package.json")
                .exists(),
            "{pkg} missing in {dir}: run scripts/test.sh (it installs it) or set GATEHOUSE_TEST_MCP_CONFORMANCE=$(bash scripts/mcp-conformance.sh | tail -1)"
        );
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_port(port: u16) {
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// A Node backend on a free port; killed when dropped.
async fn backend(args: &[&str]) -> (tokio::process::Child, u16) {
    let port = free_port();
    let child = tokio::process::Command::new("node")
        .args(args)
        .env("PORT", port.to_string())
        .env("NODE_PATH", modules())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    wait_port(port).await;
    (child, port)
}

/// One scenario's outcome: passed means no check reported FAILURE (the suite's own rule;
/// warnings do not fail it).
#[derive(Clone, Debug)]
struct Outcome {
    passed: bool,
    failures: Vec<String>,
    warnings: Vec<String>,
}

impl Outcome {
    fn broken(why: String) -> Self {
        Outcome {
            passed: false,
            failures: vec![why],
            warnings: vec![],
        }
    }
}

struct Suite {
    modules: String,
    scenarios: Vec<String>,
}

impl Suite {
    async fn new() -> Self {
        let modules = modules();
        let out = Self::cli(&modules)
            .args(["list", "--server"])
            .output()
            .await
            .expect("node");
        assert!(
            out.status.success(),
            "conformance list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let scenarios: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        assert!(scenarios.len() >= 30, "server scenarios: {scenarios:?}");
        Suite { modules, scenarios }
    }

    fn cli(modules: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("node");
        c.arg("--import")
            .arg(PRELOAD)
            .arg(format!(
                "{modules}/@modelcontextprotocol/conformance/dist/index.js"
            ))
            .kill_on_drop(true);
        c
    }

    fn server_cmd(
        &self,
        url: &str,
        auth: Option<&str>,
        out: &std::path::Path,
    ) -> tokio::process::Command {
        let mut c = Self::cli(&self.modules);
        c.args(["server", "--url", url, "-o"])
            .arg(out)
            .env_remove("CONFORMANCE_AUTHORIZATION")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(a) = auth {
            c.env("CONFORMANCE_AUTHORIZATION", a);
        }
        c
    }

    /// Every server scenario (suite "all", pending ones included) against `url`.
    async fn run(&self, url: &str, auth: Option<&str>) -> BTreeMap<String, Outcome> {
        let out = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let mut results = BTreeMap::new();

        // The whole suite in one process; a scenario that stalls ends it.
        let mut child = self
            .server_cmd(url, auth, out.path())
            .args(["--suite", "all"])
            .spawn()
            .expect("node");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut current: Option<String> = None;
        let mut stalled = None;
        loop {
            match tokio::time::timeout(SCENARIO_TIMEOUT, lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    if let Some(s) = line.strip_prefix("=== Running scenario: ") {
                        current = Some(s.trim_end_matches(" ===").to_string());
                    }
                }
                Ok(_) => break,
                Err(_) => {
                    child.start_kill().ok();
                    stalled = current.clone();
                    break;
                }
            }
        }
        child.wait().await.ok();
        collect(out.path(), &mut results);
        if let Some(s) = &stalled {
            results.insert(
                s.clone(),
                Outcome::broken(format!(
                    "no result within {}s (stalled)",
                    SCENARIO_TIMEOUT.as_secs()
                )),
            );
        }

        // After a stall: each scenario not yet run in its own process.
        let rest: Vec<String> = self
            .scenarios
            .iter()
            .filter(|s| !results.contains_key(*s))
            .cloned()
            .collect();
        let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let mut jobs = tokio::task::JoinSet::new();
        for s in rest {
            let mut cmd = self.server_cmd(url, auth, out.path());
            cmd.args(["--scenario", &s]);
            let gate = gate.clone();
            jobs.spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                let mut child = cmd.spawn().expect("node");
                let mut stderr = child.stderr.take().unwrap();
                let mut stdout = child.stdout.take().unwrap();
                let read = async {
                    let (mut o, mut e) = (String::new(), String::new());
                    let _ =
                        tokio::join!(stdout.read_to_string(&mut o), stderr.read_to_string(&mut e));
                    (o, e)
                };
                match tokio::time::timeout(SCENARIO_TIMEOUT, read).await {
                    Ok(_) => {
                        child.wait().await.ok();
                        (s, None)
                    }
                    Err(_) => {
                        child.start_kill().ok();
                        child.wait().await.ok();
                        let why = format!("no result within {}s", SCENARIO_TIMEOUT.as_secs());
                        (s, Some(why))
                    }
                }
            });
        }
        let mut timed_out = BTreeMap::new();
        while let Some(r) = jobs.join_next().await {
            let (s, why) = r.unwrap();
            if let Some(why) = why {
                timed_out.insert(s, Outcome::broken(why));
            }
        }
        collect(out.path(), &mut results);
        results.extend(timed_out);
        for s in &self.scenarios {
            results
                .entry(s.clone())
                .or_insert_with(|| Outcome::broken("the CLI wrote no result".into()));
        }
        eprintln!(
            "conformance against {url}: {}/{} scenarios passed in {:.1}s{}",
            results.values().filter(|o| o.passed).count(),
            results.len(),
            started.elapsed().as_secs_f64(),
            if stalled.is_some() {
                " (after a stall)"
            } else {
                ""
            }
        );
        results
    }
}

/// Reads every `server-<scenario>-<timestamp>/checks.json` the CLI wrote under `dir`.
fn collect(dir: &std::path::Path, into: &mut BTreeMap<String, Outcome>) {
    let name = regex::Regex::new(r"^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$").unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(scenario) = name.captures(&file).map(|c| c[1].to_string()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(entry.path().join("checks.json")) else {
            continue;
        };
        let checks: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
        let line = |c: &Value| {
            let msg = c["errorMessage"].as_str().unwrap_or_default();
            let details = c.get("details").map(|d| d.to_string()).unwrap_or_default();
            let details: String = details.chars().take(300).collect();
            format!("{}: {msg} {details}", c["id"].as_str().unwrap_or("?"))
        };
        let of = |status: &str| -> Vec<String> {
            checks
                .iter()
                .filter(|c| c["status"] == status)
                .map(line)
                .collect()
        };
        let failures = of("FAILURE");
        into.insert(
            scenario,
            Outcome {
                passed: failures.is_empty() && !checks.is_empty(),
                failures,
                warnings: of("WARNING"),
            },
        );
    }
}

/// server-everything has none of the scenarios' tools and answers an unknown tool with
/// an `isError` result ("Tool … not found"); where that happens to satisfy a scenario,
/// the direct pass says nothing, as the gateway answers a tool it does not list with
/// JSON-RPC -32602 (the spec's own example for an unknown tool).
const NOT_COMPARABLE_ON_EVERYTHING: &[(&str, &str)] = &[
    (
        "tools-call-error",
        "server-everything has no test_error_handling; its isError 'not found' answer is what the scenario checks for",
    ),
    (
        "tools-call-simple-text",
        "server-everything has no test_simple_text; its isError 'not found' answer is text content, all the scenario checks",
    ),
];

/// Scenarios the gateway still loses, and why: each is an open part of the MCP fidelity
/// issue. The tests fail if any other scenario is lost, and if one of these starts to
/// pass (then it comes off this list), so the list can only shrink.
const KNOWN_GAPS_ON_FIXTURE: &[(&str, &str)] = &[];

const KNOWN_GAPS_ON_EVERYTHING: &[(&str, &str)] = &[];

/// Direct vs gateway, one row per scenario; returns the rows that regressed.
fn compare(
    backend: &str,
    direct: &BTreeMap<String, Outcome>,
    gateway: &BTreeMap<String, Outcome>,
    not_comparable: &[(&str, &str)],
) -> Vec<String> {
    let mark = |o: Option<&Outcome>| match o {
        Some(o) if o.passed => "pass",
        _ => "FAIL",
    };
    let mut table = format!(
        "\nconformance, {backend}: direct vs through the gateway\n{:<32} {:<6} {:<7} detail (gateway)\n",
        "scenario", "direct", "gateway"
    );
    let mut regressions = Vec::new();
    for (s, d) in direct {
        let g = gateway.get(s);
        let mut detail = Vec::new();
        if let Some(g) = g {
            detail.extend(g.failures.iter().cloned());
            // Warnings the gateway adds do not fail the suite, but are worth seeing.
            detail.extend(
                g.warnings
                    .iter()
                    .filter(|w| !d.warnings.contains(w))
                    .map(|w| format!("(warning) {w}")),
            );
        }
        if let Some((_, why)) = not_comparable.iter().find(|(n, _)| n == s) {
            table.push_str(&format!(
                "{s:<32} {:<6} {:<7} n/a: {why}\n",
                mark(Some(d)),
                mark(g)
            ));
            continue;
        }
        table.push_str(&format!(
            "{s:<32} {:<6} {:<7} {}\n",
            mark(Some(d)),
            mark(g),
            detail.join(" | ")
        ));
        if d.passed && !g.is_some_and(|g| g.passed) {
            regressions.push(s.clone());
        }
    }
    eprintln!("{table}");
    regressions
}

/// The gateway in front of `upstream`, as the only connector of a fresh org; returns its
/// MCP URL and an `Authorization` value for it.
async fn through_gateway(app: &TestApp, email: &str, upstream: &str) -> (String, String) {
    let owner = app.signup(email).await;
    let org = app.create_org(&owner, "Conformance").await;
    let c = connector(
        &owner,
        &org.slug,
        json!({"name": "Backend", "url": upstream, "tool_prefix": ""}),
    )
    .await;
    let id = c["id"]
        .as_str()
        .unwrap_or_else(|| panic!("connector not created: {c}"));
    assert_eq!(c["tool_prefix"], "", "{c}");
    wait_health(&owner, &org.slug, id, "healthy").await;
    let key = mcp_key(&owner, &org.slug).await;
    (
        app.url(&format!("/mcp/{}", org.slug)),
        format!("Bearer {key}"),
    )
}

async fn direct_vs_gateway(
    suite: &Suite,
    direct: &BTreeMap<String, Outcome>,
    backend_name: &str,
    email: &str,
    upstream: &str,
    not_comparable: &[(&str, &str)],
    known_gaps: &[(&str, &str)],
) {
    let app = mcp_app().await;
    let (url, auth) = through_gateway(&app, email, upstream).await;
    let gateway = suite.run(&url, Some(&auth)).await;
    let regressions = compare(backend_name, direct, &gateway, not_comparable);
    let now_passing: Vec<_> = known_gaps
        .iter()
        .filter(|(s, _)| direct.get(*s).is_some_and(|d| d.passed))
        .filter(|(s, _)| gateway.get(*s).is_some_and(|g| g.passed))
        .map(|(s, _)| *s)
        .collect();
    assert!(
        now_passing.is_empty(),
        "{now_passing:?} now pass through the gateway: take them off the known gaps"
    );
    let regressions: Vec<_> = regressions
        .into_iter()
        .filter(|r| !known_gaps.iter().any(|(s, _)| s == r))
        .collect();
    assert!(
        regressions.is_empty(),
        "{} scenario(s) pass directly against {backend_name} but fail through the gateway: {regressions:?} (table above)",
        regressions.len()
    );
}

#[tokio::test]
async fn the_conformance_suite_passes_through_the_gateway_as_it_does_directly() {
    let (_fixture, port) = backend(&[FIXTURE]).await;
    let upstream = format!("http://127.0.0.1:{port}/mcp");
    // The fixture is meant to pass everything; if it does not, fix it first.
    let suite = Suite::new().await;
    let direct = suite.run(&upstream, None).await;
    let broken: Vec<_> = direct.iter().filter(|(_, o)| !o.passed).collect();
    assert!(broken.is_empty(), "the fixture itself fails: {broken:#?}");
    direct_vs_gateway(
        &suite,
        &direct,
        "our fixture server",
        "conf1@example.com",
        &upstream,
        &[],
        KNOWN_GAPS_ON_FIXTURE,
    )
    .await;
}

#[tokio::test]
async fn the_conformance_suite_against_server_everything_loses_nothing_through_the_gateway() {
    let script = server_everything();
    let (_everything, port) = backend(&[&script, "streamableHttp"]).await;
    let upstream = format!("http://127.0.0.1:{port}/mcp");
    let suite = Suite::new().await;
    let direct = suite.run(&upstream, None).await;
    direct_vs_gateway(
        &suite,
        &direct,
        "server-everything",
        "conf2@example.com",
        &upstream,
        NOT_COMPARABLE_ON_EVERYTHING,
        KNOWN_GAPS_ON_EVERYTHING,
    )
    .await;
}
