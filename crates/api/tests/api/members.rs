use crate::support::*;
use gatehouse_types::{
    AcceptInvitationRequest, Invitation, InvitationPreview, InvitationStatus, Member, Organization,
    Role, UpdateMemberRequest, User,
};
use serde_json::json;

/// Accepts with `token`, and the account's password when there is no session.
fn accept(token: &str, password: Option<&str>) -> AcceptInvitationRequest {
    AcceptInvitationRequest {
        token: token.into(),
        password: password.map(Into::into),
        display_name: None,
    }
}

fn to_role(role: Role) -> UpdateMemberRequest {
    UpdateMemberRequest { role }
}

/// Invites `email` and returns the token from the email it receives.
async fn invite(
    app: &TestApp,
    admin: &Session,
    slug: &str,
    email: &str,
    role: Role,
) -> (Invitation, String) {
    let r = admin.invite(slug, &invite_req(email, role)).await;
    assert_eq!(r.status(), 201, "invite {email}");
    let inv = r.ok().await;
    let token = app
        .wait_for_mail(email, "/invitations/accept")
        .await
        .token("/invitations/accept");
    (inv, token)
}

async fn invitations(admin: &Session, slug: &str) -> Vec<Invitation> {
    admin.invitations(slug).await.ok().await
}

fn status_of(list: &[Invitation], email: &str) -> InvitationStatus {
    list.iter()
        .find(|i| i.email == email)
        .map(|i| i.status)
        .unwrap_or_else(|| panic!("no invitation for {email}"))
}

#[tokio::test]
async fn an_emailed_invitation_link_creates_a_verified_account_and_signs_it_in() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let org = app.create_org(&ann, "Acme").await;
    let r = ann
        .invite("acme", &invite_req(" New@Example.com ", Role::Admin))
        .await;
    assert_eq!(r.status(), 201);
    let inv = r.ok().await;
    assert_eq!(
        (inv.email.as_str(), inv.role, inv.status),
        ("new@example.com", Role::Admin, InvitationStatus::Pending)
    );
    assert_eq!(inv.invited_by, Some(ann.user.id));

    let mail = app
        .wait_for_mail("new@example.com", "/invitations/accept")
        .await;
    assert!(mail.data.contains("Acme"), "{}", mail.data);
    assert!(
        mail.link("/invitations/accept")
            .starts_with(&app.url("/invitations/accept?token=ghi_"))
    );
    let token = mail.token("/invitations/accept");

    let anon = app.session();
    let preview: InvitationPreview = json(anon.lookup_invitation(&token_req(&token)).await).await;
    assert_eq!(
        (preview.org_name.as_str(), preview.org_slug.as_str()),
        ("Acme", "acme")
    );
    assert_eq!(
        (preview.email.as_str(), preview.role, preview.account_exists),
        ("new@example.com", Role::Admin, false)
    );

    let r = anon.accept_invitation(&accept(&token, Some("short"))).await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["password"]
    );
    let r = anon
        .accept_invitation(&AcceptInvitationRequest {
            display_name: Some("Newt".into()),
            ..accept(&token, Some(PASSWORD))
        })
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("gatehouse_session="))
    );
    let joined = r.ok().await;
    assert_eq!((joined.id, joined.membership.role), (org.id, Role::Admin));
    let me: User = anon.me().await.ok().await;
    assert_eq!(
        (
            me.email.as_str(),
            me.display_name.as_str(),
            me.email_verified
        ),
        ("new@example.com", "Newt", true)
    );
    anon.org("acme").await.ok().await;
    app.login_session("new@example.com").await;

    let again = app
        .session()
        .accept_invitation(&accept(&token, Some(PASSWORD)))
        .await;
    assert_problem(again, 409, "invitation-already-accepted").await;
    let r = app.session().lookup_invitation(&token_req(&token)).await;
    assert_problem(r, 409, "invitation-already-accepted").await;
    assert_eq!(
        status_of(&invitations(&ann, "acme").await, "new@example.com"),
        InvitationStatus::Accepted
    );

    let created = ann.events("acme", "invitation.created").await;
    assert_eq!(created.items.len(), 1);
    assert_eq!(created.items[0].metadata["email"], "new@example.com");
    let added = ann.events("acme", "member.added").await;
    let targets: Vec<_> = added
        .items
        .iter()
        .filter_map(|e| e.target.as_ref().map(|t| t.id.clone()))
        .collect();
    assert_eq!(targets, [me.id.to_string(), ann.user.id.to_string()]);
    assert_eq!(added.items[0].metadata["invited_by"], json!(ann.user.id));
    assert_eq!(
        ann.events("acme", "invitation.accepted").await.items.len(),
        1
    );
}

