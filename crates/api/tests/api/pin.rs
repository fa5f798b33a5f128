//! PIN protection over HTTP: the org setting, personal PINs, the step-up window that
//! guards deleting connectors, revoking API keys and removing members, wrong PINs and
//! their lockout, reset by password plus emailed link, and the `sensitive` key scope.
use crate::support::*;
use gatehouse_types::{
    CreateApiKeyRequest, PinResetConfirm, PinResetRequest, SetPinRequest, UpdateSecuritySettings,
};
use serde_json::{Value, json};
use std::time::Duration;

const PIN: &str = "480913";
const OTHER_PIN: &str = "735201";

fn protection(on: bool) -> UpdateSecuritySettings {
    UpdateSecuritySettings {
        pin_protection: Some(on),
        ..Default::default()
    }
}

fn key_req(name: &str, scopes: &[ApiKeyScope]) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        name: name.into(),
        scopes: Some(scopes.to_vec()),
        expires_at: None,
    }
}

/// The org's whole audit log as text (the owner reads it).
async fn audit_text(owner: &Session, slug: &str) -> String {
    owner.audit_log(slug, "limit=200").await.text().await
}

/// `f`'s fixture with PIN protection switched on by its owner, who set `PIN` for it.
async fn protected(app: &TestApp) -> OrgFixture {
    let f = OrgFixture::new(app).await;
    f.owner.set_pin(&new_pin(PIN)).await.no_content().await;
    let s = f
        .owner
        .update_security_settings(f.slug(), &protection(true))
        .await
        .ok()
        .await;
    assert!(s.pin_protection);
    f
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn turning_protection_on_needs_the_callers_own_pin_and_off_needs_a_step_up() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    assert!(
        !f.owner
            .security_settings(slug)
            .await
            .ok()
            .await
            .pin_protection
    );

    let r = f
        .owner
        .update_security_settings(slug, &protection(true))
        .await;
    assert_problem(r, 409, "pin-not-set").await;
    assert!(
        !f.owner
            .security_settings(slug)
            .await
            .ok()
            .await
            .pin_protection
    );
    assert!(!f.owner.my_pin().await.ok().await.pin_set);

    f.owner.set_pin(&new_pin(PIN)).await.no_content().await;
    assert!(f.owner.my_pin().await.ok().await.pin_set);
    let s = f
        .owner
        .update_security_settings(slug, &protection(true))
        .await
        .ok()
        .await;
    assert!(s.pin_protection);
    // The admin sees it too; the IP allowlist part is untouched.
    let seen = f.admin.security_settings(slug).await.ok().await;
    assert!(seen.pin_protection);
    assert!(seen.ip_allowlist.is_empty());
    let ev = f.owner.events(slug, "org.pin_protection_changed").await;
    assert_eq!(ev.items.len(), 1);
    assert_eq!(
        ev.items[0].metadata,
        json!({"changes": {"pin_protection": {"from": false, "to": true}}})
    );

    // A key cannot switch it, with whatever scopes.
    let key = f
        .owner
        .create_api_key(
            slug,
            &key_req("rw", &[ApiKeyScope::Read, ApiKeyScope::Write]),
        )
        .await
        .expect(201)
        .await;
    let r = app
        .key_client(&key.secret)
        .update_security_settings(slug, &protection(false))
        .await;
    assert_problem(r, 403, "forbidden").await;

    // Off needs the PIN: whoever holds a session must not switch it off and go ahead.
    let r = f
        .owner
        .update_security_settings(slug, &protection(false))
        .await;
    assert_problem(r, 403, "pin-required").await;
    f.owner.verify_pin(slug, &pin_req(PIN)).await.ok().await;
    let s = f
        .owner
        .update_security_settings(slug, &protection(false))
        .await
        .ok()
        .await;
    assert!(!s.pin_protection);
    assert_eq!(
        f.owner
            .events(slug, "org.pin_protection_changed")
            .await
            .items
            .len(),
        2
    );
    // A plain member cannot change settings at all.
    let r = f
        .member
        .update_security_settings(slug, &protection(true))
        .await;
    assert_problem(r, 403, "insufficient-role").await;
}

