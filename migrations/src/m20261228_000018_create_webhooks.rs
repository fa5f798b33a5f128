//! Webhook endpoints, the messages made for them (one per event and endpoint, kept for
//! the delivery log and replay) and each delivery attempt.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    OrgId,
    Url,
    Description,
    Events,
    Enabled,
    SecretHeader,
    SigningSecret,
    PreviousSigningSecret,
    PreviousValidUntil,
    SharedSecret,
    SigningSecretHint,
    SharedSecretHint,
    FailingSince,
    DisableWarnedAt,
    DisabledReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookMessages {
    Table,
    Id,
    WebhookId,
    OrgId,
    Event,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    MessageId,
    AttemptedAt,
    StatusCode,
    LatencyMs,
    Error,
    ResponseHead,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Webhooks::Table)
                .col(uuid(Webhooks::Id).primary_key())
                .col(uuid(Webhooks::OrgId))
                .col(text(Webhooks::Url))
                .col(text(Webhooks::Description))
                // JSON array of event names.
                .col(text(Webhooks::Events))
                .col(boolean(Webhooks::Enabled))
                .col(text(Webhooks::SecretHeader))
                // Sealed under the master key, like every secret we must use again.
                .col(text(Webhooks::SigningSecret))
                .col(text_null(Webhooks::PreviousSigningSecret))
                .col(timestamp_with_time_zone_null(Webhooks::PreviousValidUntil))
                .col(text(Webhooks::SharedSecret))
                .col(text(Webhooks::SigningSecretHint))
                .col(text(Webhooks::SharedSecretHint))
                .col(timestamp_with_time_zone_null(Webhooks::FailingSince))
                .col(timestamp_with_time_zone_null(Webhooks::DisableWarnedAt))
                .col(text_null(Webhooks::DisabledReason))
                .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhooks_org")
                        .from(Webhooks::Table, Webhooks::OrgId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_webhooks_org")
                .table(Webhooks::Table)
                .col(Webhooks::OrgId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WebhookMessages::Table)
                .col(uuid(WebhookMessages::Id).primary_key())
                .col(uuid(WebhookMessages::WebhookId))
                .col(uuid(WebhookMessages::OrgId))
                .col(text(WebhookMessages::Event))
                // The exact body sent (and signed) on every attempt.
                .col(text(WebhookMessages::Payload))
                .col(text(WebhookMessages::Status))
                .col(integer(WebhookMessages::Attempts).default(0))
                .col(timestamp_with_time_zone_null(
                    WebhookMessages::NextAttemptAt,
                ))
                .col(timestamp_with_time_zone(WebhookMessages::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_messages_webhook")
                        .from(WebhookMessages::Table, WebhookMessages::WebhookId)
                        .to(Webhooks::Table, Webhooks::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_webhook_messages_webhook")
                .table(WebhookMessages::Table)
                .col(WebhookMessages::WebhookId)
                .col(WebhookMessages::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WebhookAttempts::Table)
                .col(uuid(WebhookAttempts::Id).primary_key())
                .col(uuid(WebhookAttempts::MessageId))
                .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                .col(integer_null(WebhookAttempts::StatusCode))
                .col(big_integer(WebhookAttempts::LatencyMs))
                .col(text_null(WebhookAttempts::Error))
                .col(text_null(WebhookAttempts::ResponseHead))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_attempts_message")
                        .from(WebhookAttempts::Table, WebhookAttempts::MessageId)
                        .to(WebhookMessages::Table, WebhookMessages::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_webhook_attempts_message")
                .table(WebhookAttempts::Table)
                .col(WebhookAttempts::MessageId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WebhookAttempts::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(WebhookMessages::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Webhooks::Table).to_owned())
            .await
    }
}
