//! Per-replica caches on the MCP hot path, each stale for a bounded, harmless moment:
//! - the tools an org exposes (a connector's new health or tool list shows within
//!   `TOOLS_TTL`), computed by [`catalog`], the one place that decides exposed names;
//! - which session ids exist (an ended session may linger up to `SESSION_TTL` on other
//!   replicas; a session id is no credential, the API key is checked on every call).
//!   Keyed by the id as the client sends it, so a hit costs no hashing; the database
//!   keeps only hashes, and only ids found there are cached.
use crate::entity::connector;
use gatehouse_types::{TOOL_NAME_MAX_CHARS, ToolIssue, ToolIssueKind, is_valid_tool_name};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use uuid::Uuid;

pub const TOOLS_TTL: Duration = Duration::from_secs(2);
pub const SESSION_TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 100_000;

pub type ExposedTools = Arc<Exposed>;

/// `prefix + name` as MCP clients may see it (`^[A-Za-z0-9_-]{1,64}$`): unchanged when
/// it fits; otherwise every other character becomes `_`, and a result over 64 keeps its
/// first 55 characters, `_` and 8 hex digits of the SHA-256 of the original, so that
/// long names sharing a beginning stay apart. Deterministic: every replica agrees.
pub fn exposed_name(prefix: &str, name: &str) -> String {
    let full = format!("{prefix}{name}");
    if is_valid_tool_name(&full) {
        return full;
    }
    let mut out: String = full
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.len() > TOOL_NAME_MAX_CHARS {
        let digest = Sha256::digest(full.as_bytes());
        // ASCII only by now, so any byte index is a character boundary.
        out.truncate(TOOL_NAME_MAX_CHARS - 9);
        out.push('_');
        out.push_str(&hex::encode(&digest[..4]));
    }
    out
}

/// One tool as the endpoint lists it: indices into the catalog's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub connector: usize,
    pub tool: usize,
    pub name: String,
}

#[derive(Debug, Default)]
pub struct Catalog {
    /// Unique names; connectors oldest first, each one's tools in its server's order.
    pub tools: Vec<Listed>,
    /// `(connector index, issue)`, in the same order.
    pub issues: Vec<(usize, ToolIssue)>,
}

/// The tools an org exposes, from its connectors (whatever order they come in) and
/// their tool lists. A name is exposed once: the oldest connector (`created_at`, then
/// id) keeps it, and within one connector a tool's own valid name goes before names
/// made by mapping. A later tool that would get a taken name is left out, and a tool
/// without a name is skipped; both are reported, never fatal to the rest.
pub fn catalog(connectors: &[(&connector::Model, &[Value])]) -> Catalog {
    let mut order: Vec<usize> = (0..connectors.len()).collect();
    order.sort_by_key(|&i| (connectors[i].0.created_at, connectors[i].0.id));
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut out = Catalog::default();
    for ci in order {
        let (c, tools) = connectors[ci];
        let mut slots: Vec<(Option<String>, Option<ToolIssue>)> = vec![(None, None); tools.len()];
        for own_names_first in [true, false] {
            for (ti, t) in tools.iter().enumerate() {
                let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
                let valid = is_valid_tool_name(&format!("{}{name}", c.tool_prefix));
                if valid != own_names_first {
                    continue;
                }
                if name.is_empty() {
                    slots[ti].1 = Some(ToolIssue {
                        kind: ToolIssueKind::LeftOut,
                        tool: String::new(),
                        exposed_name: None,
                        conflicting_connector_id: None,
                        message: format!("tool #{} has no name and is left out", ti + 1),
                    });
                    continue;
                }
                let exposed = exposed_name(&c.tool_prefix, name);
                if let Some(&owner) = taken.get(&exposed) {
                    let other = connectors[owner].0;
                    let by = if owner == ci {
                        "this connector".to_string()
                    } else {
                        format!("connector “{}”", other.name)
                    };
                    slots[ti].1 = Some(ToolIssue {
                        kind: ToolIssueKind::LeftOut,
                        tool: name.to_string(),
                        exposed_name: Some(exposed.clone()),
                        conflicting_connector_id: (owner != ci).then_some(other.id),
                        message: format!(
                            "`{name}` is left out: `{exposed}` is already exposed by {by}"
                        ),
                    });
                    continue;
                }
                taken.insert(exposed.clone(), ci);
                if !valid {
                    slots[ti].1 = Some(ToolIssue {
                        kind: ToolIssueKind::Renamed,
                        tool: name.to_string(),
                        exposed_name: Some(exposed.clone()),
                        conflicting_connector_id: None,
                        message: format!(
                            "`{name}` is exposed as `{exposed}`: MCP clients accept only \
                             letters, digits, `_` and `-`, at most {TOOL_NAME_MAX_CHARS}"
                        ),
                    });
                }
                slots[ti].0 = Some(exposed);
            }
        }
        for (ti, (name, issue)) in slots.into_iter().enumerate() {
            if let Some(name) = name {
                out.tools.push(Listed {
                    connector: ci,
                    tool: ti,
                    name,
                });
            }
            if let Some(issue) = issue {
                out.issues.push((ci, issue));
            }
        }
    }
    out
}

