//! PIN protection: each user's personal PIN (argon2id) with its failure counter and
//! lockout, the orgs that turned protection on, and the step-up windows a verified PIN
//! opens for one session in one org. All in the database, so every replica counts the
//! same failures and honours the same windows.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserPins {
    Table,
    UserId,
    PinHash,
    CreatedAt,
    UpdatedAt,
    /// Wrong PINs (or passwords offered instead) since the last success or lockout.
    Failures,
    /// Lockouts since the last success: each one doubles the next.
    Lockouts,
    LockedUntil,
}

#[derive(DeriveIden)]
enum OrgPinProtection {
    Table,
    OrgId,
    EnabledBy,
    EnabledAt,
}

#[derive(DeriveIden)]
enum PinStepUps {
    Table,
    SessionId,
    OrgId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UserPins::Table)
                .col(uuid(UserPins::UserId).primary_key())
                .col(text(UserPins::PinHash))
                .col(timestamp_with_time_zone(UserPins::CreatedAt))
                .col(timestamp_with_time_zone(UserPins::UpdatedAt))
                .col(integer(UserPins::Failures).default(0))
                .col(integer(UserPins::Lockouts).default(0))
                .col(timestamp_with_time_zone_null(UserPins::LockedUntil))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_pins_user")
                        .from(UserPins::Table, UserPins::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OrgPinProtection::Table)
                .col(uuid(OrgPinProtection::OrgId).primary_key())
                .col(uuid_null(OrgPinProtection::EnabledBy))
                .col(timestamp_with_time_zone(OrgPinProtection::EnabledAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_org_pin_protection_org")
                        .from(OrgPinProtection::Table, OrgPinProtection::OrgId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PinStepUps::Table)
                .col(uuid(PinStepUps::SessionId))
                .col(uuid(PinStepUps::OrgId))
                .col(timestamp_with_time_zone(PinStepUps::ExpiresAt))
                .primary_key(
                    Index::create()
                        .col(PinStepUps::SessionId)
                        .col(PinStepUps::OrgId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_pin_step_ups_session")
                        .from(PinStepUps::Table, PinStepUps::SessionId)
                        .to(Sessions::Table, Sessions::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_pin_step_ups_org")
                        .from(PinStepUps::Table, PinStepUps::OrgId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PinStepUps::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(OrgPinProtection::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(UserPins::Table).to_owned())
            .await
    }
}
