use sea_orm::entity::prelude::*;

/// A unit of durable background work (`jobs`). `payload` is the JSON input sealed under
/// the master key: a mail job's body holds a live link.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `pending`, `running`, `done` or `dead` (attempts used up; kept for inspection).
    pub status: String,
    /// When it may run next (the injected clock).
    pub run_at: DateTimeUtc,
    pub attempts: i32,
    pub max_attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// The runner holding the lease while `running`.
    pub locked_by: Option<String>,
    /// Past this, a `running` job's runner is presumed dead and any runner may claim it.
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
