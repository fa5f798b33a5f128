use sea_orm::entity::prelude::*;

/// An upstream's request relayed to a client, awaiting the client's answer (any replica
/// may take it and post it to the upstream session).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mcp_relays")]
pub struct Model {
    /// The id the gateway gave the request (`gh-…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The API key or OAuth grant that was asked: only it may answer.
    pub caller_id: Uuid,
    pub connector_id: Uuid,
    /// The upstream's `Mcp-Session-Id`, if it keeps sessions.
    #[sea_orm(column_type = "Text", nullable)]
    pub upstream_session: Option<String>,
    pub protocol_version: String,
    /// The upstream's own id of the request, as JSON.
    #[sea_orm(column_type = "Text")]
    pub upstream_request_id: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
