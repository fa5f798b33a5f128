//! Passkeys over HTTP, with a software authenticator (`webauthn-authenticator-rs`'s
//! `SoftPasskey`) playing the browser and the device: it checks the RP id against the
//! origin, signs with its own P-256 key and builds the client data itself, so the server
//! verifies answers it did not make.
use crate::support::*;
use gatehouse_types::{
    CreatePasskeyRequest, Passkey, PasskeyOptions, RemovePasskeyRequest, RenamePasskeyRequest,
};
use serde_json::{Value, json};
use std::time::Duration;
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{CreationChallengeResponse, Url};

/// A server whose public URL is `http://localhost:<port>`: WebAuthn needs a domain
/// name (browsers, and the authenticator, refuse an IP address). Requests still go to
/// 127.0.0.1; sessions send the public origin.
pub async fn passkey_app() -> TestApp {
    spawn_app_with(|c| {
        c.public_url = c
            .public_url
            .take()
            .map(|u| u.replace("127.0.0.1", "localhost"));
    })
    .await
}

pub fn origin(app: &TestApp) -> Url {
    Url::parse(&app.config().public_url()).unwrap()
}

/// A device that verifies its user (a fingerprint, say).
pub fn device() -> SoftPasskey {
    SoftPasskey::new(true)
}

fn creation(opts: &PasskeyOptions) -> CreationChallengeResponse {
    serde_json::from_value(json!({ "publicKey": opts.public_key })).unwrap()
}

/// The device's answer to fresh registration options, as the browser would post it.
pub async fn attest(app: &TestApp, s: &Session, dev: &mut SoftPasskey) -> Value {
    let opts = s.passkey_options().await.expect(200).await;
    let cred = dev.do_registration(origin(app), creation(&opts)).unwrap();
    serde_json::to_value(cred).unwrap()
}

pub async fn register(app: &TestApp, s: &Session, dev: &mut SoftPasskey, name: &str) -> Passkey {
    let credential = attest(app, s, dev).await;
    s.create_passkey(&CreatePasskeyRequest {
        name: name.into(),
        credential,
    })
    .await
    .expect(201)
    .await
}

fn named(name: &str) -> RenamePasskeyRequest {
    RenamePasskeyRequest { name: name.into() }
}

fn password(p: &str) -> RemovePasskeyRequest {
    RemovePasskeyRequest { password: p.into() }
}

async fn actions(s: &Session, slug: &str) -> Vec<(String, Value)> {
    let page = s.audit_log(slug, "limit=50").await.ok().await;
    page.items
        .into_iter()
        .filter(|e| e.action.starts_with("user.passkey_"))
        .map(|e| (e.action, e.metadata))
        .collect()
}

#[tokio::test]
async fn a_passkey_is_registered_listed_renamed_and_removed_with_the_password() {
    let app = passkey_app().await;
    let ann = app.signup("ann@example.com").await;
    let org = app.create_org(&ann, "Ann's").await;
    let mut laptop = device();

    let pk = register(&app, &ann, &mut laptop, "  Laptop ").await;
    assert_eq!(pk.name, "Laptop", "the name is trimmed");
    assert_eq!(pk.last_used_at, None);
    // Nothing but the four documented fields: no key material.
    let raw: Value = json(ann.get("/me/passkeys").await).await;
    assert_eq!(
        raw,
        json!([{"id": pk.id, "name": "Laptop", "created_at": pk.created_at, "last_used_at": null}])
    );
    app.wait_for_mail("ann@example.com", "A passkey \"Laptop\" was added")
        .await;

    let renamed = ann
        .rename_passkey(pk.id, &named("Work laptop"))
        .await
        .expect(200)
        .await;
    assert_eq!((renamed.id, renamed.name.as_str()), (pk.id, "Work laptop"));
    assert_eq!(ann.passkeys().await.ok().await, vec![renamed.clone()]);

    // Removing a factor needs the password.
    let p = assert_problem(
        ann.remove_passkey(pk.id, &password("not my password"))
            .await,
        401,
        "invalid-credentials",
    )
    .await;
    assert_eq!(fields(&p), ["password"]);
    assert_eq!(ann.passkeys().await.ok().await.len(), 1);
    ann.remove_passkey(pk.id, &password(PASSWORD))
        .await
        .no_content()
        .await;
    assert!(ann.passkeys().await.ok().await.is_empty());
    assert_problem(
        ann.remove_passkey(pk.id, &password(PASSWORD)).await,
        404,
        "not-found",
    )
    .await;
    app.wait_for_mail("ann@example.com", "The passkey \"Work laptop\" was removed")
        .await;

    // Audited, newest first, with the name and nothing secret.
    assert_eq!(
        actions(&ann, &org.slug).await,
        vec![
            ("user.passkey_removed".into(), json!({"name": "Work laptop"})),
            (
                "user.passkey_renamed".into(),
                json!({"changes": {"name": {"from": "Laptop", "to": "Work laptop"}}})
            ),
            ("user.passkey_added".into(), json!({"name": "Laptop"})),
        ]
    );
}

