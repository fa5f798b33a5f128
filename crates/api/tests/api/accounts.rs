use crate::support::*;
use gatehouse_types::{
    ChangePasswordRequest, PasswordResetConfirm, PasswordResetRequest, SignupRequest,
    UpdateMeRequest,
};

fn set_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn session_token(r: &reqwest::Response) -> String {
    let c = set_cookie(r);
    let v = c
        .split("gatehouse_session=")
        .nth(1)
        .expect("session cookie");
    v.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn signup_sets_a_protected_session_cookie_and_the_emailed_link_verifies_the_address() {
    let app = spawn_app().await;
    let s = app.session();
    let r = s
        .signup(&SignupRequest {
            display_name: Some("Alice".into()),
            ..signup_req("  Alice@Example.COM ", PASSWORD)
        })
        .await;
    assert_eq!(r.status(), 201);
    let cookie = set_cookie(&r);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http public URL: no Secure flag"
    );
    let user = r.ok().await;
    assert_eq!(user.email, "alice@example.com");
    assert!(!user.email_verified);

    let mail = app.wait_for_mail("alice@example.com", "verify-email").await;
    assert!(mail.link("verify-email").starts_with(&app.base));
    let token = mail.token("verify-email");
    let me = s.verify_email(&token_req(&token)).await.ok().await;
    assert!(me.email_verified);
    let me = s.me().await.ok().await;
    assert!(me.email_verified);
    // Single use.
    assert_problem(
        s.verify_email(&token_req(&token)).await,
        400,
        "token-invalid",
    )
    .await;
    assert_problem(
        s.verify_email(&token_req("ghv_nonsense")).await,
        400,
        "token-invalid",
    )
    .await;
}

#[tokio::test]
async fn signup_rejects_bad_input_naming_every_field_and_writes_nothing() {
    let app = spawn_app().await;
    let s = app.session();
    let r = s.signup(&signup_req("not-an-email", "elevenchars")).await;
    let p = assert_problem(r, 422, "validation").await;
    assert_eq!(fields(&p), ["email", "password"]);
    let r = s
        .signup(&signup_req("a@example.com", &"x".repeat(1025)))
        .await;
    assert_problem(r, 422, "validation").await;
    // 12 and 1024 characters are the inclusive limits.
    let r = s.signup(&signup_req("b@example.com", "twelve chars")).await;
    assert_eq!(r.status(), 201);
    let r = app
        .session()
        .signup(&signup_req("c@example.com", &"é".repeat(1024)))
        .await;
    assert_eq!(r.status(), 201);
    assert_problem(
        app.login("a@example.com", &"x".repeat(1025)).await,
        401,
        "invalid-credentials",
    )
    .await;
}

#[tokio::test]
async fn an_email_is_unique_whatever_its_case() {
    let app = spawn_app().await;
    app.signup("dup@example.com").await;
    let r = app
        .session()
        .signup(&signup_req("DUP@example.com", PASSWORD))
        .await;
    assert_problem(r, 409, "email-taken").await;
}

