use sea_orm::entity::prelude::*;

/// A webhook endpoint of an org. The secrets are sealed under the master key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// JSON array of event names (`*` for all).
    #[sea_orm(column_type = "Text")]
    pub events: String,
    pub enabled: bool,
    #[sea_orm(column_type = "Text")]
    pub secret_header: String,
    #[sea_orm(column_type = "Text")]
    pub signing_secret: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub previous_signing_secret: Option<String>,
    pub previous_valid_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub shared_secret: String,
    #[sea_orm(column_type = "Text")]
    pub signing_secret_hint: String,
    #[sea_orm(column_type = "Text")]
    pub shared_secret_hint: String,
    pub failing_since: Option<DateTimeUtc>,
    /// When the owners and admins were told it will be switched off (once a streak).
    pub disable_warned_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub disabled_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