/// The enabled, healthy connectors of an org with their tools, oldest first, and the
/// `tools/list` and `prompts/list` answers made from them (see [`catalog`]).
pub struct Exposed {
    pub connectors: Vec<(connector::Model, Vec<Value>)>,
    by_name: HashMap<String, (usize, usize)>,
    tools: Vec<Value>,
    prompts: Vec<Value>,
}

impl Exposed {
    pub fn new(mut connectors: Vec<(connector::Model, Vec<Value>)>) -> Exposed {
        // The order `prompts/get` searches in, so it agrees with the prompt list.
        connectors.sort_by_key(|(c, _)| (c.created_at, c.id));
        let refs: Vec<(&connector::Model, &[Value])> =
            connectors.iter().map(|(c, t)| (c, t.as_slice())).collect();
        let cat = catalog(&refs);
        let mut by_name = HashMap::with_capacity(cat.tools.len());
        let mut tools = Vec::with_capacity(cat.tools.len());
        for l in cat.tools {
            let mut t = connectors[l.connector].1[l.tool].clone();
            t["name"] = Value::String(l.name.clone());
            tools.push(t);
            by_name.insert(l.name, (l.connector, l.tool));
        }
        let prompts = unique_prompts(&connectors);
        Exposed {
            connectors,
            by_name,
            tools,
            prompts,
        }
    }

    /// The connector that owns an exposed tool name, and the upstream's own name.
    pub fn tool(&self, exposed: &str) -> Option<(&connector::Model, &str)> {
        let &(ci, ti) = self.by_name.get(exposed)?;
        let (c, tools) = self.connectors.get(ci)?;
        Some((c, tools.get(ti)?.get("name")?.as_str()?))
    }

    /// The `tools/list` answer: each name once, each valid for MCP clients.
    pub fn listed_tools(&self) -> &[Value] {
        &self.tools
    }

    /// The `prompts/list` answer: `<prefix><name>`, each name once (the oldest
    /// connector keeps it, as `prompts/get` finds it first). Prompt names are not
    /// mapped: clients put no pattern on them, and `prompts/get` matches them as given.
    pub fn listed_prompts(&self) -> &[Value] {
        &self.prompts
    }
}

fn unique_prompts(connectors: &[(connector::Model, Vec<Value>)]) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (c, _) in connectors {
        let prompts: Vec<Value> = serde_json::from_str(&c.prompts_json).unwrap_or_default();
        for mut p in prompts {
            let Some(name) = p.get("name").and_then(Value::as_str) else {
                continue;
            };
            let exposed = format!("{}{name}", c.tool_prefix);
            if seen.insert(exposed.clone()) {
                p["name"] = Value::String(exposed);
                out.push(p);
            }
        }
    }
    out
}

/// An upstream's request relayed to a client, waiting for the client's answer.
pub struct Relay {
    responder: super::client::Responder,
    upstream_id: Value,
    caller: Uuid,
    at: Instant,
}

/// How long a relayed request waits for the client's answer.
pub const RELAY_TTL: Duration = Duration::from_secs(15 * 60);

impl Relay {
    pub fn new(responder: super::client::Responder, upstream_id: Value, caller: Uuid) -> Relay {
        Relay {
            responder,
            upstream_id,
            caller,
            at: Instant::now(),
        }
    }

    /// Sends the client's answer (`member` is `result` or `error`) to the upstream.
    pub async fn answer(
        &self,
        member: &str,
        value: &serde_json::value::RawValue,
    ) -> Result<(), super::client::UpstreamError> {
        self.responder
            .answer(&self.upstream_id, member, value)
            .await
    }
}

#[derive(Default)]
pub struct McpCache {
    /// The notifications of each caller's standalone stream with a connector, by
    /// (connector, caller), shared by that caller's listeners.
    pub feeds: Mutex<HashMap<(Uuid, Uuid), tokio::sync::broadcast::Sender<Value>>>,
    /// Forwarded requests on their way, by caller and the client's request id (as JSON
    /// text), for `notifications/cancelled`.
    in_flight: Mutex<HashMap<(Uuid, String), super::client::InFlight>>,
    /// Relayed requests by the id the gateway gave them.
    relays: Mutex<HashMap<String, Relay>>,
    tools: Mutex<HashMap<Uuid, (Instant, ExposedTools)>>,
    sessions: Mutex<HashMap<String, (Instant, Uuid, Uuid)>>,
}

