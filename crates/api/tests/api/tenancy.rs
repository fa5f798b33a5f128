//! Tenant isolation: every route under `/orgs/{slug}` answers a caller who is not a
//! member of that org exactly as if the org did not exist, and changes nothing in it.
//! `org_routes()` is the one list of those routes; a test fails when the OpenAPI
//! document gains an org route that the list does not cover.
use crate::support::*;
use gatehouse_types::{
    CreateApiKeyRequest, CreateInvitationRequest, CreateOAuthClientRequest, Problem,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Real ids inside the org under attack, for paths and bodies.
#[derive(Default)]
struct Ids {
    /// An admin: the target of an ownership transfer.
    admin: Uuid,
    /// A plain member.
    member: Uuid,
    /// A pending invitation.
    invitation: Uuid,
    /// An active API key.
    api_key: Uuid,
    /// A connector.
    connector: Uuid,
    /// An OAuth client an admin created.
    oauth_client: Uuid,
    /// A webhook endpoint, and a message in its log (`msg_…`).
    webhook: Uuid,
    webhook_message: String,
}

struct Route {
    method: &'static str,
    /// As in openapi.yaml, relative to `/api/v1`.
    path: &'static str,
    /// What the path's id parameter (`{user_id}`, `{id}`, …) stands for, if it has one.
    id: Option<Uuid>,
    query: &'static str,
    body: Option<Value>,
}

/// Every org-scoped route with a valid request. In this order the org's owner can make
/// each call successfully, which the first test checks last, so that a typo in this table
/// cannot pass as a 404.
fn org_routes(ids: &Ids) -> Vec<Route> {
    let r = |method, path, id, query, body| Route {
        method,
        path,
        id,
        query,
        body,
    };
    vec![
        r("GET", "/orgs/{slug}", None, "", None),
        r(
            "PATCH",
            "/orgs/{slug}",
            None,
            "",
            Some(json!({"name": "Taken over", "description": "pwned"})),
        ),
        r("GET", "/orgs/{slug}/settings/security", None, "", None),
        r(
            "GET",
            "/orgs/{slug}/settings/security/mfa-preview",
            None,
            "",
            None,
        ),
        r(
            "PATCH",
            "/orgs/{slug}/settings/security",
            None,
            "",
            Some(json!({"session_timeout_minutes": 43200})),
        ),
        r("GET", "/orgs/{slug}/members", None, "", None),
        r(
            "PATCH",
            "/orgs/{slug}/members/{user_id}",
            Some(ids.member),
            "",
            Some(json!({"role": "admin"})),
        ),
        r(
            "DELETE",
            "/orgs/{slug}/members/{user_id}",
            Some(ids.member),
            "",
            None,
        ),
        r("GET", "/orgs/{slug}/invitations", None, "", None),
        r(
            "POST",
            "/orgs/{slug}/invitations",
            None,
            "",
            Some(json!({"email": "alice@example.com", "role": "admin"})),
        ),
        r(
            "DELETE",
            "/orgs/{slug}/invitations/{id}",
            Some(ids.invitation),
            "",
            None,
        ),
        r("GET", "/orgs/{slug}/api-keys", None, "", None),
        r(
            "POST",
            "/orgs/{slug}/api-keys",
            None,
            "",
            Some(json!({"name": "alice-key"})),
        ),
        r(
            "DELETE",
            "/orgs/{slug}/api-keys/{id}",
            Some(ids.api_key),
            "",
            None,
        ),
        r("GET", "/orgs/{slug}/connectors", None, "", None),
        r(
            "POST",
            "/orgs/{slug}/connectors",
            None,
            "",
            Some(
                json!({"name": "Alice MCP", "url": "https://mcp.example.com/mcp", "credential": "Bearer x"}),
            ),
        ),
        r(
            "GET",
            "/orgs/{slug}/connectors/{id}",
            Some(ids.connector),
            "",
            None,
        ),
        r(
            "PATCH",
            "/orgs/{slug}/connectors/{id}",
            Some(ids.connector),
            "",
            Some(
                json!({"url": "https://evil.example.com/mcp", "enabled": false, "idle_timeout_secs": 5, "call_timeout_secs": null}),
            ),
        ),
        r(
            "DELETE",
            "/orgs/{slug}/connectors/{id}",
            Some(ids.connector),
            "",
            None,
        ),
        r("GET", "/orgs/{slug}/usage", None, "", None),
        r("GET", "/orgs/{slug}/usage/thresholds", None, "", None),
        r(
            "PUT",
            "/orgs/{slug}/usage/thresholds",
            None,
            "",
            Some(json!({"daily": [1], "monthly": []})),
        ),
        r("GET", "/orgs/{slug}/oauth/clients", None, "", None),
        r(
            "POST",
            "/orgs/{slug}/oauth/clients",
            None,
            "",
            Some(json!({"name": "Alice tool", "redirect_uris": ["https://alice.example.com/cb"]})),
        ),
        r(
            "DELETE",
            "/orgs/{slug}/oauth/clients/{id}",
            Some(ids.oauth_client),
            "",
            None,
        ),
        r("GET", "/orgs/{slug}/oauth/settings", None, "", None),
        r(
            "PATCH",
            "/orgs/{slug}/oauth/settings",
            None,
            "",
            Some(json!({"refresh_token_lifetime": "long"})),
        ),
        r("GET", "/orgs/{slug}/audit-logs", None, "", None),
        r(
            "GET",
            "/orgs/{slug}/audit-logs/export",
            None,
            "?format=csv",
            None,
        ),
        r(
            "POST",
            "/orgs/{slug}/pin/verify",
            None,
            "",
            Some(json!({"pin": "480913"})),
        ),
        r("GET", "/orgs/{slug}/webhooks", None, "", None),
        r(
            "POST",
            "/orgs/{slug}/webhooks",
            None,
            "",
            Some(json!({"url": "https://alice.example.com/hook", "events": ["*"]})),
        ),
        r(
            "GET",
            "/orgs/{slug}/webhooks/{id}",
            Some(ids.webhook),
            "",
            None,
        ),
        r(
            "PATCH",
            "/orgs/{slug}/webhooks/{id}",
            Some(ids.webhook),
            "",
            Some(json!({"url": "https://evil.example.com/hook"})),
        ),
        r(
            "POST",
            "/orgs/{slug}/webhooks/{id}/rotate-secret",
            Some(ids.webhook),
            "",
            Some(json!({})),
        ),
        r(
            "POST",
            "/orgs/{slug}/webhooks/{id}/test",
            Some(ids.webhook),
            "",
            None,
        ),
        r(
            "GET",
            "/orgs/{slug}/webhooks/{id}/deliveries",
            Some(ids.webhook),
            "",
            None,
        ),
        r(
            "POST",
            "/orgs/{slug}/webhooks/{id}/deliveries/{message_id}/replay",
            Some(ids.webhook),
            "",
            None,
        ),
        r(
            "POST",
            "/orgs/{slug}/webhooks/{id}/replay",
            Some(ids.webhook),
            "",
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        ),
        r(
            "DELETE",
            "/orgs/{slug}/webhooks/{id}",
            Some(ids.webhook),
            "",
            None,
        ),
        r(
            "POST",
            "/orgs/{slug}/transfer-ownership",
            None,
            "",
            Some(json!({"user_id": ids.admin})),
        ),
    ]
}

fn url(route: &Route, slug: &str, ids: &Ids) -> String {
    let path = route
        .path
        .replace("{slug}", slug)
        .replace("{message_id}", &ids.webhook_message);
    let path = match route.id {
        Some(id) => regex::Regex::new(r"\{[a-z_]+\}")
            .unwrap()
            .replace(&path, id.to_string().as_str())
            .into_owned(),
        None => path,
    };
    assert!(
        !path.contains('{'),
        "give {} an id in org_routes()",
        route.path
    );
    format!("{path}{}", route.query)
}

/// Calls every route and returns what each answered, labelled.
async fn walk(s: &Session, slug: &str, ids: &Ids) -> Vec<(String, u16, Option<Problem>)> {
    let mut out = Vec::new();
    for route in org_routes(ids) {
        let r = s
            .call(route.method, &url(&route, slug, ids), route.body.clone())
            .await;
        let status = r.status().as_u16();
        let is_problem = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json");
        let p = if is_problem {
            r.json::<Problem>().await.ok()
        } else {
            None
        };
        out.push((format!("{} {}", route.method, route.path), status, p));
    }
    out
}

/// Lists every answer that is not `status` with problem `code`.
fn unexpected(answers: &[(String, u16, Option<Problem>)], status: u16, code: &str) -> Vec<String> {
    answers
        .iter()
        .filter(|(_, s, p)| !(*s == status && p.as_ref().is_some_and(|p| p.code == code)))
        .map(|(route, s, p)| format!("{route}: {s} {p:?}"))
        .collect()
}

/// Everything about an org its owner can read.
async fn snapshot(owner: &Session, slug: &str) -> Value {
    let mut state = serde_json::Map::new();
    for part in [
        "",
        "/settings/security",
        "/members",
        "/invitations",
        "/api-keys",
        "/connectors",
        "/oauth/clients",
        "/oauth/settings",
        "/webhooks",
        "/usage/thresholds",
        "/audit-logs?limit=200",
    ] {
        state.insert(
            part.to_string(),
            json::<Value>(owner.get(&format!("/orgs/{slug}{part}")).await).await,
        );
    }
    Value::Object(state)
}

/// Org A (alice alone) and org B (bob with an admin, a member, a pending invitation and
/// an API key).
async fn two_orgs(app: &TestApp) -> (TestUser, TestUser, String, Ids) {
    let alice = app.signup("alice@example.com").await;
    app.create_org(&alice, "Alice Co").await;
    // The fixture's connector is disabled, so no health check changes org B while the
    // tests compare snapshots.
    let b = OrgFixture::named(app, "bob", "Bob Co").await;
    let inv = b
        .owner
        .invite(
            b.slug(),
            &CreateInvitationRequest {
                email: "erin@example.com".into(),
                role: Role::Member,
            },
        )
        .await
        .expect(201)
        .await;
    let oauth_client = b
        .owner
        .create_oauth_client(
            b.slug(),
            &CreateOAuthClientRequest {
                name: "Bob tool".into(),
                redirect_uris: vec!["https://bob.example.com/cb".into()],
            },
        )
        .await
        .expect(201)
        .await
        .client
        .id;
    // A webhook whose test send (nowhere to reach) leaves a failed message in its log.
    let hook: Value = json(
        b.owner
            .post(
                &format!("/orgs/{}/webhooks", b.slug()),
                json!({"url": "https://bob.example.com/hook", "events": ["*"], "enabled": false}),
            )
            .await,
    )
    .await;
    let webhook: Uuid = serde_json::from_value(hook["webhook"]["id"].clone()).unwrap();
    let sent: Value = json(
        b.owner
            .post(
                &format!("/orgs/{}/webhooks/{webhook}/test", b.slug()),
                json!({}),
            )
            .await,
    )
    .await;
    let ids = Ids {
        webhook,
        webhook_message: sent["message_id"].as_str().unwrap().to_string(),
        oauth_client,
        admin: b.admin.user.id,
        member: b.member.user.id,
        invitation: inv.id,
        api_key: b.key.api_key.id,
        connector: b.connector.id,
    };
    // Both have a PIN, so that only membership decides `pin/verify`.
    for who in [&alice, &b.owner] {
        who.set_pin(&new_pin("480913")).await.no_content().await;
    }
    let slug = b.org.slug.clone();
    (alice, b.owner, slug, ids)
}

#[tokio::test]
async fn a_member_or_api_key_of_another_org_gets_404_on_every_org_route_and_changes_nothing() {
    let app = spawn_app().await;
    let (alice, bob, slug_b, ids) = two_orgs(&app).await;
    let req = CreateApiKeyRequest {
        name: "alice-key".into(),
        scopes: Some(vec![ApiKeyScope::Read, ApiKeyScope::Write]),
        expires_at: None,
    };
    let secret = alice
        .create_api_key("alice-co", &req)
        .await
        .expect(201)
        .await
        .secret;
    let alice_key = app.key_client(&secret);
    json::<Value>(alice_key.get("/orgs/alice-co/members").await).await;
    let before = snapshot(&bob, &slug_b).await;

    let answers = walk(&alice, &slug_b, &ids).await;
    let wrong = unexpected(&answers, 404, "not-found");
    assert!(
        wrong.is_empty(),
        "alice reached org B:\n{}",
        wrong.join("\n")
    );
    // Indistinguishable from an org that does not exist: no existence oracle.
    let missing = walk(&alice, "no-such-org", &ids).await;
    for ((route, _, p), (_, _, q)) in answers.iter().zip(&missing) {
        assert_eq!(
            p, q,
            "{route}: the answer for B differs from the answer for a missing org"
        );
    }
    let wrong = unexpected(&walk(&alice_key, &slug_b, &ids).await, 404, "not-found");
    assert!(
        wrong.is_empty(),
        "alice's API key reached org B:\n{}",
        wrong.join("\n")
    );

    assert_eq!(snapshot(&bob, &slug_b).await, before, "org B changed");
    let b: Value = json(bob.get(&format!("/orgs/{slug_b}")).await).await;
    assert_eq!(b["name"], "Bob Co");

    // The control: the same table, as B's owner, succeeds everywhere, so every row above
    // names a real route with a valid request.
    let answers = walk(&bob, &slug_b, &ids).await;
    let failed: Vec<_> = answers
        .iter()
        .filter(|(_, s, _)| !(200..300).contains(s))
        .map(|a| format!("{a:?}"))
        .collect();
    assert!(
        failed.is_empty(),
        "the owner's walk failed:\n{}",
        failed.join("\n")
    );
}

#[tokio::test]
async fn anonymous_callers_get_401_and_unknown_slugs_404_on_every_org_route() {
    let app = spawn_app().await;
    let (alice, bob, slug_b, ids) = two_orgs(&app).await;
    let before = snapshot(&bob, &slug_b).await;
    let anon = app.session();
    for slug in [slug_b.as_str(), "no-such-org"] {
        let wrong = unexpected(
            &walk(&anon, slug, &ids).await,
            401,
            "authentication-required",
        );
        assert!(
            wrong.is_empty(),
            "anonymous on {slug}:\n{}",
            wrong.join("\n")
        );
    }
    // A signed-in user's unknown slug, also one that is not even well formed.
    for slug in ["no-such-org", "NOT_A_SLUG"] {
        let wrong = unexpected(&walk(&alice, slug, &ids).await, 404, "not-found");
        assert!(wrong.is_empty(), "alice on {slug}:\n{}", wrong.join("\n"));
    }
    assert_eq!(snapshot(&bob, &slug_b).await, before);
}

#[test]
fn the_route_table_covers_every_org_route_in_the_openapi_document() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml"))
        .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        doc["servers"][0]["url"].as_str(),
        Some("/api/v1"),
        "paths are relative to /api/v1"
    );
    let paths = doc["paths"].as_mapping().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().unwrap();
        if path != "/orgs/{slug}" && !path.starts_with("/orgs/{slug}/") {
            continue;
        }
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if [
                "get", "put", "post", "patch", "delete", "head", "options", "trace",
            ]
            .contains(&method)
            {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let table: BTreeSet<String> = org_routes(&Ids::default())
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "org routes missing from org_routes() in tests/api/tenancy.rs: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "org_routes() lists routes that openapi.yaml does not: {stale:?}"
    );
    assert!(documented.len() >= 16, "{documented:?}");
}

