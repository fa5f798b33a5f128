use crate::support::*;
use gatehouse_types::{
    ApiKey, ApiKeyStatus, CreateApiKeyRequest, CreatedApiKey, Member, UpdateOrgRequest,
};
use sea_orm::EntityTrait;
use serde_json::json;
use std::time::Duration;

/// A key named `name` with the default scopes and no expiry.
fn key_req(name: &str) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        name: name.into(),
        scopes: None,
        expires_at: None,
    }
}

/// A key named `name` with `scopes`.
fn scoped(name: &str, scopes: &[ApiKeyScope]) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        scopes: Some(scopes.to_vec()),
        ..key_req(name)
    }
}

async fn create_key(owner: &TestUser, slug: &str, req: &CreateApiKeyRequest) -> CreatedApiKey {
    let r = owner.create_api_key(slug, req).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.expect(201).await
}

#[tokio::test]
async fn a_key_is_shown_once_and_listed_only_by_prefix_and_last_characters() {
    let app = spawn_app().await;
    let owner = app.signup("kat@example.com").await;
    let org = app.create_org(&owner, "Kat").await;
    let created = create_key(&owner, &org.slug, &key_req("claude-prod")).await;
    let secret = &created.secret;
    assert!(secret.starts_with("gk_") && secret.len() >= 3 + 43);
    assert_eq!(created.api_key.scopes, vec![ApiKeyScope::Mcp]);
    assert!(secret.starts_with(&created.api_key.prefix));
    assert!(secret.ends_with(&created.api_key.last_four));
    let listed = owner
        .api_keys(&org.slug)
        .await
        .into_response()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(secret.as_str()));
    let listed: Vec<ApiKey> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed, vec![created.api_key.clone()]);
    assert_eq!(listed[0].created_by, Some(owner.user.id));
    let p = owner.events(&org.slug, "api_key.").await;
    assert_eq!(p.items[0].action, "api_key.created");
    assert_eq!(p.items[0].metadata["name"], "claude-prod");
    assert!(!serde_json::to_string(&p).unwrap().contains(secret.as_str()));
}

#[tokio::test]
async fn management_scopes_open_the_rest_api_of_their_org_only() {
    let app = spawn_app().await;
    let owner = app.signup("leo@example.com").await;
    let org = app.create_org(&owner, "Leo").await;
    let read = create_key(&owner, &org.slug, &scoped("reader", &[ApiKeyScope::Read]))
        .await
        .secret;
    let write = create_key(
        &owner,
        &org.slug,
        &scoped("writer", &[ApiKeyScope::Read, ApiKeyScope::Write]),
    )
    .await
    .secret;
    let mcp = create_key(&owner, &org.slug, &key_req("mcp-only"))
        .await
        .secret;
    let renamed = UpdateOrgRequest {
        name: Some("Renamed".into()),
        ..Default::default()
    };

    for auth in [format!("ApiKey {read}"), format!("Bearer {read}")] {
        let members: Vec<Member> = app.program(&auth).members(&org.slug).await.ok().await;
        assert_eq!(members.len(), 1);
    }
    let r = app.key_client(&read).update_org(&org.slug, &renamed).await;
    assert_problem(r, 403, "insufficient-scope").await;
    let r = app.key_client(&mcp).members(&org.slug).await;
    assert_problem(r, 403, "insufficient-scope").await;

    let r = app.key_client(&write).update_org(&org.slug, &renamed).await;
    let o = r.ok().await;
    assert_eq!(o.name, "Renamed");
    let p = owner.events(&org.slug, "org.updated").await;
    assert_eq!(p.items[0].actor.type_, "api_key");
    assert_eq!(p.items[0].actor.label.as_deref(), Some("writer"));

    // Keys cannot mint keys, and a key is no user.
    let r = app
        .key_client(&write)
        .create_api_key(&org.slug, &key_req("child"))
        .await;
    assert_problem(r, 403, "forbidden").await;
    assert_problem(
        app.key_client(&write).me().await,
        401,
        "authentication-required",
    )
    .await;

    // Another org's key learns nothing about this org.
    let other_owner = app.signup("mia@example.com").await;
    let other = app.create_org(&other_owner, "Mia").await;
    let theirs = create_key(
        &other_owner,
        &other.slug,
        &scoped("x", &[ApiKeyScope::Read, ApiKeyScope::Write]),
    )
    .await
    .secret;
    let r = app.key_client(&theirs).members(&org.slug).await;
    assert_problem(r, 404, "not-found").await;
}

