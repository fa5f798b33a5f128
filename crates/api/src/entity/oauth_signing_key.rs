use sea_orm::entity::prelude::*;

/// Ed25519 keys that sign access tokens; the newest unretired one signs, all unretired
/// ones are published in the JWKS (so a rotation does not break tokens in flight).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// PKCS#8 document sealed under the master key.
    #[sea_orm(column_type = "Text")]
    pub private_enc: String,
    /// The public key, base64url (the JWK `x`).
    pub public_x: String,
    pub created_at: DateTimeUtc,
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