#[tokio::test]
async fn guarded_actions_need_a_step_up_and_five_revocations_in_a_row_need_one_pin() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let slug = f.slug();
    let mut keys = Vec::new();
    for i in 0..5 {
        let k = f
            .owner
            .create_api_key(slug, &key_req(&format!("k{i}"), &[ApiKeyScope::Mcp]))
            .await
            .expect(201)
            .await;
        keys.push(k.api_key.id);
    }

    // The admin has no window: every guarded action asks for the PIN, nothing changes.
    let r = f.admin.revoke_api_key(slug, keys[0]).await;
    assert_problem(r, 403, "pin-required").await;
    let r = f.admin.delete_connector(slug, f.connector.id).await;
    assert_problem(r, 403, "pin-required").await;
    let r = f.admin.remove_member(slug, f.member.user.id).await;
    assert_problem(r, 403, "pin-required").await;
    assert_eq!(f.admin.connectors(slug).await.ok().await.len(), 1);
    assert_eq!(f.admin.members(slug).await.ok().await.len(), 3);
    let active = |ks: Vec<gatehouse_types::ApiKey>| {
        ks.iter()
            .filter(|k| k.status == gatehouse_types::ApiKeyStatus::Active)
            .count()
    };
    assert_eq!(active(f.admin.api_keys(slug).await.ok().await), 6);
    // Unguarded actions go on as before.
    let c = f
        .admin
        .create_connector(
            slug,
            &connector_req("Other", "https://other.example.com/mcp"),
        )
        .await
        .expect(201)
        .await;

    // The admin's own PIN opens one window: five revocations, a deletion and a
    // removal in a row, without asking again.
    f.admin
        .set_pin(&new_pin(OTHER_PIN))
        .await
        .no_content()
        .await;
    let w = f
        .admin
        .verify_pin(slug, &pin_req(OTHER_PIN))
        .await
        .ok()
        .await;
    assert_eq!(w.expires_in, 600);
    for id in &keys {
        f.admin.revoke_api_key(slug, *id).await.no_content().await;
    }
    f.admin
        .delete_connector(slug, f.connector.id)
        .await
        .no_content()
        .await;
    f.admin
        .remove_member(slug, f.member.user.id)
        .await
        .no_content()
        .await;
    assert_eq!(active(f.admin.api_keys(slug).await.ok().await), 1);
    assert_eq!(f.admin.members(slug).await.ok().await.len(), 2);

    // The window belongs to that session: the same admin signed in elsewhere has none,
    // and neither does the owner.
    let elsewhere = app.login_session("fixture-admin@example.com").await;
    let r = elsewhere.delete_connector(slug, c.id).await;
    assert_problem(r, 403, "pin-required").await;
    let r = f.owner.delete_connector(slug, c.id).await;
    assert_problem(r, 403, "pin-required").await;
    let ev = f.owner.events(slug, "auth.pin_step_up").await;
    assert_eq!(ev.items.len(), 1);
    assert_eq!(ev.items[0].metadata["user_id"], json!(f.admin.user.id));
}

#[tokio::test]
async fn a_window_opened_in_one_org_does_not_open_another() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    // The owner's own second org, protected too.
    let other = app.create_org(&f.owner, "Owner's Other").await;
    f.owner
        .update_security_settings(&other.slug, &protection(true))
        .await
        .ok()
        .await;
    let key = f
        .owner
        .create_api_key(f.slug(), &key_req("k", &[ApiKeyScope::Mcp]))
        .await
        .expect(201)
        .await;
    f.owner
        .verify_pin(&other.slug, &pin_req(PIN))
        .await
        .ok()
        .await;
    // The window is per session *and* org: the first org still asks.
    let r = f.owner.revoke_api_key(f.slug(), key.api_key.id).await;
    assert_problem(r, 403, "pin-required").await;
    f.owner.verify_pin(f.slug(), &pin_req(PIN)).await.ok().await;
    f.owner
        .revoke_api_key(f.slug(), key.api_key.id)
        .await
        .no_content()
        .await;
}

#[tokio::test]
async fn leaving_an_org_is_not_guarded_and_protection_off_guards_nothing() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    // Off: as before, no PIN anywhere.
    let k = f
        .owner
        .create_api_key(slug, &key_req("k", &[ApiKeyScope::Mcp]))
        .await
        .expect(201)
        .await;
    f.admin
        .revoke_api_key(slug, k.api_key.id)
        .await
        .no_content()
        .await;
    f.owner.set_pin(&new_pin(PIN)).await.no_content().await;
    f.owner
        .update_security_settings(slug, &protection(true))
        .await
        .ok()
        .await;
    // On: a member may still leave without a PIN.
    f.member
        .remove_member(slug, f.member.user.id)
        .await
        .no_content()
        .await;
}

