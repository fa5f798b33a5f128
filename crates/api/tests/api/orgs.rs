use crate::support::*;
use gatehouse_types::{
    CreateOrgRequest, Organization, TransferOwnershipRequest, UpdateOrgRequest,
    UpdateSecuritySettings,
};
use serde_json::json;

/// A new org `name` with the slug `slug`.
fn with_slug(name: &str, slug: &str) -> CreateOrgRequest {
    CreateOrgRequest {
        slug: Some(slug.into()),
        ..org_req(name)
    }
}

fn rename(name: &str) -> UpdateOrgRequest {
    UpdateOrgRequest {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn timeout(minutes: i32) -> UpdateSecuritySettings {
    UpdateSecuritySettings {
        session_timeout_minutes: Some(minutes),
        ..Default::default()
    }
}

fn to(user_id: uuid::Uuid) -> TransferOwnershipRequest {
    TransferOwnershipRequest { user_id }
}

#[tokio::test]
async fn the_creator_owns_a_new_org_whose_slug_comes_from_its_name_unless_given() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let first = app.create_org(&ann, "Acme Corp").await;
    assert_eq!(first.slug, "acme-corp");
    assert_eq!(first.name, "Acme Corp");
    assert_eq!(first.membership.role, Role::Owner);
    assert_eq!(
        first.details.as_ref().map(|d| d.plan.as_str()),
        Some("free")
    );
    let second = app.create_org(&ann, "Acme Corp").await;
    assert_eq!(second.slug, "acme-corp-2");
    let r = ann
        .create_org(&CreateOrgRequest {
            description: Some("  ours  ".into()),
            ..with_slug("Third", "my-team")
        })
        .await;
    assert_eq!(r.status(), 201);
    let third = r.ok().await;
    assert_eq!(third.slug, "my-team");
    assert_eq!(third.details.map(|d| d.description), Some("ours".into()));

    let got: Organization = ann.org("acme-corp").await.ok().await;
    assert_eq!((got.id, got.membership.role), (first.id, Role::Owner));
    let created = ann.events("acme-corp", "org.created").await;
    assert_eq!(created.items.len(), 1);
    assert_eq!(created.items[0].metadata["slug"], "acme-corp");
}

#[tokio::test]
async fn malformed_reserved_and_taken_slugs_are_refused() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    for bad in ["Acme", "-acme", "acme-", "ac me", "a_b", &"a".repeat(49)] {
        let r = ann.create_org(&with_slug("X", bad)).await;
        let p = assert_problem(r, 422, "validation").await;
        assert_eq!(fields(&p), ["slug"], "{bad}");
    }
    for reserved in ["admin", "api", "settings"] {
        let p = assert_problem(
            ann.create_org(&with_slug("X", reserved)).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), ["slug"], "{reserved}");
    }
    assert_problem(
        ann.create_org(&with_slug("Other", "acme")).await,
        409,
        "slug-taken",
    )
    .await;
    let mine: Vec<Organization> = ann.orgs().await.ok().await;
    assert_eq!(mine.len(), 1, "no org was created by a refused request");
}

#[tokio::test]
async fn names_must_have_1_to_100_characters_and_descriptions_at_most_1000() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    // Counted as sent, like the schema's maxLength: a space around 100 characters
    // must not slip through by being trimmed (schemathesis found this).
    let padded = format!("\u{a0}{}", "n".repeat(100));
    for name in ["", "   ", &"n".repeat(101), &padded] {
        let p = assert_problem(ann.create_org(&org_req(name)).await, 422, "validation").await;
        assert_eq!(fields(&p), ["name"], "{name:?}");
    }
    let r = ann
        .create_org(&CreateOrgRequest {
            description: Some("d".repeat(1001)),
            ..org_req("Ok")
        })
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["description"]
    );

    let r = ann
        .create_org(&CreateOrgRequest {
            description: Some("d".repeat(1000)),
            ..with_slug(&"é".repeat(100), "long")
        })
        .await;
    assert_eq!(
        r.status(),
        201,
        "100 characters (not bytes) and 1000 characters are allowed"
    );
    let r = ann.update_org("long", &rename(&"n".repeat(101))).await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["name"]
    );
    let r = ann
        .update_org(
            "long",
            &UpdateOrgRequest {
                description: Some("d".repeat(1001)),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["description"]
    );
    let r = ann.update_org("long", &rename("")).await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["name"]
    );
    let org: Organization = ann.org("long").await.ok().await;
    assert_eq!(org.name, "é".repeat(100));
}

