//! Request and response types of the Gatehouse REST API, shared by the server and the
//! dashboard. Serde only; the server turns on `openapi` to derive schemas.
pub mod accounts;
pub mod audit;
pub mod connectors;
pub mod events;
pub mod keys;
pub mod oauth;
pub mod orgs;
pub mod passkeys;
pub mod pin;
pub mod problem;
pub mod two_factor;
pub mod validation;
pub mod webhooks;

pub use accounts::*;
pub use audit::*;
pub use connectors::*;
pub use keys::*;
pub use oauth::*;
pub use orgs::*;
pub use passkeys::*;
pub use pin::*;
pub use problem::*;
pub use two_factor::*;
pub use webhooks::*;