#[tokio::test]
async fn the_step_up_window_closes_after_its_time() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let slug = f.slug();
    let mut keys = Vec::new();
    for i in 0..3 {
        let k = f
            .owner
            .create_api_key(slug, &key_req(&format!("k{i}"), &[ApiKeyScope::Mcp]))
            .await
            .expect(201)
            .await;
        keys.push(k.api_key.id);
    }
    f.owner.verify_pin(slug, &pin_req(PIN)).await.ok().await;
    app.advance(Duration::from_secs(590));
    f.owner
        .revoke_api_key(slug, keys[0])
        .await
        .no_content()
        .await;
    app.advance(Duration::from_secs(20));
    let r = f.owner.revoke_api_key(slug, keys[1]).await;
    assert_problem(r, 403, "pin-required").await;
    // Entering the PIN again opens a new window.
    f.owner.verify_pin(slug, &pin_req(PIN)).await.ok().await;
    f.owner
        .revoke_api_key(slug, keys[1])
        .await
        .no_content()
        .await;
}

#[tokio::test]
async fn five_wrong_pins_lock_the_pin_with_a_growing_back_off_an_audit_event_and_an_email() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let slug = f.slug();
    let admin_email = "fixture-admin@example.com";
    f.admin
        .set_pin(&new_pin(OTHER_PIN))
        .await
        .no_content()
        .await;
    let mails_before = app.mail_count(admin_email);

    let lock = |expect_secs: u64| {
        let admin = &f.admin;
        async move {
            for i in 1..=4 {
                let r = admin.verify_pin(slug, &pin_req("111222")).await;
                let p = assert_problem(r, 403, "pin-invalid").await;
                assert!(!p.detail.unwrap_or_default().contains("111222"), "try {i}");
            }
            let r: reqwest::Response = admin.verify_pin(slug, &pin_req("111222")).await.into();
            assert_eq!(retry_after(&r), expect_secs);
            assert_problem(r, 429, "pin-locked").await;
        }
    };
    lock(300).await;
    // Locked: even the right PIN is refused, without being checked.
    let r: reqwest::Response = f.admin.verify_pin(slug, &pin_req(OTHER_PIN)).await.into();
    let secs = retry_after(&r);
    assert!((295..=300).contains(&secs), "{secs}");
    assert_problem(r, 429, "pin-locked").await;
    assert!(f.admin.my_pin().await.ok().await.locked_until.is_some());
    let mail = app
        .wait_for_mail(admin_email, "Your Gatehouse PIN is locked")
        .await;
    assert!(!mail.data.contains(OTHER_PIN) && !mail.data.contains("111222"));
    let ev = f.owner.events(slug, "auth.pin_locked").await;
    assert_eq!(ev.items.len(), 1);
    assert_eq!(ev.items[0].metadata["lockouts"], json!(1));

    // The second lock in a row lasts twice as long.
    app.advance(Duration::from_secs(301));
    lock(600).await;
    assert_eq!(f.owner.events(slug, "auth.pin_locked").await.items.len(), 2);
    // One email a lock (mail leaves through the queue, a moment after the answer).
    for _ in 0..200 {
        if app.mail_count(admin_email) >= mails_before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.mail_count(admin_email), mails_before + 2);

    // Once it has passed, the right PIN opens a window and the back-off starts over.
    app.advance(Duration::from_secs(601));
    f.admin
        .verify_pin(slug, &pin_req(OTHER_PIN))
        .await
        .ok()
        .await;
    assert!(f.admin.my_pin().await.ok().await.locked_until.is_none());
    lock(300).await;

    // Neither PIN is anywhere in the audit log.
    let log = audit_text(&f.owner, slug).await;
    assert!(log.contains("auth.pin_locked"));
    for secret in [PIN, OTHER_PIN, "111222"] {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }
}

