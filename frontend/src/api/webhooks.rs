//! Webhook endpoints, their delivery log, and the org's usage thresholds.
use super::{ApiFuture, get, ignore_answer, send, send_empty};
use gatehouse_types::{
    CreateWebhookRequest, ReplayResult, RotateWebhookSecretRequest, UpdateWebhookRequest,
    UsageThresholds, Webhook, WebhookDelivery, WebhookWithSecrets,
};

pub fn list(slug: String) -> ApiFuture<Vec<Webhook>> {
    get(&format!("/orgs/{slug}/webhooks"))
}
pub fn create(slug: String, req: CreateWebhookRequest) -> ApiFuture<WebhookWithSecrets> {
    send("POST", &format!("/orgs/{slug}/webhooks"), &req)
}
pub fn update(slug: String, id: String, req: UpdateWebhookRequest) -> ApiFuture<Webhook> {
    send("PATCH", &format!("/orgs/{slug}/webhooks/{id}"), &req)
}
pub fn delete(slug: String, id: String) -> ApiFuture<()> {
    ignore_answer(send_empty("DELETE", &format!("/orgs/{slug}/webhooks/{id}")))
}
pub fn rotate(
    slug: String,
    id: String,
    req: RotateWebhookSecretRequest,
) -> ApiFuture<WebhookWithSecrets> {
    send(
        "POST",
        &format!("/orgs/{slug}/webhooks/{id}/rotate-secret"),
        &req,
    )
}
pub fn test(slug: String, id: String) -> ApiFuture<WebhookDelivery> {
    send_empty("POST", &format!("/orgs/{slug}/webhooks/{id}/test"))
}
pub fn deliveries(slug: String, id: String) -> ApiFuture<Vec<WebhookDelivery>> {
    get(&format!("/orgs/{slug}/webhooks/{id}/deliveries?limit=100"))
}
pub fn replay(slug: String, id: String, message_id: String) -> ApiFuture<ReplayResult> {
    send_empty(
        "POST",
        &format!("/orgs/{slug}/webhooks/{id}/deliveries/{message_id}/replay"),
    )
}
pub fn thresholds(slug: String) -> ApiFuture<UsageThresholds> {
    get(&format!("/orgs/{slug}/usage/thresholds"))
}
pub fn set_thresholds(slug: String, req: UsageThresholds) -> ApiFuture<UsageThresholds> {
    send("PUT", &format!("/orgs/{slug}/usage/thresholds"), &req)
}
