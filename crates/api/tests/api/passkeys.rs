//! Passkeys over HTTP, with a software authenticator (`webauthn-authenticator-rs`'s
//! `SoftPasskey`) playing the browser and the device: it checks the RP id against the
//! origin, signs with its own P-256 key and builds the client data itself, so the server
//! verifies answers it did not make.
use crate::support::*;
use gatehouse_types::{
    CreatePasskeyRequest, LoginRequest, MfaChallenge, MfaPasskeyOptionsRequest, MfaPasskeyRequest,
    Passkey, PasskeyOptions, PasskeySignInRequest, RemovePasskeyRequest, RenamePasskeyRequest,
    SessionInfo, SignInMethod,
};
use serde_json::{Value, json};
use std::time::Duration;
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

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
            (
                "user.passkey_removed".into(),
                json!({"name": "Work laptop"})
            ),
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
    // Discoverable where the device can: passkey-only sign-in starts without an email.
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred");
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
    assert_problem(
        cy.create_passkey(&req(&first)).await,
        400,
        "passkey-invalid",
    )
    .await;
    // The refused attempt used the ceremony up too.
    assert_problem(
        cy.create_passkey(&req(&second)).await,
        400,
        "passkey-invalid",
    )
    .await;
    let third = attest(&app, &cy, &mut device()).await;
    cy.create_passkey(&req(&third)).await.expect(201).await;
    // Replayed: the ceremony is gone.
    assert_problem(
        cy.create_passkey(&req(&third)).await,
        400,
        "passkey-invalid",
    )
    .await;
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
        gus.patch("/me/passkeys/not-a-uuid", json!({"name": "x"}))
            .await,
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
    assert_problem(hal.passkey_options().await, 409, "passkeys-unavailable").await;
}

/// Password first: a user with a passkey gets a pending login, not a session.
async fn password_step(app: &TestApp, email: &str) -> (Session, MfaChallenge) {
    let s = app.session();
    let r = s
        .post(
            "/auth/login",
            LoginRequest {
                email: email.into(),
                password: PASSWORD.into(),
            },
        )
        .await;
    assert_eq!(r.status(), 202);
    let challenge: MfaChallenge = r.json().await.unwrap();
    (s, challenge)
}

/// The device's assertion for fresh second-step options of `pending_token`.
async fn assert_with(
    app: &TestApp,
    s: &Session,
    pending_token: &str,
    dev: &mut SoftPasskey,
    at: Url,
) -> Value {
    let opts = s
        .mfa_passkey_options(&MfaPasskeyOptionsRequest {
            pending_token: pending_token.into(),
        })
        .await
        .expect(200)
        .await;
    let _ = app;
    let rcr: RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": opts.public_key })).unwrap();
    serde_json::to_value(dev.do_authentication(at, rcr).unwrap()).unwrap()
}

fn answer(pending_token: &str, credential: &Value) -> MfaPasskeyRequest {
    MfaPasskeyRequest {
        pending_token: pending_token.into(),
        credential: credential.clone(),
    }
}

#[tokio::test]
async fn a_passkey_is_the_second_step_of_a_login() {
    let app = passkey_app().await;
    let ivy = app.signup("ivy@example.com").await;
    let mut dev = device();
    let pk = register(&app, &ivy, &mut dev, "Phone").await;

    let (s, ch) = password_step(&app, "ivy@example.com").await;
    assert!(
        ch.methods.contains(&"passkey".to_string()),
        "{:?}",
        ch.methods
    );
    assert_problem(s.me().await, 401, "authentication-required").await;

    let cred = assert_with(&app, &s, &ch.pending_token, &mut dev, origin(&app)).await;
    let user = s
        .mfa_passkey(&answer(&ch.pending_token, &cred))
        .await
        .expect(200)
        .await;
    assert_eq!(user.email, "ivy@example.com");
    assert_eq!(s.me().await.ok().await.id, user.id);
    let sessions: Vec<SessionInfo> = json(s.get("/me/sessions").await).await;
    let current = sessions.iter().find(|x| x.current).unwrap();
    assert_eq!(current.sign_in_method, SignInMethod::Passkey);
    let used = s.passkeys().await.ok().await;
    assert_eq!(used[0].id, pk.id);
    assert!(used[0].last_used_at.is_some());

    // The same answer again: the sign-in attempt is used up.
    assert_problem(
        app.session()
            .mfa_passkey(&answer(&ch.pending_token, &cred))
            .await,
        401,
        "mfa-pending-invalid",
    )
    .await;
    // And a second login with the same device works (the signature counter moved on).
    let (s2, ch2) = password_step(&app, "ivy@example.com").await;
    let cred2 = assert_with(&app, &s2, &ch2.pending_token, &mut dev, origin(&app)).await;
    s2.mfa_passkey(&answer(&ch2.pending_token, &cred2))
        .await
        .expect(200)
        .await;
}

