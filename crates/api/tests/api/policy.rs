//! The one access policy (`auth::policy`): every door into an org (the REST API with a
//! session or an API key, the MCP endpoint with an API key or an OAuth access token,
//! and both steps of OAuth consent) obeys the same rule at the same moment.
use crate::oauth::mcp_access_token;
use crate::support::*;
use gatehouse_types::ApiKeyScope;
use serde_json::json;

/// An MCP `initialize` on `slug`'s endpoint with `authorization`.
pub(crate) async fn mcp_initialize(
    app: &TestApp,
    slug: &str,
    authorization: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!("/mcp/{slug}")))
        .header("authorization", authorization)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap()
}

/// The consent page for a fresh client asking for `slug`'s MCP endpoint, as `user`'s
/// browser gets it.
pub(crate) async fn consent_page(app: &TestApp, user: &Session, slug: &str) -> reqwest::Response {
    let redirect = "http://127.0.0.1/callback";
    let reg = crate::oauth::register(app, redirect).await;
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", reg["client_id"].as_str().unwrap())
        .append_pair("redirect_uri", redirect)
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("scope", "mcp")
        .append_pair("resource", &app.url(&format!("/mcp/{slug}")));
    user.http.get(url.as_str()).send().await.unwrap()
}

/// The consent form's fields with "allow", as the browser would post them.
pub(crate) fn allow_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = crate::oauth::form_fields(html);
    fields.push(("decision".into(), "allow".into()));
    fields
}

async fn refused_page(r: reqwest::Response) {
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("127.0.0.1 is not in this organization&#39;s IP allowlist"),
        "{text}"
    );
}

#[tokio::test]
async fn an_allowlist_refuses_every_door_into_the_org_at_once() {
    let app = spawn_app().await;
    let owner = app.signup("pia@example.com").await;
    let org = app.create_org(&owner, "Pia").await;
    let read_key = key(&owner, &org.slug, &[ApiKeyScope::Read]).await;
    let mcp_key = key(&owner, &org.slug, &[ApiKeyScope::Mcp]).await;
    let token = mcp_access_token(&app, &owner, &org.slug).await;
    let rest_with_key = || {
        reqwest::Client::new()
            .get(app.url(&format!("/api/v1/orgs/{}", org.slug)))
            .header("authorization", format!("ApiKey {read_key}"))
            .send()
    };

    // Every door is open before the list: the refusals below are the list's doing.
    assert_eq!(
        owner.get(&format!("/orgs/{}", org.slug)).await.status(),
        200
    );
    assert_eq!(rest_with_key().await.unwrap().status(), 200);
    let with_key = format!("ApiKey {mcp_key}");
    let with_token = format!("Bearer {token}");
    assert_eq!(
        mcp_initialize(&app, &org.slug, &with_key).await.status(),
        200
    );
    assert_eq!(
        mcp_initialize(&app, &org.slug, &with_token).await.status(),
        200
    );
    let page = consent_page(&app, &owner, &org.slug).await;
    assert_eq!(page.status(), 200);
    // A form shown before the list changed, submitted after.
    let form = allow_fields(&page.text().await.unwrap());

    let r = owner
        .patch(
            &format!("/orgs/{}/settings/security", org.slug),
            json!({"ip_allowlist": [{"cidr": "203.0.113.0/24", "label": "office"}], "confirm_lockout": true}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // REST, with the session and with an API key.
    let p = assert_problem(
        owner.get(&format!("/orgs/{}", org.slug)).await,
        403,
        "ip-not-allowed",
    )
    .await;
    assert!(p.detail.unwrap().contains("127.0.0.1"));
    assert_problem(rest_with_key().await.unwrap(), 403, "ip-not-allowed").await;
    // MCP, with an API key and with an OAuth access token.
    assert_problem(
        mcp_initialize(&app, &org.slug, &with_key).await,
        403,
        "ip-not-allowed",
    )
    .await;
    assert_problem(
        mcp_initialize(&app, &org.slug, &with_token).await,
        403,
        "ip-not-allowed",
    )
    .await;
    // OAuth consent: the page, and the decision on a form shown earlier.
    refused_page(consent_page(&app, &owner, &org.slug).await).await;
    refused_page(
        owner
            .http
            .post(app.url("/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
}

/// Credentials for every door of one org, all made before anything is changed.
struct Doors {
    slug: String,
    read_key: String,
    mcp_key: String,
    token: String,
    consent_form: Vec<(String, String)>,
}

impl Doors {
    async fn new(app: &TestApp, owner: &TestUser, name: &str) -> Doors {
        let org = app.create_org(owner, name).await;
        let page = consent_page(app, owner, &org.slug).await;
        assert_eq!(page.status(), 200);
        Doors {
            read_key: key(owner, &org.slug, &[ApiKeyScope::Read]).await,
            mcp_key: key(owner, &org.slug, &[ApiKeyScope::Mcp]).await,
            token: mcp_access_token(app, owner, &org.slug).await,
            consent_form: allow_fields(&page.text().await.unwrap()),
            slug: org.slug,
        }
    }

    /// The status each door answers: REST with the session and with an API key, MCP
    /// with an API key and with an access token, the consent page and its decision.
    async fn statuses(&self, app: &TestApp, owner: &TestUser) -> [u16; 6] {
        let rest_key = reqwest::Client::new()
            .get(app.url(&format!("/api/v1/orgs/{}", self.slug)))
            .header("authorization", format!("ApiKey {}", self.read_key))
            .send()
            .await
            .unwrap();
        let decision = owner
            .http
            .post(app.url("/authorize"))
            .form(&self.consent_form)
            .send()
            .await
            .unwrap();
        [
            owner.get(&format!("/orgs/{}", self.slug)).await.status(),
            rest_key.status(),
            mcp_initialize(app, &self.slug, &format!("ApiKey {}", self.mcp_key))
                .await
                .status(),
            mcp_initialize(app, &self.slug, &format!("Bearer {}", self.token))
                .await
                .status(),
            consent_page(app, owner, &self.slug).await.status(),
            decision.status(),
        ]
        .map(|s| s.as_u16())
    }
}

#[tokio::test]
async fn a_deleted_org_is_no_org_at_any_door() {
    let app = spawn_app().await;
    let owner = app.signup("quin@example.com").await;
    let kept = Doors::new(&app, &owner, "Kept").await;
    let deleted = Doors::new(&app, &owner, "Deleted").await;
    app.sql(&format!(
        "UPDATE organizations SET deleted_at = {} WHERE slug = '{}'",
        app.minutes_ago(1),
        deleted.slug
    ))
    .await;
    // Unknown to REST (404), to MCP (401: the credential names no org), and not among
    // the orgs the user may connect (403 pages).
    assert_eq!(
        deleted.statuses(&app, &owner).await,
        [404, 404, 401, 401, 403, 403]
    );
    // The same doors of an org made alike stay open.
    assert_eq!(
        kept.statuses(&app, &owner).await,
        [200, 200, 200, 200, 200, 302]
    );
}
