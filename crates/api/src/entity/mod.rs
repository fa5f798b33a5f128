//! sea-orm entities, one per table. Relations are expressed in queries, not here:
//! the feature modules own their joins.
pub mod api_key;
pub mod audit_event;
pub mod connector;
pub mod invitation;
pub mod job;
pub mod login_throttle;
pub mod mcp_relay;
pub mod mcp_session;
pub mod membership;
pub mod oauth_client;
pub mod oauth_client_assertion;
pub mod oauth_code;
pub mod oauth_grant;
pub mod oauth_refresh_token;
pub mod oauth_signing_key;
pub mod organization;
pub mod pending_login;
pub mod session;
pub mod usage_daily;
pub mod user;
pub mod user_backup_code;
pub mod user_passkey;
pub mod user_token;
pub mod user_totp;
