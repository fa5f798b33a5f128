use crate::support::*;
use gatehouse::entity::connector;
use gatehouse_types::{
    AuditPage, Connector, CreateConnectorRequest, HealthStatus, UpdateConnectorRequest,
};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

const SECRET: &str = "Bearer ghp_s3cretTokenValue123";

async fn create(owner: &TestUser, slug: &str, req: &CreateConnectorRequest) -> Connector {
    owner.create_connector(slug, req).await.expect(201).await
}

/// `create` with a body the request type cannot express.
async fn create_raw(owner: &TestUser, slug: &str, body: Value) -> Connector {
    let r = owner.post(&format!("/orgs/{slug}/connectors"), body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

/// A connector created disabled (no health check runs on it).
fn disabled(name: &str, url: &str) -> CreateConnectorRequest {
    CreateConnectorRequest {
        enabled: Some(false),
        ..connector_req(name, url)
    }
}

fn with_credential(name: &str, url: &str, credential: &str) -> CreateConnectorRequest {
    CreateConnectorRequest {
        credential: Some(credential.into()),
        ..connector_req(name, url)
    }
}

fn with_prefix(req: CreateConnectorRequest, prefix: &str) -> CreateConnectorRequest {
    CreateConnectorRequest {
        tool_prefix: Some(prefix.into()),
        ..req
    }
}

fn change() -> UpdateConnectorRequest {
    UpdateConnectorRequest::default()
}

/// A change of the timeouts only: `Some(None)` returns one to the server's default.
fn timeouts(idle: Option<Option<i64>>, call: Option<Option<i64>>) -> UpdateConnectorRequest {
    UpdateConnectorRequest {
        idle_timeout_secs: idle,
        call_timeout_secs: call,
        ..change()
    }
}

/// A disabled connector with its own timeouts.
fn timed(name: &str, url: &str, idle: Option<i64>, call: Option<i64>) -> CreateConnectorRequest {
    CreateConnectorRequest {
        idle_timeout_secs: idle,
        call_timeout_secs: call,
        ..disabled(name, url)
    }
}

/// The org's connector events from people; the health checker's own events (it may run
/// during a test) are left out.
async fn audit(owner: &TestUser, slug: &str) -> AuditPage {
    let mut p = owner.events(slug, "mcp.").await;
    p.items.retain(|e| e.action != "mcp.health_changed");
    p
}

/// The same connector, whatever a health check may have recorded meanwhile.
fn same(a: &Connector, b: &Connector) -> bool {
    Connector {
        health: a.health.clone(),
        ..b.clone()
    } == *a
}

#[tokio::test]
async fn an_admin_adds_lists_changes_and_removes_a_connector_and_each_step_is_audited() {
    let app = spawn_app().await;
    let owner = app.signup("cora@example.com").await;
    let org = app.create_org(&owner, "Cora").await;
    let slug = org.slug.as_str();

    let c = create(
        &owner,
        slug,
        &with_credential("GitHub Tools", "https://mcp.example.com/mcp", SECRET),
    )
    .await;
    assert_eq!(c.name, "GitHub Tools");
    assert_eq!(c.tool_prefix, "github_tools__");
    assert_eq!(c.url, "https://mcp.example.com/mcp");
    assert!(c.enabled && c.has_credential);
    assert_eq!(c.credential_header.as_deref(), Some("Authorization"));
    assert_eq!(c.health.status, HealthStatus::Unknown);
    assert_eq!((c.tool_count, c.description.as_str()), (0, ""));

    let listed = owner.connectors(slug).await.ok().await;
    assert!(listed.len() == 1 && same(&listed[0], &c), "{listed:?}");
    let one = owner.connector(slug, c.id).await.ok().await;
    assert!(same(&one, &c));

    let r = owner
        .update_connector(
            slug,
            c.id,
            &UpdateConnectorRequest {
                description: Some("Issues and PRs".into()),
                enabled: Some(false),
                ..change()
            },
        )
        .await;
    let changed = r.ok().await;
    assert_eq!(
        (changed.description.as_str(), changed.enabled),
        ("Issues and PRs", false)
    );
    assert!(changed.has_credential);

    owner.delete_connector(slug, c.id).await.no_content().await;
    assert_problem(owner.connector(slug, c.id).await, 404, "not-found").await;
    assert_problem(owner.delete_connector(slug, c.id).await, 404, "not-found").await;
    assert_problem(
        owner
            .get(&format!("/orgs/{slug}/connectors/not-a-uuid"))
            .await,
        404,
        "not-found",
    )
    .await;

    let p = audit(&owner, &org.slug).await;
    let actions: Vec<_> = p.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["mcp.deleted", "mcp.updated", "mcp.created"]);
    for e in &p.items {
        assert_eq!(
            e.target.as_ref().map(|t| (t.type_.as_str(), t.id.clone())),
            Some(("connector", c.id.to_string()))
        );
        assert_eq!(e.actor.id, Some(owner.user.id));
    }
    assert_eq!(p.items[2].metadata["name"], "GitHub Tools");
    assert_eq!(p.items[2].metadata["has_credential"], true);
    assert_eq!(
        p.items[1].metadata["changed"],
        json!(["description", "enabled"])
    );
}

#[tokio::test]
async fn the_credential_is_encrypted_at_rest_and_never_returned_or_audited() {
    let app = spawn_app().await;
    let owner = app.signup("dax@example.com").await;
    let org = app.create_org(&owner, "Dax").await;
    let base = format!("/orgs/{}/connectors", org.slug);
    let r = owner
        .create_connector(
            &org.slug,
            &CreateConnectorRequest {
                credential_header: Some("X-Api-Key".into()),
                ..with_credential("Linear", "https://mcp.example.com/linear?tenant=1", SECRET)
            },
        )
        .await;
    assert_eq!(r.status(), 201);
    let text = r.into_response().text().await.unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    let c: Connector = serde_json::from_str(&text).unwrap();
    assert_eq!(c.credential_header.as_deref(), Some("X-Api-Key"));

    let row = connector::Entity::find_by_id(c.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.credential_enc.clone().expect("credential stored");
    assert!(!sealed.contains("s3cret") && !sealed.contains(SECRET));
    assert_eq!(row.credential_header.as_deref(), Some("X-Api-Key"));

    // A new credential is sealed afresh; the health of the old identity is forgotten.
    app.sql("UPDATE connectors SET health_status = 'healthy' WHERE name = 'Linear'")
        .await;
    let r = owner
        .update_connector(
            &org.slug,
            c.id,
            &UpdateConnectorRequest {
                credential: Some("Bearer another-s3cret".into()),
                ..change()
            },
        )
        .await;
    let text = r.into_response().text().await.unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    let c2: Connector = serde_json::from_str(&text).unwrap();
    assert_eq!(c2.health.status, HealthStatus::Unknown);
    assert_eq!(c2.credential_header.as_deref(), Some("X-Api-Key"));
    let row2 = connector::Entity::find_by_id(c.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row2.credential_enc, row.credential_enc);

    for path in [base.clone(), format!("{base}/{}", c.id)] {
        let body = owner.get(&path).await.text().await.unwrap();
        assert!(!body.contains("s3cret"), "{body}");
    }
    let p = audit(&owner, &org.slug).await;
    let audit_text = serde_json::to_string(&p).unwrap();
    assert!(
        !audit_text.contains("s3cret") && !audit_text.contains("Bearer"),
        "{audit_text}"
    );
    assert!(
        !audit_text.contains("tenant=1"),
        "query strings stay out of the audit log: {audit_text}"
    );
    assert_eq!(p.items[0].metadata["changed"], json!(["credential"]));

    // An empty credential removes it, and its header with it.
    let c3 = owner
        .update_connector(
            &org.slug,
            c.id,
            &UpdateConnectorRequest {
                credential: Some(String::new()),
                ..change()
            },
        )
        .await
        .ok()
        .await;
    assert!(!c3.has_credential);
    assert_eq!(c3.credential_header, None);
    let row3 = connector::Entity::find_by_id(c.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row3.credential_enc, row3.credential_header), (None, None));
}

#[tokio::test]
async fn invalid_fields_are_named_and_names_are_unique_ignoring_case() {
    let app = spawn_app().await;
    let owner = app.signup("eve@example.com").await;
    let org = app.create_org(&owner, "Eve").await;
    let r = owner
        .create_connector(
            &org.slug,
            &CreateConnectorRequest {
                name: " ".into(),
                url: "ftp://mcp.example.com/".into(),
                tool_prefix: Some("Bad-Prefix".into()),
                credential_header: Some("Host".into()),
                credential: Some("non-ascii-sécretvalue".into()),
                description: Some("x".repeat(1001)),
                ..Default::default()
            },
        )
        .await;
    let p = assert_problem(r, 422, "validation").await;
    assert_eq!(
        fields(&p),
        [
            "name",
            "url",
            "description",
            "tool_prefix",
            "credential",
            "credential_header"
        ]
    );
    assert!(!p.detail.unwrap_or_default().contains("secretvalue"));
    // A line break is refused before the handler runs (`http::input`), without echoing.
    let r = owner
        .create_connector(
            &org.slug,
            &with_credential("ok", "https://mcp.example.com/", "line\r\nsecretvalue"),
        )
        .await;
    let p = assert_problem(r, 422, "validation").await;
    assert_eq!(fields(&p), ["credential"]);
    assert!(!p.detail.unwrap_or_default().contains("secretvalue"));

    let ok = |url: &str| connector_req("ok", url);
    let header = |h: &str| CreateConnectorRequest {
        credential_header: Some(h.into()),
        ..with_credential("ok", "https://mcp.example.com/", SECRET)
    };
    for (body, field) in [
        (
            connector_req(&"x".repeat(65), "https://mcp.example.com/"),
            "name",
        ),
        (ok("not a url"), "url"),
        (ok("https://user:pw@mcp.example.com/"), "url"),
        (
            with_prefix(ok("https://mcp.example.com/"), &"a".repeat(33)),
            "tool_prefix",
        ),
        (header("Mcp-Session-Id"), "credential_header"),
        (header("bad header"), "credential_header"),
    ] {
        let body_text = serde_json::to_string(&body).unwrap();
        let r = owner.create_connector(&org.slug, &body).await;
        let p = assert_problem(r, 422, "validation").await;
        assert_eq!(fields(&p), [field], "{body_text}");
    }

    // An empty prefix is allowed: tools keep their upstream names.
    let c = create(
        &owner,
        &org.slug,
        &with_prefix(connector_req("Jira", "https://jira.example.com/mcp"), ""),
    )
    .await;
    assert_eq!(c.tool_prefix, "");
    let p = assert_problem(
        owner
            .create_connector(
                &org.slug,
                &connector_req("JIRA", "https://other.example.com/mcp"),
            )
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(p.detail.unwrap().contains("JIRA"));
    let other = create(
        &owner,
        &org.slug,
        &connector_req("Sentry", "https://sentry.example.com/mcp"),
    )
    .await;
    let rename = |name: &str| UpdateConnectorRequest {
        name: Some(name.into()),
        ..change()
    };
    assert_problem(
        owner
            .update_connector(&org.slug, other.id, &rename("jira"))
            .await,
        409,
        "conflict",
    )
    .await;
    let p = assert_problem(
        owner
            .update_connector(
                &org.slug,
                other.id,
                &UpdateConnectorRequest {
                    url: Some("gopher://x".into()),
                    tool_prefix: Some("UP".into()),
                    ..change()
                },
            )
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&p), ["url", "tool_prefix"]);
    // Renaming a connector to another case of its own name is fine.
    let renamed = owner
        .update_connector(&org.slug, other.id, &rename("SENTRY"))
        .await
        .ok()
        .await;
    assert_eq!(renamed.name, "SENTRY");
    assert_problem(
        owner
            .update_connector(&org.slug, uuid::Uuid::now_v7(), &rename("x"))
            .await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn urls_that_reach_internal_addresses_are_refused() {
    let app = spawn_app_with(|c| c.outbound.allow_loopback = false).await;
    let owner = app.signup("fay@example.com").await;
    let org = app.create_org(&owner, "Fay").await;
    for url in [
        "http://127.0.0.1:8080/mcp",
        "http://localhost/mcp",
        "http://LOCALHOST./mcp",
        "http://[::1]/mcp",
        "http://10.0.0.1/mcp",
        "http://192.168.1.10/mcp",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:8080/",
        "http://2130706433/",
        "http://100.64.0.1/",
    ] {
        let p = assert_problem(
            owner
                .create_connector(&org.slug, &connector_req("internal", url))
                .await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), ["url"], "{url}");
        assert!(
            p.errors[0].message.contains("not allowed"),
            "{url}: {}",
            p.errors[0].message
        );
    }
    let c = create(
        &owner,
        &org.slug,
        &connector_req("public", "https://203.0.113.10/mcp"),
    )
    .await;
    let p = assert_problem(
        owner
            .update_connector(
                &org.slug,
                c.id,
                &UpdateConnectorRequest {
                    url: Some("http://127.0.0.1/".into()),
                    ..change()
                },
            )
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&p), ["url"]);
    let listed = owner.connectors(&org.slug).await.ok().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].url, "https://203.0.113.10/mcp");
}

