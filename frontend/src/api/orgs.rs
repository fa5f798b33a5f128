//! Organizations: list, create, general and security settings.
use super::{ApiFuture, get, send};
use gatehouse_types::{
    CreateOrgRequest, IpPreset, MfaPreview, Organization, SecuritySettings, UpdateOrgRequest,
    UpdateSecuritySettings,
};

pub fn list_orgs() -> ApiFuture<Vec<Organization>> {
    get("/orgs")
}
pub fn create_org(req: CreateOrgRequest) -> ApiFuture<Organization> {
    send("POST", "/orgs", &req)
}
pub fn get_org(slug: String) -> ApiFuture<Organization> {
    get(&format!("/orgs/{slug}"))
}
pub fn update_org(slug: String, req: UpdateOrgRequest) -> ApiFuture<Organization> {
    send("PATCH", &format!("/orgs/{slug}"), &req)
}
pub fn get_security(slug: String) -> ApiFuture<SecuritySettings> {
    get(&format!("/orgs/{slug}/settings/security"))
}
pub fn update_security(slug: String, req: UpdateSecuritySettings) -> ApiFuture<SecuritySettings> {
    send("PATCH", &format!("/orgs/{slug}/settings/security"), &req)
}
/// Named address ranges the allowlist editor offers.
pub fn presets() -> ApiFuture<Vec<IpPreset>> {
    get("/ip-allowlist/presets")
}
/// Who "Require MFA" would block.
pub fn mfa_preview(slug: String) -> ApiFuture<MfaPreview> {
    get(&format!("/orgs/{slug}/settings/security/mfa-preview"))
}