#[tokio::test]
async fn ten_guesses_at_once_get_at_most_five_checks_and_every_refusal_names_the_real_lock() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let slug = f.slug();
    f.admin
        .set_pin(&new_pin(OTHER_PIN))
        .await
        .no_content()
        .await;
    let guesses = (0..10).map(|_| {
        let admin = &f.admin;
        async move {
            let r: reqwest::Response = admin.verify_pin(slug, &pin_req("111222")).await.into();
            let status = r.status().as_u16();
            let after = (status == 429).then(|| retry_after(&r));
            (status, after)
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let wrong = answers.iter().filter(|(s, _)| *s == 403).count();
    let locked: Vec<u64> = answers.iter().filter_map(|(_, a)| *a).collect();
    assert_eq!(wrong + locked.len(), 10, "{answers:?}");
    assert_eq!(
        wrong, 4,
        "five slots: four wrong answers and the one that locks"
    );
    // The lock is set by the try that takes the last slot, so even a guess that
    // arrives while that try is being checked is told the lock's real length.
    assert!(locked.iter().all(|s| (295..=300).contains(s)), "{locked:?}");
    assert_eq!(f.owner.events(slug, "auth.pin_locked").await.items.len(), 1);
}

#[tokio::test]
async fn wrong_current_pins_count_towards_the_lockout_too() {
    let app = spawn_app().await;
    let me = app.signup("pat@example.com").await;
    me.set_pin(&new_pin(PIN)).await.no_content().await;
    let change = |current: &str| SetPinRequest {
        current_pin: Some(current.into()),
        ..new_pin(OTHER_PIN)
    };
    for _ in 0..4 {
        let r = me.set_pin(&change("111222")).await;
        assert_problem(r, 403, "pin-invalid").await;
    }
    let r = me.set_pin(&change("111222")).await;
    assert_problem(r, 429, "pin-locked").await;
    let r = me.set_pin(&change(PIN)).await;
    assert_problem(r, 429, "pin-locked").await;
}

#[tokio::test]
async fn changing_a_pin_needs_the_current_pin_or_the_password() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let me = &f.member;
    me.set_pin(&new_pin(PIN)).await.no_content().await;
    // Without proof: refused, the PIN stays.
    let r = me.set_pin(&new_pin(OTHER_PIN)).await;
    let p = assert_problem(r, 422, "validation").await;
    assert_eq!(fields(&p), ["current_pin"]);
    let r = me
        .set_pin(&SetPinRequest {
            current_pin: Some(OTHER_PIN.into()),
            ..new_pin(OTHER_PIN)
        })
        .await;
    assert_problem(r, 403, "pin-invalid").await;
    let r = me
        .set_pin(&SetPinRequest {
            password: Some("not the password".into()),
            ..new_pin(OTHER_PIN)
        })
        .await;
    assert_problem(r, 401, "invalid-credentials").await;
    me.verify_pin(f.slug(), &pin_req(PIN)).await.ok().await;

    // With the password, then with the current PIN.
    me.set_pin(&SetPinRequest {
        password: Some(PASSWORD.into()),
        ..new_pin(OTHER_PIN)
    })
    .await
    .no_content()
    .await;
    let r = me.verify_pin(f.slug(), &pin_req(PIN)).await;
    assert_problem(r, 403, "pin-invalid").await;
    me.verify_pin(f.slug(), &pin_req(OTHER_PIN))
        .await
        .ok()
        .await;
    me.set_pin(&SetPinRequest {
        current_pin: Some(OTHER_PIN.into()),
        ..new_pin(PIN)
    })
    .await
    .no_content()
    .await;
    me.verify_pin(f.slug(), &pin_req(PIN)).await.ok().await;

    let actions: Vec<(String, Value)> = f
        .owner
        .events(f.slug(), "user.")
        .await
        .items
        .into_iter()
        .filter(|e| e.action.starts_with("user.pin_"))
        .map(|e| (e.action, e.metadata))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.pin_changed".to_string(), json!({"proof": "pin"})),
            ("user.pin_changed".to_string(), json!({"proof": "password"})),
            ("user.pin_set".to_string(), json!({})),
        ]
    );
}