#[tokio::test]
async fn a_save_that_would_expose_one_tool_name_twice_is_refused() {
    let app = spawn_app().await;
    let owner = app.signup("gil@example.com").await;
    let org = app.create_org(&owner, "Gil").await;
    // Created disabled, so that the health checker leaves the tool lists set below alone.
    let a = create(
        &owner,
        &org.slug,
        &with_prefix(disabled("Alpha", "https://a.example.com/mcp"), "x__"),
    )
    .await;
    let b = create(
        &owner,
        &org.slug,
        &with_prefix(disabled("Beta", "https://b.example.com/mcp"), "y__"),
    )
    .await;
    let enabled = |on: bool| UpdateConnectorRequest {
        enabled: Some(on),
        ..change()
    };
    let prefix = |prefix: &str| UpdateConnectorRequest {
        tool_prefix: Some(prefix.into()),
        ..change()
    };
    let tools = |names: &[&str]| {
        Value::Array(
            names
                .iter()
                .map(|n| json!({"name": n, "inputSchema": {"type": "object"}}))
                .collect(),
        )
        .to_string()
    };
    // As the health checker would record them.
    let now = app.minutes_ago(0);
    app.sql(&format!(
        "UPDATE connectors SET tools_json = '{}', health_checked_at = {now} WHERE name = 'Alpha'",
        tools(&["search", "issues"])
    ))
    .await;
    app.sql(&format!(
        "UPDATE connectors SET tools_json = '{}', health_checked_at = {now} WHERE name = 'Beta'",
        tools(&["search", "pulls"])
    ))
    .await;
    for id in [a.id, b.id] {
        owner
            .update_connector(&org.slug, id, &enabled(true))
            .await
            .ok()
            .await;
    }
    let listed = owner.connectors(&org.slug).await.ok().await;
    assert_eq!(
        listed.iter().map(|c| c.tool_count).collect::<Vec<_>>(),
        [2, 2]
    );

    let p = assert_problem(
        owner
            .update_connector(&org.slug, b.id, &prefix("x__"))
            .await,
        409,
        "tool-name-collision",
    )
    .await;
    let detail = p.detail.unwrap();
    assert!(
        detail.contains("x__search") && !detail.contains("x__pulls"),
        "{detail}"
    );
    // Nothing changed.
    let still = owner.connector(&org.slug, b.id).await.ok().await;
    assert_eq!(still.tool_prefix, "y__");

    // A disabled connector exposes nothing, so it may share names; enabling it may not.
    let off = owner
        .update_connector(&org.slug, b.id, &enabled(false))
        .await
        .ok()
        .await;
    assert!(!off.enabled);
    let moved = owner
        .update_connector(&org.slug, b.id, &prefix("x__"))
        .await
        .ok()
        .await;
    assert_eq!(moved.tool_prefix, "x__");
    assert_problem(
        owner
            .update_connector(&org.slug, b.id, &enabled(true))
            .await,
        409,
        "tool-name-collision",
    )
    .await;
    let back = owner
        .update_connector(
            &org.slug,
            b.id,
            &UpdateConnectorRequest {
                tool_prefix: Some("z__".into()),
                enabled: Some(true),
                ..change()
            },
        )
        .await
        .ok()
        .await;
    assert!(back.enabled);
    let p = audit(&owner, &org.slug).await;
    assert_eq!(
        p.items[0].metadata["changed"],
        json!(["tool_prefix", "enabled"])
    );
}

