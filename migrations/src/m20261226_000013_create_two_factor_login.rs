//! The login second step and backup codes: a pending login between a right password and
//! a second factor, single-use backup codes, and how each session signed in.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingLogins {
    Table,
    Id,
    UserId,
    /// SHA-256 of the pending-login token; the token itself is only in the client.
    TokenHash,
    CreatedAt,
    ExpiresAt,
    /// Set once the second step succeeded (or the attempt was burned): single use.
    UsedAt,
    /// The client the password came from; the second step must come from it too.
    Ip,
    UserAgent,
    /// A WebAuthn challenge for a passkey second step, when one was asked for.
    Challenge,
    /// Wrong codes entered against this pending login.
    Attempts,
}

#[derive(DeriveIden)]
enum UserBackupCodes {
    Table,
    Id,
    UserId,
    /// HMAC of the normalized code under a key derived from the master key: a copy of
    /// the database alone does not allow guessing the short codes offline.
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    /// password, totp, backup_code or passkey.
    SignInMethod,
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
                .table(PendingLogins::Table)
                .col(uuid(PendingLogins::Id).primary_key())
                .col(uuid(PendingLogins::UserId))
                .col(string_len_uniq(PendingLogins::TokenHash, 64))
                .col(timestamp_with_time_zone(PendingLogins::CreatedAt))
                .col(timestamp_with_time_zone(PendingLogins::ExpiresAt))
                .col(timestamp_with_time_zone_null(PendingLogins::UsedAt))
                .col(string_len_null(PendingLogins::Ip, 64))
                .col(string_len_null(PendingLogins::UserAgent, 512))
                .col(text_null(PendingLogins::Challenge))
                .col(integer(PendingLogins::Attempts).default(0))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_pending_logins_user")
                        .from(PendingLogins::Table, PendingLogins::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_pending_logins_expires")
                .table(PendingLogins::Table)
                .col(PendingLogins::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserBackupCodes::Table)
                .col(uuid(UserBackupCodes::Id).primary_key())
                .col(uuid(UserBackupCodes::UserId))
                .col(string_len(UserBackupCodes::CodeHash, 64))
                .col(timestamp_with_time_zone(UserBackupCodes::CreatedAt))
                .col(timestamp_with_time_zone_null(UserBackupCodes::UsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_backup_codes_user")
                        .from(UserBackupCodes::Table, UserBackupCodes::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_user_backup_codes_user")
                .table(UserBackupCodes::Table)
                .col(UserBackupCodes::UserId)
                .to_owned(),
        )
        .await?;
        // Every session so far signed in with a password.
        m.alter_table(
            Table::alter()
                .table(Sessions::Table)
                .add_column(string_len(Sessions::SignInMethod, 16).default("password"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Sessions::Table)
                .drop_column(Sessions::SignInMethod)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(UserBackupCodes::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(PendingLogins::Table).to_owned())
            .await
    }
}
