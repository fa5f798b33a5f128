//! A passkey registration ceremony in progress: the server's half of it (challenge,
//! user, excluded credentials) between `POST /me/passkeys/options` and
//! `POST /me/passkeys`. Kept in the database, not in memory, so the two calls may reach
//! different replicas. One per session: starting again replaces it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PasskeyRegistrations {
    Table,
    SessionId,
    UserId,
    /// webauthn-rs's `PasskeyRegistration` as JSON.
    State,
    ExpiresAt,
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
                .table(PasskeyRegistrations::Table)
                .col(uuid(PasskeyRegistrations::SessionId).primary_key())
                .col(uuid(PasskeyRegistrations::UserId))
                .col(text(PasskeyRegistrations::State))
                .col(timestamp_with_time_zone(PasskeyRegistrations::ExpiresAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_passkey_registrations_session")
                        .from(PasskeyRegistrations::Table, PasskeyRegistrations::SessionId)
                        .to(Sessions::Table, Sessions::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PasskeyRegistrations::Table).to_owned())
            .await
    }
}