#[tokio::test]
async fn changing_the_url_resets_health_and_other_edits_keep_it() {
    let app = spawn_app().await;
    let owner = app.signup("hal@example.com").await;
    let org = app.create_org(&owner, "Hal").await;
    let c = create(
        &owner,
        &org.slug,
        &disabled("Docs", "https://docs.example.com/mcp"),
    )
    .await;
    assert!(!c.enabled);
    app.sql(&format!("UPDATE connectors SET health_status = 'healthy', health_checked_at = {} WHERE name = 'Docs'", app.minutes_ago(0))).await;
    let kept = owner
        .update_connector(
            &org.slug,
            c.id,
            &UpdateConnectorRequest {
                description: Some("Product docs".into()),
                ..change()
            },
        )
        .await
        .ok()
        .await;
    let to_url = |url: &str| UpdateConnectorRequest {
        url: Some(url.into()),
        ..change()
    };
    assert_eq!(kept.health.status, HealthStatus::Healthy);
    assert!(kept.health.checked_at.is_some());
    // The same URL again is no change: nothing is audited.
    let before = audit(&owner, &org.slug).await.items.len();
    let same = owner
        .update_connector(&org.slug, c.id, &to_url("https://docs.example.com/mcp"))
        .await
        .ok()
        .await;
    assert_eq!(same.health.status, HealthStatus::Healthy);
    assert_eq!(audit(&owner, &org.slug).await.items.len(), before);
    let moved = owner
        .update_connector(&org.slug, c.id, &to_url("https://docs2.example.com/mcp"))
        .await
        .ok()
        .await;
    assert_eq!(moved.health.status, HealthStatus::Unknown);
    assert_eq!(moved.health.checked_at, None);
}

