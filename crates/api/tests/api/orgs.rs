use crate::support::*;
use gatehouse_types::{Organization, SecuritySettings};
use serde_json::json;

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
        .post(
            "/orgs",
            json!({"name": "Third", "slug": "my-team", "description": "  ours  "}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let third: Organization = r.json().await.unwrap();
    assert_eq!(third.slug, "my-team");
    assert_eq!(third.details.map(|d| d.description), Some("ours".into()));

    let got: Organization = json(ann.get("/orgs/acme-corp").await).await;
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
        let r = ann.post("/orgs", json!({"name": "X", "slug": bad})).await;
        let p = assert_problem(r, 422, "validation").await;
        assert_eq!(fields(&p), ["slug"], "{bad}");
    }
    for reserved in ["admin", "api", "settings"] {
        let p = assert_problem(
            ann.post("/orgs", json!({"name": "X", "slug": reserved}))
                .await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), ["slug"], "{reserved}");
    }
    assert_problem(
        ann.post("/orgs", json!({"name": "Other", "slug": "acme"}))
            .await,
        409,
        "slug-taken",
    )
    .await;
    let mine: Vec<Organization> = json(ann.get("/orgs").await).await;
    assert_eq!(mine.len(), 1, "no org was created by a refused request");
}

#[tokio::test]
async fn names_must_have_1_to_100_characters_and_descriptions_at_most_1000() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    for name in ["", "   ", &"n".repeat(101)] {
        let p = assert_problem(
            ann.post("/orgs", json!({"name": name})).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), ["name"], "{name:?}");
    }
    let r = ann
        .post(
            "/orgs",
            json!({"name": "Ok", "description": "d".repeat(1001)}),
        )
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["description"]
    );

    let r = ann
        .post(
            "/orgs",
            json!({"name": "é".repeat(100), "slug": "long", "description": "d".repeat(1000)}),
        )
        .await;
    assert_eq!(
        r.status(),
        201,
        "100 characters (not bytes) and 1000 characters are allowed"
    );
    let r = ann
        .patch("/orgs/long", json!({"name": "n".repeat(101)}))
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["name"]
    );
    let r = ann
        .patch("/orgs/long", json!({"description": "d".repeat(1001)}))
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["description"]
    );
    let r = ann.patch("/orgs/long", json!({"name": ""})).await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["name"]
    );
    let org: Organization = json(ann.get("/orgs/long").await).await;
    assert_eq!(org.name, "é".repeat(100));
}

#[tokio::test]
async fn updating_name_and_description_is_audited_with_before_and_after() {
    let app = spawn_app().await;
    let ann = app.signup("ann@example.com").await;
    let org = app.create_org(&ann, "Acme").await;
    let path = format!("/orgs/{}", org.slug);
    let updated: Organization = json(
        ann.patch(&path, json!({"name": "Acme Ltd", "description": "Rockets"}))
            .await,
    )
    .await;
    assert_eq!(updated.name, "Acme Ltd");
    assert_eq!(updated.slug, "acme", "renaming keeps the slug");
    let details = updated.details.unwrap();
    assert_eq!(details.description, "Rockets");
    assert!(details.updated_at > org.details.unwrap().updated_at);
    // Sending the current slug along is allowed.
    let same: Organization = json(
        ann.patch(&path, json!({"name": "Acme Ltd", "slug": "acme"}))
            .await,
    )
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
    let before: Organization = json(ann.get("/orgs/acme").await).await;
    let r = ann
        .patch(
            "/orgs/acme",
            json!({"name": "Renamed", "description": "new", "slug": "acme-2"}),
        )
        .await;
    let p = assert_problem(r, 422, "slug-immutable").await;
    assert_eq!(fields(&p), ["slug"]);
    let now: Organization = json(ann.get("/orgs/acme").await).await;
    assert_eq!(now.name, "Acme", "no partial write");
    assert_eq!(now, before);
    assert_problem(ann.get("/orgs/acme-2").await, 404, "not-found").await;
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

    let seen: Organization = json(bo.get("/orgs/acme").await).await;
    assert_eq!(
        (seen.id, seen.name.as_str(), seen.membership.role),
        (org.id, "Acme", Role::Member)
    );
    assert!(seen.details.is_none());
    let raw: serde_json::Value = json(bo.get("/orgs/acme").await).await;
    assert!(raw.get("details").is_none(), "{raw}");
    assert_problem(
        bo.patch("/orgs/acme", json!({"name": "Bo's"})).await,
        403,
        "insufficient-role",
    )
    .await;

    let seen: Organization = json(cy.get("/orgs/acme").await).await;
    assert_eq!(seen.membership.role, Role::Admin);
    assert!(seen.details.is_some());
    let listed: Vec<Organization> = json(bo.get("/orgs").await).await;
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
    let mine: Vec<Organization> = json(ann.get("/orgs").await).await;
    let names: Vec<_> = mine.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "Zeta"]);
    let theirs: Vec<Organization> = json(bo.get("/orgs").await).await;
    assert_eq!(theirs.iter().map(|o| o.id).collect::<Vec<_>>(), [bos.id]);
    let none: Vec<Organization> = json(loner.get("/orgs").await).await;
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
    let path = format!("/orgs/{}/settings/security", org.slug);
    let s: SecuritySettings = json(ann.get(&path).await).await;
    assert_eq!(s.session_timeout_minutes, 480);
    for bad in [14, 43201, 0, -1] {
        let p = assert_problem(
            ann.patch(&path, json!({"session_timeout_minutes": bad}))
                .await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), ["session_timeout_minutes"], "{bad}");
    }
    for ok in [15, 43200] {
        let s: SecuritySettings = json(
            ann.patch(&path, json!({"session_timeout_minutes": ok}))
                .await,
        )
        .await;
        assert_eq!(s.session_timeout_minutes, ok);
        let s: SecuritySettings = json(ann.get(&path).await).await;
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
    assert_problem(bo.get(&path).await, 403, "insufficient-role").await;
    assert_problem(
        bo.patch(&path, json!({"session_timeout_minutes": 60}))
            .await,
        403,
        "insufficient-role",
    )
    .await;
    let s: SecuritySettings = json(ann.get(&path).await).await;
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
    let path = format!("/orgs/{}/transfer-ownership", org.slug);

    assert_problem(
        cy.post(&path, json!({"user_id": cy.user.id})).await,
        403,
        "insufficient-role",
    )
    .await;
    assert_problem(
        bo.post(&path, json!({"user_id": bo.user.id})).await,
        403,
        "insufficient-role",
    )
    .await;
    assert_problem(
        ann.post(&path, json!({"user_id": bo.user.id})).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        ann.post(&path, json!({"user_id": ann.user.id})).await,
        409,
        "conflict",
    )
    .await;
    let stranger = app.signup("dee@example.com").await;
    assert_problem(
        ann.post(&path, json!({"user_id": stranger.user.id})).await,
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

    let mine: Organization = json(ann.post(&path, json!({"user_id": cy.user.id})).await).await;
    assert_eq!(mine.membership.role, Role::Admin);
    let theirs: Organization = json(cy.get("/orgs/acme").await).await;
    assert_eq!(theirs.membership.role, Role::Owner);
    let again: Organization = json(ann.get("/orgs/acme").await).await;
    assert_eq!(again.membership.role, Role::Admin);
    // The former owner is an ordinary admin now.
    assert_problem(
        ann.post(&path, json!({"user_id": cy.user.id})).await,
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
