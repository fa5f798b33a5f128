use sea_orm::entity::prelude::*;

/// The MCP call counts at which an org's `usage.threshold` fires (JSON arrays).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_thresholds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub daily: String,
    #[sea_orm(column_type = "Text")]
    pub monthly: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
