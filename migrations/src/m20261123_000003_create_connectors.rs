//! Connectors: the organization's upstream MCP servers behind its endpoint.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connectors {
    Table,
    Id,
    OrgId,
    Name,
    ToolPrefix,
    Url,
    Description,
    CredentialHeader,
    CredentialEnc,
    Enabled,
    HealthStatus,
    HealthCheckedAt,
    HealthError,
    ToolsJson,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
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
                .table(Connectors::Table)
                .col(uuid(Connectors::Id).primary_key())
                .col(uuid(Connectors::OrgId))
                .col(string_len(Connectors::Name, 64))
                .col(string_len(Connectors::ToolPrefix, 64))
                .col(string_len(Connectors::Url, 2048))
                .col(text(Connectors::Description).default(""))
                .col(string_len_null(Connectors::CredentialHeader, 128))
                // AEAD under the master key; never returned by the API.
                .col(text_null(Connectors::CredentialEnc))
                .col(boolean(Connectors::Enabled).default(true))
                .col(string_len(Connectors::HealthStatus, 16).default("unknown"))
                .col(timestamp_with_time_zone_null(Connectors::HealthCheckedAt))
                .col(text_null(Connectors::HealthError))
                // The upstream's tool list from the last successful check.
                .col(text(Connectors::ToolsJson).default("[]"))
                .col(uuid_null(Connectors::CreatedBy))
                .col(timestamp_with_time_zone(Connectors::CreatedAt))
                .col(timestamp_with_time_zone(Connectors::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_connectors_org")
                        .from(Connectors::Table, Connectors::OrgId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_connectors_org_name")
                .table(Connectors::Table)
                .col(Connectors::OrgId)
                .col(Connectors::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Connectors::Table).to_owned())
            .await?;
        Ok(())
    }
}
