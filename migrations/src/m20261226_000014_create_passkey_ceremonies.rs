//! Passkey ceremonies in progress: the server's half (challenge, user, credentials) kept
//! between a ceremony's two calls, in the database rather than in memory so the calls
//! may reach different replicas.
//! - `passkey_registrations`: between `POST /me/passkeys/options` and
//!   `POST /me/passkeys`; one per session (starting again replaces it).
//! - `passkey_sign_ins`: between `POST /auth/passkey/options` and `POST /auth/passkey`
//!   (a sign-in with a passkey alone), found by the hash of its token, used once.
//!
//! The passkey second step of a login keeps its state with the pending login.
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
enum PasskeySignIns {
    Table,
    /// SHA-256 of the ceremony token.
    TokenHash,
    /// webauthn-rs's `DiscoverableAuthentication` as JSON.
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
        .await?;
        m.create_table(
            Table::create()
                .table(PasskeySignIns::Table)
                .col(string_len(PasskeySignIns::TokenHash, 64).primary_key())
                .col(text(PasskeySignIns::State))
                .col(timestamp_with_time_zone(PasskeySignIns::ExpiresAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PasskeySignIns::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(PasskeyRegistrations::Table).to_owned())
            .await
    }
}
