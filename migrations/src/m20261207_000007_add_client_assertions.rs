//! `private_key_jwt` client authentication (RFC 7523) for metadata-document clients:
//! where a client's public keys are (its `jwks_uri`, or the `jwks` its document
//! carries), and the ids of assertions already used, kept until they expire so that no
//! replica accepts one twice.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    JwksUri,
    Jwks,
}

#[derive(DeriveIden)]
enum OauthClientAssertions {
    Table,
    JtiHash,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        m.alter_table(
            Table::alter()
                .table(OauthClients::Table)
                .add_column(string_len_null(OauthClients::JwksUri, 2048))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(OauthClients::Table)
                .add_column(text_null(OauthClients::Jwks))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthClientAssertions::Table)
                .col(string_len(OauthClientAssertions::JtiHash, 64).primary_key())
                .col(timestamp_with_time_zone(OauthClientAssertions::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_oauth_client_assertions_expires")
                .table(OauthClientAssertions::Table)
                .col(OauthClientAssertions::ExpiresAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OauthClientAssertions::Table).to_owned())
            .await?;
        for c in [OauthClients::Jwks, OauthClients::JwksUri] {
            m.alter_table(
                Table::alter()
                    .table(OauthClients::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
