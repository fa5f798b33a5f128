//! Usage thresholds of an org (the MCP call counts at which `usage.threshold` fires) and
//! the thresholds already reached per period, so each fires once.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageThresholds {
    Table,
    OrgId,
    Daily,
    Monthly,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UsageThresholdHits {
    Table,
    OrgId,
    Period,
    Threshold,
    ReachedAt,
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
                .table(UsageThresholds::Table)
                .col(uuid(UsageThresholds::OrgId).primary_key())
                // JSON arrays of call counts.
                .col(text(UsageThresholds::Daily))
                .col(text(UsageThresholds::Monthly))
                .col(timestamp_with_time_zone(UsageThresholds::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_usage_thresholds_org")
                        .from(UsageThresholds::Table, UsageThresholds::OrgId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsageThresholdHits::Table)
                .col(uuid(UsageThresholdHits::OrgId))
                // `day:YYYY-MM-DD` or `month:YYYY-MM`.
                .col(text(UsageThresholdHits::Period))
                .col(big_integer(UsageThresholdHits::Threshold))
                .col(timestamp_with_time_zone(UsageThresholdHits::ReachedAt))
                .primary_key(
                    Index::create()
                        .col(UsageThresholdHits::OrgId)
                        .col(UsageThresholdHits::Period)
                        .col(UsageThresholdHits::Threshold),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_usage_threshold_hits_org")
                        .from(UsageThresholdHits::Table, UsageThresholdHits::OrgId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UsageThresholdHits::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(UsageThresholds::Table).to_owned())
            .await
    }
}
