//! One module per area of the dashboard.
pub mod account;
pub mod account_security;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod connectors;
pub mod members;
pub mod oauth;
pub mod orgs;
pub mod security;
pub mod webhooks;

pub use account::*;
pub use account_security::*;
pub use api_keys::*;
pub use audit::*;
pub use auth::*;
pub use connectors::*;
pub use members::*;
pub use oauth::*;
pub use orgs::*;
pub use security::*;
pub use webhooks::*;
