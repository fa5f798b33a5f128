//! The client side towards upstream MCP servers (Streamable HTTP transport). One
//! upstream session per connector per replica is kept and reused; when the upstream
//! forgets it (404), the session is re-initialized once.
use crate::{crypto::Cipher, entity::connector, outbound::Outbound};
use serde_json::{Value, json};
use std::{collections::HashMap, sync::Mutex, time::Duration};
use uuid::Uuid;

pub const PROTOCOL_VERSIONS: [&str; 2] = ["2025-11-25", "2025-06-18"];
pub const LATEST_PROTOCOL: &str = PROTOCOL_VERSIONS[0];

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream unreachable: {0}")]
    Transport(String),
    #[error("upstream answered HTTP {0}")]
    Status(u16),
    #[error("upstream sent an invalid response: {0}")]
    Protocol(String),
    /// A JSON-RPC error object from the upstream, relayed as it is.
    #[error("upstream error {}", .0["code"])]
    Rpc(Value),
}

/// What an upstream offers, as its list methods answered.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tools: Vec<Value>,
    pub prompts: Vec<Value>,
    pub resources: Vec<Value>,
}

#[derive(Clone)]
struct UpstreamSession {
    id: Option<String>,
    protocol: String,
}

/// Upstream sessions by connector, and the connector's URL/credential version they were
/// made for, so an edited connector gets a fresh session.
#[derive(Default)]
pub struct UpstreamPool {
    sessions: Mutex<HashMap<Uuid, (String, UpstreamSession)>>,
}

fn fingerprint(c: &connector::Model) -> String {
    format!(
        "{}|{}|{}",
        c.url,
        c.credential_header.as_deref().unwrap_or(""),
        c.credential_enc.as_deref().unwrap_or("")
    )
}

/// Parses a Streamable HTTP answer: one JSON object, or an SSE stream whose `data:`
/// lines carry JSON-RPC messages; returns the response with `id`.
fn parse_answer(content_type: &str, body: &[u8], id: &Value) -> Result<Value, UpstreamError> {
    if content_type.starts_with("text/event-stream") {
        let text = std::str::from_utf8(body)
            .map_err(|_| UpstreamError::Protocol("SSE not UTF-8".into()))?;
        let mut data = String::new();
        for line in text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .chain(std::iter::once(""))
        {
            if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            } else if line.is_empty() && !data.is_empty() {
                if let Ok(msg) = serde_json::from_str::<Value>(&data)
                    && msg.get("id") == Some(id)
                {
                    return Ok(msg);
                }
                data.clear();
            }
        }
        Err(UpstreamError::Protocol(
            "no response in the event stream".into(),
        ))
    } else {
        serde_json::from_slice(body).map_err(|e| UpstreamError::Protocol(format!("not JSON: {e}")))
    }
}

pub struct Upstream<'a> {
    pub outbound: &'a Outbound,
    pub cipher: &'a Cipher,
    pub pool: &'a UpstreamPool,
}