#[tokio::test]
async fn a_wrong_or_replayed_assertion_is_refused() {
    let app = passkey_app().await;
    let jo = app.signup("jo@example.com").await;
    let mut dev = device();
    register(&app, &jo, &mut dev, "Key").await;
    let (s, ch) = password_step(&app, "jo@example.com").await;
    let tok = ch.pending_token.as_str();

    // Without options first.
    let early = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}});
    assert_problem(
        s.mfa_passkey(&answer(tok, &early)).await,
        400,
        "passkey-invalid",
    )
    .await;

    // An answer to an older challenge of the same sign-in (options asked again).
    let stale = assert_with(&app, &s, tok, &mut dev, origin(&app)).await;
    let fresh = assert_with(&app, &s, tok, &mut dev, origin(&app)).await;
    assert_problem(
        s.mfa_passkey(&answer(tok, &stale)).await,
        401,
        "mfa-code-invalid",
    )
    .await;

    // A forged signature.
    let mut forged = fresh.clone();
    let sig = forged["response"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    forged["response"]["signature"] = json!(format!("{flipped}{}", &sig[1..]));
    assert_problem(
        s.mfa_passkey(&answer(tok, &forged)).await,
        401,
        "mfa-code-invalid",
    )
    .await;

    // Signed for another origin.
    let elsewhere = assert_with(
        &app,
        &s,
        tok,
        &mut dev,
        Url::parse("https://localhost:1").unwrap(),
    )
    .await;
    assert_problem(
        s.mfa_passkey(&answer(tok, &elsewhere)).await,
        401,
        "mfa-code-invalid",
    )
    .await;

    // Not an assertion at all (in a fresh sign-in: one takes three wrong answers).
    let (s, ch) = password_step(&app, "jo@example.com").await;
    let tok = ch.pending_token.as_str();
    assert_with(&app, &s, tok, &mut dev, origin(&app)).await;
    assert_problem(
        s.mfa_passkey(&answer(tok, &json!([1, 2]))).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    assert_problem(s.me().await, 401, "authentication-required").await;

    // An unknown sign-in.
    assert_problem(
        s.mfa_passkey_options(&MfaPasskeyOptionsRequest {
            pending_token: "nope".into(),
        })
        .await,
        401,
        "mfa-pending-invalid",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_for_another_sign_in_is_refused() {
    let app = passkey_app().await;
    let mo = app.signup("mo@example.com").await;
    let mut dev = device();
    register(&app, &mo, &mut dev, "Key").await;
    // From another sign-in of the same user: its challenge is not this one's.
    let (s2, ch2) = password_step(&app, "mo@example.com").await;
    let other = assert_with(&app, &s2, &ch2.pending_token, &mut dev, origin(&app)).await;
    let (s3, ch3) = password_step(&app, "mo@example.com").await;
    assert_with(&app, &s3, &ch3.pending_token, &mut dev, origin(&app)).await;
    assert_problem(
        s3.mfa_passkey(&answer(&ch3.pending_token, &other)).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    // The rightful sign-in still works with its own answer.
    s2.mfa_passkey(&answer(&ch2.pending_token, &other))
        .await
        .expect(200)
        .await;
}

#[tokio::test]
async fn wrong_assertions_are_throttled_like_wrong_codes() {
    let app = passkey_app().await;
    let kay = app.signup("kay@example.com").await;
    let mut dev = device();
    register(&app, &kay, &mut dev, "Key").await;
    let (s, ch) = password_step(&app, "kay@example.com").await;
    let tok = ch.pending_token.as_str();
    let good = assert_with(&app, &s, tok, &mut dev, origin(&app)).await;
    for _ in 0..3 {
        assert_problem(
            s.mfa_passkey(&answer(tok, &json!({}))).await,
            401,
            "mfa-code-invalid",
        )
        .await;
    }
    // Three wrong answers burn this sign-in attempt.
    assert_problem(
        s.mfa_passkey(&answer(tok, &good)).await,
        401,
        "mfa-pending-invalid",
    )
    .await;
    // Wrong passkeys count like wrong passwords: across attempts, the account is
    // throttled after five.
    let (s, ch) = password_step(&app, "kay@example.com").await;
    let tok = ch.pending_token.as_str();
    let good = assert_with(&app, &s, tok, &mut dev, origin(&app)).await;
    for _ in 0..2 {
        assert_problem(
            s.mfa_passkey(&answer(tok, &json!({}))).await,
            401,
            "mfa-code-invalid",
        )
        .await;
    }
    let r = s.mfa_passkey(&answer(tok, &good)).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "too-many-attempts").await;
    assert_problem(s.me().await, 401, "authentication-required").await;
    // Once the limit has passed, this sign-in attempt has long expired.
    app.advance(Duration::from_secs(60 * 60));
    assert_problem(
        s.mfa_passkey(&answer(tok, &good)).await,
        401,
        "mfa-pending-invalid",
    )
    .await;
}

#[tokio::test]
async fn a_removed_passkey_signs_in_no_more() {
    let app = passkey_app().await;
    let lu = app.signup("lu@example.com").await;
    let mut dev = device();
    let pk = register(&app, &lu, &mut dev, "Key").await;
    let (s, ch) = password_step(&app, "lu@example.com").await;
    let cred = assert_with(&app, &s, &ch.pending_token, &mut dev, origin(&app)).await;
    lu.remove_passkey(pk.id, &password(PASSWORD))
        .await
        .no_content()
        .await;
    assert_problem(
        s.mfa_passkey(&answer(&ch.pending_token, &cred)).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    // Without a second factor the password alone signs in again.
    app.login_session("lu@example.com").await;
}

#[tokio::test]
async fn a_signature_behind_the_stored_counter_is_refused_as_a_clone() {
    let app = passkey_app().await;
    let ned = app.signup("ned@example.com").await;
    let mut dev = device();
    register(&app, &ned, &mut dev, "Key").await;
    // Two sign-ins get their options; the device signs the first (counter 1), then the
    // second (counter 2), which is used first.
    let (s1, ch1) = password_step(&app, "ned@example.com").await;
    let (s2, ch2) = password_step(&app, "ned@example.com").await;
    let older = assert_with(&app, &s1, &ch1.pending_token, &mut dev, origin(&app)).await;
    let newer = assert_with(&app, &s2, &ch2.pending_token, &mut dev, origin(&app)).await;
    s2.mfa_passkey(&answer(&ch2.pending_token, &newer))
        .await
        .expect(200)
        .await;
    // A copy of the key that signed before would look like this: refused.
    assert_problem(
        s1.mfa_passkey(&answer(&ch1.pending_token, &older)).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    assert_problem(s1.me().await, 401, "authentication-required").await;
}

/// Registers a passkey and returns its credential id (base64url), which a
/// discoverable sign-in names.
async fn register_raw(app: &TestApp, s: &Session, dev: &mut SoftPasskey) -> String {
    let credential = attest(app, s, dev).await;
    let raw_id = credential["rawId"].as_str().unwrap().to_string();
    s.create_passkey(&CreatePasskeyRequest {
        name: "Key".into(),
        credential,
    })
    .await
    .expect(201)
    .await;
    raw_id
}

/// A sign-in with a passkey alone. `SoftPasskey` keeps no discoverable credentials (it
/// signs only for a credential id it is given), so the test plays the part of the
/// device's credential picker: it names the credential and adds the user handle a
/// discoverable passkey returns with its assertion (the handle is not signed; the
/// server must only use it to look up the key that the signature is checked against).
async fn sign_in_answer(
    app: &TestApp,
    s: &Session,
    dev: &mut SoftPasskey,
    raw_id: &str,
    user_handle: Option<uuid::Uuid>,
) -> PasskeySignInRequest {
    sign_in_answers(app, s, dev, raw_id, user_handle, 1)
        .await
        .remove(0)
}

/// `n` answers, each signed anew (the counter moving on), to one set of options.
async fn sign_in_answers(
    app: &TestApp,
    s: &Session,
    dev: &mut SoftPasskey,
    raw_id: &str,
    user_handle: Option<uuid::Uuid>,
    n: usize,
) -> Vec<PasskeySignInRequest> {
    use base64::Engine;
    let opts = s.passkey_sign_in_options().await.expect(200).await;
    assert!(
        opts.public_key
            .get("allowCredentials")
            .is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)),
        "a discoverable sign-in names no credential: {}",
        opts.public_key
    );
    let mut pk = opts.public_key.clone();
    pk["allowCredentials"] = json!([{"type": "public-key", "id": raw_id}]);
    let rcr: RequestChallengeResponse = serde_json::from_value(json!({ "publicKey": pk })).unwrap();
    (0..n)
        .map(|_| {
            let mut credential =
                serde_json::to_value(dev.do_authentication(origin(app), rcr.clone()).unwrap())
                    .unwrap();
            if let Some(u) = user_handle {
                credential["response"]["userHandle"] =
                    json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(u.as_bytes()));
            }
            PasskeySignInRequest {
                ceremony: opts.ceremony.clone(),
                credential,
            }
        })
        .collect()
}

#[tokio::test]
async fn a_passkey_alone_signs_in() {
    let app = passkey_app().await;
    let oz = app.signup("oz@example.com").await;
    let mut dev = device();
    let raw_id = register_raw(&app, &oz, &mut dev).await;

    let s = app.session();
    let mut answers = sign_in_answers(&app, &s, &mut dev, &raw_id, Some(oz.user.id), 2).await;
    let (req, second) = (answers.remove(0), answers.remove(0));
    let user = s.passkey_sign_in(&req).await.expect(200).await;
    assert_eq!(user.id, oz.user.id);
    assert_eq!(s.me().await.ok().await.id, oz.user.id);
    let sessions: Vec<SessionInfo> = json(s.get("/me/sessions").await).await;
    let current = sessions.iter().find(|x| x.current).unwrap();
    assert_eq!(current.sign_in_method, SignInMethod::Passkey);
    assert!(s.passkeys().await.ok().await[0].last_used_at.is_some());

    // The ceremony is used up: neither the same answer again nor a fresh signature of
    // its challenge (the counter moved on) signs in.
    let again = app.session();
    assert_problem(again.passkey_sign_in(&req).await, 400, "passkey-invalid").await;
    assert_problem(again.passkey_sign_in(&second).await, 400, "passkey-invalid").await;
    assert_problem(again.me().await, 401, "authentication-required").await;
}

#[tokio::test]
async fn a_passkey_sign_in_needs_the_right_user_a_valid_signature_and_a_live_ceremony() {
    let app = passkey_app().await;
    let pia = app.signup("pia@example.com").await;
    let quin = app.signup("quin@example.com").await;
    let mut dev = device();
    let raw_id = register_raw(&app, &pia, &mut dev).await;
    register_raw(&app, &quin, &mut device()).await;
    let s = app.session();

    // Pia's key presented as Quin's, or as nobody's.
    for handle in [Some(quin.user.id), None] {
        let req = sign_in_answer(&app, &s, &mut dev, &raw_id, handle).await;
        assert_problem(s.passkey_sign_in(&req).await, 400, "passkey-invalid").await;
    }
    // A forged signature.
    let mut req = sign_in_answer(&app, &s, &mut dev, &raw_id, Some(pia.user.id)).await;
    let sig = req.credential["response"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    req.credential["response"]["signature"] = json!(format!("{flipped}{}", &sig[1..]));
    assert_problem(s.passkey_sign_in(&req).await, 400, "passkey-invalid").await;
    // A ceremony that was never issued, or has expired.
    let mut req = sign_in_answer(&app, &s, &mut dev, &raw_id, Some(pia.user.id)).await;
    let real = std::mem::replace(&mut req.ceremony, "ghpk_not-a-ceremony".into());
    assert_problem(s.passkey_sign_in(&req).await, 400, "passkey-invalid").await;
    req.ceremony = real;
    app.advance(Duration::from_secs(5 * 60 + 1));
    assert_problem(s.passkey_sign_in(&req).await, 400, "passkey-invalid").await;
    assert_problem(s.me().await, 401, "authentication-required").await;
    // And a good one still works.
    let req = sign_in_answer(&app, &s, &mut dev, &raw_id, Some(pia.user.id)).await;
    s.passkey_sign_in(&req).await.expect(200).await;
}