#[tokio::test]
async fn members_cannot_see_or_change_connectors() {
    let app = spawn_app().await;
    let owner = app.signup("ida@example.com").await;
    let org = app.create_org(&owner, "Ida").await;
    let slug = org.slug.as_str();
    let c = create(
        &owner,
        slug,
        &with_credential("Docs", "https://docs.example.com/mcp", SECRET),
    )
    .await;
    let member = app
        .add_member(&owner, &org.slug, "joe@example.com", Role::Member)
        .await;
    let admin = app
        .add_member(&owner, &org.slug, "kim@example.com", Role::Admin)
        .await;
    let refused = |r: reqwest::Response| assert_problem(r, 403, "insufficient-role");
    refused(member.connectors(slug).await.into()).await;
    let mine = connector_req("Mine", "https://mine.example.com/mcp");
    refused(member.create_connector(slug, &mine).await.into()).await;
    refused(member.connector(slug, c.id).await.into()).await;
    let off = UpdateConnectorRequest {
        enabled: Some(false),
        ..change()
    };
    refused(member.update_connector(slug, c.id, &off).await.into()).await;
    refused(member.delete_connector(slug, c.id).await.into()).await;
    let listed = admin.connectors(slug).await.ok().await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].enabled);
    let rename = UpdateConnectorRequest {
        name: Some("Docs v2".into()),
        ..change()
    };
    let changed = admin.update_connector(slug, c.id, &rename).await.ok().await;
    assert_eq!(changed.name, "Docs v2");
}