#[tokio::test]
async fn an_existing_account_accepts_when_signed_in_as_the_invitee_or_with_its_password() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let bo = app.signup("bo@example.com").await;
    let cy = app.signup("cy@example.com").await;
    let (_, bo_token) = invite(&app, &ann, "acme", "bo@example.com", Role::Member).await;
    let (_, cy_token) = invite(&app, &ann, "acme", "cy@example.com", Role::Admin).await;

    // Signed in as someone else: refused, and the invitation stays usable.
    let r = bo
        .accept_invitation(&accept(&cy_token, Some(PASSWORD)))
        .await;
    assert_problem(r, 403, "invitation-email-mismatch").await;
    assert_problem(bo.org("acme").await, 404, "not-found").await;

    let joined: Organization = json(bo.accept_invitation(&accept(&bo_token, None)).await).await;
    assert_eq!(joined.membership.role, Role::Member);
    bo.org("acme").await.ok().await;

    let anon = app.session();
    let preview: InvitationPreview =
        json(anon.lookup_invitation(&token_req(&cy_token)).await).await;
    assert!(preview.account_exists);
    let r = anon.accept_invitation(&accept(&cy_token, None)).await;
    assert_problem(r, 401, "authentication-required").await;
    let r = anon
        .accept_invitation(&accept(&cy_token, Some("not the password")))
        .await;
    assert_problem(r, 401, "invalid-credentials").await;
    let joined: Organization = json(
        anon.accept_invitation(&accept(&cy_token, Some(PASSWORD)))
            .await,
    )
    .await;
    assert_eq!(joined.membership.role, Role::Admin);
    let me: User = anon.me().await.ok().await;
    assert_eq!(
        me.id, cy.user.id,
        "accepting with the password signs the account in"
    );

    let members: Vec<Member> = ann.members("acme").await.ok().await;
    let roles: Vec<_> = members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert_eq!(
        roles,
        [
            ("ann@example.com", Role::Owner),
            ("bo@example.com", Role::Member),
            ("cy@example.com", Role::Admin)
        ]
    );
}

#[tokio::test]
async fn expired_revoked_and_unknown_invitation_links_are_refused() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let (_, expired) = invite(&app, &ann, "acme", "exp@example.com", Role::Member).await;
    let (revoked_inv, revoked) = invite(&app, &ann, "acme", "rev@example.com", Role::Member).await;
    app.sql(&format!(
        "UPDATE invitations SET expires_at = {} WHERE email = 'exp@example.com'",
        app.minutes_ago(1)
    ))
    .await;
    let r = ann.revoke_invitation("acme", revoked_inv.id).await;
    assert_eq!(r.status(), 204);

    for (token, code) in [
        (&expired, "token-expired"),
        (&revoked, "invitation-revoked"),
    ] {
        let r = app
            .session()
            .accept_invitation(&accept(token, Some(PASSWORD)))
            .await;
        assert_problem(r, 410, code).await;
        let r = app.session().lookup_invitation(&token_req(token)).await;
        assert_problem(r, 410, code).await;
    }
    let (head, last) = expired.split_at(expired.len() - 1);
    let typo = format!("{head}{}", if last == "x" { "y" } else { "x" });
    for garbage in ["garbage", "ghi_", typo.as_str()] {
        let r = app
            .session()
            .accept_invitation(&accept(garbage, Some(PASSWORD)))
            .await;
        assert_problem(r, 404, "not-found").await;
        assert_problem(
            app.session().lookup_invitation(&token_req(garbage)).await,
            404,
            "not-found",
        )
        .await;
    }

    let list = invitations(&ann, "acme").await;
    assert_eq!(
        status_of(&list, "exp@example.com"),
        InvitationStatus::Expired
    );
    assert_eq!(
        status_of(&list, "rev@example.com"),
        InvitationStatus::Revoked
    );
    assert_eq!(
        ann.events("acme", "invitation.revoked").await.items.len(),
        1
    );
    let members: Vec<Member> = ann.members("acme").await.ok().await;
    assert_eq!(members.len(), 1, "no refused link made anyone a member");
    assert_problem(
        app.login("exp@example.com", PASSWORD).await,
        401,
        "invalid-credentials",
    )
    .await;
}

