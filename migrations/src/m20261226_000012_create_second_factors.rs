//! Personal second factors: a TOTP enrolment per user (enabled once confirmed) and any
//! number of passkeys. Whether a user "has MFA" is read from these two tables alone
//! (`accounts::mfa`), so org enforcement and sign-in agree on it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserTotp {
    Table,
    UserId,
    /// The shared secret, sealed under the master key.
    SecretEnc,
    CreatedAt,
    /// Null until the user has proved the authenticator with a valid code.
    ConfirmedAt,
    /// The last accepted 30-second step: a code is accepted once.
    LastStep,
}

#[derive(DeriveIden)]
enum UserPasskeys {
    Table,
    Id,
    UserId,
    Name,
    /// The WebAuthn credential id (base64url), unique across users.
    CredentialId,
    /// The stored credential (public key, counter) as JSON.
    Passkey,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UserTotp::Table)
                .col(uuid(UserTotp::UserId).primary_key())
                .col(text(UserTotp::SecretEnc))
                .col(timestamp_with_time_zone(UserTotp::CreatedAt))
                .col(timestamp_with_time_zone_null(UserTotp::ConfirmedAt))
                .col(big_integer_null(UserTotp::LastStep))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_totp_user")
                        .from(UserTotp::Table, UserTotp::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserPasskeys::Table)
                .col(uuid(UserPasskeys::Id).primary_key())
                .col(uuid(UserPasskeys::UserId))
                .col(string_len(UserPasskeys::Name, 64))
                .col(string_len_uniq(UserPasskeys::CredentialId, 512))
                .col(text(UserPasskeys::Passkey))
                .col(timestamp_with_time_zone(UserPasskeys::CreatedAt))
                .col(timestamp_with_time_zone_null(UserPasskeys::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_passkeys_user")
                        .from(UserPasskeys::Table, UserPasskeys::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_user_passkeys_user")
                .table(UserPasskeys::Table)
                .col(UserPasskeys::UserId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UserPasskeys::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(UserTotp::Table).to_owned())
            .await
    }
}
