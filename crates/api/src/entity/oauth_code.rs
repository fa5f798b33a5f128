use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub client_id: Uuid,
    pub user_id: Uuid,
    pub org_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    pub code_challenge: String,
    #[sea_orm(column_type = "Text")]
    pub resource: String,
    pub scope: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    /// The grant the first exchange created: a second use revokes it.
    pub grant_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
