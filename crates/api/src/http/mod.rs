//! HTTP plumbing shared by every feature: the error type and its problem+json mapping,
//! client metadata, and the edge middleware (request ids, CORS, limits, input screen).
pub mod cors;
pub mod edge;
pub mod input;
pub mod limits;
pub mod meta;
pub mod methods;
pub mod metrics;
pub mod middleware;
pub mod problem;

pub use edge::Edge;
pub use meta::ClientMeta;
pub use problem::{ApiError, ApiResult, ErrorKind};