#[tokio::test]
async fn updating_name_and_description_is_audited_with_before_and_after() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let org = app.create_org(&ann, "Acme").await;
    let updated = ann
        .update_org(
            &org.slug,
            &UpdateOrgRequest {
                description: Some("Rockets".into()),
                ..rename("Acme Ltd")
            },
        )
        .await
        .ok()
        .await;
    assert_eq!(updated.name, "Acme Ltd");
    assert_eq!(updated.slug, "acme", "renaming keeps the slug");
    let details = updated.details.unwrap();
    assert_eq!(details.description, "Rockets");
    assert!(details.updated_at > org.details.unwrap().updated_at);
    // Sending the current slug along is allowed.
    let same = ann
        .update_org(
            &org.slug,
            &UpdateOrgRequest {
                slug: Some("acme".into()),
                ..rename("Acme Ltd")
            },
        )
        .await
        .ok()
        .await;
    assert_eq!(same.name, "Acme Ltd");

    let log = ann.events(&org.slug, "org.updated").await;
    assert_eq!(log.items.len(), 1, "a no-op update writes no event");
    let e = &log.items[0];
    assert_eq!(e.actor.id, Some(ann.user.id));
    assert_eq!(
        e.metadata["changes"]["name"],
        json!({"from": "Acme", "to": "Acme Ltd"})
    );
    assert_eq!(
        e.metadata["changes"]["description"],
        json!({"from": "", "to": "Rockets"})
    );
}

#[tokio::test]
async fn a_patch_with_another_slug_is_refused_whole_and_changes_nothing() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    app.create_org(&ann, "Acme").await;
    let before: Organization = ann.org("acme").await.ok().await;
    let r = ann
        .update_org(
            "acme",
            &UpdateOrgRequest {
                name: Some("Renamed".into()),
                description: Some("new".into()),
                slug: Some("acme-2".into()),
            },
        )
        .await;
    let p = assert_problem(r, 422, "slug-immutable").await;
    assert_eq!(fields(&p), ["slug"]);
    let now: Organization = ann.org("acme").await.ok().await;
    assert_eq!(now.name, "Acme", "no partial write");
    assert_eq!(now, before);
    assert_problem(ann.org("acme-2").await, 404, "not-found").await;
    assert!(ann.events("acme", "org.updated").await.items.is_empty());
}

#[tokio::test]
async fn members_see_name_and_membership_while_admins_also_see_details() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let org = app.create_org(&ann, "Acme").await;
    let bo = app
        .add_member(&ann, &org.slug, "bo@example.com", Role::Member)
        .await;
    let cy = app
        .add_member(&ann, &org.slug, "cy@example.com", Role::Admin)
        .await;

    let seen: Organization = bo.org("acme").await.ok().await;
    assert_eq!(
        (seen.id, seen.name.as_str(), seen.membership.role),
        (org.id, "Acme", Role::Member)
    );
    assert!(seen.details.is_none());
    let raw: serde_json::Value = json(bo.org("acme").await).await;
    assert!(raw.get("details").is_none(), "{raw}");
    assert_problem(
        bo.update_org("acme", &rename("Bo's")).await,
        403,
        "insufficient-role",
    )
    .await;

    let seen: Organization = cy.org("acme").await.ok().await;
    assert_eq!(seen.membership.role, Role::Admin);
    assert!(seen.details.is_some());
    let listed: Vec<Organization> = bo.orgs().await.ok().await;
    assert!(
        listed[0].details.is_none(),
        "the list hides details from members too"
    );
}

