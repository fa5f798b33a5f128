use sea_orm::entity::prelude::*;

/// What a user allowed a client in one org: the family of its refresh tokens.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub client_id: Uuid,
    pub scope: String,
    #[sea_orm(column_type = "Text")]
    pub resource: String,
    pub created_at: DateTimeUtc,
    /// The refresh-token lifetime of the org when granted; rotation never goes past it.
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