#[tokio::test]
async fn inviting_an_address_again_replaces_its_pending_invitation() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let (first, old) = invite(&app, &ann, "acme", "x@example.com", Role::Member).await;
    let r = ann
        .invite("acme", &invite_req("x@example.com", Role::Admin))
        .await;
    assert_eq!(r.status(), 201);
    let second = r.ok().await;
    assert_ne!(second.id, first.id);
    for _ in 0..200 {
        if app.mail_count("x@example.com") >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let new = app
        .wait_for_mail("x@example.com", "/invitations/accept")
        .await
        .token("/invitations/accept");
    assert_ne!(new, old);

    let list = invitations(&ann, "acme").await;
    let mine: Vec<_> = list.iter().map(|i| (i.id, i.status)).collect();
    assert_eq!(
        mine,
        [
            (second.id, InvitationStatus::Pending),
            (first.id, InvitationStatus::Revoked)
        ]
    );
    let r = app
        .session()
        .accept_invitation(&accept(&old, Some(PASSWORD)))
        .await;
    assert_problem(r, 410, "invitation-revoked").await;
    let s = app.session();
    let joined: Organization = json(s.accept_invitation(&accept(&new, Some(PASSWORD))).await).await;
    assert_eq!(joined.membership.role, Role::Admin);
}

#[tokio::test]
async fn invitations_refuse_members_the_owner_role_and_callers_who_are_not_admins() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let bo = app
        .add_member(&ann, "acme", "bo@example.com", Role::Member)
        .await;

    for email in ["ann@example.com", " BO@example.com"] {
        let r = ann.invite("acme", &invite_req(email, Role::Member)).await;
        assert_problem(r, 409, "already-member").await;
    }
    let r = ann
        .invite("acme", &invite_req("new@example.com", Role::Owner))
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["role"]
    );
    let r = ann
        .invite("acme", &invite_req("not an address", Role::Member))
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["email"]
    );

    assert_problem(bo.invitations("acme").await, 403, "insufficient-role").await;
    let r = bo
        .invite("acme", &invite_req("friend@example.com", Role::Member))
        .await;
    assert_problem(r, 403, "insufficient-role").await;

    let list = invitations(&ann, "acme").await;
    assert_eq!(
        list.len(),
        1,
        "only bo's (accepted) invitation exists: {list:?}"
    );
    assert_eq!(
        app.mail_count("new@example.com") + app.mail_count("friend@example.com"),
        0
    );
}

