use crate::support::*;
use gatehouse_types::{AuditEvent, AuditPage, UpdateOrgRequest, UpdateSecuritySettings};
use serde_json::json;
use std::collections::HashSet;

fn describe(description: &str) -> UpdateOrgRequest {
    UpdateOrgRequest {
        description: Some(description.into()),
        ..Default::default()
    }
}

fn rename(name: String) -> UpdateOrgRequest {
    UpdateOrgRequest {
        name: Some(name),
        ..Default::default()
    }
}

/// One page of the log (asserts success).
async fn audit_page(u: &TestUser, slug: &str, query: &str) -> AuditPage {
    u.audit_log(slug, query).await.ok().await
}

#[tokio::test]
async fn changes_are_recorded_with_actor_target_address_and_agent() {
    let app = spawn_app().await;
    let owner = app.signup("sam@example.com").await;
    let org = app.create_org(&owner, "Sam Inc").await;
    owner
        .update_org(&org.slug, &describe("We build things"))
        .await;
    let p = audit_page(&owner, &org.slug, "").await;
    let actions: Vec<_> = p.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["org.updated", "member.added", "org.created"]);
    let e = &p.items[0];
    assert_eq!(e.org_id, Some(org.id));
    assert_eq!(e.actor.type_, "user");
    assert_eq!(e.actor.id, Some(owner.user.id));
    assert_eq!(e.actor.label.as_deref(), Some("sam@example.com"));
    assert_eq!(
        e.target.as_ref().map(|t| t.id.clone()),
        Some(org.id.to_string())
    );
    assert_eq!(e.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.user_agent.as_deref(), Some("gatehouse-tests"));
    assert_eq!(
        e.metadata["changes"]["description"],
        json!({"from": "", "to": "We build things"})
    );
}

#[tokio::test]
async fn a_refused_change_leaves_no_event_behind() {
    let app = spawn_app().await;
    let owner = app.signup("tia@example.com").await;
    let org = app.create_org(&owner, "Tia").await;
    let before = audit_page(&owner, &org.slug, "").await.items.len();
    let r = owner
        .update_org(
            &org.slug,
            &UpdateOrgRequest {
                slug: Some("new-slug".into()),
                ..rename("New".into())
            },
        )
        .await;
    assert_problem(r, 422, "slug-immutable").await;
    let r = owner
        .update_security_settings(
            &org.slug,
            &UpdateSecuritySettings {
                session_timeout_minutes: Some(5),
                ..Default::default()
            },
        )
        .await;
    assert_problem(r, 422, "validation").await;
    assert_eq!(audit_page(&owner, &org.slug, "").await.items.len(), before);
}

#[tokio::test]
async fn logins_of_members_appear_in_their_orgs_logs_including_failures() {
    let app = spawn_app().await;
    let owner = app.signup("uma@example.com").await;
    let org = app.create_org(&owner, "Uma").await;
    app.login("uma@example.com", "wrong password!!").await;
    app.login_session("uma@example.com").await;
    let p = audit_page(&owner, &org.slug, "action=auth.").await;
    let actions: Vec<_> = p.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["auth.login_succeeded", "auth.login_failed"]);
    assert_eq!(p.items[1].actor.type_, "system");
    assert_eq!(p.items[1].metadata["email"], "uma@example.com");
}

/// Fills the log with `n` renames plus the events of setting up.
async fn org_with_events(app: &TestApp, n: usize) -> (TestUser, String) {
    let owner = app.signup("vic@example.com").await;
    let org = app.create_org(&owner, "Vic").await;
    for i in 0..n {
        let r = owner
            .update_org(&org.slug, &rename(format!("Vic {i}")))
            .await;
        assert_eq!(r.status(), 200);
    }
    (owner, org.slug)
}

#[tokio::test]
async fn keyset_pages_walk_the_whole_log_newest_first_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let (owner, slug) = org_with_events(&app, 12).await;
    let mut seen = Vec::<AuditEvent>::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=5&cursor={c}"),
            None => "limit=5".to_string(),
        };
        let p = audit_page(&owner, &slug, &q).await;
        assert!(p.items.len() <= 5);
        pages += 1;
        seen.extend(p.items);
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 14);
    assert_eq!(pages, 3);
    assert_eq!(seen.iter().map(|e| e.id).collect::<HashSet<_>>().len(), 14);
    assert!(
        seen.windows(2)
            .all(|w| w[0].id > w[1].id && w[0].occurred_at >= w[1].occurred_at)
    );
}

