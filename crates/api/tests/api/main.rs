//! Integration tests: one binary (one link) with a module per feature. Each test starts
//! the real server on a random port with a fresh database and talks HTTP to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod input;
mod janitor;

mod accounts;
mod allowlist;
mod api_keys;
mod audit;
mod cli;
mod conformance;
mod connectors;
mod cors;
mod mcp;
mod mcp_fidelity;
mod mcp_modern;
mod mcp_sdk;
mod members;
mod oauth;
mod ops;
mod orgs;
mod replicas;
mod server;
mod session_hint;
mod sessions;
mod tenancy;
mod throttle;
