//! Connectors: the organization's upstream MCP servers ("MCPs" in the product docs).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

pub const CONNECTOR_NAME_MAX_CHARS: usize = 64;
pub const TOOL_PREFIX_MAX_CHARS: usize = 32;
pub const CONNECTOR_DESCRIPTION_MAX_CHARS: usize = 1000;
pub const CONNECTOR_URL_MAX_CHARS: usize = 2048;
/// The header that carries a credential when none is named.
pub const DEFAULT_CREDENTIAL_HEADER: &str = "Authorization";

/// The server's defaults for connectors without timeouts of their own, unless
/// configured otherwise (`mcp.idle_timeout_secs`, `mcp.call_timeout_secs`).
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 120;
pub const DEFAULT_CALL_TIMEOUT_SECS: u64 = 900;
/// The longest idle timeout a connector may set (an hour).
pub const IDLE_TIMEOUT_MAX_SECS: i64 = 3600;
/// The longest overall call timeout a connector may set (a day).
pub const CALL_TIMEOUT_MAX_SECS: i64 = 86_400;

/// Tool names MCP clients accept (Claude, OpenAI and Cursor: `^[A-Za-z0-9_-]{1,64}$`);
/// the gateway maps longer or other names to fit.
pub const TOOL_NAME_MAX_CHARS: usize = 64;

/// The tool prefix a name suggests: lowercase ASCII letters and digits, other runs of
/// characters turned into `_`, then `__`. "GitHub Tools" → `github_tools__`. Empty when
/// the name has no ASCII letter or digit: the server then uses [`id_tool_prefix`].
pub fn default_tool_prefix(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let mut slug: String = slug.chars().take(TOOL_PREFIX_MAX_CHARS - 2).collect();
    while slug.ends_with('_') {
        slug.pop();
    }
    if slug.is_empty() {
        slug
    } else {
        format!("{slug}__")
    }
}

/// The default prefix of a connector whose name gives none (say "日本"): `mcp_`, the
/// last 8 hex digits of its id (the random part of a UUIDv7, unlike the leading
/// timestamp), `__`. Without it such connectors would share the empty prefix by
/// accident and their tools would collide.
pub fn id_tool_prefix(id: Uuid) -> String {
    let hex = id.simple().to_string();
    format!("mcp_{}__", &hex[hex.len() - 8..])
}

/// `^[A-Za-z0-9_-]{1,64}$`: a tool name every MCP client accepts.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=TOOL_NAME_MAX_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `^[a-z0-9_]{0,32}$`.
pub fn is_valid_tool_prefix(prefix: &str) -> bool {
    prefix.len() <= TOOL_PREFIX_MAX_CHARS
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
    Unknown,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "healthy" => Some(HealthStatus::Healthy),
            "unhealthy" => Some(HealthStatus::Unhealthy),
            "unknown" => Some(HealthStatus::Unknown),
            _ => None,
        }
    }
}

/// The result of the last health check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectorHealth {
    /// `unknown` until the first check, and again after the URL or credential changes.
    pub status: HealthStatus,
    pub checked_at: Option<DateTime<Utc>>,
    /// Why the last check failed.
    pub error: Option<String>,
}

/// An upstream MCP server as listed: never its credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Connector {
    pub id: Uuid,
    pub name: String,
    /// Prepended to the upstream's tool names on the organization's MCP endpoint.
    pub tool_prefix: String,
    /// The upstream's Streamable HTTP endpoint.
    pub url: String,
    pub description: String,
    pub enabled: bool,
    /// The header the credential is sent in, when there is a credential.
    pub credential_header: Option<String>,
    /// Whether a credential is stored. The credential itself is write-only.
    pub has_credential: bool,
    pub health: ConnectorHealth,
    /// Tools the upstream offered at the last successful check.
    pub tool_count: usize,
    /// Tools not exposed under `tool_prefix` + their own name: renamed to a name MCP
    /// clients accept, or left out because their name is taken (by an older connector,
    /// or twice by this one) or missing. Computed against the org's enabled, healthy
    /// connectors, as if this one were healthy too; empty when all is well.
    pub tool_issues: Vec<ToolIssue>,
    /// The connector's own idle timeout; null when it uses the server's default.
    pub idle_timeout_secs: Option<u32>,
    /// The connector's own overall call timeout; null when it uses the server's default.
    pub call_timeout_secs: Option<u32>,
    /// The timeouts its tool calls get, defaults applied.
    pub timeouts: ConnectorTimeouts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The limits on a `tools/call` through this connector.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectorTimeouts {
    /// A call fails after this long without a byte from the upstream (progress
    /// notifications count).
    pub idle: EffectiveTimeout,
    /// A call fails after this long in all, progress or not.
    pub overall: EffectiveTimeout,
}