#[tokio::test]
async fn a_forgotten_pin_is_reset_with_the_password_and_an_emailed_link() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let slug = f.slug();
    let owner_email = "fixture-owner@example.com";
    // Locked out by wrong tries.
    for _ in 0..5 {
        f.owner.verify_pin(slug, &pin_req("111222")).await;
    }
    let r = f.owner.verify_pin(slug, &pin_req(PIN)).await;
    assert_problem(r, 429, "pin-locked").await;

    let r = f
        .owner
        .request_pin_reset(&PinResetRequest {
            password: "not the password".into(),
        })
        .await;
    assert_problem(r, 401, "invalid-credentials").await;
    f.owner
        .request_pin_reset(&PinResetRequest {
            password: PASSWORD.into(),
        })
        .await
        .expect(202)
        .await;
    let token = app
        .wait_for_mail(owner_email, "Reset your Gatehouse PIN")
        .await
        .token("pin-reset");

    // Another account cannot use the link.
    let stranger = app.signup("stranger@example.com").await;
    let bad = PinResetConfirm {
        token: "ghpr_nonsense".into(),
        pin: OTHER_PIN.into(),
        confirm: OTHER_PIN.into(),
    };
    let r = stranger.confirm_pin_reset(&bad).await;
    assert_problem(r, 400, "token-invalid").await;
    // A bad PIN is refused before the link is spent.
    let r = f
        .owner
        .confirm_pin_reset(&PinResetConfirm {
            token: token.clone(),
            pin: "12345".into(),
            confirm: "12345".into(),
        })
        .await;
    assert_problem(r, 422, "validation").await;
    let reset = PinResetConfirm {
        token: token.clone(),
        pin: OTHER_PIN.into(),
        confirm: OTHER_PIN.into(),
    };
    f.owner.confirm_pin_reset(&reset).await.no_content().await;
    // The lock is lifted, the new PIN works and the old one does not; the link is spent.
    let r = f.owner.verify_pin(slug, &pin_req(PIN)).await;
    assert_problem(r, 403, "pin-invalid").await;
    f.owner
        .verify_pin(slug, &pin_req(OTHER_PIN))
        .await
        .ok()
        .await;
    let r = f.owner.confirm_pin_reset(&reset).await;
    assert_problem(r, 400, "token-invalid").await;
    assert_eq!(f.owner.events(slug, "user.pin_reset").await.items.len(), 1);

    // The token someone else asked for is useless in a stranger's session.
    f.admin.set_pin(&new_pin(PIN)).await.no_content().await;
    f.admin
        .request_pin_reset(&PinResetRequest {
            password: PASSWORD.into(),
        })
        .await
        .expect(202)
        .await;
    let token = app
        .wait_for_mail("fixture-admin@example.com", "Reset your Gatehouse PIN")
        .await
        .token("pin-reset");
    let r = stranger
        .confirm_pin_reset(&PinResetConfirm {
            token,
            pin: OTHER_PIN.into(),
            confirm: OTHER_PIN.into(),
        })
        .await;
    assert_problem(r, 400, "token-invalid").await;
    f.admin.verify_pin(slug, &pin_req(PIN)).await.ok().await;
}

#[tokio::test]
async fn only_a_step_up_grants_the_sensitive_scope_and_only_it_lets_a_key_do_guarded_actions() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let slug = f.slug();
    let sensitive = [ApiKeyScope::Write, ApiKeyScope::Sensitive];
    let r = f
        .owner
        .create_api_key(slug, &key_req("s", &sensitive))
        .await;
    assert_problem(r, 403, "pin-required").await;
    let r = f
        .owner
        .create_api_key(slug, &key_req("s", &[ApiKeyScope::Sensitive]))
        .await;
    let p = assert_problem(r, 422, "validation").await;
    assert_eq!(fields(&p), ["scopes"]);
    let plain = f
        .owner
        .create_api_key(
            slug,
            &key_req("rw", &[ApiKeyScope::Read, ApiKeyScope::Write]),
        )
        .await
        .expect(201)
        .await;

    f.owner.verify_pin(slug, &pin_req(PIN)).await.ok().await;
    let strong = f
        .owner
        .create_api_key(slug, &key_req("s", &sensitive))
        .await
        .expect(201)
        .await;
    assert_eq!(strong.api_key.scopes, sensitive);
    let ev = f.owner.events(slug, "api_key.created").await;
    assert_eq!(
        ev.items[0].metadata["scopes"],
        json!(["write", "sensitive"])
    );

    // While protection is on, a key without `sensitive` is refused on guarded actions.
    let plain_key = app.key_client(&plain.secret);
    let r = plain_key.delete_connector(slug, f.connector.id).await;
    assert_problem(r, 403, "insufficient-scope").await;
    let r = plain_key.remove_member(slug, f.member.user.id).await;
    assert_problem(r, 403, "insufficient-scope").await;
    // Its unguarded writes go on.
    plain_key
        .create_connector(slug, &connector_req("Kept", "https://kept.example.com/mcp"))
        .await
        .expect(201)
        .await;
    let strong_key = app.key_client(&strong.secret);
    strong_key
        .delete_connector(slug, f.connector.id)
        .await
        .no_content()
        .await;
    strong_key
        .remove_member(slug, f.member.user.id)
        .await
        .no_content()
        .await;

    // With protection off, keys behave as before.
    f.owner
        .update_security_settings(slug, &protection(false))
        .await
        .ok()
        .await;
    let c = plain_key.connectors(slug).await.ok().await;
    plain_key
        .delete_connector(slug, c[0].id)
        .await
        .no_content()
        .await;
}

