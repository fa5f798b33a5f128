//! HTTP plumbing shared by every feature: the error type and its problem+json mapping,
//! the extractors for the authenticated principal and the org with its role, and
//! middleware for request ids and metrics.
pub mod auth;
pub mod cors;
pub mod input;
pub mod limits;
pub mod meta;
pub mod methods;
pub mod middleware;
pub mod problem;

pub use auth::{CurrentUser, MaybeUser, OrgAdmin, OrgMember, OrgOwner};
pub use meta::ClientMeta;
pub use problem::{ApiError, ApiResult, ErrorKind};
