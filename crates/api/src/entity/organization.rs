use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub description: String,
    pub session_timeout_minutes: i32,
    pub plan: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    /// JSON list of `{cidr, label}`; empty means no restriction.
    #[sea_orm(column_type = "Text")]
    pub ip_allowlist: String,
    /// `short` | `medium` | `default` | `long`: refresh tokens live 1, 7, 30, 90 days.
    pub refresh_token_lifetime: String,
    /// Members signed in without a second factor are refused (`auth::policy`).
    pub require_mfa: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
