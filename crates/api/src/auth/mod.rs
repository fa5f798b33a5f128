//! Who is calling, for which org, and may they: the principal extractors and the org
//! guard.
pub mod extract;
pub mod support;

pub use extract::{CurrentUser, MaybeUser, OrgAdmin, OrgMember, OrgOwner, org_guard};
pub use support::Support;
