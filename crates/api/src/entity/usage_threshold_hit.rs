use sea_orm::entity::prelude::*;

/// A threshold reached in a period (`day:YYYY-MM-DD`, `month:YYYY-MM`): it fires once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_threshold_hits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub period: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub threshold: i64,
    pub reached_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
