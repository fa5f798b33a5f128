//! Upstream requests relayed to MCP clients (sampling, elicitation, roots), awaiting the
//! client's answer: in the database, so that the answer may reach any replica.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpRelays {
    Table,
    Id,
    CallerId,
    ConnectorId,
    UpstreamSession,
    ProtocolVersion,
    UpstreamRequestId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(McpRelays::Table)
                .col(string_len(McpRelays::Id, 64).primary_key())
                .col(uuid(McpRelays::CallerId))
                .col(uuid(McpRelays::ConnectorId))
                .col(text_null(McpRelays::UpstreamSession))
                .col(string_len(McpRelays::ProtocolVersion, 16))
                .col(text(McpRelays::UpstreamRequestId))
                .col(timestamp_with_time_zone(McpRelays::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(McpRelays::Table).to_owned())
            .await
    }
}
