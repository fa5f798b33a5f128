//! What the edge middleware and `ClientMeta` know of the deployment, registered as its
//! own app data by the server, so that `http` reads nothing above infrastructure.
use ipnet::IpNet;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// Peers whose forwarding headers are believed (`meta::client_ip`).
    pub trusted_proxies: Vec<IpNet>,
    /// Host names the MCP endpoint answers under (`cors`).
    pub mcp_hosts: Vec<String>,
    /// How long a request body may stall (`limits::slow_clients`).
    pub body_timeout: Duration,
}
