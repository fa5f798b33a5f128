//! Org-wide MFA enforcement ("Require MFA"): who may switch it on, who it blocks at
//! which door (REST with a session, OAuth consent, grants already given), what it
//! leaves alone (API keys, the caller's own account routes), and what invitations say.
use crate::oauth::{authorize, client, mcp_access_token, plain, register};
use crate::policy::{allow_fields, consent_page, mcp_initialize};
use crate::support::json as json_body;
use crate::support::*;
use gatehouse_types::{
    BackupCodes, DisableTotpRequest, MfaPreview, TokenRequest, TotpConfirmRequest, TotpEnrolment,
    UpdateSecuritySettings,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// Enrols `user` in TOTP through the API (`POST /me/totp`, then `/me/totp/confirm`
/// with a code from Debian's `oathtool`, an implementation independent of ours).
async fn give_mfa(_app: &TestApp, user: &TestUser) {
    let enrolment: TotpEnrolment = json_body(user.post("/me/totp", json!({})).await).await;
    let code = oathtool(&enrolment.secret);
    let r = user
        .post("/me/totp/confirm", TotpConfirmRequest { code })
        .await;
    assert!(r.status().is_success(), "confirm: {}", r.status());
    assert!(
        user.get("/me/security")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap()["mfa"]
            .as_bool()
            .unwrap()
    );
}

/// `give_mfa`, keeping the backup codes (a later TOTP code in the same 30 s would be a
/// replay).
async fn give_mfa_with_backup_codes(user: &TestUser) -> Vec<String> {
    let enrolment: TotpEnrolment = json_body(user.post("/me/totp", json!({})).await).await;
    let code = oathtool(&enrolment.secret);
    let codes: BackupCodes = json_body(
        user.post("/me/totp/confirm", TotpConfirmRequest { code })
            .await,
    )
    .await;
    codes.codes
}

/// The current TOTP code for a base32 secret, from `oathtool --totp -b`.
fn oathtool(secret: &str) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret])
        .output()
        .expect("oathtool not found on PATH: install Debian's `oathtool` (scripts/test.sh does)");
    assert!(out.status.success(), "oathtool failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn require(on: bool) -> UpdateSecuritySettings {
    UpdateSecuritySettings {
        require_mfa: Some(on),
        ..Default::default()
    }
}

/// An API key of the org with `scopes`, as a REST client.
async fn key_client(app: &TestApp, f: &OrgFixture, scopes: &[ApiKeyScope]) -> Session {
    app.key_client(&key(&f.owner, f.slug(), scopes).await)
}

#[tokio::test]
async fn switching_mfa_on_takes_a_signed_in_admin_who_has_mfa() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let writer = key_client(&app, &f, &[ApiKeyScope::Write]).await;

    // Neither the owner without a second factor nor a key (nobody's second factor).
    let p = assert_problem(
        f.owner
            .update_security_settings(f.slug(), &require(true))
            .await,
        403,
        "mfa-required",
    )
    .await;
    assert!(p.detail.unwrap().contains("your own account"));
    assert_problem(
        writer
            .update_security_settings(f.slug(), &require(true))
            .await,
        403,
        "mfa-required",
    )
    .await;
    // Nothing changed, nothing recorded.
    assert!(
        !f.owner
            .security_settings(f.slug())
            .await
            .ok()
            .await
            .require_mfa
    );
    let events = f
        .owner
        .events(f.slug(), "org.mfa_requirement_updated")
        .await;
    assert!(events.items.is_empty());
    // A plain member is not an admin, with MFA or without.
    give_mfa(&app, &f.member).await;
    assert_problem(
        f.member
            .update_security_settings(f.slug(), &require(true))
            .await,
        403,
        "insufficient-role",
    )
    .await;

    // An admin with MFA may; the other settings stay as they were.
    give_mfa(&app, &f.admin).await;
    let before = f.admin.security_settings(f.slug()).await.ok().await;
    let after = f
        .admin
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;
    assert!(after.require_mfa);
    assert_eq!(
        after.session_timeout_minutes,
        before.session_timeout_minutes
    );
    assert_eq!(after.ip_allowlist, before.ip_allowlist);
    assert!(
        f.admin
            .security_settings(f.slug())
            .await
            .ok()
            .await
            .require_mfa
    );
    // Saying it again changes and records nothing.
    f.admin
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;

    let events = f
        .admin
        .events(f.slug(), "org.mfa_requirement_updated")
        .await;
    assert_eq!(events.items.len(), 1, "{:?}", events.items);
    let e = &events.items[0];
    assert_eq!(
        e.metadata["changes"]["require_mfa"],
        json!({"from": false, "to": true})
    );
    // The owner has none yet: owner only (admin and member have one).
    assert_eq!(e.metadata["members_without_mfa"], 1);
    assert_eq!(e.metadata["oauth_grants_revoked"], 0);

    // A key cannot lower the guard (a leaked write key must not undo it) …
    assert_problem(
        writer
            .update_security_settings(f.slug(), &require(false))
            .await,
        403,
        "forbidden",
    )
    .await;
    // … a signed-in admin can, and it is recorded too.
    f.admin
        .update_security_settings(f.slug(), &require(false))
        .await
        .ok()
        .await;
    let events = f
        .admin
        .events(f.slug(), "org.mfa_requirement_updated")
        .await;
    assert_eq!(events.items.len(), 2);
    assert_eq!(
        events.items[0].metadata["changes"]["require_mfa"],
        json!({"from": true, "to": false})
    );
}