#[tokio::test]
async fn login_accepts_the_right_password_only_and_logout_ends_the_session_server_side() {
    let app = spawn_app().await;
    app.signup("bob@example.com").await;
    assert_problem(
        app.login("bob@example.com", "wrong password!!").await,
        401,
        "invalid-credentials",
    )
    .await;
    // An unknown address gets the very same answer.
    assert_problem(
        app.login("nobody@example.com", PASSWORD).await,
        401,
        "invalid-credentials",
    )
    .await;

    let s = app.session();
    let r = s.login(&login_req("BOB@example.com", PASSWORD)).await;
    assert_eq!(r.status(), 200);
    let token = session_token(&r);
    assert_eq!(s.me().await.status(), 200);
    let r = s.logout().await;
    assert_eq!(r.status(), 204);
    assert!(set_cookie(&r).contains("Max-Age=0"));
    // The old token is dead on the server, not just forgotten by the browser.
    let raw = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header("cookie", format!("gatehouse_session={token}"))
        .send()
        .await
        .unwrap();
    assert_problem(raw, 401, "authentication-required").await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_retry_after_on_every_replica() {
    let app = spawn_app_with(|c| c.login.account_max_failures = 3).await;
    app.signup("carol@example.com").await;
    let other = app.replica().await;
    for i in 0..3 {
        let target = if i % 2 == 0 { &app } else { &other };
        assert_problem(
            target.login("carol@example.com", "wrong password!!").await,
            401,
            "invalid-credentials",
        )
        .await;
    }
    // Locked now, even with the right password, and on the other replica too.
    for target in [&app, &other] {
        let r = target.login("carol@example.com", PASSWORD).await;
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 900, "{retry}");
        assert_problem(r, 429, "too-many-attempts").await;
    }
    // Other accounts are unaffected.
    app.signup("dave@example.com").await;
    assert_eq!(app.login("dave@example.com", PASSWORD).await.status(), 200);
    // When the lock has passed, the right password works again.
    app.sql(&format!(
        "UPDATE login_throttles SET locked_until = {} WHERE key = 'account:carol@example.com'",
        app.minutes_ago(1)
    ))
    .await;
    assert_eq!(app.login("carol@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_throttled() {
    let app = spawn_app_with(|c| c.login.ip_max_failures = 4).await;
    for i in 0..4 {
        assert_problem(
            app.login(&format!("u{i}@example.com"), PASSWORD).await,
            401,
            "invalid-credentials",
        )
        .await;
    }
    assert_problem(
        app.login("u9@example.com", PASSWORD).await,
        429,
        "too-many-attempts",
    )
    .await;
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_but_keeps_this_one() {
    let app = spawn_app().await;
    let me = app.signup("erin@example.com").await;
    let laptop = app.login_session("erin@example.com").await;
    let change = |current: &str, new: &str| ChangePasswordRequest {
        current_password: current.into(),
        new_password: new.into(),
    };
    let r = me
        .change_password(&change("not my password", "a brand new passphrase"))
        .await;
    let p = assert_problem(r, 401, "invalid-credentials").await;
    assert_eq!(p.errors[0].field, "current_password");
    let r = me.change_password(&change(PASSWORD, "short")).await;
    assert_problem(r, 422, "validation").await;
    let r = me
        .change_password(&change(PASSWORD, "a brand new passphrase"))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(me.get("/me").await.status(), 200);
    assert_problem(laptop.get("/me").await, 401, "authentication-required").await;
    assert_problem(
        app.login("erin@example.com", PASSWORD).await,
        401,
        "invalid-credentials",
    )
    .await;
    assert_eq!(
        app.login("erin@example.com", "a brand new passphrase")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn password_reset_answers_alike_for_unknown_addresses_and_its_link_works_once() {
    let app = spawn_app().await;
    let old = app.signup("frank@example.com").await;
    let s = app.session();
    let reset = |email: &str| PasswordResetRequest {
        email: email.into(),
    };
    let unknown = s.request_password_reset(&reset("ghost@example.com")).await;
    assert_eq!(unknown.status(), 202);
    let unknown_body = unknown.into_response().text().await.unwrap();
    let known = s.request_password_reset(&reset("Frank@example.com")).await;
    assert_eq!(known.status(), 202);
    assert_eq!(known.into_response().text().await.unwrap(), unknown_body);

    let token = app
        .wait_for_mail("frank@example.com", "reset-password")
        .await
        .token("reset-password");
    assert_eq!(app.mail_count("ghost@example.com"), 0);
    let confirm = |new: &str| PasswordResetConfirm {
        token: token.clone(),
        new_password: new.into(),
    };
    let r = s.confirm_password_reset(&confirm("short")).await;
    assert_problem(r, 422, "validation").await;
    let r = s
        .confirm_password_reset(&confirm("reset to this passphrase"))
        .await;
    assert_eq!(r.status(), 204);
    // Every session ended; the new password works; the link is spent.
    assert_problem(old.get("/me").await, 401, "authentication-required").await;
    assert_eq!(
        app.login("frank@example.com", "reset to this passphrase")
            .await
            .status(),
        200
    );
    let r = s
        .confirm_password_reset(&confirm("and another passphrase"))
        .await;
    assert_problem(r, 400, "token-invalid").await;
}

#[tokio::test]
async fn a_reset_link_expires_after_thirty_minutes() {
    let app = spawn_app().await;
    app.signup("gina@example.com").await;
    let s = app.session();
    s.request_password_reset(&PasswordResetRequest {
        email: "gina@example.com".into(),
    })
    .await;
    let token = app
        .wait_for_mail("gina@example.com", "reset-password")
        .await
        .token("reset-password");
    app.sql(&format!(
        "UPDATE user_tokens SET expires_at = {} WHERE purpose = 'password_reset'",
        app.minutes_ago(1)
    ))
    .await;
    let r = s
        .confirm_password_reset(&PasswordResetConfirm {
            token,
            new_password: "reset to this passphrase".into(),
        })
        .await;
    assert_problem(r, 410, "token-expired").await;
    assert_eq!(app.login("gina@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn cookie_authenticated_writes_from_another_origin_are_refused() {
    let app = spawn_app().await;
    let me = app.signup("hank@example.com").await;
    let evil = me
        .http
        .post(app.url("/api/v1/orgs"))
        .header("origin", "https://evil.example")
        .json(&org_req("X"))
        .send()
        .await
        .unwrap();
    assert_problem(evil, 403, "csrf-rejected").await;
    // A browser that sends neither Origin nor Referer cannot be told apart from a forged form.
    let token = {
        let r = app
            .session()
            .login(&login_req("hank@example.com", PASSWORD))
            .await;
        session_token(&r)
    };
    let bare = reqwest::Client::new()
        .post(app.url("/api/v1/orgs"))
        .header("cookie", format!("gatehouse_session={token}"))
        .json(&org_req("X"))
        .send()
        .await
        .unwrap();
    assert_problem(bare, 403, "csrf-rejected").await;
    let referer = reqwest::Client::new()
        .post(app.url("/api/v1/orgs"))
        .header("cookie", format!("gatehouse_session={token}"))
        .header("referer", app.url("/orgs/new"))
        .json(&org_req("X"))
        .send()
        .await
        .unwrap();
    assert_eq!(referer.status(), 201);
    // Reads need no origin.
    let read = reqwest::Client::new()
        .get(app.url("/api/v1/orgs"))
        .header("cookie", format!("gatehouse_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    // Login from a foreign page is refused too (login CSRF).
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .header("origin", "https://evil.example")
        .json(&login_req("hank@example.com", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "csrf-rejected").await;
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let app = spawn_app_with(|c| c.public_url = Some("https://gatehouse.example".into())).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/signup"))
        .header("origin", "https://gatehouse.example")
        .json(&signup_req("ivy@example.com", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(set_cookie(&r).contains("Secure"));
    let mail = app.wait_for_mail("ivy@example.com", "verify-email").await;
    assert!(
        mail.link("verify-email")
            .starts_with("https://gatehouse.example/verify-email?token=ghv_")
    );
}

#[tokio::test]
async fn the_profile_can_be_renamed_and_is_audited() {
    let app = spawn_app().await;
    let me = app.signup("jane@example.com").await;
    let org = app.create_org(&me, "Jane Co").await;
    let rename = |name: String| UpdateMeRequest {
        display_name: Some(name),
    };
    let u = me.update_me(&rename("  Jane Doe ".into())).await.ok().await;
    assert_eq!(u.display_name, "Jane Doe");
    assert_problem(
        me.update_me(&rename("x".repeat(101))).await,
        422,
        "validation",
    )
    .await;
    let page = me.events(&org.slug, "user.updated").await;
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].metadata["changes"]["display_name"]["to"],
        "Jane Doe"
    );
}