/// A name without ASCII letters or digits used to give the empty prefix by default, so
/// two such connectors exposed the same tool names by accident. The default is now made
/// from the id; the empty prefix stays available when asked for.
#[tokio::test]
async fn a_name_without_ascii_letters_or_digits_gets_a_prefix_of_its_own() {
    let app = spawn_app().await;
    let owner = app.signup("kana@example.com").await;
    let org = app.create_org(&owner, "Kana").await;
    let a = create(
        &owner,
        &org.slug,
        &connector_req("日本", "https://a.example.com/mcp"),
    )
    .await;
    let b = create(
        &owner,
        &org.slug,
        &connector_req("中文 ☃", "https://b.example.com/mcp"),
    )
    .await;
    for c in [&a, &b] {
        let hex = c.id.simple().to_string();
        assert_eq!(c.tool_prefix, format!("mcp_{}__", &hex[24..]), "{c:?}");
        assert!(c.tool_issues.is_empty());
    }
    assert_ne!(a.tool_prefix, b.tool_prefix);
    let bare = create(
        &owner,
        &org.slug,
        &with_prefix(connector_req("Ελλάδα", "https://c.example.com/mcp"), ""),
    )
    .await;
    assert_eq!(bare.tool_prefix, "");
    let named = create(
        &owner,
        &org.slug,
        &connector_req("Jira Cloud", "https://d.example.com/mcp"),
    )
    .await;
    assert_eq!(named.tool_prefix, "jira_cloud__");
}