impl Upstream<'_> {
    async fn post(
        &self,
        c: &connector::Model,
        session: Option<&UpstreamSession>,
        body: &Value,
    ) -> Result<(reqwest::header::HeaderMap, Option<Value>), UpstreamError> {
        let url = self
            .outbound
            .check_url_fast(&c.url)
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        let mut req = self
            .outbound
            .client()
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let (Some(h), Some(sealed)) = (&c.credential_header, &c.credential_enc) {
            let secret = self
                .cipher
                .decrypt(sealed)
                .map_err(|_| UpstreamError::Transport("cannot decrypt the credential".into()))?;
            req = req.header(h.as_str(), String::from_utf8_lossy(&secret).into_owned());
        }
        if let Some(s) = session {
            req = req.header("mcp-protocol-version", s.protocol.as_str());
            if let Some(id) = &s.id {
                req = req.header("mcp-session-id", id.as_str());
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| UpstreamError::Transport(without_url(&e)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.as_u16() == 202 {
            return Ok((headers, None));
        }
        if !status.is_success() {
            return Err(UpstreamError::Status(status.as_u16()));
        }
        let ctype = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = self
            .outbound
            .read_limited(resp)
            .await
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        let id = body.get("id").cloned().unwrap_or(Value::Null);
        Ok((headers, Some(parse_answer(&ctype, &bytes, &id)?)))
    }

    async fn initialize(&self, c: &connector::Model) -> Result<UpstreamSession, UpstreamError> {
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": LATEST_PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "gatehouse", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let (headers, answer) = self.post(c, None, &init).await?;
        let answer =
            answer.ok_or_else(|| UpstreamError::Protocol("no answer to initialize".into()))?;
        if let Some(err) = answer.get("error") {
            return Err(UpstreamError::Rpc(err.clone()));
        }
        let protocol = answer["result"]["protocolVersion"]
            .as_str()
            .unwrap_or(LATEST_PROTOCOL)
            .to_string();
        if !PROTOCOL_VERSIONS.contains(&protocol.as_str()) {
            return Err(UpstreamError::Protocol(format!(
                "unsupported protocol version {protocol}"
            )));
        }
        let id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let session = UpstreamSession { id, protocol };
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(c, Some(&session), &note).await?;
        Ok(session)
    }

    async fn session(
        &self,
        c: &connector::Model,
        fresh: bool,
    ) -> Result<UpstreamSession, UpstreamError> {
        let fp = fingerprint(c);
        if !fresh
            && let Ok(map) = self.pool.sessions.lock()
            && let Some((f, s)) = map.get(&c.id)
            && *f == fp
        {
            return Ok(s.clone());
        }
        let s = self.initialize(c).await?;
        if let Ok(mut map) = self.pool.sessions.lock() {
            map.insert(c.id, (fp, s.clone()));
        }
        Ok(s)
    }

    /// Sends one request and returns its `result`, re-initializing once if the
    /// upstream lost the session.
    pub async fn request(
        &self,
        c: &connector::Model,
        method: &str,
        params: Value,
    ) -> Result<Value, UpstreamError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut fresh = false;
        loop {
            let session = self.session(c, fresh).await?;
            match self.post(c, Some(&session), &body).await {
                Err(UpstreamError::Status(404)) if !fresh => fresh = true,
                Err(e) => return Err(e),
                Ok((_, None)) => return Err(UpstreamError::Protocol("no answer".into())),
                Ok((_, Some(answer))) => {
                    if let Some(err) = answer.get("error") {
                        return Err(UpstreamError::Rpc(err.clone()));
                    }
                    return answer
                        .get("result")
                        .cloned()
                        .ok_or_else(|| UpstreamError::Protocol("no result".into()));
                }
            }
        }
    }

    /// Every page of a `*/list` method, collected from `key` of each result.
    async fn list_all(
        &self,
        c: &connector::Model,
        method: &str,
        key: &str,
    ) -> Result<Vec<Value>, UpstreamError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..50 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request(c, method, params).await?;
            items.extend(page[key].as_array().cloned().unwrap_or_default());
            cursor = page["nextCursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(items)
    }

    /// The health check: `initialize` (fresh), `ping`, then the catalog. Tools must
    /// list; prompts and resources are optional capabilities, so a server without them
    /// (or failing to list them) is healthy with none.
    pub async fn check(&self, c: &connector::Model) -> Result<Catalog, UpstreamError> {
        self.session(c, true).await?;
        self.request(c, "ping", json!({})).await?;
        let tools = self.list_all(c, "tools/list", "tools").await?;
        let prompts = self
            .list_all(c, "prompts/list", "prompts")
            .await
            .unwrap_or_default();
        let resources = self
            .list_all(c, "resources/list", "resources")
            .await
            .unwrap_or_default();
        Ok(Catalog {
            tools,
            prompts,
            resources,
        })
    }

    pub fn forget(&self, connector_id: Uuid) {
        if let Ok(mut map) = self.pool.sessions.lock() {
            map.remove(&connector_id);
        }
    }
}

/// reqwest errors print the URL, which may carry a token in its query.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_as_json_or_as_an_event_stream() {
        let id = json!(7);
        let sse = b"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\nid: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\ndata: \"result\":{}}\n\n";
        let got = parse_answer("text/event-stream", sse, &id).ok();
        assert_eq!(got, Some(json!({"jsonrpc": "2.0", "id": 7, "result": {}})));
        let plain = parse_answer(
            "application/json",
            br#"{"jsonrpc":"2.0","id":7,"result":{"ok":true}}"#,
            &id,
        )
        .ok();
        assert_eq!(plain.map(|v| v["result"]["ok"].clone()), Some(json!(true)));
        assert!(parse_answer("text/event-stream", b"data: {}\n\n", &id).is_err());
    }
}