impl McpCache {
    pub fn tools(&self, org: Uuid) -> Option<ExposedTools> {
        let m = self.tools.lock().ok()?;
        m.get(&org)
            .filter(|(at, _)| at.elapsed() < TOOLS_TTL)
            .map(|(_, t)| t.clone())
    }

    pub fn put_tools(&self, org: Uuid, tools: ExposedTools) {
        if let Ok(mut m) = self.tools.lock() {
            if m.len() >= MAX_ENTRIES {
                m.retain(|_, (at, _)| at.elapsed() < TOOLS_TTL);
            }
            m.insert(org, (Instant::now(), tools));
        }
    }

    pub fn forget_tools(&self, org: Uuid) {
        if let Ok(mut m) = self.tools.lock() {
            m.remove(&org);
        }
    }

    /// `(org, api key)` of a session seen recently.
    pub fn session(&self, id: &str) -> Option<(Uuid, Uuid)> {
        let m = self.sessions.lock().ok()?;
        m.get(id)
            .filter(|(at, _, _)| at.elapsed() < SESSION_TTL)
            .map(|(_, o, k)| (*o, *k))
    }

    /// Remembers (or, once its moment is over, remembers anew) a session found in the
    /// database. An expired entry must be replaced, or every later request of a long
    /// session would read the database.
    pub fn put_session(&self, id: String, org: Uuid, key: Uuid) {
        self.put_session_at(id, org, key, Instant::now());
    }

    fn put_session_at(&self, id: String, org: Uuid, key: Uuid, at: Instant) {
        if let Ok(mut m) = self.sessions.lock() {
            if m.len() >= MAX_ENTRIES {
                m.retain(|_, (at, _, _)| at.elapsed() < SESSION_TTL);
            }
            m.insert(id, (at, org, key));
        }
    }

    pub fn put_in_flight(&self, key: (Uuid, String), request: super::client::InFlight) {
        if let Ok(mut m) = self.in_flight.lock() {
            m.insert(key, request);
        }
    }

    pub fn take_in_flight(&self, key: &(Uuid, String)) -> Option<super::client::InFlight> {
        self.in_flight.lock().ok()?.remove(key)
    }

    pub fn put_relay(&self, id: String, relay: Relay) {
        if let Ok(mut m) = self.relays.lock() {
            m.retain(|_, r| r.at.elapsed() < RELAY_TTL);
            m.insert(id, relay);
        }
    }

    /// The relayed request `id`, if it went to `caller`: only the client that was asked
    /// can answer.
    pub fn take_relay(&self, id: &str, caller: Uuid) -> Option<Relay> {
        let mut m = self.relays.lock().ok()?;
        if m.get(id)?.caller != caller {
            return None;
        }
        m.remove(id)
    }

