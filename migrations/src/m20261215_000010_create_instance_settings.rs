//! Facts about the installation that every replica must agree on, by name: for now the
//! master key's check value (`master_key_check`), which lets a replica with another key
//! refuse to start instead of failing on every secret.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InstanceSettings {
    Table,
    Name,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(InstanceSettings::Table)
                .col(string_len(InstanceSettings::Name, 64).primary_key())
                .col(text(InstanceSettings::Value))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(InstanceSettings::Table).to_owned())
            .await
    }
}
