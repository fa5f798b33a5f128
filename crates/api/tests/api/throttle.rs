//! Login throttling under concurrency, the known-device exemption from the account
//! lock, and the limits on emails a stranger can cause.
use crate::support::*;
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Statement};
use std::time::Duration;

/// The count of the throttle row `key` (0 when there is none).
async fn counted(app: &TestApp, key: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT failures FROM login_throttles WHERE key = '{key}'"),
        ))
        .await
        .unwrap();
    row.map(|r| i64::from(r.try_get::<i32>("", "failures").unwrap()))
        .unwrap_or(0)
}

#[tokio::test]
async fn a_parallel_burst_of_guesses_gets_at_most_the_limit_evaluated_across_replicas() {
    const LIMIT: usize = 5;
    let app = spawn_app_with(|c| c.login.account_max_failures = LIMIT as i32).await;
    app.signup("burst@example.com").await;
    let other = app.replica().await;
    // 39 wrong guesses at once, half on each replica…
    let wrong = join_all((0..39).map(|i| {
        let target = if i % 2 == 0 { &app } else { &other };
        async move {
            target
                .login("burst@example.com", &format!("wrong guess number {i}"))
                .await
        }
    }));
    // …and the right password in the middle of the burst, once the limit is taken.
    let right = async {
        for _ in 0..400 {
            if counted(&app, "account:burst@example.com").await >= LIMIT as i64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        other.login("burst@example.com", PASSWORD).await
    };
    let (wrong, right) = tokio::join!(wrong, right);
    let mut evaluated = 0;
    let mut throttled = 0;
    for r in wrong {
        match r.status().as_u16() {
            401 => evaluated += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                assert_problem(r, 429, "too-many-attempts").await;
                throttled += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(
        (evaluated, throttled),
        (LIMIT, 39 - LIMIT),
        "passwords checked vs throttled"
    );
    assert_problem(right, 429, "too-many-attempts").await;
}

#[tokio::test]
async fn a_strangers_guesses_lock_the_account_but_not_the_devices_its_user_signed_in_on() {
    let app = spawn_app_with(|c| c.login.account_max_failures = 3).await;
    app.signup("kim@example.com").await;
    app.signup("lee@example.com").await;
    // Kim signed in on a laptop before; the laptop keeps its device cookie.
    let laptop = app.login_session("kim@example.com").await;
    laptop.s.logout().await;
    for _ in 0..3 {
        assert_problem(
            app.login("kim@example.com", "a stranger's guess").await,
            401,
            "invalid-credentials",
        )
        .await;
    }
    // A new browser is locked out, even with the right password…
    assert_problem(
        app.login("kim@example.com", PASSWORD).await,
        429,
        "too-many-attempts",
    )
    .await;
    // …a cookie with a forged signature does not help…
    let forged = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .header("origin", &app.base)
        .header(
            "cookie",
            "gatehouse_device=0192f0c4a5b67d8e9f0a1b2c3d4e5f60.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .json(&login_req("kim@example.com", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_problem(forged, 429, "too-many-attempts").await;
    // …but the laptop signs in.
    let r = laptop
        .s
        .login(&login_req("kim@example.com", PASSWORD))
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get_all("set-cookie").iter().any(|c| c
            .to_str()
            .unwrap()
            .starts_with("gatehouse_device=")
            && c.to_str().unwrap().contains("HttpOnly")),
        "the device cookie is renewed"
    );
    // The laptop's cookie is Kim's: for Lee's account it is just another browser.
    for _ in 0..3 {
        app.login("lee@example.com", "a stranger's guess").await;
    }
    let r = laptop
        .s
        .login(&login_req("lee@example.com", PASSWORD))
        .await;
    assert_problem(r, 429, "too-many-attempts").await;
    // A known device still gets only the limit of wrong guesses per window.
    for _ in 0..3 {
        let r = laptop
            .s
            .login(&login_req("kim@example.com", "kim mistyped it"))
            .await;
        assert_problem(r, 401, "invalid-credentials").await;
    }
    let r = laptop
        .s
        .login(&login_req("kim@example.com", PASSWORD))
        .await;
    assert_problem(r, 429, "too-many-attempts").await;
}

#[tokio::test]
async fn a_password_reset_lifts_the_account_lock_for_new_devices() {
    let app = spawn_app_with(|c| c.login.account_max_failures = 2).await;
    app.signup("max@example.com").await;
    for _ in 0..2 {
        app.login("max@example.com", "a stranger's guess").await;
    }
    assert_problem(
        app.login("max@example.com", PASSWORD).await,
        429,
        "too-many-attempts",
    )
    .await;
    let s = app.session();
    s.request_password_reset(&reset_req("max@example.com"))
        .await;
    let token = app
        .wait_for_mail("max@example.com", "reset-password")
        .await
        .token("reset-password");
    let r = s
        .confirm_password_reset(&gatehouse_types::PasswordResetConfirm {
            token,
            new_password: "a fresh passphrase here".into(),
        })
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.login("max@example.com", "a fresh passphrase here")
            .await
            .status(),
        200
    );
}

/// Lets mail sent in the background arrive before counting.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn password_reset_emails_are_limited_per_address_with_the_same_answer() {
    let app = spawn_app_with(|c| c.mail_limit.per_recipient = 3).await;
    app.signup("nia@example.com").await;
    let s = app.session();
    let ghost = s
        .request_password_reset(&reset_req("ghost@example.com"))
        .await
        .text()
        .await;
    for _ in 0..30 {
        let r = s
            .request_password_reset(&reset_req("nia@example.com"))
            .await;
        assert_eq!(r.status(), 202);
        assert_eq!(r.text().await, ghost, "no account enumeration");
    }
    settle().await;
    // The sign-up's verification email counts too: 1 + 2 resets.
    assert_eq!(app.mail_count("nia@example.com"), 3);
    // The limit is per address: another account still gets its email.
    app.signup("oli@example.com").await;
    s.request_password_reset(&reset_req("oli@example.com"))
        .await;
    app.wait_for_mail("oli@example.com", "reset-password").await;
    // A new window after an hour.
    app.advance(Duration::from_secs(3601));
    s.request_password_reset(&reset_req("nia@example.com"))
        .await;
    settle().await;
    assert_eq!(app.mail_count("nia@example.com"), 4);
}

#[tokio::test]
async fn one_client_causes_a_limited_number_of_emails_whatever_the_addresses() {
    let app = spawn_app_with(|c| c.mail_limit.per_requester = 4).await;
    // Three sign-ups from this client: three verification emails.
    for name in ["pia", "quin", "rae"] {
        app.signup(&format!("{name}@example.com")).await;
    }
    let s = app.session();
    for name in ["pia", "quin", "rae", "pia", "quin", "rae"] {
        let r = s
            .request_password_reset(&reset_req(&format!("{name}@example.com")))
            .await;
        assert_eq!(r.status(), 202);
    }
    settle().await;
    let total = |app: &TestApp| {
        ["pia", "quin", "rae", "sam"]
            .iter()
            .map(|n| app.mail_count(&format!("{n}@example.com")))
            .sum::<usize>()
    };
    assert_eq!(total(&app), 4, "3 verifications + 1 reset");
    // Sign-ups beyond the limit still work; only the email is held back.
    app.signup("sam@example.com").await;
    settle().await;
    assert_eq!(total(&app), 4);
}

#[tokio::test]
async fn invitations_to_one_address_are_limited_and_a_refused_one_writes_nothing() {
    let app = spawn_app_with(|c| c.mail_limit.per_recipient = 2).await;
    let owner = app.signup("tess@example.com").await;
    let org = app.create_org(&owner.s, "Limits").await;
    let path = format!("/orgs/{}/invitations", org.slug);
    for _ in 0..2 {
        let r = owner
            .s
            .invite(&org.slug, &invite_req("uma@example.com", Role::Member))
            .await;
        assert_eq!(r.status(), 201);
    }
    let r = owner
        .s
        .invite(&org.slug, &invite_req("uma@example.com", Role::Member))
        .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    assert_problem(r, 429, "too-many-attempts").await;
    settle().await;
    assert_eq!(app.mail_count("uma@example.com"), 2);
    // The refused request replaced nothing: the second invitation is still pending.
    let list: serde_json::Value = json(owner.s.get(&path).await).await;
    let pending = list
        .as_array()
        .or_else(|| list["items"].as_array())
        .unwrap()
        .iter()
        .filter(|i| i["email"] == "uma@example.com" && i["status"] == "pending")
        .count();
    assert_eq!(pending, 1);
    // A request that fails sends nothing and uses up no email (Tess's verification
    // email took one of her two).
    for _ in 0..3 {
        let r = owner
            .s
            .invite(&org.slug, &invite_req("tess@example.com", Role::Member))
            .await;
        assert_problem(r, 409, "already-member").await;
    }
}

#[tokio::test]
async fn password_confirmations_in_settings_count_against_the_login_limit() {
    use gatehouse_types::{ChangePasswordRequest, PinResetRequest};
    let app = spawn_app_with(|c| c.login.account_max_failures = 3).await;
    let s = app.signup("pam@example.com").await;
    let wrong = "a thief's guess at it";
    // A stolen session cookie is not a way to guess the password without limit: each
    // route that asks for the password again takes a slot of the same counter.
    let p = assert_problem(
        s.change_password(&ChangePasswordRequest {
            current_password: wrong.into(),
            new_password: "a brand new passphrase".into(),
        })
        .await,
        401,
        "invalid-credentials",
    )
    .await;
    assert_eq!(fields(&p), ["current_password"]);
    assert_problem(
        s.request_pin_reset(&PinResetRequest {
            password: wrong.into(),
        })
        .await,
        401,
        "invalid-credentials",
    )
    .await;
    assert_problem(
        app.login("pam@example.com", wrong).await,
        401,
        "invalid-credentials",
    )
    .await;
    // The limit is reached: even the right password waits, in settings and at login.
    let r = s
        .change_password(&ChangePasswordRequest {
            current_password: PASSWORD.into(),
            new_password: "a brand new passphrase".into(),
        })
        .await;
    assert_problem(r, 429, "too-many-attempts").await;
    assert_problem(
        app.login("pam@example.com", PASSWORD).await,
        429,
        "too-many-attempts",
    )
    .await;
}
