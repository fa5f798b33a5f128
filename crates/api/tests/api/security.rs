use crate::support::*;
use gatehouse_types::{CallerIp, IpPreset, SecuritySettings};
use serde_json::json;

async fn set_list(
    u: &TestUser,
    slug: &str,
    list: serde_json::Value,
    confirm: bool,
) -> reqwest::Response {
    u.patch(
        &format!("/orgs/{slug}/settings/security"),
        json!({"ip_allowlist": list, "confirm_lockout": confirm}),
    )
    .await
}

#[tokio::test]
async fn the_lockout_guard_refuses_a_list_without_the_callers_address_unless_confirmed() {
    let app = spawn_app().await;
    let owner = app.signup("ray@example.com").await;
    let org = app.create_org(&owner, "Ray").await;
    let ip: CallerIp = json(owner.get("/me/ip").await).await;
    assert_eq!(ip.ip, "127.0.0.1");

    let office = json!([{"cidr": "203.0.113.0/24", "label": "office"}]);
    let p = assert_problem(
        set_list(&owner, &org.slug, office.clone(), false).await,
        409,
        "allowlist-excludes-caller",
    )
    .await;
    assert!(p.detail.unwrap().contains("127.0.0.1"));
    // Nothing was saved.
    let s: SecuritySettings = json(
        owner
            .get(&format!("/orgs/{}/settings/security", org.slug))
            .await,
    )
    .await;
    assert!(s.ip_allowlist.is_empty());

    // Including the caller's address, host bits are normalized away.
    let ok = json!([{"cidr": "203.0.113.9/24", "label": "office"}, {"cidr": "127.0.0.1", "label": "me"}]);
    let s: SecuritySettings = json(set_list(&owner, &org.slug, ok, false).await).await;
    assert_eq!(s.ip_allowlist[0].cidr, "203.0.113.0/24");
    assert_eq!(s.ip_allowlist[1].cidr, "127.0.0.1/32");
    assert_eq!(
        owner
            .get(&format!("/orgs/{}/members", org.slug))
            .await
            .status(),
        200
    );

    // Confirmed: saved, and the very next request is refused, on every route of the org.
    let s: SecuritySettings = json(set_list(&owner, &org.slug, office, true).await).await;
    assert_eq!(s.ip_allowlist.len(), 1);
    let p = assert_problem(
        owner.get(&format!("/orgs/{}", org.slug)).await,
        403,
        "ip-not-allowed",
    )
    .await;
    assert!(p.detail.unwrap().contains("127.0.0.1"));
    assert_problem(
        owner
            .get(&format!("/orgs/{}/settings/security", org.slug))
            .await,
        403,
        "ip-not-allowed",
    )
    .await;
    // The account itself stays usable, and other orgs are not affected.
    assert_eq!(owner.get("/me").await.status(), 200);
    let other = app.create_org(&owner, "Ray Two").await;
    assert_eq!(
        owner.get(&format!("/orgs/{}", other.slug)).await.status(),
        200
    );
    let p: gatehouse_types::AuditPage =
        json(owner.get(&format!("/orgs/{}/audit-logs", other.slug)).await).await;
    assert!(p.items.iter().all(|e| e.org_id == Some(other.id)));
}