#[tokio::test]
async fn the_org_list_shows_only_the_callers_orgs() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let bo = app.signup("bo@example.com").await;
    let loner = app.signup("loner@example.com").await;
    app.create_org(&ann, "Zeta").await;
    app.create_org(&ann, "Alpha").await;
    let bos = app.create_org(&bo, "Bo Co").await;
    let mine: Vec<Organization> = ann.orgs().await.ok().await;
    let names: Vec<_> = mine.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "Zeta"]);
    let theirs: Vec<Organization> = bo.orgs().await.ok().await;
    assert_eq!(theirs.iter().map(|o| o.id).collect::<Vec<_>>(), [bos.id]);
    let none: Vec<Organization> = loner.orgs().await.ok().await;
    assert!(none.is_empty());
    assert_problem(
        app.session().get("/orgs").await,
        401,
        "authentication-required",
    )
    .await;
}

#[tokio::test]
async fn the_session_timeout_accepts_15_to_43200_minutes_and_only_admins_see_it() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let org = app.create_org(&ann, "Acme").await;
    let slug = org.slug.as_str();
    let s = ann.security_settings(slug).await.ok().await;
    assert_eq!(s.session_timeout_minutes, 480);
    for bad in [14, 43201, 0, -1] {
        let p = assert_problem(
            ann.update_security_settings(slug, &timeout(bad)).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), ["session_timeout_minutes"], "{bad}");
    }
    for ok in [15, 43200] {
        let s = ann
            .update_security_settings(slug, &timeout(ok))
            .await
            .ok()
            .await;
        assert_eq!(s.session_timeout_minutes, ok);
        let s = ann.security_settings(slug).await.ok().await;
        assert_eq!(s.session_timeout_minutes, ok);
    }
    let log = ann.events(&org.slug, "org.security_updated").await;
    assert_eq!(
        log.items[0].metadata["changes"]["session_timeout_minutes"],
        json!({"from": 15, "to": 43200})
    );

    let bo = app
        .add_member(&ann, &org.slug, "bo@example.com", Role::Member)
        .await;
    assert_problem(bo.security_settings(slug).await, 403, "insufficient-role").await;
    assert_problem(
        bo.update_security_settings(slug, &timeout(60)).await,
        403,
        "insufficient-role",
    )
    .await;
    let s = ann.security_settings(slug).await.ok().await;
    assert_eq!(s.session_timeout_minutes, 43200);
}

#[tokio::test]
async fn only_the_owner_transfers_ownership_and_only_to_an_admin() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let org = app.create_org(&ann, "Acme").await;
    let bo = app
        .add_member(&ann, &org.slug, "bo@example.com", Role::Member)
        .await;
    let cy = app
        .add_member(&ann, &org.slug, "cy@example.com", Role::Admin)
        .await;
    let slug = org.slug.as_str();

    assert_problem(
        cy.transfer_ownership(slug, &to(cy.user.id)).await,
        403,
        "insufficient-role",
    )
    .await;
    assert_problem(
        bo.transfer_ownership(slug, &to(bo.user.id)).await,
        403,
        "insufficient-role",
    )
    .await;
    assert_problem(
        ann.transfer_ownership(slug, &to(bo.user.id)).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        ann.transfer_ownership(slug, &to(ann.user.id)).await,
        409,
        "conflict",
    )
    .await;
    let stranger = app.signup("dee@example.com").await;
    assert_problem(
        ann.transfer_ownership(slug, &to(stranger.user.id)).await,
        422,
        "validation",
    )
    .await;
    assert!(
        ann.events(&org.slug, "org.ownership_transferred")
            .await
            .items
            .is_empty()
    );

    let mine = ann
        .transfer_ownership(slug, &to(cy.user.id))
        .await
        .ok()
        .await;
    assert_eq!(mine.membership.role, Role::Admin);
    let theirs: Organization = cy.org("acme").await.ok().await;
    assert_eq!(theirs.membership.role, Role::Owner);
    let again: Organization = ann.org("acme").await.ok().await;
    assert_eq!(again.membership.role, Role::Admin);
    // The former owner is an ordinary admin now.
    assert_problem(
        ann.transfer_ownership(slug, &to(cy.user.id)).await,
        403,
        "insufficient-role",
    )
    .await;

    let log = cy.events(&org.slug, "org.ownership_transferred").await;
    assert_eq!(log.items.len(), 1);
    let e = &log.items[0];
    assert_eq!(e.actor.id, Some(ann.user.id));
    assert_eq!(e.metadata["from_user_id"], json!(ann.user.id));
    assert_eq!(e.metadata["to_user_id"], json!(cy.user.id));
}
