//! MCP connectors.
use super::{ApiFuture, get, ignore_answer, send, send_empty};
use gatehouse_types::{Connector, CreateConnectorRequest, UpdateConnectorRequest};

pub fn list_connectors(slug: String) -> ApiFuture<Vec<Connector>> {
    get(&format!("/orgs/{slug}/connectors"))
}
pub fn create_connector(slug: String, req: CreateConnectorRequest) -> ApiFuture<Connector> {
    send("POST", &format!("/orgs/{slug}/connectors"), &req)
}
pub fn update_connector(
    slug: String,
    id: String,
    req: UpdateConnectorRequest,
) -> ApiFuture<Connector> {
    send("PATCH", &format!("/orgs/{slug}/connectors/{id}"), &req)
}
pub fn delete_connector(slug: String, id: String) -> ApiFuture<()> {
    ignore_answer(send_empty(
        "DELETE",
        &format!("/orgs/{slug}/connectors/{id}"),
    ))
}
