//! The OpenAPI 3.1 document, derived from the handlers and types. `openapi.yaml` at the
//! repository root is this output checked in; a test fails when they differ.
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", description = "Organization settings of the Gatehouse MCP gateway. Errors are RFC 9457 problem documents (`application/problem+json`)."),
    servers((url = "/api/v1")),
    paths(
        crate::accounts::signup, crate::accounts::verify_email, crate::accounts::resend_verification,
        crate::accounts::login, crate::accounts::logout, crate::accounts::password_reset_request,
        crate::accounts::password_reset_confirm, crate::accounts::get_me, crate::accounts::update_me,
        crate::accounts::change_password,
        crate::sessions::list, crate::sessions::revoke, crate::sessions::revoke_others,
        crate::orgs::create, crate::orgs::list, crate::orgs::get_one, crate::orgs::update,
        crate::orgs::transfer_ownership,
        crate::members::list, crate::members::update, crate::members::remove,
        crate::members::list_invitations, crate::members::create_invitation, crate::members::revoke_invitation,
        crate::members::lookup, crate::members::accept,
        crate::audit::list, crate::audit::export,
        crate::api_keys::list, crate::api_keys::create, crate::api_keys::revoke,
        crate::security::get_security, crate::security::update_security, crate::security::my_ip, crate::security::presets,
        crate::connectors::list, crate::connectors::create, crate::connectors::get_one, crate::connectors::update,
        crate::connectors::remove,
        crate::mcp::usage::get_usage,
        crate::oauth::admin::list_clients, crate::oauth::admin::create_client, crate::oauth::admin::delete_client,
        crate::oauth::admin::get_settings, crate::oauth::admin::update_settings,
    ),
    tags(
        (name = "accounts", description = "Sign-up, login, profile, passwords"),
        (name = "sessions", description = "The caller's browser sessions"),
        (name = "orgs", description = "Organizations and their settings"),
        (name = "members", description = "Members and invitations"),
        (name = "audit", description = "The audit log"),
        (name = "api-keys", description = "API keys of an organization"),
        (name = "security", description = "Session timeout and IP allowlist"),
        (name = "connectors", description = "The organization's upstream MCP servers"),
        (name = "mcp", description = "Usage of the organization's MCP endpoint"),
        (name = "oauth", description = "OAuth clients connected to the organization, and its refresh-token lifetime"),
    )
)]
pub struct ApiDoc;

pub fn yaml() -> anyhow::Result<String> {
    Ok(ApiDoc::openapi().to_yaml()?)
}
