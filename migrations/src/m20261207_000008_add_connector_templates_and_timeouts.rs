//! Resource templates of each connector (cached by the health check like its resources),
//! and per-connector call timeouts: one for silence from the upstream, one overall.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connectors {
    Table,
    ResourceTemplatesJson,
    IdleTimeoutSecs,
    CallTimeoutSecs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .add_column(text(Connectors::ResourceTemplatesJson).default("[]"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .add_column(integer_null(Connectors::IdleTimeoutSecs))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Connectors::Table)
                .add_column(integer_null(Connectors::CallTimeoutSecs))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            Connectors::CallTimeoutSecs,
            Connectors::IdleTimeoutSecs,
            Connectors::ResourceTemplatesJson,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Connectors::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
