//! The durable job queue: work enqueued in the same transaction as the change that
//! causes it (an invitation's email), claimed by one replica at a time under a lease,
//! retried with backoff, and kept as `dead` once its attempts are used up.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    Status,
    RunAt,
    Attempts,
    MaxAttempts,
    LastError,
    LockedBy,
    LockedUntil,
    CreatedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(uuid(Jobs::Id).primary_key())
                .col(string_len(Jobs::Kind, 64))
                .col(text(Jobs::Payload))
                .col(string_len(Jobs::Status, 16))
                .col(timestamp_with_time_zone(Jobs::RunAt))
                .col(integer(Jobs::Attempts))
                .col(integer(Jobs::MaxAttempts))
                .col(text_null(Jobs::LastError))
                .col(string_len_null(Jobs::LockedBy, 64))
                .col(timestamp_with_time_zone_null(Jobs::LockedUntil))
                .col(timestamp_with_time_zone(Jobs::CreatedAt))
                .col(timestamp_with_time_zone_null(Jobs::FinishedAt))
                .to_owned(),
        )
        .await?;
        // The claim looks for due jobs by status and time.
        m.create_index(
            Index::create()
                .name("idx_jobs_status_run_at")
                .table(Jobs::Table)
                .col(Jobs::Status)
                .col(Jobs::RunAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}