/// One limit as it applies, and where it comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveTimeout {
    /// The timeout in effect, in seconds.
    pub secs: u64,
    /// Whether it is the server's default (the connector sets none).
    pub is_default: bool,
    /// The server's default, what clearing the connector's own value gives.
    pub default_secs: u64,
}

/// `renamed`: exposed under `exposed_name`, mapped to `^[A-Za-z0-9_-]{1,64}$`; calls
/// reach the upstream under its own name. `left_out`: not exposed at all.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolIssueKind {
    Renamed,
    LeftOut,
}

/// Why one of a connector's tools is not exposed as `tool_prefix` + its name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolIssue {
    pub kind: ToolIssueKind,
    /// The tool's name on the upstream server; empty when it has none.
    pub tool: String,
    /// `renamed`: the name clients see. `left_out`: the name it would have had.
    pub exposed_name: Option<String>,
    /// `left_out` because another connector exposes that name: that connector.
    pub conflicting_connector_id: Option<Uuid>,
    /// The problem in a sentence.
    pub message: String,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Unknown members are refused (422), not ignored: a misspelt field is a mistake the
// caller should hear about, and the document says `additionalProperties: false`.
#[serde(deny_unknown_fields)]
pub struct CreateConnectorRequest {
    /// 1 to 64 characters, unique in the organization (ignoring case).
    pub name: String,
    /// `http://` or `https://`, on a public address.
    pub url: String,
    /// At most 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// `^[a-z0-9_]{0,32}$`; defaults to the name as a slug plus `__` ("GitHub Tools" →
    /// `github_tools__`), or `mcp_` + 8 hex digits of the connector's id + `__` when the
    /// name has no ASCII letter or digit. `""` (no prefix) only when given explicitly.
    #[serde(default)]
    pub tool_prefix: Option<String>,
    /// Defaults to `Authorization` when a credential is given.
    #[serde(default)]
    pub credential_header: Option<String>,
    /// The header's value, e.g. `Bearer ghp_…`. Write-only: stored encrypted, never returned.
    #[serde(default)]
    pub credential: Option<String>,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Seconds without a byte from the upstream before a tool call fails (1 to 3600,
    /// at most `call_timeout_secs`); absent or null: the server's default.
    #[serde(default, deserialize_with = "nullable_secs")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub idle_timeout_secs: Option<i64>,
    /// Seconds before a tool call fails however much progress it makes (1 to 86400);
    /// absent or null: the server's default.
    #[serde(default, deserialize_with = "nullable_secs")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86400))]
    pub call_timeout_secs: Option<i64>,
}

/// Absent fields stay as they are.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectorRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// Changing it resets health to `unknown`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tool_prefix: Option<String>,
    #[serde(default)]
    pub credential_header: Option<String>,
    /// A new credential; `""` removes it. Changing it resets health to `unknown`.
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// 1 to 3600, and at most `call_timeout_secs` when the connector has its own (as
    /// stored or changed by the same request); null returns to the server's default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_secs"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 1, maximum = 3600))]
    pub idle_timeout_secs: Option<Option<i64>>,
    /// 1 to 86400; null returns to the server's default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_secs"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 1, maximum = 86400))]
    pub call_timeout_secs: Option<Option<i64>>,
}

/// A timeout in a request: a JSON integer or null (`None`). Anything else is refused
/// with a message that says what is expected; an integer too large for `i64` becomes
/// `i64::MAX`, so that the range check names the field.
pub(crate) fn nullable_secs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    struct Secs;
    impl serde::de::Visitor<'_> for Secs {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number of seconds, or null")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(i64::try_from(v).unwrap_or(i64::MAX)))
        }
        // JSON (and JSON Schema's `integer`) does not tell 600 from 600.0.
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.is_finite() && v.fract() == 0.0 {
                // `as` saturates: a huge value becomes i64::MAX and fails the range check.
                Ok(Some(v as i64))
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Secs)
}