#[tokio::test]
async fn admins_move_others_between_admin_and_member_but_not_themselves_or_the_owner() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let bo = app
        .add_member(&ann, "acme", "bo@example.com", Role::Member)
        .await;
    let cy = app
        .add_member(&ann, "acme", "cy@example.com", Role::Admin)
        .await;
    let bo_id = bo.user.id;

    let m = cy
        .update_member("acme", bo_id, &to_role(Role::Admin))
        .await
        .ok()
        .await;
    assert_eq!((m.user_id, m.role), (bo.user.id, Role::Admin));
    json::<Vec<Member>>(bo.members("acme").await).await;
    let m = cy
        .update_member("acme", bo_id, &to_role(Role::Member))
        .await
        .ok()
        .await;
    assert_eq!(m.role, Role::Member);
    assert_problem(bo.members("acme").await, 403, "insufficient-role").await;

    let log = ann.events("acme", "member.role_changed").await;
    let changes: Vec<_> = log
        .items
        .iter()
        .map(|e| (e.metadata["from"].clone(), e.metadata["to"].clone()))
        .collect();
    assert_eq!(
        changes,
        [
            (json!("admin"), json!("member")),
            (json!("member"), json!("admin"))
        ]
    );
    assert_eq!(log.items[0].actor.id, Some(cy.user.id));
    assert_eq!(
        log.items[0].target.as_ref().map(|t| t.id.clone()),
        Some(bo.user.id.to_string())
    );

    let own = cy.user.id;
    assert_problem(
        cy.update_member("acme", own, &to_role(Role::Member)).await,
        409,
        "conflict",
    )
    .await;
    let owner = ann.user.id;
    assert_problem(
        cy.update_member("acme", owner, &to_role(Role::Member))
            .await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        ann.update_member("acme", owner, &to_role(Role::Admin))
            .await,
        409,
        "conflict",
    )
    .await;
    let r = ann
        .update_member("acme", bo_id, &to_role(Role::Owner))
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["role"]
    );
    assert_problem(
        bo.update_member("acme", own, &to_role(Role::Member)).await,
        403,
        "insufficient-role",
    )
    .await;
    let stranger = app.signup("dee@example.com").await;
    let r = ann
        .update_member("acme", stranger.user.id, &to_role(Role::Admin))
        .await;
    assert_problem(r, 404, "not-found").await;

    let members: Vec<Member> = ann.members("acme").await.ok().await;
    let roles: Vec<_> = members.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Owner, Role::Member, Role::Admin]);
    assert_eq!(
        ann.events("acme", "member.role_changed").await.items.len(),
        2
    );
}

#[tokio::test]
async fn a_removed_member_loses_access_with_their_next_request_and_the_owner_cannot_be_removed() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let bo = app
        .add_member(&ann, "acme", "bo@example.com", Role::Member)
        .await;
    let cy = app
        .add_member(&ann, "acme", "cy@example.com", Role::Admin)
        .await;
    bo.org("acme").await.ok().await;

    let r = cy.remove_member("acme", bo.user.id).await;
    assert_eq!(r.status(), 204);
    assert_problem(bo.org("acme").await, 404, "not-found").await;
    assert!(bo.orgs().await.ok().await.is_empty());
    let r = cy.remove_member("acme", bo.user.id).await;
    assert_problem(r, 404, "not-found").await;

    assert_problem(cy.remove_member("acme", ann.user.id).await, 409, "conflict").await;
    assert_problem(
        ann.remove_member("acme", ann.user.id).await,
        409,
        "conflict",
    )
    .await;

    let removed = ann.events("acme", "member.removed").await;
    assert_eq!(removed.items.len(), 1);
    let e = &removed.items[0];
    assert_eq!(e.actor.id, Some(cy.user.id));
    assert_eq!(
        e.target.as_ref().map(|t| t.id.clone()),
        Some(bo.user.id.to_string())
    );
    assert_eq!(
        (e.metadata["email"].clone(), e.metadata["left"].clone()),
        (json!("bo@example.com"), json!(false))
    );
    assert_eq!(ann.events("acme", "member.added").await.items.len(), 3);
    assert_eq!(
        ann.events("acme", "invitation.created").await.items.len(),
        2
    );
    let members: Vec<Member> = ann.members("acme").await.ok().await;
    assert_eq!(
        members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        [ann.user.id, cy.user.id]
    );
}

#[tokio::test]
async fn a_member_can_leave_but_cannot_remove_others() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let bo = app
        .add_member(&ann, "acme", "bo@example.com", Role::Member)
        .await;
    let cy = app
        .add_member(&ann, "acme", "cy@example.com", Role::Member)
        .await;

    let r = bo.remove_member("acme", cy.user.id).await;
    assert_problem(r, 403, "insufficient-role").await;
    let r = bo.remove_member("acme", ann.user.id).await;
    assert_problem(r, 403, "insufficient-role").await;
    cy.org("acme").await.ok().await;

    let r = bo.remove_member("acme", bo.user.id).await;
    assert_eq!(r.status(), 204);
    assert_problem(bo.org("acme").await, 404, "not-found").await;
    let left = ann.events("acme", "member.removed").await;
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0].actor.id, Some(bo.user.id));
    assert_eq!(left.items[0].metadata["left"], json!(true));
}