#[tokio::test]
async fn registration_options_exclude_the_passkeys_already_registered() {
    let app = passkey_app().await;
    let bo = app.signup("bo@example.com").await;
    let mut key = device();
    register(&app, &bo, &mut key, "Key").await;
    let opts = bo.passkey_options().await.expect(200).await;
    let pk = &opts.public_key;
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["user"]["name"], "bo@example.com");
    assert_eq!(pk["excludeCredentials"].as_array().unwrap().len(), 1);
    // Another device is welcome.
    register(&app, &bo, &mut device(), "Phone").await;
    let names: Vec<String> = bo
        .passkeys()
        .await
        .ok()
        .await
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["Key", "Phone"]);
}

#[tokio::test]
async fn a_registration_answer_counts_once_and_only_for_the_latest_options() {
    let app = passkey_app().await;
    let cy = app.signup("cy@example.com").await;
    let mut dev = device();
    let first = attest(&app, &cy, &mut dev).await;
    // New options replace the old ceremony: the answer to the old challenge is refused.
    let second = attest(&app, &cy, &mut device()).await;
    let req = |credential: &Value| CreatePasskeyRequest {
        name: "Key".into(),
        credential: credential.clone(),
    };
    assert_problem(cy.create_passkey(&req(&first)).await, 400, "passkey-invalid").await;
    // The refused attempt used the ceremony up too.
    assert_problem(cy.create_passkey(&req(&second)).await, 400, "passkey-invalid").await;
    let third = attest(&app, &cy, &mut device()).await;
    cy.create_passkey(&req(&third)).await.expect(201).await;
    // Replayed: the ceremony is gone.
    assert_problem(cy.create_passkey(&req(&third)).await, 400, "passkey-invalid").await;
    assert_eq!(cy.passkeys().await.ok().await.len(), 1);
}

#[tokio::test]
async fn a_registration_from_another_origin_or_after_five_minutes_is_refused() {
    let app = passkey_app().await;
    let di = app.signup("di@example.com").await;
    let opts = di.passkey_options().await.expect(200).await;
    // The device signs for any origin the RP id is valid for; the server holds the
    // origin to its own.
    let evil = Url::parse("https://localhost:1").unwrap();
    let mut dev = device();
    let cred = dev.do_registration(evil, creation(&opts)).unwrap();
    let req = CreatePasskeyRequest {
        name: "Key".into(),
        credential: serde_json::to_value(cred).unwrap(),
    };
    assert_problem(di.create_passkey(&req).await, 400, "passkey-invalid").await;

    let credential = attest(&app, &di, &mut device()).await;
    app.advance(Duration::from_secs(5 * 60 + 1));
    let req = CreatePasskeyRequest {
        name: "Key".into(),
        credential,
    };
    assert_problem(di.create_passkey(&req).await, 400, "passkey-invalid").await;
    assert!(di.passkeys().await.ok().await.is_empty());
}

#[tokio::test]
async fn another_users_passkey_is_not_found() {
    let app = passkey_app().await;
    let ed = app.signup("ed@example.com").await;
    let fay = app.signup("fay@example.com").await;
    let pk = register(&app, &ed, &mut device(), "Ed's key").await;
    assert_problem(
        fay.rename_passkey(pk.id, &named("Mine now")).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        fay.remove_passkey(pk.id, &password(PASSWORD)).await,
        404,
        "not-found",
    )
    .await;
    assert!(fay.passkeys().await.ok().await.is_empty());
    assert_eq!(ed.passkeys().await.ok().await, vec![pk]);
}

#[tokio::test]
async fn bad_input_gets_a_problem_and_changes_nothing() {
    let app = passkey_app().await;
    let gus = app.signup("gus@example.com").await;
    let pk = register(&app, &gus, &mut device(), "Key").await;

    for bad in ["", "   ", &"x".repeat(65)] {
        let p = assert_problem(
            gus.rename_passkey(pk.id, &named(bad)).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(fields(&p), ["name"]);
    }
    let credential = attest(&app, &gus, &mut device()).await;
    let p = assert_problem(
        gus.create_passkey(&CreatePasskeyRequest {
            name: "".into(),
            credential,
        })
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&p), ["name"]);
    for credential in [json!({}), json!("text"), json!({"id": "x", "rawId": "!!"})] {
        gus.passkey_options().await.expect(200).await;
        let req = CreatePasskeyRequest {
            name: "Key 2".into(),
            credential,
        };
        assert_problem(gus.create_passkey(&req).await, 400, "passkey-invalid").await;
    }
    let r = gus.post("/me/passkeys", json!({"name": "Key 2"})).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    problem(r).await;
    let r = gus.delete(&format!("/me/passkeys/{}", pk.id)).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    problem(r).await;
    assert_problem(
        gus.patch("/me/passkeys/not-a-uuid", json!({"name": "x"})).await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(gus.passkeys().await.ok().await, vec![pk]);
}

#[tokio::test]
async fn passkeys_need_a_session() {
    let app = passkey_app().await;
    let anon = app.session();
    assert_problem(anon.passkey_options().await, 401, "authentication-required").await;
    assert_problem(anon.passkeys().await, 401, "authentication-required").await;
}

#[tokio::test]
async fn passkeys_are_off_when_the_public_url_is_an_ip_address() {
    let app = spawn_app().await;
    let hal = app.signup("hal@example.com").await;
    assert_problem(hal.passkey_options().await, 503, "unavailable").await;
}
