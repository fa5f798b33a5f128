//! Who is calling, for which org, and may they.
//!
//! - `session`, `api_key`, `access_token` (with `key_cache`): who is calling, from the
//!   session cookie, an API key or an OAuth access token.
//! - `org_ref`: which org the request is for, and the live-org rule.
//! - `policy`: the one access check every door asks.
//! - `extract`: the REST extractors (`CurrentUser`, `OrgMember`/`OrgAdmin`/`OrgOwner`)
//!   and the org guard, built from the above.
//! - `step_up`: the PIN step-up check of sensitive actions (`Sensitive<OrgAdmin>`).
pub mod access_token;
pub mod api_key;
pub mod extract;
pub mod key_cache;
pub mod org_ref;
pub mod policy;
pub mod session;
pub mod step_up;
pub mod support;

pub use extract::{CurrentUser, MaybeUser, OrgAdmin, OrgMember, OrgOwner, org_guard};
pub use step_up::Sensitive;
pub use support::Support;