/// The stored timeouts, straight from the database.
async fn stored_timeouts(app: &TestApp, id: uuid::Uuid) -> (Option<i32>, Option<i32>) {
    let row = connector::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    (row.idle_timeout_secs, row.call_timeout_secs)
}

/// (idle, overall) in effect, and whether each is the server's default.
fn effective(c: &Connector) -> ((u64, bool), (u64, bool)) {
    let t = c.timeouts;
    (
        (t.idle.secs, t.idle.is_default),
        (t.overall.secs, t.overall.is_default),
    )
}

#[tokio::test]
async fn timeouts_are_set_read_back_cleared_and_audited() {
    // Defaults other than the built-in ones: the answer must follow the configuration.
    let app = spawn_app_with(|c| {
        c.mcp.idle_timeout_secs = 77;
        c.mcp.call_timeout_secs = 777;
    })
    .await;
    let owner = app.signup("tim@example.com").await;
    let org = app.create_org(&owner, "Tim").await;

    // None given: the server's defaults, shown as such.
    let plain = create(
        &owner,
        &org.slug,
        &disabled("Plain", "https://plain.example.com/mcp"),
    )
    .await;
    assert_eq!(
        (plain.idle_timeout_secs, plain.call_timeout_secs),
        (None, None)
    );
    assert_eq!(effective(&plain), ((77, true), (777, true)));
    assert_eq!(
        (
            plain.timeouts.idle.default_secs,
            plain.timeouts.overall.default_secs
        ),
        (77, 777)
    );

    let c = create(
        &owner,
        &org.slug,
        &timed("Slow", "https://slow.example.com/mcp", Some(30), Some(3600)),
    )
    .await;
    assert_eq!(
        (c.idle_timeout_secs, c.call_timeout_secs),
        (Some(30), Some(3600))
    );
    assert_eq!(effective(&c), ((30, false), (3600, false)));
    assert_eq!(stored_timeouts(&app, c.id).await, (Some(30), Some(3600)));
    let slug = org.slug.as_str();
    let read = owner.connector(slug, c.id).await.ok().await;
    assert!(same(&read, &c), "{read:?}");
    let listed = owner.connectors(slug).await.ok().await;
    assert!(listed.iter().any(|l| same(l, &c)), "{listed:?}");
    let (by, id) = (&owner, c.id);
    let patch = |req: UpdateConnectorRequest| async move {
        by.update_connector(slug, id, &req).await.ok().await
    };

    // One at a time; the other stays.
    let r = patch(timeouts(Some(Some(45)), None)).await;
    assert_eq!(effective(&r), ((45, false), (3600, false)));
    // null goes back to the default; absent keeps.
    let r = patch(timeouts(None, Some(None))).await;
    assert_eq!((r.idle_timeout_secs, r.call_timeout_secs), (Some(45), None));
    assert_eq!(effective(&r), ((45, false), (777, true)));
    let r = patch(UpdateConnectorRequest {
        description: Some("long jobs".into()),
        ..change()
    })
    .await;
    assert_eq!(effective(&r), ((45, false), (777, true)));
    // The same value again is no change: not written, not audited (counted below).
    let again = patch(timeouts(Some(Some(45)), None)).await;
    assert_eq!(again.updated_at, r.updated_at);
    let r = patch(timeouts(Some(None), None)).await;
    assert_eq!((r.idle_timeout_secs, r.call_timeout_secs), (None, None));
    assert_eq!(effective(&r), ((77, true), (777, true)));
    assert_eq!(stored_timeouts(&app, c.id).await, (None, None));

    let p = audit(&owner, &org.slug).await;
    let mine: Vec<_> = p
        .items
        .iter()
        .filter(|e| e.target.as_ref().map(|t| t.id.clone()) == Some(c.id.to_string()))
        .collect();
    let actions: Vec<_> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "mcp.updated",
            "mcp.updated",
            "mcp.updated",
            "mcp.updated",
            "mcp.created"
        ]
    );
    assert_eq!(mine[4].metadata["idle_timeout_secs"], 30);
    assert_eq!(mine[4].metadata["call_timeout_secs"], 3600);
    assert_eq!(mine[3].metadata["changed"], json!(["idle_timeout_secs"]));
    assert_eq!(
        mine[3].metadata["changes"],
        json!({"idle_timeout_secs": {"from": 30, "to": 45}})
    );
    assert_eq!(
        mine[2].metadata["changes"],
        json!({"call_timeout_secs": {"from": 3600, "to": null}})
    );
    assert_eq!(mine[1].metadata["changed"], json!(["description"]));
    assert!(mine[1].metadata.get("changes").is_none(), "{:?}", mine[1]);
    assert_eq!(
        mine[0].metadata["changes"],
        json!({"idle_timeout_secs": {"from": 45, "to": null}})
    );
}