#[tokio::test]
async fn a_revoked_or_expired_or_mangled_key_gets_401_at_once_on_every_replica() {
    let app = spawn_app().await;
    let owner = app.signup("ned@example.com").await;
    let org = app.create_org(&owner, "Ned").await;
    let replica = app.replica().await;
    let created = create_key(&owner, &org.slug, &scoped("ci", &[ApiKeyScope::Read])).await;
    let auth = format!("ApiKey {}", created.secret);
    let path = format!("/orgs/{}", org.slug);
    assert_eq!(replica.program(&auth).get(&path).await.status(), 200);

    // A typo fails the checksum; a well-formed unknown key fails the look-up.
    let mut typo = created.secret.clone();
    typo.replace_range(10..11, if &typo[10..11] == "A" { "B" } else { "A" });
    for bad in [
        format!("ApiKey {typo}"),
        "ApiKey gk_short".into(),
        "Basic abc".into(),
    ] {
        assert_problem(
            app.program(&bad).get(&path).await,
            401,
            "authentication-required",
        )
        .await;
    }

    assert_eq!(
        owner
            .revoke_api_key(&org.slug, created.api_key.id)
            .await
            .status(),
        204
    );
    for a in [&app, &replica] {
        assert_problem(
            a.program(&auth).get(&path).await,
            401,
            "authentication-required",
        )
        .await;
    }
    let listed: Vec<ApiKey> = owner.api_keys(&org.slug).await.ok().await;
    assert_eq!(listed[0].status, ApiKeyStatus::Revoked);
    // Revoking twice is harmless; revoking what does not exist is 404.
    assert_eq!(
        owner
            .revoke_api_key(&org.slug, created.api_key.id)
            .await
            .status(),
        204
    );
    assert_problem(
        owner.revoke_api_key(&org.slug, uuid::Uuid::now_v7()).await,
        404,
        "not-found",
    )
    .await;

    // Expiry is checked on every call, also when the key was just used (and cached).
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let expiring = create_key(
        &owner,
        &org.slug,
        &CreateApiKeyRequest {
            expires_at: Some(soon),
            ..scoped("temp", &[ApiKeyScope::Read])
        },
    )
    .await;
    let auth = format!("ApiKey {}", expiring.secret);
    assert_eq!(app.program(&auth).get(&path).await.status(), 200);
    let wait = (soon - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(50)).await;
    assert_problem(
        app.program(&auth).get(&path).await,
        401,
        "authentication-required",
    )
    .await;
    let listed: Vec<ApiKey> = owner.api_keys(&org.slug).await.ok().await;
    assert_eq!(
        listed.iter().find(|k| k.name == "temp").unwrap().status,
        ApiKeyStatus::Expired
    );
}