#[tokio::test]
async fn the_preview_lists_exactly_the_members_without_mfa() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let other = OrgFixture::named(&app, "other", "Other Org").await;
    give_mfa(&app, &f.admin).await;
    // The member connected a client: switching on would end that grant.
    mcp_access_token(&app, &f.member, f.slug()).await;
    // The admin's own grant is not counted: the admin has MFA.
    mcp_access_token(&app, &f.admin, f.slug()).await;

    let p: MfaPreview = f.owner.mfa_preview(f.slug()).await.ok().await;
    assert!(!p.require_mfa);
    assert_eq!(p.total_members, 3);
    let mut who: Vec<_> = p
        .members_without_mfa
        .iter()
        .map(|m| (m.email.as_str(), m.role))
        .collect();
    who.sort();
    assert_eq!(
        who,
        [
            ("fixture-member@example.com", Role::Member),
            ("fixture-owner@example.com", Role::Owner),
        ]
    );
    assert_eq!(p.oauth_grants_to_revoke, 1);

    // Once the owner and the member have MFA, nobody would be blocked.
    give_mfa(&app, &f.owner).await;
    give_mfa(&app, &f.member).await;
    let p = f.admin.mfa_preview(f.slug()).await.ok().await;
    assert!(p.members_without_mfa.is_empty());
    assert_eq!(p.oauth_grants_to_revoke, 0);

    // Owners and admins only (a read key acts as an admin); another org's people learn
    // nothing.
    assert_problem(
        f.member.mfa_preview(f.slug()).await,
        403,
        "insufficient-role",
    )
    .await;
    let reader = key_client(&app, &f, &[ApiKeyScope::Read]).await;
    assert_eq!(reader.mfa_preview(f.slug()).await.status(), 200);
    assert_problem(other.owner.mfa_preview(f.slug()).await, 404, "not-found").await;
    assert_problem(
        other
            .owner
            .update_security_settings(f.slug(), &require(false))
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        other.key_client(&app).mfa_preview(f.slug()).await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn a_member_without_mfa_is_refused_by_the_org_but_reaches_their_account() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let reader = key_client(&app, &f, &[ApiKeyScope::Read]).await;
    give_mfa(&app, &f.owner).await;
    // Everyone is in before: the refusals below are the setting's doing.
    assert_eq!(f.member.org(f.slug()).await.status(), 200);
    f.owner
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;

    // The member's very next request, on any org route, read or write.
    let p = assert_problem(f.member.org(f.slug()).await, 403, "mfa-required").await;
    assert!(p.detail.unwrap().contains("Account → Security"));
    assert_problem(f.member.connectors(f.slug()).await, 403, "mfa-required").await;
    assert_problem(f.member.members(f.slug()).await, 403, "mfa-required").await;
    assert_problem(
        f.member
            .delete(&format!("/orgs/{}/members/{}", f.slug(), f.member.user.id))
            .await,
        403,
        "mfa-required",
    )
    .await;
    // An admin without MFA too, even on the settings that would switch it off.
    assert_problem(
        f.admin.security_settings(f.slug()).await,
        403,
        "mfa-required",
    )
    .await;
    assert_problem(
        f.admin
            .update_security_settings(f.slug(), &require(false))
            .await,
        403,
        "mfa-required",
    )
    .await;
    assert!(
        f.owner
            .security_settings(f.slug())
            .await
            .ok()
            .await
            .require_mfa
    );

    // Outside the org they can still set MFA up, list their orgs and sign out.
    assert_eq!(f.member.me().await.status(), 200);
    assert_eq!(f.member.my_sessions().await.status(), 200);
    let orgs = f.member.orgs().await.ok().await;
    assert!(orgs.iter().any(|o| o.slug == f.slug()));

    // The owner (with MFA) and the org's API key are unaffected.
    assert_eq!(f.owner.org(f.slug()).await.status(), 200);
    assert_eq!(f.owner.connectors(f.slug()).await.status(), 200);
    assert_eq!(reader.org(f.slug()).await.status(), 200);
    assert_eq!(reader.members(f.slug()).await.status(), 200);
    let with_key = format!("ApiKey {}", f.key.secret);
    assert_eq!(
        mcp_initialize(&app, f.slug(), &with_key).await.status(),
        200
    );

    // The 2FA set-up is open to them (`give_mfa` enrols through the API), and once the
    // member has a second factor the next request is let in.
    give_mfa(&app, &f.member).await;
    assert_eq!(f.member.org(f.slug()).await.status(), 200);
    // Switched off, the admin without MFA is let in again.
    f.owner
        .update_security_settings(f.slug(), &require(false))
        .await
        .ok()
        .await;
    assert_eq!(f.admin.security_settings(f.slug()).await.status(), 200);
    assert_eq!(f.member.logout().await.status(), 204);
}

