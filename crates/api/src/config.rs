//! Layered configuration: built-in defaults, then an optional TOML file
//! (`GATEHOUSE_CONFIG`, or `gatehouse.toml` in the working directory), then
//! `GATEHOUSE_*` environment variables (`__` separates nested keys, e.g.
//! `GATEHOUSE_LOGIN__ACCOUNT_MAX_FAILURES`). Secrets also come from files through the
//! `*_FILE` settings.
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// HTTP worker threads; 0 = one per CPU. Fewer than the CPUs when the machine is
    /// shared with busy neighbours (an upstream, a database): each worker is a thread
    /// that competes for the cores, and one worker batches more events per wake-up.
    pub workers: usize,
    /// Where the SQLite file, the generated master key and the mail outbox live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `{data_dir}/gatehouse.db`.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// The origin users reach us at; defaults to `http://{bind}`. Cookies are `Secure`
    /// when it is https, and it is the only origin accepted for cookie-authenticated writes.
    pub public_url: Option<String>,
    /// `smtp://host:port`, `smtps://…` or `smtp://…?tls=required`; unset writes `.eml`
    /// files under `{data_dir}/outbox/`.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// 32 bytes, base64. Unset: read or generate `{data_dir}/master.key`.
    #[serde(skip_serializing)]
    pub master_key: Option<SecretString>,
    pub master_key_file: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info,gatehouse=debug`.
    pub log_level: String,
    /// The built dashboard (`frontend/dist`, from `scripts/dashboard.sh`).
    pub dashboard_dir: PathBuf,
    pub login: LoginThrottleConfig,
    /// Limits on the emails anyone can cause (password resets, sign-up verification).
    pub mail_limit: MailLimitConfig,
    /// CIDRs of reverse proxies whose `X-Forwarded-For`/`Forwarded` headers are
    /// believed. Empty: the socket peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Outbound HTTP to upstream servers (connectors, webhooks).
    pub outbound: OutboundConfig,
    pub mcp: McpConfig,
    pub oauth: OAuthConfig,
    /// Limits on client connections (slow or too many).
    pub server: ServerConfig,
    /// The durable job queue (emails): see `jobs`.
    pub jobs: JobsConfig,
    /// PIN protection of sensitive actions.
    pub security: SecurityConfig,
    /// Webhook delivery: retries, timeouts, automatic disabling, log retention.
    pub webhooks: WebhooksConfig,
}

/// PIN step-up and lockout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityConfig {
    /// How long a verified PIN lets one session do guarded actions in one org.
    pub pin_step_up_secs: i64,
    /// Wrong PINs in a row before the PIN is locked.
    pub pin_max_failures: i32,
    /// The first lockout; each further one (without a right PIN between) doubles it,
    /// up to a day.
    pub pin_lockout_secs: i64,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            pin_step_up_secs: 600,
            pin_max_failures: 5,
            pin_lockout_secs: 300,
        }
    }
}

/// The durable job queue. Every replica may run it; a job is claimed by one at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// Claim and run queued jobs on this replica. Off: this replica only enqueues (its
    /// own periodic maintenance still runs).
    pub run: bool,
    /// How often an idle runner looks for due jobs; an enqueue on the same replica
    /// wakes it at once.
    pub poll_ms: u64,
    /// A claimed job not finished within this is presumed lost with its replica and
    /// claimed again; a run is cut off at half of it.
    pub lease_secs: u64,
    /// Attempts before a job is given up and kept as `dead`; retries back off
    /// exponentially from 15 seconds up to an hour.
    pub max_attempts: i32,
}

/// Webhook delivery. The defaults are the documented schedule: a first attempt at once,
/// then a retry every 10 minutes, up to 5 times.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhooksConfig {
    pub retries: i32,
    pub retry_interval_secs: i64,
    /// One attempt's limit (connect, send, answer).
    pub timeout_secs: u64,
    /// An endpoint that has failed every delivery this long is switched off.
    pub disable_after_failing_hours: i64,
    /// The owners and admins are warned this long before that.
    pub warn_before_disable_hours: i64,
    /// Messages and attempts are kept this long for the delivery log and replay.
    pub log_retention_days: i64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            retries: 5,
            retry_interval_secs: 600,
            timeout_secs: 10,
            disable_after_failing_hours: 5 * 24,
            warn_before_disable_hours: 24,
            log_retention_days: 30,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            run: true,
            poll_ms: 1000,
            lease_secs: 300,
            max_attempts: 8,
        }
    }
}

/// How long a client may take to send its request, and how many connections one
/// address may hold: a slow or greedy client must not tie up the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// A client must send its request head within this, or get 408 and lose the connection.
    pub header_timeout_ms: u64,
    /// A client must send its whole request body within this of the head, or get 408
    /// and lose the connection.
    pub body_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive_secs: u64,
    /// Open connections one client address may hold; more are refused at once.
    /// 0: no cap. Addresses in `trusted_proxies` are exempt.
    pub max_connections_per_ip: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_timeout_ms: 5_000,
            body_timeout_ms: 30_000,
            keep_alive_secs: 5,
            max_connections_per_ip: 128,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginThrottleConfig {
    /// Failed logins for one account within the window before it is locked.
    pub account_max_failures: i32,
    /// Failed logins from one IP within the window before it is locked.
    pub ip_max_failures: i32,
    pub window_seconds: i64,
    pub lockout_seconds: i64,
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        Self {
            account_max_failures: 5,
            ip_max_failures: 100,
            window_seconds: 900,
            lockout_seconds: 900,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailLimitConfig {
    /// Emails to one address within the window (resets, verification, invitations).
    pub per_recipient: i32,
    /// Emails that requests from one client address cause within the window (password
    /// resets and sign-ups, which need no account).
    pub per_requester: i32,
    pub window_seconds: i64,
}

impl Default for MailLimitConfig {
    fn default() -> Self {
        Self {
            per_recipient: 5,
            per_requester: 20,
            window_seconds: 3600,
        }
    }
}

/// Which addresses outbound requests may reach. By default only public unicast
/// addresses: an org admin types the URL, and it must not become a way into our own
/// network (SSRF).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OutboundConfig {
    /// Allow 127.0.0.0/8 and ::1 (development: an upstream on the same machine).
    pub allow_loopback: bool,
    /// Allow private ranges (RFC 1918, CGNAT 100.64/10, IPv6 unique-local fc00::/7).
    pub allow_private: bool,
    /// Extra CIDRs to refuse.
    pub deny_cidrs: Vec<String>,
    /// CIDRs allowed even though a built-in or configured rule refuses them (not
    /// unspecified, multicast or broadcast addresses, which are never destinations).
    pub allow_cidrs: Vec<String>,
    /// Whole-request timeout.
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    /// Largest response body read from an upstream.
    pub max_response_bytes: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            allow_private: false,
            deny_cidrs: Vec::new(),
            allow_cidrs: Vec::new(),
            timeout_secs: 15,
            connect_timeout_secs: 5,
            max_response_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            data_dir: "./data".into(),
            database_url: None,
            database_max_connections: 10,
            public_url: None,
            smtp_url: None,
            mail_from: "Gatehouse <no-reply@gatehouse.localhost>".into(),
            master_key: None,
            master_key_file: None,
            log_format: "text".into(),
            log_level: "info".into(),
            dashboard_dir: "frontend/dist".into(),
            login: LoginThrottleConfig::default(),
            mail_limit: MailLimitConfig::default(),
            trusted_proxies: Vec::new(),
            mcp: McpConfig::default(),
            oauth: OAuthConfig::default(),
            outbound: OutboundConfig::default(),
            server: ServerConfig::default(),
            jobs: JobsConfig::default(),
            security: SecurityConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

impl Config {
    pub fn load() -> Result<Config, Box<figment::Error>> {
        let file = std::env::var("GATEHOUSE_CONFIG").unwrap_or_else(|_| "gatehouse.toml".into());
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("GATEHOUSE_").split("__").ignore(&["config"]))
            .extract()
            .map_err(Box::new)
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("gatehouse.db").display()
            )
        })
    }

    /// The public origin without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
            .trim_end_matches('/')
            .to_string()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthConfig {
    /// Dynamic registrations per second per client address (bursts of ten times that).
    pub registrations_per_ip_per_second: u32,
    /// How long a rotated refresh token stays usable, for clients that refresh in parallel.
    pub refresh_grace_secs: i64,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            registrations_per_ip_per_second: 20,
            refresh_grace_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct McpConfig {
    /// Host names the MCP endpoint answers under besides the public URL's (say, the
    /// name a reverse proxy that rewrites `Host` uses); others get 403 (DNS-rebinding
    /// protection, see `http::cors`).
    pub allowed_hosts: Vec<String>,
    /// How old a connector's last health check may get before the next.
    pub health_interval_secs: u64,
    /// How often each replica looks for due checks.
    pub health_poll_ms: u64,
    /// How often each replica adds its in-memory usage counts to the database.
    /// `GET …/usage` flushes first, so its caller sees its calls.
    pub usage_flush_ms: u64,
    /// An upstream session unused this long is closed (DELETE) and dropped.
    pub upstream_idle_secs: u64,
    /// Default for connectors without their own: a call fails after this long without a
    /// byte from the upstream (progress notifications count as bytes).
    pub idle_timeout_secs: u64,
    /// Default for connectors without their own: a call fails after this long overall.
    pub call_timeout_secs: u64,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            health_interval_secs: 60,
            health_poll_ms: 5000,
            usage_flush_ms: 5000,
            upstream_idle_secs: 600,
            idle_timeout_secs: gatehouse_types::DEFAULT_IDLE_TIMEOUT_SECS,
            call_timeout_secs: gatehouse_types::DEFAULT_CALL_TIMEOUT_SECS,
        }
    }
}
