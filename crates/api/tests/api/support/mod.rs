//! Shared support of the integration tests: the spawned server and its clients
//! (`app`), the REST API as typed calls (`client`), ready-made orgs (`fixtures`), the
//! caught mail (`mail`), the problem assertion (`problem`) and upstream MCP servers
//! (`fake_mcp`). Tests `use crate::support::*`.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod client;
pub mod fake_mcp;
pub mod fixtures;
pub mod mail;
pub mod problem;

pub use app::*;
pub use client::*;
pub use fake_mcp::*;
pub use fixtures::*;
pub use mail::Mail;
pub use problem::*;
// The enums nearly every test names.
pub use gatehouse_types::{ApiKeyScope, Role};
