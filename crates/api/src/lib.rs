//! Gatehouse: the organization-settings control plane of a multi-tenant MCP gateway.
//!
//! Four layers (docs/architecture.md; `tests/api/layers.rs` checks them): infrastructure
//! (`config`, `clock`, `db`, `crypto`, `mail`, `outbound`, `throttle`, `http`, `entity`,
//! `instance`), the platform (`state`, `jobs`, `unit_of_work`), the areas (`auth`,
//! `accounts`, `sessions`, `orgs`, `members`, `audit`, `api_keys`, `security`,
//! `connectors`, `mcp`, `oauth`, …), and the assembly (`routes`, `server`, `openapi`, `cli`).
pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod dashboard;
pub mod db;
pub mod entity;
pub mod http;
pub mod instance;
pub mod janitor;
pub mod jobs;
pub mod mail;
pub mod mcp;
pub mod members;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod orgs;
pub mod outbound;
pub mod pin;
pub mod routes;
pub mod security;
pub mod server;
pub mod sessions;
pub mod state;
pub mod throttle;
pub mod unit_of_work;
pub mod webhooks;
