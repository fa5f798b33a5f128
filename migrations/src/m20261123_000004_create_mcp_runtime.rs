//! MCP runtime state shared by replicas: client sessions of the gateway, daily usage
//! counters, and the health checker's claim on a connector.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpSessions {
    Table,
    IdHash,
    OrgId,
    ApiKeyId,
    ProtocolVersion,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum UsageDaily {
    Table,
    OrgId,
    Day,
    ApiKeyId,
    ConnectorId,
    Calls,
    Errors,
}

#[derive(DeriveIden)]
enum Connectors {
    Table,
    HealthClaimedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(McpSessions::Table)
                .col(string_len(McpSessions::IdHash, 64).primary_key())
                .col(uuid(McpSessions::OrgId))
                .col(uuid(McpSessions::ApiKeyId))
                .col(string_len(McpSessions::ProtocolVersion, 16))
                .col(timestamp_with_time_zone(McpSessions::CreatedAt))
                .col(timestamp_with_time_zone(McpSessions::LastSeenAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsageDaily::Table)
                .col(uuid(UsageDaily::OrgId))
                .col(string_len(UsageDaily::Day, 10))
                .col(uuid(UsageDaily::ApiKeyId))
                .col(uuid(UsageDaily::ConnectorId))
                .col(big_integer(UsageDaily::Calls).default(0))
                .col(big_integer(UsageDaily::Errors).default(0))
                .primary_key(
                    Index::create()
                        .col(UsageDaily::OrgId)
                        .col(UsageDaily::Day)
                        .col(UsageDaily::ApiKeyId)
                        .col(UsageDaily::ConnectorId),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .add_column(timestamp_with_time_zone_null(
                    Connectors::HealthClaimedUntil,
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .drop_column(Connectors::HealthClaimedUntil)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(UsageDaily::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(McpSessions::Table).to_owned())
            .await?;
        Ok(())
    }
}
