use crate::support::*;
use gatehouse_types::{
    Invitation, InvitationPreview, InvitationStatus, Member, Organization, Role, User,
};
use serde_json::json;

/// Invites `email` and returns the token from the email it receives.
async fn invite(
    app: &TestApp,
    admin: &Session,
    slug: &str,
    email: &str,
    role: &str,
) -> (Invitation, String) {
    let r = admin
        .post(
            &format!("/orgs/{slug}/invitations"),
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(r.status(), 201, "invite {email}");
    let inv = r.json().await.unwrap();
    let token = app
        .wait_for_mail(email, "/invitations/accept")
        .await
        .token("/invitations/accept");
    (inv, token)
}

async fn invitations(admin: &Session, slug: &str) -> Vec<Invitation> {
    json(admin.get(&format!("/orgs/{slug}/invitations")).await).await
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
        .post(
            "/orgs/acme/invitations",
            json!({"email": " New@Example.com ", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let inv: Invitation = r.json().await.unwrap();
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
    let preview: InvitationPreview = json(
        anon.post("/invitations/lookup", json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(
        (preview.org_name.as_str(), preview.org_slug.as_str()),
        ("Acme", "acme")
    );
    assert_eq!(
        (preview.email.as_str(), preview.role, preview.account_exists),
        ("new@example.com", Role::Admin, false)
    );

    let r = anon
        .post(
            "/invitations/accept",
            json!({"token": token, "password": "short"}),
        )
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["password"]
    );
    let r = anon
        .post(
            "/invitations/accept",
            json!({"token": token, "password": PASSWORD, "display_name": "Newt"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("gatehouse_session="))
    );
    let joined: Organization = r.json().await.unwrap();
    assert_eq!((joined.id, joined.membership.role), (org.id, Role::Admin));
    let me: User = json(anon.get("/me").await).await;
    assert_eq!(
        (
            me.email.as_str(),
            me.display_name.as_str(),
            me.email_verified
        ),
        ("new@example.com", "Newt", true)
    );
    json::<Organization>(anon.get("/orgs/acme").await).await;
    app.login_session("new@example.com").await;

    let again = app
        .session()
        .post(
            "/invitations/accept",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_problem(again, 409, "invitation-already-accepted").await;
    let r = app
        .session()
        .post("/invitations/lookup", json!({"token": token}))
        .await;
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
    let (_, bo_token) = invite(&app, &ann, "acme", "bo@example.com", "member").await;
    let (_, cy_token) = invite(&app, &ann, "acme", "cy@example.com", "admin").await;

    // Signed in as someone else: refused, and the invitation stays usable.
    let r = bo
        .post(
            "/invitations/accept",
            json!({"token": cy_token, "password": PASSWORD}),
        )
        .await;
    assert_problem(r, 403, "invitation-email-mismatch").await;
    assert_problem(bo.get("/orgs/acme").await, 404, "not-found").await;

    let joined: Organization = json(
        bo.post("/invitations/accept", json!({"token": bo_token}))
            .await,
    )
    .await;
    assert_eq!(joined.membership.role, Role::Member);
    json::<Organization>(bo.get("/orgs/acme").await).await;

    let anon = app.session();
    let preview: InvitationPreview = json(
        anon.post("/invitations/lookup", json!({"token": cy_token}))
            .await,
    )
    .await;
    assert!(preview.account_exists);
    let r = anon
        .post("/invitations/accept", json!({"token": cy_token}))
        .await;
    assert_problem(r, 401, "authentication-required").await;
    let r = anon
        .post(
            "/invitations/accept",
            json!({"token": cy_token, "password": "not the password"}),
        )
        .await;
    assert_problem(r, 401, "invalid-credentials").await;
    let joined: Organization = json(
        anon.post(
            "/invitations/accept",
            json!({"token": cy_token, "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(joined.membership.role, Role::Admin);
    let me: User = json(anon.get("/me").await).await;
    assert_eq!(
        me.id, cy.user.id,
        "accepting with the password signs the account in"
    );

    let members: Vec<Member> = json(ann.get("/orgs/acme/members").await).await;
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
    let (_, expired) = invite(&app, &ann, "acme", "exp@example.com", "member").await;
    let (revoked_inv, revoked) = invite(&app, &ann, "acme", "rev@example.com", "member").await;
    app.sql(&format!(
        "UPDATE invitations SET expires_at = {} WHERE email = 'exp@example.com'",
        app.minutes_ago(1)
    ))
    .await;
    let r = ann
        .delete(&format!("/orgs/acme/invitations/{}", revoked_inv.id))
        .await;
    assert_eq!(r.status(), 204);

    for (path, body) in [
        (
            "/invitations/accept",
            json!({"token": expired, "password": PASSWORD}),
        ),
        ("/invitations/lookup", json!({"token": expired})),
    ] {
        assert_problem(app.session().post(path, body).await, 410, "token-expired").await;
    }
    for (path, body) in [
        (
            "/invitations/accept",
            json!({"token": revoked, "password": PASSWORD}),
        ),
        ("/invitations/lookup", json!({"token": revoked})),
    ] {
        assert_problem(
            app.session().post(path, body).await,
            410,
            "invitation-revoked",
        )
        .await;
    }
    let (head, last) = expired.split_at(expired.len() - 1);
    let typo = format!("{head}{}", if last == "x" { "y" } else { "x" });
    for garbage in ["garbage", "ghi_", typo.as_str()] {
        let r = app
            .session()
            .post(
                "/invitations/accept",
                json!({"token": garbage, "password": PASSWORD}),
            )
            .await;
        assert_problem(r, 404, "not-found").await;
        assert_problem(
            app.session()
                .post("/invitations/lookup", json!({"token": garbage}))
                .await,
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
    let members: Vec<Member> = json(ann.get("/orgs/acme/members").await).await;
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
    let (first, old) = invite(&app, &ann, "acme", "x@example.com", "member").await;
    let r = ann
        .post(
            "/orgs/acme/invitations",
            json!({"email": "x@example.com", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let second: Invitation = r.json().await.unwrap();
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
        .post(
            "/invitations/accept",
            json!({"token": old, "password": PASSWORD}),
        )
        .await;
    assert_problem(r, 410, "invitation-revoked").await;
    let s = app.session();
    let joined: Organization = json(
        s.post(
            "/invitations/accept",
            json!({"token": new, "password": PASSWORD}),
        )
        .await,
    )
    .await;
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
        let r = ann
            .post(
                "/orgs/acme/invitations",
                json!({"email": email, "role": "member"}),
            )
            .await;
        assert_problem(r, 409, "already-member").await;
    }
    let r = ann
        .post(
            "/orgs/acme/invitations",
            json!({"email": "new@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["role"]
    );
    let r = ann
        .post(
            "/orgs/acme/invitations",
            json!({"email": "not an address", "role": "member"}),
        )
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["email"]
    );

    assert_problem(
        bo.get("/orgs/acme/invitations").await,
        403,
        "insufficient-role",
    )
    .await;
    let r = bo
        .post(
            "/orgs/acme/invitations",
            json!({"email": "friend@example.com", "role": "member"}),
        )
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
    let bo_path = format!("/orgs/acme/members/{}", bo.user.id);

    let m: Member = json(cy.patch(&bo_path, json!({"role": "admin"})).await).await;
    assert_eq!((m.user_id, m.role), (bo.user.id, Role::Admin));
    json::<Vec<Member>>(bo.get("/orgs/acme/members").await).await;
    let m: Member = json(cy.patch(&bo_path, json!({"role": "member"})).await).await;
    assert_eq!(m.role, Role::Member);
    assert_problem(bo.get("/orgs/acme/members").await, 403, "insufficient-role").await;

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

    let own = format!("/orgs/acme/members/{}", cy.user.id);
    assert_problem(
        cy.patch(&own, json!({"role": "member"})).await,
        409,
        "conflict",
    )
    .await;
    let owner = format!("/orgs/acme/members/{}", ann.user.id);
    assert_problem(
        cy.patch(&owner, json!({"role": "member"})).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        ann.patch(&owner, json!({"role": "admin"})).await,
        409,
        "conflict",
    )
    .await;
    let r = ann.patch(&bo_path, json!({"role": "owner"})).await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["role"]
    );
    assert_problem(
        bo.patch(&own, json!({"role": "member"})).await,
        403,
        "insufficient-role",
    )
    .await;
    let stranger = app.signup("dee@example.com").await;
    let r = ann
        .patch(
            &format!("/orgs/acme/members/{}", stranger.user.id),
            json!({"role": "admin"}),
        )
        .await;
    assert_problem(r, 404, "not-found").await;

    let members: Vec<Member> = json(ann.get("/orgs/acme/members").await).await;
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
    json::<Organization>(bo.get("/orgs/acme").await).await;

    let r = cy
        .delete(&format!("/orgs/acme/members/{}", bo.user.id))
        .await;
    assert_eq!(r.status(), 204);
    assert_problem(bo.get("/orgs/acme").await, 404, "not-found").await;
    assert!(
        json::<Vec<Organization>>(bo.get("/orgs").await)
            .await
            .is_empty()
    );
    let r = cy
        .delete(&format!("/orgs/acme/members/{}", bo.user.id))
        .await;
    assert_problem(r, 404, "not-found").await;

    let owner = format!("/orgs/acme/members/{}", ann.user.id);
    assert_problem(cy.delete(&owner).await, 409, "conflict").await;
    assert_problem(ann.delete(&owner).await, 409, "conflict").await;

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
    let members: Vec<Member> = json(ann.get("/orgs/acme/members").await).await;
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

    let r = bo
        .delete(&format!("/orgs/acme/members/{}", cy.user.id))
        .await;
    assert_problem(r, 403, "insufficient-role").await;
    let r = bo
        .delete(&format!("/orgs/acme/members/{}", ann.user.id))
        .await;
    assert_problem(r, 403, "insufficient-role").await;
    json::<Organization>(cy.get("/orgs/acme").await).await;

    let r = bo
        .delete(&format!("/orgs/acme/members/{}", bo.user.id))
        .await;
    assert_eq!(r.status(), 204);
    assert_problem(bo.get("/orgs/acme").await, 404, "not-found").await;
    let left = ann.events("acme", "member.removed").await;
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0].actor.id, Some(bo.user.id));
    assert_eq!(left.items[0].metadata["left"], json!(true));
}
