//! Indexes on the expiry of the short-lived rows of passkey ceremonies and PIN
//! step-ups (pending logins have theirs), so the janitor's sweeps, and the sweep of
//! passkey sign-ins that anyone can start, never scan a table.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PasskeyRegistrations {
    Table,
    ExpiresAt,
}
#[derive(DeriveIden)]
enum PasskeySignIns {
    Table,
    ExpiresAt,
}
#[derive(DeriveIden)]
enum PinStepUps {
    Table,
    ExpiresAt,
}

fn indexes() -> [(&'static str, DynIden, DynIden); 3] {
    [
        (
            "idx_passkey_registrations_expires",
            PasskeyRegistrations::Table.into_iden(),
            PasskeyRegistrations::ExpiresAt.into_iden(),
        ),
        (
            "idx_passkey_sign_ins_expires",
            PasskeySignIns::Table.into_iden(),
            PasskeySignIns::ExpiresAt.into_iden(),
        ),
        (
            "idx_pin_step_ups_expires",
            PinStepUps::Table.into_iden(),
            PinStepUps::ExpiresAt.into_iden(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, col) in indexes() {
            m.create_index(Index::create().name(name).table(table).col(col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in indexes() {
            m.drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
