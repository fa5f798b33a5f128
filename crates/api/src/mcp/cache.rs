//! Per-replica caches on the MCP hot path, each stale for a bounded, harmless moment:
//! - the tools an org exposes (a connector's new health or tool list shows within
//!   `TOOLS_TTL`);
//! - which session ids exist (an ended session may linger up to `SESSION_TTL` on other
//!   replicas; a session id is no credential, the API key is checked on every call).
//!   Keyed by the id as the client sends it, so a hit costs no hashing; the database
//!   keeps only hashes, and only ids found there are cached.
use crate::entity::connector;
use serde_json::Value;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use uuid::Uuid;

pub const TOOLS_TTL: Duration = Duration::from_secs(2);
pub const SESSION_TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 100_000;

pub type ExposedTools = Arc<Exposed>;

/// The enabled, healthy connectors of an org with their tools, and which connector
/// owns each exposed tool name (`<prefix><name>`; saving refuses collisions, and the
/// first connector keeps a name if one slips through).
pub struct Exposed {
    pub connectors: Vec<(connector::Model, Vec<Value>)>,
    by_name: HashMap<String, (usize, usize)>,
}

impl Exposed {
    pub fn new(connectors: Vec<(connector::Model, Vec<Value>)>) -> Exposed {
        let mut by_name = HashMap::new();
        for (i, (c, tools)) in connectors.iter().enumerate() {
            for name in tools.iter().filter_map(|t| t.get("name")?.as_str()) {
                by_name
                    .entry(format!("{}{name}", c.tool_prefix))
                    .or_insert((i, c.tool_prefix.len()));
            }
        }
        Exposed {
            connectors,
            by_name,
        }
    }

    /// The connector that owns an exposed tool name, and the upstream's own name.
    pub fn tool<'a>(&self, exposed: &'a str) -> Option<(&connector::Model, &'a str)> {
        let &(i, prefix) = self.by_name.get(exposed)?;
        Some((&self.connectors.get(i)?.0, exposed.get(prefix..)?))
    }
}

#[derive(Default)]
pub struct McpCache {
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

    pub fn put_session(&self, id: String, org: Uuid, key: Uuid) {
        if let Ok(mut m) = self.sessions.lock() {
            if m.len() >= MAX_ENTRIES {
                m.retain(|_, (at, _, _)| at.elapsed() < SESSION_TTL);
            }
            m.entry(id).or_insert((Instant::now(), org, key));
        }
    }

    pub fn forget_session(&self, id: &str) {
        if let Ok(mut m) = self.sessions.lock() {
            m.remove(id);
        }
    }
}