#[tokio::test]
async fn api_keys_and_other_replicas_obey_the_list_at_once() {
    let app = spawn_app().await;
    let owner = app.signup("sal@example.com").await;
    let org = app.create_org(&owner, "Sal").await;
    let key: gatehouse_types::CreatedApiKey = json(
        owner
            .post(
                &format!("/orgs/{}/api-keys", org.slug),
                json!({"name": "k", "scopes": ["read"]}),
            )
            .await,
    )
    .await;
    let replica = app.replica().await;
    let get = |base: &TestApp| {
        reqwest::Client::new()
            .get(base.url(&format!("/api/v1/orgs/{}", org.slug)))
            .header("authorization", format!("ApiKey {}", key.secret))
            .send()
    };
    assert_eq!(get(&replica).await.unwrap().status(), 200);
    set_list(
        &owner,
        &org.slug,
        json!([{"cidr": "2001:db8::/32", "label": "v6 office"}]),
        true,
    )
    .await;
    assert_problem(get(&replica).await.unwrap(), 403, "ip-not-allowed").await;
    assert_problem(get(&app).await.unwrap(), 403, "ip-not-allowed").await;
    // An outsider still gets 404: the allowlist is not revealed to non-members.
    let outsider = app.signup("tom@example.com").await;
    assert_problem(
        outsider.get(&format!("/orgs/{}", org.slug)).await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn ipv6_clients_are_matched_against_ipv6_ranges() {
    let app = spawn_app_at("[::1]", |_| {}).await;
    let owner = app.signup("uli@example.com").await;
    let org = app.create_org(&owner, "Uli").await;
    let ip: CallerIp = json(owner.get("/me/ip").await).await;
    assert_eq!(ip.ip, "::1");
    let r = set_list(
        &owner,
        &org.slug,
        json!([{"cidr": "127.0.0.0/8", "label": "v4 loopback"}]),
        false,
    )
    .await;
    assert_problem(r, 409, "allowlist-excludes-caller").await;
    let s: SecuritySettings = json(
        set_list(
            &owner,
            &org.slug,
            json!([{"cidr": "::1/128", "label": "v6 loopback"}]),
            false,
        )
        .await,
    )
    .await;
    assert_eq!(s.ip_allowlist[0].cidr, "::1/128");
    assert_eq!(
        owner.get(&format!("/orgs/{}", org.slug)).await.status(),
        200
    );
    set_list(
        &owner,
        &org.slug,
        json!([{"cidr": "2001:db8::/32", "label": "elsewhere"}]),
        true,
    )
    .await;
    assert_problem(
        owner.get(&format!("/orgs/{}", org.slug)).await,
        403,
        "ip-not-allowed",
    )
    .await;
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let direct = spawn_app().await;
    let s = direct.session();
    let r = s
        .http
        .get(direct.url("/api/v1/me/ip"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(json::<CallerIp>(r).await.ip, "127.0.0.1");

    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let owner = app.signup("val@example.com").await;
    let org = app.create_org(&owner, "Val").await;
    let via = |xff: &'static str, path: String| {
        owner
            .http
            .get(app.url(&format!("/api/v1{path}")))
            .header("x-forwarded-for", xff)
            .send()
    };
    // A client-supplied left entry is not believed; the proxy's own entry is.
    assert_eq!(
        json::<CallerIp>(
            via("198.51.100.1, 203.0.113.5", "/me/ip".into())
                .await
                .unwrap()
        )
        .await
        .ip,
        "203.0.113.5"
    );
    let r = owner
        .http
        .patch(app.url(&format!("/api/v1/orgs/{}/settings/security", org.slug)))
        .header("x-forwarded-for", "203.0.113.5")
        .json(&json!({"ip_allowlist": [{"cidr": "203.0.113.0/24", "label": "office"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        via("203.0.113.77", format!("/orgs/{}", org.slug))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_problem(
        via("198.51.100.1", format!("/orgs/{}", org.slug))
            .await
            .unwrap(),
        403,
        "ip-not-allowed",
    )
    .await;
    let r = owner
        .http
        .get(app.url(&format!("/api/v1/orgs/{}", org.slug)))
        .header("forwarded", "for=\"[2001:db8::7]:443\"")
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "ip-not-allowed").await;
}

#[tokio::test]
async fn malformed_ranges_are_refused_by_position_and_presets_offer_anthropic() {
    let app = spawn_app().await;
    let owner = app.signup("wil@example.com").await;
    let org = app.create_org(&owner, "Wil").await;
    let r = set_list(
        &owner,
        &org.slug,
        json!([{"cidr": "127.0.0.1"}, {"cidr": "10.0.0.0/33"}, {"cidr": "example.com"}]),
        false,
    )
    .await;
    let p = assert_problem(r, 422, "validation").await;
    let fields: Vec<_> = p.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["ip_allowlist[1].cidr", "ip_allowlist[2].cidr"]);
    let many: Vec<_> = (0..101)
        .map(|i| json!({"cidr": format!("10.0.{i}.0/24")}))
        .collect();
    assert_problem(
        set_list(&owner, &org.slug, json!(many), true).await,
        422,
        "validation",
    )
    .await;

    let presets: Vec<IpPreset> = json(owner.get("/ip-allowlist/presets").await).await;
    let anthropic = presets.iter().find(|p| p.id == "anthropic").unwrap();
    assert_eq!(anthropic.ranges[0].cidr, "160.79.104.0/21");
    // One click: the preset plus the caller's own address.
    let mut list = anthropic.ranges.clone();
    list.push(gatehouse_types::IpRange {
        cidr: "127.0.0.1".into(),
        label: "me".into(),
    });
    let s: SecuritySettings = json(set_list(&owner, &org.slug, json!(list), false).await).await;
    assert_eq!(s.ip_allowlist.len(), 2);
    let p: gatehouse_types::AuditPage = json(
        owner
            .get(&format!(
                "/orgs/{}/audit-logs?action=org.ip_allowlist_updated",
                org.slug
            ))
            .await,
    )
    .await;
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].metadata["to"][0]["cidr"], "160.79.104.0/21");
}