#[tokio::test]
async fn a_member_of_another_org_gets_404_from_pin_verify() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let other = OrgFixture::named(&app, "other", "Other Org").await;
    other.owner.set_pin(&new_pin(PIN)).await.no_content().await;
    let r = other.owner.verify_pin(f.slug(), &pin_req(PIN)).await;
    assert_problem(r, 404, "not-found").await;
    // Its own org's window does not open this one.
    other
        .owner
        .verify_pin(other.slug(), &pin_req(PIN))
        .await
        .ok()
        .await;
    let r = other
        .key_client(&app)
        .verify_pin(f.slug(), &pin_req(PIN))
        .await;
    assert_problem(r, 404, "not-found").await;
}

#[tokio::test]
async fn bad_pin_input_gets_a_clear_4xx_and_the_pin_is_never_echoed() {
    let app = spawn_app().await;
    let f = protected(&app).await;
    let slug = f.slug();
    let me = &f.member;
    for (pin, confirm, field) in [
        ("12345", "12345", "pin"),
        ("1234567", "1234567", "pin"),
        ("48O913", "48O913", "pin"),
        ("１２３４５６", "１２３４５６", "pin"),
        ("123456", "123456", "pin"),
        ("111111", "111111", "pin"),
        ("480913", "480914", "confirm"),
    ] {
        let r = me
            .set_pin(&SetPinRequest {
                pin: pin.into(),
                confirm: confirm.into(),
                ..Default::default()
            })
            .await;
        let p = assert_problem(r, 422, "validation").await;
        assert_eq!(fields(&p), [field], "{pin}");
        assert!(!serde_json::to_string(&p).unwrap().contains(pin), "{pin}");
    }
    // Wrong shapes.
    let r = me
        .call(
            "PUT",
            "/me/pin",
            Some(json!({"pin": 480913, "confirm": 480913})),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = me
        .call(
            "PUT",
            "/me/pin",
            Some(json!({"pin": PIN, "confirm": PIN, "extra": 1})),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    // No PIN yet: verify says so.
    let r = me.verify_pin(slug, &pin_req(PIN)).await;
    assert_problem(r, 409, "pin-not-set").await;
    let r = me.verify_pin(slug, &pin_req("12")).await;
    assert_problem(r, 422, "validation").await;
    let r = me
        .request_pin_reset(&PinResetRequest {
            password: PASSWORD.into(),
        })
        .await;
    assert_problem(r, 409, "pin-not-set").await;
    // Signed out: 401; an API key cannot enter a PIN.
    let r = app.session().set_pin(&new_pin(PIN)).await;
    assert_problem(r, 401, "authentication-required").await;
    let key = f
        .owner
        .create_api_key(
            slug,
            &key_req("rw", &[ApiKeyScope::Read, ApiKeyScope::Write]),
        )
        .await
        .expect(201)
        .await;
    let r = app
        .key_client(&key.secret)
        .verify_pin(slug, &pin_req(PIN))
        .await;
    assert_problem(r, 403, "forbidden").await;

    // Set: nothing in the response, and the hash is argon2id.
    let r = me.set_pin(&new_pin(PIN)).await;
    assert_eq!(r.status(), 204);
    assert!(!r.text().await.contains(PIN));
    let w: reqwest::Response = me.verify_pin(slug, &pin_req(PIN)).await.into();
    assert_eq!(w.headers()["cache-control"], "no-store");
    assert!(!w.text().await.unwrap().contains(PIN));
    let status = me.my_pin().await.text().await;
    assert!(!status.contains(PIN) && !status.contains("argon2"));
    let hash = {
        use sea_orm::EntityTrait;
        gatehouse::entity::user_pin::Entity::find_by_id(me.user.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .pin_hash
    };
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PIN));
}
