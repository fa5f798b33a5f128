//! Schema migrations. The same migrations run on SQLite and PostgreSQL.
//! One file per change, named `mYYYYMMDD_HHMMSS_verb_noun.rs`; never edit one that has shipped.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_foundation;
mod m20261123_000002_create_api_keys;
mod m20261123_000003_create_connectors;
mod m20261123_000004_create_mcp_runtime;
mod m20261123_000005_add_connector_catalog;
mod m20261124_000006_create_oauth;
mod m20261207_000007_add_client_assertions;
mod m20261207_000008_add_connector_templates_and_timeouts;
mod m20261207_000009_create_mcp_relays;
mod m20261215_000010_create_instance_settings;
mod m20261220_000011_create_jobs;
mod m20261226_000012_create_second_factors;
mod m20261226_000013_create_two_factor_login;
mod m20261226_000014_create_passkey_ceremonies;
mod m20261226_000015_create_pins;
mod m20261226_000016_add_org_require_mfa;
mod m20261228_000017_index_ceremony_expiry;
mod m20261228_000018_create_webhooks;
mod m20261228_000019_create_usage_thresholds;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_foundation::Migration),
            Box::new(m20261123_000002_create_api_keys::Migration),
            Box::new(m20261123_000003_create_connectors::Migration),
            Box::new(m20261123_000004_create_mcp_runtime::Migration),
            Box::new(m20261123_000005_add_connector_catalog::Migration),
            Box::new(m20261124_000006_create_oauth::Migration),
            Box::new(m20261207_000007_add_client_assertions::Migration),
            Box::new(m20261207_000008_add_connector_templates_and_timeouts::Migration),
            Box::new(m20261207_000009_create_mcp_relays::Migration),
            Box::new(m20261215_000010_create_instance_settings::Migration),
            Box::new(m20261220_000011_create_jobs::Migration),
            Box::new(m20261226_000012_create_second_factors::Migration),
            Box::new(m20261226_000013_create_two_factor_login::Migration),
            Box::new(m20261226_000014_create_passkey_ceremonies::Migration),
            Box::new(m20261226_000015_create_pins::Migration),
            Box::new(m20261226_000016_add_org_require_mfa::Migration),
            Box::new(m20261228_000017_index_ceremony_expiry::Migration),
            Box::new(m20261228_000018_create_webhooks::Migration),
            Box::new(m20261228_000019_create_usage_thresholds::Migration),
        ]
    }
}
