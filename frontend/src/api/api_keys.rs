//! API keys and the MCP endpoint's usage per key.
use super::{ApiFuture, get, ignore_answer, query_string, send, send_empty};
use gatehouse_types::{ApiKey, CreateApiKeyRequest, CreatedApiKey, UsageRow};

pub fn list_keys(slug: String) -> ApiFuture<Vec<ApiKey>> {
    get(&format!("/orgs/{slug}/api-keys"))
}
pub fn create_key(slug: String, req: CreateApiKeyRequest) -> ApiFuture<CreatedApiKey> {
    send("POST", &format!("/orgs/{slug}/api-keys"), &req)
}
pub fn revoke_key(slug: String, id: String) -> ApiFuture<()> {
    ignore_answer(send_empty("DELETE", &format!("/orgs/{slug}/api-keys/{id}")))
}
/// Usage between two dates (`YYYY-MM-DD`; empty: the server's default).
pub fn get_usage(slug: String, from: String, to: String) -> ApiFuture<Vec<UsageRow>> {
    let params: Vec<_> = [("from", from), ("to", to)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let query = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", query_string(&params))
    };
    get(&format!("/orgs/{slug}/usage{query}"))
}