#[tokio::test]
async fn invalid_timeouts_are_refused_with_the_field_named_and_nothing_is_written() {
    let app = spawn_app().await;
    let owner = app.signup("val@example.com").await;
    let org = app.create_org(&owner, "Val").await;
    let base = format!("/orgs/{}/connectors", org.slug);
    let new = |extra: Value| {
        let mut body =
            json!({"name": "Bad", "url": "https://bad.example.com/mcp", "enabled": false});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (extra, field) in [
        (json!({"idle_timeout_secs": 0}), "idle_timeout_secs"),
        (json!({"idle_timeout_secs": -5}), "idle_timeout_secs"),
        (json!({"idle_timeout_secs": 3601}), "idle_timeout_secs"),
        (json!({"call_timeout_secs": 0}), "call_timeout_secs"),
        (json!({"call_timeout_secs": 86_401}), "call_timeout_secs"),
        (
            json!({"call_timeout_secs": 9_000_000_000_i64}),
            "call_timeout_secs",
        ),
        (json!({"call_timeout_secs": u64::MAX}), "call_timeout_secs"),
        (
            json!({"idle_timeout_secs": 600, "call_timeout_secs": 300}),
            "idle_timeout_secs",
        ),
    ] {
        let p = assert_problem(
            owner.post(&base, new(extra.clone())).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), [field], "{extra}: {p:?}");
    }
    // Not whole numbers at all: refused by the JSON reader, still a problem document.
    for extra in [
        json!({"idle_timeout_secs": 1.5}),
        json!({"call_timeout_secs": "60"}),
        json!({"call_timeout_secs": 1e20}),
        json!({"idle_timeout_secs": true}),
    ] {
        let r = owner.post(&base, new(extra.clone())).await;
        let status = r.status().as_u16();
        let p = problem(r).await;
        assert!((400..500).contains(&status), "{extra}: {status} {p:?}");
    }
    let listed = owner.connectors(&org.slug).await.ok().await;
    assert!(listed.is_empty(), "{listed:?}");

    // Bounds are inclusive.
    let c = create(
        &owner,
        &org.slug,
        &timed(
            "Edge",
            "https://edge.example.com/mcp",
            Some(3600),
            Some(86_400),
        ),
    )
    .await;
    let one = format!("{base}/{}", c.id);
    let r = owner
        .update_connector(&org.slug, c.id, &timeouts(Some(Some(1)), Some(Some(60))))
        .await
        .ok()
        .await;
    assert_eq!(effective(&r), ((1, false), (60, false)));
    let audited = audit(&owner, &org.slug).await.items.len();

    // Each refused whole: the other fields of the request are not written either.
    let renamed = Some("Renamed".to_string());
    for (body, field) in [
        // Against the stored overall timeout (60).
        (
            UpdateConnectorRequest {
                name: renamed.clone(),
                ..timeouts(Some(Some(61)), None)
            },
            "idle_timeout_secs",
        ),
        // Both in one request.
        (
            UpdateConnectorRequest {
                description: Some("x".into()),
                ..timeouts(Some(Some(90)), Some(Some(30)))
            },
            "idle_timeout_secs",
        ),
        (
            UpdateConnectorRequest {
                enabled: Some(true),
                ..timeouts(None, Some(Some(0)))
            },
            "call_timeout_secs",
        ),
        (
            UpdateConnectorRequest {
                name: renamed.clone(),
                ..timeouts(Some(Some(4000)), None)
            },
            "idle_timeout_secs",
        ),
    ] {
        let body_text = serde_json::to_string(&body).unwrap();
        let refused = owner.update_connector(&org.slug, c.id, &body).await;
        let p = assert_problem(refused, 422, "validation").await;
        assert_eq!(fields(&p), [field], "{body_text}: {p:?}");
        let now = owner.connector(&org.slug, c.id).await.ok().await;
        assert!(same(&now, &r), "{body_text}: {now:?}");
    }
    let p = assert_problem(
        owner.patch(&one, json!({"idle_timeout_secs": 2.5})).await,
        422,
        "validation",
    )
    .await;
    let detail = p.detail.unwrap_or_default();
    assert!(detail.contains("a whole number of seconds"), "{detail}");
    assert_eq!(stored_timeouts(&app, c.id).await, (Some(1), Some(60)));
    assert_eq!(audit(&owner, &org.slug).await.items.len(), audited);

    // Clearing the overall timeout leaves idle against the default: allowed.
    let r = owner
        .update_connector(&org.slug, c.id, &timeouts(Some(Some(600)), Some(None)))
        .await
        .ok()
        .await;
    assert_eq!(effective(&r), ((600, false), (900, true)));
}

