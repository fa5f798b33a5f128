use crate::support::*;
use gatehouse_types::{CallerIp, IpRange, SecuritySettings, UpdateSecuritySettings};

/// Ranges from (CIDR, label) pairs.
fn ranges(items: &[(&str, &str)]) -> Vec<IpRange> {
    items
        .iter()
        .map(|(cidr, label)| IpRange {
            cidr: cidr.to_string(),
            label: label.to_string(),
        })
        .collect()
}

async fn set_list(
    u: &TestUser,
    slug: &str,
    list: Vec<IpRange>,
    confirm: bool,
) -> Reply<SecuritySettings> {
    let req = UpdateSecuritySettings {
        ip_allowlist: Some(list),
        confirm_lockout: confirm,
        ..Default::default()
    };
    u.update_security_settings(slug, &req).await
}

#[tokio::test]
async fn the_lockout_guard_refuses_a_list_without_the_callers_address_unless_confirmed() {
    let app = spawn_app().await;
    let owner = app.signup("ray@example.com").await;
    let org = app.create_org(&owner, "Ray").await;
    let ip = owner.my_ip().await.ok().await;
    assert_eq!(ip.ip, "127.0.0.1");

    let office = ranges(&[("203.0.113.0/24", "office")]);
    let p = assert_problem(
        set_list(&owner, &org.slug, office.clone(), false).await,
        409,
        "allowlist-excludes-caller",
    )
    .await;
    assert!(p.detail.unwrap().contains("127.0.0.1"));
    // Nothing was saved.
    let s = owner.security_settings(&org.slug).await.ok().await;
    assert!(s.ip_allowlist.is_empty());

    // Including the caller's address, host bits are normalized away.
    let ok = ranges(&[("203.0.113.9/24", "office"), ("127.0.0.1", "me")]);
    let s = set_list(&owner, &org.slug, ok, false).await.ok().await;
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
    let s = set_list(&owner, &org.slug, office, true).await.ok().await;
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
    let p = owner.audit_log(&other.slug, "").await.ok().await;
    assert!(p.items.iter().all(|e| e.org_id == Some(other.id)));
}

#[tokio::test]
async fn api_keys_and_other_replicas_obey_the_list_at_once() {
    let app = spawn_app().await;
    let owner = app.signup("sal@example.com").await;
    let org = app.create_org(&owner, "Sal").await;
    let key = owner
        .create_api_key(
            &org.slug,
            &gatehouse_types::CreateApiKeyRequest {
                name: "k".into(),
                scopes: Some(vec![ApiKeyScope::Read]),
                expires_at: None,
            },
        )
        .await
        .ok()
        .await;
    let replica = app.replica().await;
    let get = |base: &TestApp| {
        let client = base.key_client(&key.secret);
        let slug = org.slug.clone();
        async move { client.org(&slug).await }
    };
    assert_eq!(get(&replica).await.status(), 200);
    set_list(
        &owner,
        &org.slug,
        ranges(&[("2001:db8::/32", "v6 office")]),
        true,
    )
    .await;
    assert_problem(get(&replica).await, 403, "ip-not-allowed").await;
    assert_problem(get(&app).await, 403, "ip-not-allowed").await;
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
    let ip = owner.my_ip().await.ok().await;
    assert_eq!(ip.ip, "::1");
    let r = set_list(
        &owner,
        &org.slug,
        ranges(&[("127.0.0.0/8", "v4 loopback")]),
        false,
    )
    .await;
    assert_problem(r, 409, "allowlist-excludes-caller").await;
    let s = set_list(
        &owner,
        &org.slug,
        ranges(&[("::1/128", "v6 loopback")]),
        false,
    )
    .await
    .ok()
    .await;
    assert_eq!(s.ip_allowlist[0].cidr, "::1/128");
    assert_eq!(
        owner.get(&format!("/orgs/{}", org.slug)).await.status(),
        200
    );
    set_list(
        &owner,
        &org.slug,
        ranges(&[("2001:db8::/32", "elsewhere")]),
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
        .json(&UpdateSecuritySettings {
            ip_allowlist: Some(ranges(&[("203.0.113.0/24", "office")])),
            ..Default::default()
        })
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
        ranges(&[("127.0.0.1", ""), ("10.0.0.0/33", ""), ("example.com", "")]),
        false,
    )
    .await;
    let p = assert_problem(r, 422, "validation").await;
    assert_eq!(fields(&p), ["ip_allowlist[1].cidr", "ip_allowlist[2].cidr"]);
    let many: Vec<_> = (0..101)
        .map(|i| IpRange {
            cidr: format!("10.0.{i}.0/24"),
            label: String::new(),
        })
        .collect();
    assert_problem(
        set_list(&owner, &org.slug, many, true).await,
        422,
        "validation",
    )
    .await;

    let presets = owner.ip_presets().await.ok().await;
    let anthropic = presets.iter().find(|p| p.id == "anthropic").unwrap();
    assert_eq!(anthropic.ranges[0].cidr, "160.79.104.0/21");
    // One click: the preset plus the caller's own address.
    let mut list = anthropic.ranges.clone();
    list.push(IpRange {
        cidr: "127.0.0.1".into(),
        label: "me".into(),
    });
    let s = set_list(&owner, &org.slug, list, false).await.ok().await;
    assert_eq!(s.ip_allowlist.len(), 2);
    let p = owner.events(&org.slug, "org.ip_allowlist_updated").await;
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].metadata["to"][0]["cidr"], "160.79.104.0/21");
}
