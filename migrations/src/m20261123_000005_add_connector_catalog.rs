//! Prompts and resources of each connector, cached by the health check like its tools.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connectors {
    Table,
    PromptsJson,
    ResourcesJson,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .add_column(text(Connectors::PromptsJson).default("[]"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .add_column(text(Connectors::ResourcesJson).default("[]"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .drop_column(Connectors::ResourcesJson)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .drop_column(Connectors::PromptsJson)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
