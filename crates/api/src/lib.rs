//! Gatehouse: the organization-settings control plane of a multi-tenant MCP gateway.
//!
//! Feature modules (`accounts`, `sessions`, `orgs`, `members`, `audit`) own their routes,
//! domain logic and queries; `config`, `db`, `http`, `crypto`, `mail`, `clock` are the
//! shared infrastructure.
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
pub mod routes;
pub mod security;
pub mod server;
pub mod sessions;
pub mod state;
pub mod throttle;
pub mod unit_of_work;
