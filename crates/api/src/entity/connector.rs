use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connectors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// Prepended to the upstream's tool names (`github__`); may be empty.
    pub tool_prefix: String,
    /// The upstream's Streamable HTTP endpoint.
    pub url: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// Header that carries the credential, e.g. `Authorization`.
    pub credential_header: Option<String>,
    /// The credential (header value), sealed with the master key.
    #[sea_orm(column_type = "Text", nullable)]
    pub credential_enc: Option<String>,
    pub enabled: bool,
    /// `healthy`, `unhealthy` or `unknown`.
    pub health_status: String,
    pub health_checked_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub health_error: Option<String>,
    /// JSON array of the upstream's tools (MCP `Tool` objects) from the last check.
    #[sea_orm(column_type = "Text")]
    pub tools_json: String,
    /// JSON array of the upstream's prompts from the last check.
    #[sea_orm(column_type = "Text")]
    pub prompts_json: String,
    /// JSON array of the upstream's resources from the last check.
    #[sea_orm(column_type = "Text")]
    pub resources_json: String,
    /// JSON array of the upstream's resource templates from the last check.
    #[sea_orm(column_type = "Text")]
    pub resource_templates_json: String,
    /// A call fails after this many seconds without a byte from the upstream (default
    /// `mcp.idle_timeout_secs`).
    pub idle_timeout_secs: Option<i32>,
    /// A call fails after this many seconds overall, progress or not (default
    /// `mcp.call_timeout_secs`).
    pub call_timeout_secs: Option<i32>,
    /// Until when a replica's health checker holds this connector.
    pub health_claimed_until: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