#[tokio::test]
async fn a_non_member_gets_404_even_with_a_malformed_body_or_query() {
    let app = spawn_app().await;
    let bob = app.signup("bob-malformed@example.com").await;
    let org = app.create_org(&bob, "Bob Malformed").await;
    let alice = app.signup("alice-malformed@example.com").await;
    let slug = &org.slug;
    let member = bob.user.id;
    for (method, path, body) in [
        (
            "PATCH",
            format!("/orgs/{slug}/members/{member}"),
            Some(json!({"role": "boss"})),
        ),
        ("PATCH", format!("/orgs/{slug}"), Some(json!({"name": 42}))),
        (
            "POST",
            format!("/orgs/{slug}/invitations"),
            Some(json!("not an object")),
        ),
        ("GET", format!("/orgs/{slug}/audit-logs/export"), None),
        ("GET", format!("/orgs/{slug}/audit-logs?limit=abc"), None),
        ("DELETE", format!("/orgs/{slug}/members/not-a-uuid"), None),
    ] {
        let r = alice.call(method, &path, body).await;
        assert_problem(r, 404, "not-found").await;
    }
    // The owner, by contrast, learns what is wrong with the request.
    let r = bob
        .call(
            "PATCH",
            &format!("/orgs/{slug}/members/{member}"),
            Some(json!({"role": "boss"})),
        )
        .await;
    assert_problem(r, 422, "validation").await;
}
