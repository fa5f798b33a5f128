//! The OAuth 2.1 authorization server: clients (registered, metadata documents, admin
//! created), signing keys, authorization codes, grants and refresh-token families, and
//! the org's refresh-token lifetime.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    ClientId,
    Kind,
    OrgId,
    Name,
    RedirectUris,
    AuthMethod,
    SecretHash,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    FreshUntil,
}

#[derive(DeriveIden)]
enum OauthSigningKeys {
    Table,
    Kid,
    PrivateEnc,
    PublicX,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum OauthCodes {
    Table,
    CodeHash,
    ClientId,
    UserId,
    OrgId,
    RedirectUri,
    CodeChallenge,
    Resource,
    Scope,
    ExpiresAt,
    UsedAt,
    GrantId,
}

#[derive(DeriveIden)]
enum OauthGrants {
    Table,
    Id,
    OrgId,
    UserId,
    ClientId,
    Scope,
    Resource,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum OauthRefreshTokens {
    Table,
    TokenHash,
    GrantId,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    RefreshTokenLifetime,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OauthClients::Table)
                .col(uuid(OauthClients::Id).primary_key())
                // `ghc_…` for registered and admin-created clients, the https URL of a
                // client ID metadata document otherwise.
                .col(string_len_uniq(OauthClients::ClientId, 2048))
                .col(string_len(OauthClients::Kind, 16))
                .col(uuid_null(OauthClients::OrgId))
                .col(string_len(OauthClients::Name, 200))
                .col(text(OauthClients::RedirectUris))
                .col(string_len(OauthClients::AuthMethod, 32))
                .col(string_len_null(OauthClients::SecretHash, 64))
                .col(uuid_null(OauthClients::CreatedBy))
                .col(timestamp_with_time_zone(OauthClients::CreatedAt))
                .col(timestamp_with_time_zone_null(OauthClients::LastUsedAt))
                .col(timestamp_with_time_zone_null(OauthClients::FreshUntil))
                .foreign_key(&mut fk(
                    "fk_oauth_clients_org",
                    (OauthClients::Table, OauthClients::OrgId),
                    (Organizations::Table, Organizations::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthSigningKeys::Table)
                .col(string_len(OauthSigningKeys::Kid, 32).primary_key())
                .col(text(OauthSigningKeys::PrivateEnc))
                .col(string_len(OauthSigningKeys::PublicX, 64))
                .col(timestamp_with_time_zone(OauthSigningKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(OauthSigningKeys::RetiredAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthGrants::Table)
                .col(uuid(OauthGrants::Id).primary_key())
                .col(uuid(OauthGrants::OrgId))
                .col(uuid(OauthGrants::UserId))
                .col(uuid(OauthGrants::ClientId))
                .col(string_len(OauthGrants::Scope, 200))
                .col(text(OauthGrants::Resource))
                .col(timestamp_with_time_zone(OauthGrants::CreatedAt))
                .col(timestamp_with_time_zone(OauthGrants::ExpiresAt))
                .col(timestamp_with_time_zone_null(OauthGrants::RevokedAt))
                .col(timestamp_with_time_zone_null(OauthGrants::LastUsedAt))
                .foreign_key(&mut fk(
                    "fk_oauth_grants_org",
                    (OauthGrants::Table, OauthGrants::OrgId),
                    (Organizations::Table, Organizations::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_oauth_grants_user",
                    (OauthGrants::Table, OauthGrants::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_oauth_grants_client",
                    (OauthGrants::Table, OauthGrants::ClientId),
                    (OauthClients::Table, OauthClients::Id),
                ))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_oauth_grants_org", OauthGrants::OrgId),
            ("idx_oauth_grants_client", OauthGrants::ClientId),
            ("idx_oauth_grants_revoked", OauthGrants::RevokedAt),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(OauthGrants::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(OauthCodes::Table)
                .col(string_len(OauthCodes::CodeHash, 64).primary_key())
                .col(uuid(OauthCodes::ClientId))
                .col(uuid(OauthCodes::UserId))
                .col(uuid(OauthCodes::OrgId))
                .col(text(OauthCodes::RedirectUri))
                .col(string_len(OauthCodes::CodeChallenge, 128))
                .col(text(OauthCodes::Resource))
                .col(string_len(OauthCodes::Scope, 200))
                .col(timestamp_with_time_zone(OauthCodes::ExpiresAt))
                .col(timestamp_with_time_zone_null(OauthCodes::UsedAt))
                .col(uuid_null(OauthCodes::GrantId))
                .foreign_key(&mut fk(
                    "fk_oauth_codes_client",
                    (OauthCodes::Table, OauthCodes::ClientId),
                    (OauthClients::Table, OauthClients::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_oauth_codes_org",
                    (OauthCodes::Table, OauthCodes::OrgId),
                    (Organizations::Table, Organizations::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthRefreshTokens::Table)
                .col(string_len(OauthRefreshTokens::TokenHash, 64).primary_key())
                .col(uuid(OauthRefreshTokens::GrantId))
                .col(timestamp_with_time_zone(OauthRefreshTokens::CreatedAt))
                .col(timestamp_with_time_zone(OauthRefreshTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(OauthRefreshTokens::RotatedAt))
                .col(timestamp_with_time_zone_null(OauthRefreshTokens::RevokedAt))
                .foreign_key(&mut fk(
                    "fk_oauth_refresh_grant",
                    (OauthRefreshTokens::Table, OauthRefreshTokens::GrantId),
                    (OauthGrants::Table, OauthGrants::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_oauth_refresh_grant")
                .table(OauthRefreshTokens::Table)
                .col(OauthRefreshTokens::GrantId)
                .to_owned(),
        )
        .await?;
        // short | medium | default | long (1, 7, 30, 90 days).
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .add_column(string_len(Organizations::RefreshTokenLifetime, 16).default("default"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .drop_column(Organizations::RefreshTokenLifetime)
                .to_owned(),
        )
        .await?;
        for t in [
            OauthRefreshTokens::Table.into_iden(),
            OauthCodes::Table.into_iden(),
            OauthGrants::Table.into_iden(),
            OauthSigningKeys::Table.into_iden(),
            OauthClients::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