#[tokio::test]
async fn another_orgs_member_gets_404_on_a_connectors_timeouts() {
    let app = spawn_app().await;
    let alice = app.signup("alice.t@example.com").await;
    app.create_org(&alice, "Alice T").await;
    let bob = app.signup("bob.t@example.com").await;
    let b = app.create_org(&bob, "Bob T").await;
    let c = create(
        &bob,
        &b.slug,
        &timed("Bob MCP", "https://bob.example.com/mcp", None, Some(600)),
    )
    .await;
    let audited = audit(&bob, &b.slug).await.items.len();
    let not_found = |r: reqwest::Response| async move {
        let p = assert_problem(r, 404, "not-found").await;
        // The same answer as for an org that does not exist: no existence oracle.
        assert_eq!(p.detail.as_deref(), Some("organization not found"), "{p:?}");
    };
    for slug in [b.slug.as_str(), "no-such-org"] {
        not_found(alice.connector(slug, c.id).await.into()).await;
        for body in [
            timeouts(Some(Some(5)), Some(Some(5))),
            timeouts(None, Some(None)),
            // Invalid too: tenancy is decided before the body is looked at.
            timeouts(Some(Some(0)), None),
        ] {
            not_found(alice.update_connector(slug, c.id, &body).await.into()).await;
        }
    }
    let now = bob.connector(&b.slug, c.id).await.ok().await;
    assert!(same(&now, &c), "{now:?}");
    assert_eq!(stored_timeouts(&app, c.id).await, (None, Some(600)));
    assert_eq!(audit(&bob, &b.slug).await.items.len(), audited);
}

/// JSON has one number type, and the document's `integer` admits `600.0`: a whole number
/// written with a fraction is that number of seconds; a real fraction is still refused.
#[tokio::test]
async fn a_timeout_written_as_a_whole_float_is_accepted() {
    let app = spawn_app().await;
    let owner = app.signup("flo@example.com").await;
    let org = app.create_org(&owner, "Flo").await;
    let c = create_raw(
        &owner,
        &org.slug,
        json!({"name": "Float", "url": "https://float.example.com/mcp", "enabled": false,
               "idle_timeout_secs": 30.0, "call_timeout_secs": 86400.0}),
    )
    .await;
    assert_eq!(
        (c.idle_timeout_secs, c.call_timeout_secs),
        (Some(30), Some(86400))
    );
    let one = format!("/orgs/{}/connectors/{}", org.slug, c.id);
    let r: Connector = json(owner.patch(&one, json!({"idle_timeout_secs": 45.0})).await).await;
    assert_eq!(r.idle_timeout_secs, Some(45));
    assert_problem(
        owner.patch(&one, json!({"idle_timeout_secs": 1.5})).await,
        422,
        "validation",
    )
    .await;
}
