use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// What the client presents: `ghc_…`, or the URL of its metadata document.
    #[sea_orm(unique)]
    pub client_id: String,
    /// `dcr` (registered itself), `cimd` (metadata document), `admin` (made by an org admin).
    pub kind: String,
    /// Set for admin-created clients only: registrations are global.
    pub org_id: Option<Uuid>,
    pub name: String,
    /// JSON list of exact redirect URIs.
    #[sea_orm(column_type = "Text")]
    pub redirect_uris: String,
    /// `none`, `client_secret_post`, `client_secret_basic`, or `private_key_jwt`
    /// (metadata-document clients only).
    pub auth_method: String,
    pub secret_hash: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    /// Metadata documents: the cached copy is fresh until then.
    pub fresh_until: Option<DateTimeUtc>,
    /// `private_key_jwt` clients: where their public keys are, or the keys themselves
    /// (a JWK Set, JSON) when their document carries them.
    pub jwks_uri: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
