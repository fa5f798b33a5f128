//! Integration tests: one binary (one link) with a module per area, mirroring
//! `crates/api/src`. Each test starts the real server on a random port with a fresh
//! database and talks HTTP to it; shared set-up lives in `support`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod accounts;
mod api_keys;
mod audit;
mod cli;
mod connectors;
mod http;
mod janitor;
mod jobs;
mod layers;
mod mcp;
mod members;
mod mfa_enforcement;
mod oauth;
mod ops;
mod orgs;
mod passkeys;
mod pin;
mod policy;
mod replicas;
mod security;
mod server;
mod session_hint;
mod sessions;
mod tenancy;
mod throttle;
mod two_factor;
mod webhooks;