#[tokio::test]
async fn use_is_recorded_and_rotation_is_create_then_revoke() {
    let app = spawn_app().await;
    let owner = app.signup("ola@example.com").await;
    let org = app.create_org(&owner, "Ola").await;
    let old = create_key(&owner, &org.slug, &scoped("deploy", &[ApiKeyScope::Read])).await;
    assert!(old.api_key.last_used_at.is_none());
    app.key_client(&old.secret).org(&org.slug).await;
    // Recorded off the request path: it lands shortly after the answer.
    let mut first_use = None;
    for _ in 0..100 {
        let listed: Vec<ApiKey> = owner.api_keys(&org.slug).await.ok().await;
        first_use = listed[0].last_used_at;
        if first_use.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(first_use.is_some());
    // Within the minute, further use writes nothing: the recorded time stays.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.key_client(&old.secret).org(&org.slug).await;
    let listed: Vec<ApiKey> = owner.api_keys(&org.slug).await.ok().await;
    assert_eq!(listed[0].last_used_at, first_use);
    // An active key's name is unique, so rotation names the new key differently…
    let r = owner.create_api_key(&org.slug, &key_req("deploy")).await;
    assert_problem(r, 409, "conflict").await;
    let new = create_key(&owner, &org.slug, &scoped("deploy-2", &[ApiKeyScope::Read])).await;
    owner.revoke_api_key(&org.slug, old.api_key.id).await;
    // …and after revoking the old one its name is free again.
    create_key(&owner, &org.slug, &key_req("deploy")).await;
    let r = app.key_client(&new.secret).org(&org.slug).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn bad_key_requests_name_their_fields_and_members_cannot_manage_keys() {
    let app = spawn_app().await;
    let owner = app.signup("pam@example.com").await;
    let org = app.create_org(&owner, "Pam").await;
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let req = CreateApiKeyRequest {
        name: " ".into(),
        scopes: Some(vec![]),
        expires_at: Some(past),
    };
    let p = assert_problem(
        owner.create_api_key(&org.slug, &req).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&p), ["name", "scopes", "expires_at"]);
    // No such scope: raw JSON, as no typed request can say it.
    let r = owner
        .post(
            &format!("/orgs/{}/api-keys", org.slug),
            json!({"name": "x", "scopes": ["admin"]}),
        )
        .await;
    assert_problem(r, 422, "validation").await;
    let member = app
        .add_member(&owner, &org.slug, "quo@example.com", Role::Member)
        .await;
    assert_problem(member.api_keys(&org.slug).await, 403, "insufficient-role").await;
    assert_problem(
        member.create_api_key(&org.slug, &key_req("x")).await,
        403,
        "insufficient-role",
    )
    .await;
}

async fn key_lookups(app: &TestApp) -> u64 {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("gatehouse_api_key_lookups_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no key look-up counter in {text}"))
}

#[tokio::test]
async fn malformed_keys_are_refused_without_a_look_up_and_valid_ones_are_read_once() {
    let app = spawn_app().await;
    let owner = app.signup("lou@example.com").await;
    let org = app.create_org(&owner, "Lou").await;
    let created = create_key(&owner, &org.slug, &scoped("ci", &[ApiKeyScope::Read])).await;
    let path = format!("/orgs/{}", org.slug);
    let before = key_lookups(&app).await;
    let mut typo = created.secret.clone();
    typo.replace_range(12..13, if &typo[12..13] == "x" { "y" } else { "x" });
    let truncated = created.secret[..created.secret.len() - 1].to_string();
    for bad in [
        typo,
        truncated,
        "gk_".into(),
        format!("{}A", created.secret),
    ] {
        assert_problem(
            app.program(&format!("ApiKey {bad}")).get(&path).await,
            401,
            "authentication-required",
        )
        .await;
    }
    assert_eq!(
        key_lookups(&app).await,
        before,
        "a malformed key was looked up"
    );

    // A valid key is read from the database, then served from the key cache. On
    // SQLite any commit empties the cache, and one commit can count twice (a writer
    // restarting the log publishes a header before its own), so the first use and
    // its `last_used_at` write (and the sign-up's email job) are let settle before
    // counting.
    let auth = format!("ApiKey {}", created.secret);
    let call = || async {
        let r = app.program(&auth).get(&path).await;
        assert_eq!(r.status(), 200);
    };
    call().await;
    // Read straight from the database: the check itself must commit nothing.
    let mut recorded = false;
    for _ in 0..100 {
        let key = gatehouse::entity::api_key::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if key.last_used_at.is_some() {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(recorded, "the first use was not recorded");
    crate::jobs::queue_settled(&app).await;
    let settled = key_lookups(&app).await;
    assert!(settled > before, "a valid key was never looked up");
    for _ in 0..20 {
        call().await;
    }
    let used = key_lookups(&app).await - settled;
    assert!(used <= 1, "{used} look-ups for 20 calls");
}