#[tokio::test]
async fn filters_by_action_prefix_exact_action_actor_and_time() {
    let app = spawn_app().await;
    let (owner, slug) = org_with_events(&app, 3).await;
    let other = app
        .add_member(&owner, &slug, "wes@example.com", Role::Admin)
        .await;
    other.update_org(&slug, &rename("By Wes".into())).await;

    let member = audit_page(&owner, &slug, "action=member.").await;
    assert!(member.items.iter().all(|e| e.action.starts_with("member.")));
    assert_eq!(member.items.len(), 2);
    assert_eq!(
        audit_page(&owner, &slug, "action=member.*")
            .await
            .items
            .len(),
        2
    );
    assert_eq!(
        audit_page(&owner, &slug, "action=org.updated")
            .await
            .items
            .len(),
        4
    );
    assert_eq!(
        audit_page(&owner, &slug, "action=org.update")
            .await
            .items
            .len(),
        0
    );

    let by_wes = audit_page(
        &owner,
        &slug,
        &format!("action=org.updated&actor={}", other.user.id),
    )
    .await;
    assert_eq!(by_wes.items.len(), 1);
    assert_eq!(by_wes.items[0].metadata["changes"]["name"]["to"], "By Wes");

    let all = audit_page(&owner, &slug, "").await.items;
    let pivot = all[all.len() / 2].occurred_at;
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let newer = audit_page(&owner, &slug, &format!("from={}", fmt(pivot)))
        .await
        .items;
    let older = audit_page(&owner, &slug, &format!("to={}", fmt(pivot)))
        .await
        .items;
    assert!(newer.iter().all(|e| e.occurred_at >= pivot));
    assert!(older.iter().all(|e| e.occurred_at < pivot));
    assert_eq!(newer.len() + older.len(), all.len());
}

#[tokio::test]
async fn bad_filters_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let (owner, slug) = org_with_events(&app, 0).await;
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=zzz", "cursor"),
        ("action=DROP%20TABLE", "action"),
    ] {
        let p = assert_problem(
            owner.get(&format!("/orgs/{slug}/audit-logs?{q}")).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(p.errors[0].field, field, "{q}");
    }
    assert_problem(
        owner
            .get(&format!("/orgs/{slug}/audit-logs?from=yesterday"))
            .await,
        422,
        "validation",
    )
    .await;
    assert_problem(
        owner
            .get(&format!("/orgs/{slug}/audit-logs/export?format=xml"))
            .await,
        422,
        "validation",
    )
    .await;
}

#[tokio::test]
async fn export_streams_the_filtered_log_as_csv_and_json() {
    let app = spawn_app().await;
    let (owner, slug) = org_with_events(&app, 5).await;
    owner
        .update_org(&slug, &describe("=HYPERLINK(\"x\")"))
        .await;

    let r = owner
        .get(&format!(
            "/orgs/{slug}/audit-logs/export?format=csv&action=org.updated"
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("{slug}-audit-log-"))
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<_> = csv.lines().collect();
    assert!(lines[0].starts_with("id,occurred_at,action,"));
    assert_eq!(lines.len(), 1 + 6);
    assert!(lines[1..].iter().all(|l| l.contains(",org.updated,")));
    assert!(
        !csv.contains(",=HYPERLINK"),
        "formula must be defused: {csv}"
    );

    let r = owner
        .get(&format!("/orgs/{slug}/audit-logs/export?format=json"))
        .await;
    assert_eq!(r.headers()["content-type"], "application/json");
    let events: Vec<AuditEvent> = r.json().await.unwrap();
    assert_eq!(events.len(), 6 + 2);
    let listed = audit_page(&owner, &slug, "limit=200").await.items;
    assert_eq!(events, listed);
}

#[tokio::test]
async fn an_export_larger_than_one_batch_is_complete() {
    let app = spawn_app().await;
    let (owner, slug) = org_with_events(&app, 0).await;
    // Rows written straight into the table: more than one export batch (1000).
    let org_id = owner
        .get(&format!("/orgs/{slug}"))
        .await
        .json::<gatehouse_types::Organization>()
        .await
        .unwrap()
        .id;
    let base = chrono::Utc::now() - chrono::Duration::hours(1);
    use sea_orm::{EntityTrait, Set};
    let rows: Vec<_> = (0..2100)
        .map(|i| {
            let at = base + chrono::Duration::milliseconds(i);
            let ts = uuid::Timestamp::from_unix(
                uuid::NoContext,
                at.timestamp() as u64,
                at.timestamp_subsec_nanos(),
            );
            gatehouse::entity::audit_event::ActiveModel {
                id: Set(uuid::Uuid::new_v7(ts)),
                org_id: Set(Some(org_id)),
                occurred_at: Set(at),
                actor_type: Set("system".into()),
                actor_id: Set(None),
                actor_label: Set(None),
                action: Set("test.bulk".into()),
                target_type: Set(None),
                target_id: Set(None),
                ip: Set(None),
                user_agent: Set(None),
                metadata: Set(format!("{{\"i\":{i}}}")),
            }
        })
        .collect();
    for chunk in rows.chunks(300) {
        gatehouse::entity::audit_event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .unwrap();
    }
    let csv = owner
        .get(&format!(
            "/orgs/{slug}/audit-logs/export?format=csv&action=test."
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + 2100);
    let events: Vec<AuditEvent> = owner
        .get(&format!(
            "/orgs/{slug}/audit-logs/export?format=json&action=test.bulk"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events.len(), 2100);
    assert_eq!(events[0].metadata["i"], 2099);
    assert_eq!(events[2099].metadata["i"], 0);
}

#[tokio::test]
async fn members_without_admin_rights_cannot_read_the_log() {
    let app = spawn_app().await;
    let (owner, slug) = org_with_events(&app, 0).await;
    let member = app
        .add_member(&owner, &slug, "xia@example.com", Role::Member)
        .await;
    assert_problem(
        member.get(&format!("/orgs/{slug}/audit-logs")).await,
        403,
        "insufficient-role",
    )
    .await;
    assert_problem(
        member
            .get(&format!("/orgs/{slug}/audit-logs/export?format=csv"))
            .await,
        403,
        "insufficient-role",
    )
    .await;
}