/// The same for PATCH, where absent (`None`, through `#[serde(default)]`: keep) and
/// null (`Some(None)`: back to the default) differ.
fn present_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    nullable_secs(d).map(Some)
}

/// Debug output never shows a credential, so a logged request cannot leak one.
fn redacted(c: &Option<String>) -> Option<&'static str> {
    c.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for CreateConnectorRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateConnectorRequest")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("description", &self.description)
            .field("tool_prefix", &self.tool_prefix)
            .field("credential_header", &self.credential_header)
            .field("credential", &redacted(&self.credential))
            .field("enabled", &self.enabled)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("call_timeout_secs", &self.call_timeout_secs)
            .finish()
    }
}

impl fmt::Debug for UpdateConnectorRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateConnectorRequest")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("description", &self.description)
            .field("tool_prefix", &self.tool_prefix)
            .field("credential_header", &self.credential_header)
            .field("credential", &redacted(&self.credential))
            .field("enabled", &self.enabled)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("call_timeout_secs", &self.call_timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tool_prefix_is_a_slug_of_the_name() {
        assert_eq!(default_tool_prefix("GitHub Tools"), "github_tools__");
        assert_eq!(
            default_tool_prefix("  my-server (prod) "),
            "my_server_prod__"
        );
        assert_eq!(default_tool_prefix("Jira"), "jira__");
        assert_eq!(default_tool_prefix("日本"), "");
        let long = default_tool_prefix(&"a".repeat(100));
        assert_eq!(long.len(), TOOL_PREFIX_MAX_CHARS);
        assert!(is_valid_tool_prefix(&long));
        assert!(is_valid_tool_prefix(""));
        assert!(!is_valid_tool_prefix("Git"));
        assert!(!is_valid_tool_prefix("git-hub"));
        // Same leading timestamp (made in the same millisecond), different random tail.
        let a = id_tool_prefix(Uuid::from_u128(0x0198_0000_0000_7000_8000_0000_1a2b_3c4d));
        let b = id_tool_prefix(Uuid::from_u128(0x0198_0000_0000_7000_8000_0000_1a2b_3c4e));
        assert_eq!(a, "mcp_1a2b3c4d__");
        assert!(is_valid_tool_prefix(&a));
        assert_ne!(a, b);
        assert!(is_valid_tool_name("get_weather-2"));
        for bad in ["", "get.weather", "say hello", "grüßen", &"a".repeat(65)] {
            assert!(!is_valid_tool_name(bad), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_credential() {
        let r = UpdateConnectorRequest {
            credential: Some("Bearer s3cret".into()),
            ..Default::default()
        };
        assert!(!format!("{r:?}").contains("s3cret"));
    }

    #[test]
    fn a_null_timeout_clears_and_an_absent_one_keeps() {
        let r: UpdateConnectorRequest =
            serde_json::from_str(r#"{"idle_timeout_secs": null, "call_timeout_secs": 60}"#)
                .unwrap();
        assert_eq!(r.idle_timeout_secs, Some(None));
        assert_eq!(r.call_timeout_secs, Some(Some(60)));
        let r: UpdateConnectorRequest = serde_json::from_str("{}").unwrap();
        assert_eq!((r.idle_timeout_secs, r.call_timeout_secs), (None, None));
        // What the dashboard sends round-trips: absent stays absent, null stays null.
        let back: UpdateConnectorRequest = serde_json::from_str(
            &serde_json::to_string(&UpdateConnectorRequest {
                idle_timeout_secs: Some(None),
                ..Default::default()
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (back.idle_timeout_secs, back.call_timeout_secs),
            (Some(None), None)
        );
        let big: CreateConnectorRequest = serde_json::from_str(
            r#"{"name": "a", "url": "u", "call_timeout_secs": 18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(big.call_timeout_secs, Some(i64::MAX));
        for bad in ["1.5", "\"60\"", "true", "[]"] {
            let e = serde_json::from_str::<UpdateConnectorRequest>(&format!(
                r#"{{"idle_timeout_secs": {bad}}}"#
            ))
            .err()
            .unwrap()
            .to_string();
            assert!(
                e.contains("a whole number of seconds, or null"),
                "{bad}: {e}"
            );
        }
    }
}
