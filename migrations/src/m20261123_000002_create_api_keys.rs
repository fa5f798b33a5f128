//! API keys, and the organization's IP allowlist.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    OrgId,
    Name,
    DisplayPrefix,
    LastFour,
    TokenHash,
    Scopes,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    IpAllowlist,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(uuid(ApiKeys::Id).primary_key())
                .col(uuid(ApiKeys::OrgId))
                .col(string_len(ApiKeys::Name, 64))
                .col(string_len(ApiKeys::DisplayPrefix, 16))
                .col(string_len(ApiKeys::LastFour, 4))
                .col(string_len_uniq(ApiKeys::TokenHash, 64))
                .col(string_len(ApiKeys::Scopes, 64))
                .col(uuid_null(ApiKeys::CreatedBy))
                .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_api_keys_org")
                        .from(ApiKeys::Table, ApiKeys::OrgId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_api_keys_org")
                .table(ApiKeys::Table)
                .col(ApiKeys::OrgId)
                .to_owned(),
        )
        .await?;
        // JSON list of {cidr, label}; empty means no restriction.
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .add_column(text(Organizations::IpAllowlist).default("[]"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .drop_column(Organizations::IpAllowlist)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await?;
        Ok(())
    }
}