async fn mfa_page(r: reqwest::Response) {
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("requires two-factor authentication"),
        "{text}"
    );
}

#[tokio::test]
async fn a_member_without_mfa_cannot_grant_a_client_access_to_the_org() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    give_mfa(&app, &f.owner).await;
    // A form shown before the switch, submitted after.
    let page = consent_page(&app, &f.member, f.slug()).await;
    assert_eq!(page.status(), 200);
    let form = allow_fields(&page.text().await.unwrap());
    f.owner
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;

    mfa_page(consent_page(&app, &f.member, f.slug()).await).await;
    mfa_page(
        f.member
            .http
            .post(app.url("/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    // No grant was made for the member.
    let grants = f.owner.events(f.slug(), "oauth.consent_granted").await;
    assert!(
        grants
            .items
            .iter()
            .all(|e| e.actor.id != Some(f.member.user.id)),
        "{:?}",
        grants.items
    );
    // The owner, who has MFA, still can.
    assert_eq!(consent_page(&app, &f.owner, f.slug()).await.status(), 200);
    mcp_access_token(&app, &f.owner, f.slug()).await;
    // A registered client alone changes nothing for the member.
    register(&app, "http://127.0.0.1/callback").await;
    mfa_page(consent_page(&app, &f.member, f.slug()).await).await;
}

#[tokio::test]
async fn a_code_issued_before_the_switch_is_refused_at_the_token_endpoint() {
    use oauth2::{AuthorizationCode, RequestTokenError, basic::BasicErrorResponseType};
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    give_mfa(&app, &f.owner).await;
    let reg = register(&app, "http://127.0.0.1/callback").await;
    let c = client(
        &app,
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str(),
        "http://127.0.0.1:53682/callback",
    );
    let mcp = app.url(&format!("/mcp/{}", f.slug()));
    // Both consented while the org did not require MFA; the codes are not yet spent.
    let (member_code, member_verifier) = authorize(&app, &f.member, &c, &mcp).await;
    let (owner_code, owner_verifier) = authorize(&app, &f.owner, &c, &mcp).await;
    f.owner
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;

    let r = c
        .exchange_code(AuthorizationCode::new(member_code))
        .set_pkce_verifier(member_verifier)
        .request_async(&plain())
        .await;
    match r {
        Err(RequestTokenError::ServerResponse(e)) => {
            // The switch drops unspent codes; an exchange already under way when it
            // commits is refused by the token endpoint's own recheck instead.
            assert_eq!(*e.error(), BasicErrorResponseType::InvalidGrant);
        }
        other => panic!("a member without MFA got a grant after the switch: {other:?}"),
    }
    assert!(
        c.exchange_code(AuthorizationCode::new(owner_code))
            .set_pkce_verifier(owner_verifier)
            .request_async(&plain())
            .await
            .is_ok(),
        "the owner has MFA"
    );
}

#[tokio::test]
async fn switching_mfa_on_revokes_the_grants_of_members_without_it_on_every_replica() {
    let app = spawn_app().await;
    let replica = app.replica_same_origin().await;
    let f = OrgFixture::new(&app).await;
    give_mfa(&app, &f.owner).await;
    let member_token = format!(
        "Bearer {}",
        mcp_access_token(&app, &f.member, f.slug()).await
    );
    let owner_token = format!(
        "Bearer {}",
        mcp_access_token(&app, &f.owner, f.slug()).await
    );
    // The member's grant in their own org, which does not require MFA.
    let own = app.create_org(&f.member, "Member's Own").await;
    let elsewhere = format!(
        "Bearer {}",
        mcp_access_token(&app, &f.member, &own.slug).await
    );
    // Both replicas have seen (and remember) the member's token.
    for r in [&app, &replica] {
        assert_eq!(
            mcp_initialize(r, f.slug(), &member_token).await.status(),
            200
        );
    }

    f.owner
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;
    let switched = Instant::now();
    assert_eq!(
        mcp_initialize(&app, f.slug(), &member_token).await.status(),
        401,
        "at once where it was switched"
    );
    loop {
        let status = mcp_initialize(&replica, f.slug(), &member_token)
            .await
            .status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            switched.elapsed() < Duration::from_secs(5),
            "the other replica still accepts the token after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The owner's grant, the org's key and the member's grant elsewhere live on.
    assert_eq!(
        mcp_initialize(&app, f.slug(), &owner_token).await.status(),
        200
    );
    let with_key = format!("ApiKey {}", f.key.secret);
    assert_eq!(
        mcp_initialize(&app, f.slug(), &with_key).await.status(),
        200
    );
    assert_eq!(
        mcp_initialize(&app, &own.slug, &elsewhere).await.status(),
        200
    );

    // Recorded: the switch with its count, and the grant's end with its reason.
    let e = f
        .owner
        .events(f.slug(), "org.mfa_requirement_updated")
        .await;
    assert_eq!(e.items[0].metadata["oauth_grants_revoked"], 1);
    assert_eq!(e.items[0].metadata["members_without_mfa"], 2);
    let revoked = f.owner.events(f.slug(), "oauth.grant_revoked").await;
    assert_eq!(revoked.items.len(), 1, "{:?}", revoked.items);
    assert_eq!(
        revoked.items[0].metadata["reason"],
        "organization requires MFA"
    );
    assert_eq!(
        revoked.items[0].metadata["user_id"],
        json!(f.member.user.id)
    );
}

#[tokio::test]
async fn invitations_to_an_org_that_requires_mfa_say_so() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let body = |m: Mail| m.data.replace("=\r\n", "");

    f.owner
        .invite(f.slug(), &invite_req("before@example.com", Role::Member))
        .await
        .expect(201)
        .await;
    let mail = app
        .wait_for_mail("before@example.com", "/invitations/accept")
        .await;
    let token = mail.token("/invitations/accept");
    assert!(!body(mail).contains("two-factor"));
    let preview = app
        .session()
        .lookup_invitation(&token_req(&token))
        .await
        .ok()
        .await;
    assert!(!preview.mfa_required);

    give_mfa(&app, &f.owner).await;
    f.owner
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;
    f.owner
        .invite(f.slug(), &invite_req("after@example.com", Role::Admin))
        .await
        .expect(201)
        .await;
    let mail = app
        .wait_for_mail("after@example.com", "/invitations/accept")
        .await;
    let token = mail.token("/invitations/accept");
    assert!(
        body(mail.clone()).contains("requires two-factor authentication"),
        "{}",
        mail.data
    );
    let preview = app
        .session()
        .lookup_invitation(&TokenRequest {
            token: token.clone(),
        })
        .await
        .ok()
        .await;
    assert!(preview.mfa_required);
    // The link invited before the switch tells the truth now too.
    let earlier = app
        .session()
        .lookup_invitation(&token_req(
            &app.wait_for_mail("before@example.com", "/invitations/accept")
                .await
                .token("/invitations/accept"),
        ))
        .await
        .ok()
        .await;
    assert!(earlier.mfa_required);
}

#[tokio::test]
async fn a_bad_require_mfa_value_is_a_clear_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    give_mfa(&app, &f.owner).await;
    let path = format!("/orgs/{}/settings/security", f.slug());
    for bad in [
        json!({"require_mfa": "yes"}),
        json!({"require_mfa": 1}),
        json!({"require_mfa": [true]}),
        json!({"require_mfa": true, "require_mfa_now": true}),
    ] {
        let r = f.owner.patch(&path, &bad).await;
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{bad}: {status}");
        problem(r).await;
    }
    // A valid field next to an invalid one: nothing is written.
    let r = f
        .owner
        .patch(
            &path,
            json!({"require_mfa": true, "session_timeout_minutes": 1}),
        )
        .await;
    assert_problem(r, 422, "validation").await;
    let s = f.owner.security_settings(f.slug()).await.ok().await;
    assert!(!s.require_mfa);
    // `null` means "leave as it is".
    let r = f.owner.patch(&path, json!({"require_mfa": null})).await;
    assert_eq!(r.status(), 200);
    assert!(
        !f.owner
            .security_settings(f.slug())
            .await
            .ok()
            .await
            .require_mfa
    );
    // The preview takes no body and no parameters it does not know.
    let r = f
        .owner
        .post(&format!("{path}/mfa-preview"), json!({}))
        .await;
    assert_problem(r, 405, "method-not-allowed").await;
}

/// A member who turns their last second factor off while in an org that requires MFA
/// loses their grants there at once, as if they had never had MFA: a token the org
/// would now refuse to grant must not live on.
#[tokio::test]
async fn losing_mfa_in_an_org_that_requires_it_ends_the_members_grants_there() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    give_mfa(&app, &f.owner).await;
    let backup = give_mfa_with_backup_codes(&f.member).await;
    f.owner
        .update_security_settings(f.slug(), &require(true))
        .await
        .ok()
        .await;
    let token = format!(
        "Bearer {}",
        mcp_access_token(&app, &f.member, f.slug()).await
    );
    // Their grant in an org without the requirement is no business of this one.
    let own = app.create_org(&f.member, "Member's Own").await;
    let elsewhere = format!(
        "Bearer {}",
        mcp_access_token(&app, &f.member, &own.slug).await
    );
    assert_eq!(mcp_initialize(&app, f.slug(), &token).await.status(), 200);

    f.member
        .disable_totp(&DisableTotpRequest {
            password: PASSWORD.into(),
            code: backup[0].clone(),
        })
        .await
        .no_content()
        .await;
    assert_eq!(
        mcp_initialize(&app, f.slug(), &token).await.status(),
        401,
        "the grant in the org that requires MFA ended with the last factor"
    );
    assert_eq!(
        mcp_initialize(&app, &own.slug, &elsewhere).await.status(),
        200
    );
    let revoked = f.owner.events(f.slug(), "oauth.grant_revoked").await;
    assert_eq!(revoked.items.len(), 1, "{:?}", revoked.items);
    assert_eq!(
        revoked.items[0].metadata["reason"],
        "organization requires MFA"
    );
}