    pub fn forget_session(&self, id: &str) {
        if let Ok(mut m) = self.sessions.lock() {
            m.remove(id);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn a_session_seen_again_after_its_moment_is_cached_anew() {
        let cache = McpCache::default();
        let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
        let long_ago = Instant::now()
            .checked_sub(SESSION_TTL * 2)
            .unwrap_or_else(Instant::now);
        cache.put_session_at("s".into(), org, key, long_ago);
        assert_eq!(cache.session("s"), None, "expired");
        // Read from the database again: cached again, not left expired.
        cache.put_session("s".into(), org, key);
        assert_eq!(cache.session("s"), Some((org, key)));
    }

    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;

    fn conn(name: &str, prefix: &str, age_secs: i64) -> connector::Model {
        let at: DateTime<Utc> = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let created = at - Duration::seconds(age_secs);
        connector::Model {
            id: Uuid::now_v7(),
            org_id: Uuid::nil(),
            name: name.into(),
            tool_prefix: prefix.into(),
            url: "https://example.com/mcp".into(),
            description: String::new(),
            credential_header: None,
            credential_enc: None,
            enabled: true,
            health_status: "healthy".into(),
            health_checked_at: None,
            health_error: None,
            tools_json: "[]".into(),
            health_claimed_until: None,
            prompts_json: "[]".into(),
            resources_json: "[]".into(),
            resource_templates_json: "[]".into(),
            idle_timeout_secs: None,
            call_timeout_secs: None,
            created_by: None,
            created_at: created,
            updated_at: created,
        }
    }

    fn tools(names: &[&str]) -> Vec<Value> {
        names.iter().map(|n| json!({"name": n})).collect()
    }

    fn names(cat: &Catalog) -> Vec<&str> {
        cat.tools.iter().map(|l| l.name.as_str()).collect()
    }

    #[test]
    fn invalid_names_are_mapped_to_valid_distinct_names() {
        assert_eq!(exposed_name("gh__", "search"), "gh__search");
        assert_eq!(exposed_name("", "get.weather"), "get_weather");
        assert_eq!(exposed_name("x__", "say hello/now"), "x__say_hello_now");
        assert_eq!(exposed_name("", "grüßen"), "gr__en");
        let long_a = exposed_name("p__", &format!("{}a", "n".repeat(80)));
        let long_b = exposed_name("p__", &format!("{}b", "n".repeat(80)));
        for n in [&long_a, &long_b] {
            assert_eq!(n.len(), TOOL_NAME_MAX_CHARS);
            assert!(is_valid_tool_name(n), "{n}");
            assert!(n.starts_with("p__nnn"), "{n}");
        }
        assert_ne!(long_a, long_b, "a hash of the whole name keeps them apart");
        assert_eq!(
            long_a,
            exposed_name("p__", &format!("{}a", "n".repeat(80))),
            "stable"
        );
        let exact = "m".repeat(64);
        assert_eq!(exposed_name("", &exact), exact, "64 fits");
    }

    #[test]
    fn each_name_is_exposed_once_and_the_oldest_connector_keeps_it() {
        // Given newest first: the order of the input does not matter.
        let (young, old) = (conn("Young", "", 10), conn("Old", "", 20));
        let (ty, to) = (tools(&["echo", "only_young"]), tools(&["echo"]));
        let cat = catalog(&[(&young, &ty), (&old, &to)]);
        assert_eq!(names(&cat), ["echo", "only_young"]);
        assert_eq!(cat.tools[0].connector, 1, "old keeps `echo`");
        assert_eq!(cat.issues.len(), 1);
        let (ci, issue) = &cat.issues[0];
        assert_eq!(*ci, 0);
        assert_eq!(issue.kind, ToolIssueKind::LeftOut);
        assert_eq!(issue.conflicting_connector_id, Some(old.id));
        assert!(issue.message.contains("“Old”"), "{}", issue.message);

        // Six connectors with the empty prefix: one `echo`.
        let six: Vec<_> = (0..6)
            .map(|i| conn(&format!("c{i}"), "", 100 - i))
            .collect();
        let echo = tools(&["echo"]);
        let refs: Vec<_> = six.iter().map(|c| (c, echo.as_slice())).collect();
        let cat = catalog(&refs);
        assert_eq!(names(&cat), ["echo"]);
        assert_eq!(cat.issues.len(), 5);
    }

    #[test]
    fn within_a_connector_own_names_win_and_bad_entries_are_skipped() {
        let c = conn("C", "", 0);
        let list = vec![
            json!({"name": "a.b"}),
            json!({"name": "a_b"}),
            json!({"description": "no name"}),
            json!({"name": 42}),
            json!({"name": "dup"}),
            json!({"name": "dup"}),
            json!({"name": "ok"}),
        ];
        let cat = catalog(&[(&c, &list)]);
        assert_eq!(names(&cat), ["a_b", "dup", "ok"]);
        let kinds: Vec<_> = cat
            .issues
            .iter()
            .map(|(_, i)| (i.kind, i.tool.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (ToolIssueKind::LeftOut, "a.b"),
                (ToolIssueKind::LeftOut, ""),
                (ToolIssueKind::LeftOut, ""),
                (ToolIssueKind::LeftOut, "dup"),
            ]
        );
        assert!(
            cat.issues
                .iter()
                .all(|(_, i)| i.conflicting_connector_id.is_none())
        );
    }

    #[test]
    fn the_exposed_list_maps_names_back_and_never_repeats_one() {
        let mut a = conn("A", "", 20);
        a.prompts_json = json!([{"name": "greet"}, {"name": "greet"}]).to_string();
        let mut b = conn("B", "", 10);
        b.prompts_json = json!([{"name": "greet"}, {"name": "bye"}]).to_string();
        let ex = Exposed::new(vec![
            (b.clone(), tools(&["echo", "get.weather"])),
            (a.clone(), tools(&["echo"])),
        ]);
        let listed: Vec<_> = ex
            .listed_tools()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["echo", "get_weather"]);
        let (owner, inner) = ex.tool("echo").unwrap();
        assert_eq!((owner.id, inner), (a.id, "echo"));
        let (owner, inner) = ex.tool("get_weather").unwrap();
        assert_eq!((owner.id, inner), (b.id, "get.weather"));
        assert!(ex.tool("get.weather").is_none());
        let prompts: Vec<_> = ex
            .listed_prompts()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(prompts, ["greet", "bye"]);
        assert_eq!(ex.connectors[0].0.id, a.id, "oldest first");
    }
}
