//! OAuth clients of an organization and its OAuth settings.
use super::{ApiFuture, get, ignore_answer, send, send_empty};
use gatehouse_types::{
    CreateOAuthClientRequest, CreatedOAuthClient, OAuthClient, OAuthSettings, UpdateOAuthSettings,
};

pub fn list_clients(slug: String) -> ApiFuture<Vec<OAuthClient>> {
    get(&format!("/orgs/{slug}/oauth/clients"))
}
pub fn create_client(slug: String, req: CreateOAuthClientRequest) -> ApiFuture<CreatedOAuthClient> {
    send("POST", &format!("/orgs/{slug}/oauth/clients"), &req)
}
pub fn delete_client(slug: String, id: String) -> ApiFuture<()> {
    ignore_answer(send_empty(
        "DELETE",
        &format!("/orgs/{slug}/oauth/clients/{id}"),
    ))
}
pub fn get_settings(slug: String) -> ApiFuture<OAuthSettings> {
    get(&format!("/orgs/{slug}/oauth/settings"))
}
pub fn update_settings(slug: String, req: UpdateOAuthSettings) -> ApiFuture<OAuthSettings> {
    send("PATCH", &format!("/orgs/{slug}/oauth/settings"), &req)
}
