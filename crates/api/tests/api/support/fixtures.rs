//! Ready-made organizations for tests that need the usual cast rather than the steps
//! that build it.
use super::{Session, TestApp, TestUser};
use gatehouse_types::{
    ApiKeyScope, Connector, CreateApiKeyRequest, CreateConnectorRequest, CreatedApiKey,
    Organization, Role,
};

/// An org with an owner, an admin and a member (each signed in), an `mcp` API key and a
/// disabled connector (disabled so that no health check changes the org under a test).
/// Addresses are `{tag}-owner@example.com` and so on, so one app can hold several.
pub struct OrgFixture {
    pub org: Organization,
    pub owner: TestUser,
    pub admin: TestUser,
    pub member: TestUser,
    pub key: CreatedApiKey,
    pub connector: Connector,
}

impl OrgFixture {
    pub async fn new(app: &TestApp) -> OrgFixture {
        Self::named(app, "fixture", "Fixture Org").await
    }

    /// The org named `name`; its people's addresses begin with `tag`.
    pub async fn named(app: &TestApp, tag: &str, name: &str) -> OrgFixture {
        let owner = app.signup(&format!("{tag}-owner@example.com")).await;
        let org = app.create_org(&owner, name).await;
        let admin = app
            .add_member(
                &owner,
                &org.slug,
                &format!("{tag}-admin@example.com"),
                Role::Admin,
            )
            .await;
        let member = app
            .add_member(
                &owner,
                &org.slug,
                &format!("{tag}-member@example.com"),
                Role::Member,
            )
            .await;
        let key = owner
            .create_api_key(
                &org.slug,
                &CreateApiKeyRequest {
                    name: format!("{tag}-key"),
                    scopes: Some(vec![ApiKeyScope::Mcp]),
                    expires_at: None,
                },
            )
            .await
            .expect(201)
            .await;
        let connector = owner
            .create_connector(
                &org.slug,
                &CreateConnectorRequest {
                    name: format!("{tag} MCP"),
                    url: format!("https://{tag}.example.com/mcp"),
                    enabled: Some(false),
                    ..Default::default()
                },
            )
            .await
            .expect(201)
            .await;
        OrgFixture {
            org,
            owner,
            admin,
            member,
            key,
            connector,
        }
    }

    pub fn slug(&self) -> &str {
        &self.org.slug
    }

    /// A program holding this org's API key.
    pub fn key_client(&self, app: &TestApp) -> Session {
        app.key_client(&self.key.secret)
    }
}
