//! Personal two-factor authentication over HTTP: TOTP enrolment, the login second step,
//! backup codes, turning it off, the security summary. TOTP codes come from Debian's
//! `oathtool` and the QR code is read by `zbarimg` (after `rsvg-convert` renders the
//! SVG): implementations independent of the server's.
use crate::support::*;
use gatehouse_types::*;
use std::{process::Command, time::Duration};

/// Runs a Debian tool the tests depend on; a clear failure when it is missing.
fn run(tool: &str, package: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool} is needed (Debian package {package}; scripts/test.sh installs it): {e}")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The TOTP code of `secret` (base32) at unix time `at`, by oathtool.
fn oathtool(secret: &str, at: i64) -> String {
    run(
        "oathtool",
        "oathtool",
        &["--totp", "-b", &format!("--now=@{at}"), secret],
    )
}

/// The authenticator app: codes by oathtool, one 30-second step after another. Each
/// new code also moves the server's clock a step, so the code is always the server's
/// current (or previous) step, however slowly the test runs.
struct Authenticator {
    secret: String,
    at: i64,
}

impl Authenticator {
    fn new(app: &TestApp, secret: &str) -> Authenticator {
        Authenticator {
            secret: secret.to_string(),
            at: app.now().timestamp(),
        }
    }
    /// The code of the current step.
    fn code(&self) -> String {
        oathtool(&self.secret, self.at)
    }
    /// The code of the next step (the server's clock moves along).
    fn next(&mut self, app: &TestApp) -> String {
        app.advance(Duration::from_secs(30));
        self.at += 30;
        self.code()
    }
}

/// Decodes the QR code of an SVG document with zbarimg.
fn read_qr(svg: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("qr.svg");
    let png_path = dir.path().join("qr.png");
    std::fs::write(&svg_path, svg).unwrap();
    let (svg_path, png_path) = (svg_path.to_str().unwrap(), png_path.to_str().unwrap());
    run(
        "rsvg-convert",
        "librsvg2-bin",
        &["-w", "480", "-b", "white", "-o", png_path, svg_path],
    );
    run("zbarimg", "zbar-tools", &["--raw", "-q", png_path])
}

fn login_req_for(email: &str) -> LoginRequest {
    login_req(email, PASSWORD)
}

fn totp(pending_token: &str, code: &str) -> MfaVerifyRequest {
    MfaVerifyRequest {
        pending_token: pending_token.into(),
        method: MfaCodeMethod::Totp,
        code: code.into(),
    }
}

fn backup(pending_token: &str, code: &str) -> MfaVerifyRequest {
    MfaVerifyRequest {
        method: MfaCodeMethod::BackupCode,
        ..totp(pending_token, code)
    }
}

/// Signs `email` up and turns TOTP on; returns the user, the app and the backup codes.
async fn enrolled(app: &TestApp, email: &str) -> (TestUser, Authenticator, Vec<String>) {
    let user = app.signup(email).await;
    let e = user.start_totp().await.ok().await;
    let auth = Authenticator::new(app, &e.secret);
    let codes = user
        .confirm_totp(&TotpConfirmRequest { code: auth.code() })
        .await
        .ok()
        .await
        .codes;
    (user, auth, codes)
}

#[tokio::test]
async fn enrolment_round_trips_through_oathtool_and_zbarimg_and_is_off_until_confirmed() {
    let app = spawn_app().await;
    let email = "ann@example.com";
    let user = app.signup(email).await;
    let org = app.create_org(&user, "Acme").await;

    let e = user.start_totp().await.ok().await;
    assert_eq!(
        e.otpauth_uri,
        format!(
            "otpauth://totp/Gatehouse:ann%40example.com?secret={}&issuer=Gatehouse",
            e.secret
        )
    );
    assert_eq!(read_qr(&e.qr_svg), e.otpauth_uri, "the QR code is the URI");

    // Not enabled before a code proves the app: the login stays one step.
    let s = user.account_security().await.ok().await;
    assert!(!s.totp_enabled && !s.mfa && s.backup_codes_remaining == 0);
    app.login_session(email).await;

    // Starting again replaces the unconfirmed secret: the first one no longer confirms.
    let first = e;
    let e = user.start_totp().await.ok().await;
    assert_ne!(e.secret, first.secret);
    let stale = oathtool(&first.secret, app.now().timestamp());
    let r = user.confirm_totp(&TotpConfirmRequest { code: stale }).await;
    assert_problem(r, 401, "mfa-code-invalid").await;

    let auth = Authenticator::new(&app, &e.secret);
    let wrong = if auth.code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = user
        .confirm_totp(&TotpConfirmRequest { code: wrong.into() })
        .await;
    assert_problem(r, 401, "mfa-code-invalid").await;
    assert!(!user.account_security().await.ok().await.totp_enabled);

    let codes = user
        .confirm_totp(&TotpConfirmRequest { code: auth.code() })
        .await
        .ok()
        .await
        .codes;
    assert_eq!(codes.len(), 10);
    let shape = regex::Regex::new("^[2-9a-z]{4}-[2-9a-z]{4}$").unwrap();
    assert!(codes.iter().all(|c| shape.is_match(c)), "{codes:?}");
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);

    let summary = user.account_security().await.ok().await;
    assert_eq!(
        summary,
        AccountSecurity {
            totp_enabled: true,
            backup_codes_remaining: 10,
            passkeys: 0,
            mfa: true,
            pin_set: false,
        }
    );
    // Once on, it cannot be restarted over the top, nor confirmed twice.
    assert_problem(user.start_totp().await, 409, "conflict").await;
    let again = user
        .confirm_totp(&TotpConfirmRequest { code: auth.code() })
        .await;
    assert_problem(again, 409, "conflict").await;

    app.wait_for_mail(email, "two-factor sign-in turned on")
        .await;
    // Neither the secret nor a backup code is shown again or recorded anywhere.
    let events = user
        .events(org.slug.as_str(), "user.two_factor_enabled")
        .await;
    assert_eq!(events.items.len(), 1);
    let log = user
        .audit_log(org.slug.as_str(), "limit=100")
        .await
        .text()
        .await;
    let security = user.get("/me/security").await.text().await.unwrap();
    let me = user.get("/me").await.text().await.unwrap();
    for text in [&log, &security, &me] {
        assert!(!text.contains(&e.secret), "secret in {text}");
        for c in &codes {
            assert!(!text.contains(c.as_str()), "backup code in {text}");
        }
    }
}

#[tokio::test]
async fn login_takes_a_second_step_with_a_totp_code_which_works_once() {
    let app = spawn_app().await;
    let email = "bob@example.com";
    let (_, mut auth, _) = enrolled(&app, email).await;

    let s = app.session();
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    assert_eq!(ch.methods, ["totp", "backup_code"]);
    assert_eq!(ch.expires_in, 300);
    // No session before the second step.
    assert_problem(s.me().await, 401, "authentication-required").await;

    let wrong = if auth.code() == "123456" {
        "654321"
    } else {
        "123456"
    };
    assert_problem(
        s.verify_mfa(&totp(&ch.pending_token, wrong)).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    // The code that confirmed the enrolment is used up.
    assert_problem(
        s.verify_mfa(&totp(&ch.pending_token, &auth.code())).await,
        401,
        "mfa-code-invalid",
    )
    .await;

    let code = auth.next(&app);
    let me = s
        .verify_mfa(&totp(&ch.pending_token, &code))
        .await
        .ok()
        .await;
    assert_eq!(me.email, email);
    assert_eq!(s.me().await.ok().await.email, email);
    let sessions = s.my_sessions().await.ok().await;
    let current = sessions.iter().find(|x| x.current).unwrap();
    assert_eq!(current.sign_in_method, SignInMethod::Totp);
    // The first session (sign-up) signed in with the password.
    assert!(
        sessions
            .iter()
            .any(|x| !x.current && x.sign_in_method == SignInMethod::Password)
    );

    // The pending token works once.
    let s2 = app.session();
    assert_problem(
        s2.verify_mfa(&totp(&ch.pending_token, &auth.next(&app)))
            .await,
        401,
        "mfa-pending-invalid",
    )
    .await;

    // A replayed code is refused at a new login.
    let ch2 = s2.login_mfa(&login_req_for(email)).await.expect(202).await;
    assert_problem(
        s2.verify_mfa(&totp(&ch2.pending_token, &code)).await,
        401,
        "mfa-code-invalid",
    )
    .await;
}

#[tokio::test]
async fn a_pending_login_expires_is_bound_to_its_client_and_rejects_bad_input() {
    let app = spawn_app().await;
    let email = "cy@example.com";
    let (user, mut auth, _) = enrolled(&app, email).await;
    let s = app.session();

    // Another client (user agent) cannot finish this attempt.
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    let other = app.session_with_agent("someone-else");
    assert_problem(
        other
            .verify_mfa(&totp(&ch.pending_token, &auth.next(&app)))
            .await,
        401,
        "mfa-pending-invalid",
    )
    .await;

    // Five minutes later the attempt is over.
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    app.advance(Duration::from_secs(301));
    auth.at += 301;
    assert_problem(
        s.verify_mfa(&totp(&ch.pending_token, &auth.next(&app)))
            .await,
        401,
        "mfa-pending-invalid",
    )
    .await;

    // Unknown and malformed tokens; bad bodies are 4xx problems.
    for token in ["ghp_unknown", "", &"x".repeat(5000)] {
        assert_problem(
            s.verify_mfa(&totp(token, "123456")).await,
            401,
            "mfa-pending-invalid",
        )
        .await;
    }
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    for body in [
        serde_json::json!({"pending_token": ch.pending_token, "method": "sms", "code": "123456"}),
        serde_json::json!({"pending_token": ch.pending_token, "method": "totp"}),
        serde_json::json!({"pending_token": ch.pending_token, "method": "totp", "code": 123456}),
        serde_json::json!({"pending_token": ch.pending_token, "method": "totp", "code": "1", "x": 1}),
    ] {
        let r = s.post("/auth/mfa", body).await;
        assert_problem(r, 422, "validation").await;
    }
    // A sign-in attempt takes three wrong codes; then a fresh login.
    let mut ch = ch;
    for (i, code) in ["", "12345", "1234567", "abcdef", " 12 34 "]
        .iter()
        .enumerate()
    {
        if i == 3 {
            ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
        }
        assert_problem(
            s.verify_mfa(&totp(&ch.pending_token, code)).await,
            401,
            "mfa-code-invalid",
        )
        .await;
    }
    for (path, body) in [
        ("/me/totp/confirm", serde_json::json!({"code": 5})),
        ("/me/totp/confirm", serde_json::json!({})),
        ("/me/backup-codes", serde_json::json!({"password": null})),
    ] {
        assert_problem(user.post(path, body).await, 422, "validation").await;
    }
    let r = user
        .call("DELETE", "/me/totp", Some(serde_json::json!({"code": "1"})))
        .await;
    assert_problem(r, 422, "validation").await;
}

#[tokio::test]
async fn second_steps_at_once_make_one_session_and_spend_only_the_winners_code() {
    let app = spawn_app().await;
    let email = "dot@example.com";
    let (user, _, codes) = enrolled(&app, email).await;
    let s = app.session();
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    let bodies: Vec<_> = codes[..8]
        .iter()
        .map(|c| backup(&ch.pending_token, c))
        .collect();
    let answers = futures_util::future::join_all(bodies.iter().map(|b| s.verify_mfa(b))).await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|r| reqwest::Response::from(r).status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|c| **c == 200).count(),
        1,
        "{statuses:?}"
    );
    // A losing request's code may have been checked, but its sign-in failed: it stays
    // usable, because a code is spent in the transaction that makes the session.
    assert_eq!(
        user.account_security()
            .await
            .ok()
            .await
            .backup_codes_remaining,
        9
    );
}

#[tokio::test]
async fn backup_codes_work_once_are_counted_and_can_be_replaced() {
    let app = spawn_app().await;
    let email = "dee@example.com";
    let (user, _, codes) = enrolled(&app, email).await;
    let org = app.create_org(&user, "Dee Co").await;

    let s = app.session();
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    // Typed in capitals and without the dash, it still counts.
    let typed = codes[0].to_uppercase().replace('-', "");
    s.verify_mfa(&backup(&ch.pending_token, &typed))
        .await
        .ok()
        .await;
    let sessions = s.my_sessions().await.ok().await;
    let current = sessions.iter().find(|x| x.current).unwrap();
    assert_eq!(current.sign_in_method, SignInMethod::BackupCode);
    assert_eq!(
        s.account_security().await.ok().await.backup_codes_remaining,
        9
    );
    let used = user
        .events(org.slug.as_str(), "user.backup_code_used")
        .await;
    assert_eq!(used.items.len(), 1);
    assert_eq!(used.items[0].metadata, serde_json::json!({"remaining": 9}));
    app.wait_for_mail(email, "a backup code was used").await;

    // The same code a second time.
    let s2 = app.session();
    let ch = s2.login_mfa(&login_req_for(email)).await.expect(202).await;
    assert_problem(
        s2.verify_mfa(&backup(&ch.pending_token, &codes[0])).await,
        401,
        "mfa-code-invalid",
    )
    .await;

    // A new set needs the password and voids the old one.
    let wrong = RegenerateBackupCodesRequest {
        password: "not the password at all".into(),
    };
    assert_problem(
        user.regenerate_backup_codes(&wrong).await,
        401,
        "invalid-credentials",
    )
    .await;
    let fresh = user
        .regenerate_backup_codes(&RegenerateBackupCodesRequest {
            password: PASSWORD.into(),
        })
        .await
        .ok()
        .await
        .codes;
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    assert_eq!(
        user.account_security()
            .await
            .ok()
            .await
            .backup_codes_remaining,
        10
    );
    app.wait_for_mail(email, "new backup codes").await;
    assert_problem(
        s2.verify_mfa(&backup(&ch.pending_token, &codes[1])).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    s2.verify_mfa(&backup(&ch.pending_token, &fresh[1]))
        .await
        .ok()
        .await;
    let regen = user
        .events(org.slug.as_str(), "user.backup_codes_regenerated")
        .await;
    assert_eq!(regen.items.len(), 1);
}

#[tokio::test]
async fn turning_totp_off_needs_the_password_and_a_current_code() {
    let app = spawn_app().await;
    let email = "eve@example.com";
    let (user, mut auth, codes) = enrolled(&app, email).await;
    let org = app.create_org(&user, "Eve Co").await;

    let code = auth.next(&app);
    let wrong_password = DisableTotpRequest {
        password: "not the password at all".into(),
        code: code.clone(),
    };
    assert_problem(
        user.disable_totp(&wrong_password).await,
        401,
        "invalid-credentials",
    )
    .await;
    let wrong_code = DisableTotpRequest {
        password: PASSWORD.into(),
        code: if code == "000000" { "111111" } else { "000000" }.into(),
    };
    assert_problem(
        user.disable_totp(&wrong_code).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    let wrong_backup = DisableTotpRequest {
        password: PASSWORD.into(),
        code: "aaaa-aaaa".into(),
    };
    assert_problem(
        user.disable_totp(&wrong_backup).await,
        401,
        "mfa-code-invalid",
    )
    .await;
    assert!(user.account_security().await.ok().await.totp_enabled);

    user.disable_totp(&DisableTotpRequest {
        password: PASSWORD.into(),
        code,
    })
    .await
    .no_content()
    .await;
    let s = user.account_security().await.ok().await;
    assert!(!s.totp_enabled && !s.mfa && s.backup_codes_remaining == 0);
    app.wait_for_mail(email, "two-factor sign-in turned off")
        .await;
    let off = user
        .events(org.slug.as_str(), "user.two_factor_disabled")
        .await;
    assert_eq!(off.items.len(), 1);
    // Single-step login again; the old backup codes are gone.
    app.login_session(email).await;
    assert_problem(
        user.disable_totp(&DisableTotpRequest {
            password: PASSWORD.into(),
            code: codes[0].clone(),
        })
        .await,
        409,
        "conflict",
    )
    .await;

    // A backup code also serves to turn it off.
    let e = user.start_totp().await.ok().await;
    let mut auth = Authenticator::new(&app, &e.secret);
    let codes = user
        .confirm_totp(&TotpConfirmRequest {
            code: auth.next(&app),
        })
        .await
        .ok()
        .await
        .codes;
    user.disable_totp(&DisableTotpRequest {
        password: PASSWORD.into(),
        code: codes[3].clone(),
    })
    .await
    .no_content()
    .await;
    assert!(!user.account_security().await.ok().await.mfa);
    // One email says so; none claims "9 codes left" of a set that no longer exists.
    app.wait_for_mail(email, "two-factor sign-in turned off")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mail = app.mails_to(email);
    assert!(
        !mail
            .iter()
            .any(|m| m.data.contains("a backup code was used")),
        "{mail:?}"
    );
}

#[tokio::test]
async fn wrong_codes_at_the_second_step_are_throttled_per_account() {
    let app = spawn_app().await;
    let email = "fay@example.com";
    let (_, mut auth, _) = enrolled(&app, email).await;
    let s = app.session();
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    let good = auth.next(&app);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        assert_problem(
            s.verify_mfa(&totp(&ch.pending_token, wrong)).await,
            401,
            "mfa-code-invalid",
        )
        .await;
    }
    // Three wrong codes burn the sign-in attempt (even the right code is refused now)
    // without using up another slot of the account's five.
    let p = assert_problem(
        s.verify_mfa(&totp(&ch.pending_token, &good)).await,
        401,
        "mfa-pending-invalid",
    )
    .await;
    assert!(p.detail.unwrap().contains("log in again"));
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    for _ in 0..2 {
        assert_problem(
            s.verify_mfa(&totp(&ch.pending_token, wrong)).await,
            401,
            "mfa-code-invalid",
        )
        .await;
    }
    // Even the right code now waits, also through a fresh login.
    let r = s.verify_mfa(&totp(&ch.pending_token, &good)).await;
    assert!(r.headers().get("retry-after").is_some());
    assert_problem(r, 429, "too-many-attempts").await;
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    assert_problem(
        s.verify_mfa(&totp(&ch.pending_token, &good)).await,
        429,
        "too-many-attempts",
    )
    .await;

    // After the lockout a new attempt goes through.
    app.advance(Duration::from_secs(901));
    auth.at += 901;
    let ch = s.login_mfa(&login_req_for(email)).await.expect(202).await;
    s.verify_mfa(&totp(&ch.pending_token, &auth.next(&app)))
        .await
        .ok()
        .await;
}

/// Making new backup codes asks for the password: a stolen session cookie must not be
/// a way to guess it without limit (the login counter of the account).
#[tokio::test]
async fn new_backup_codes_limit_password_guesses() {
    let app = spawn_app().await;
    let (user, _, _) = enrolled(&app, "gus@example.com").await;
    let wrong = RegenerateBackupCodesRequest {
        password: "not the password at all".into(),
    };
    for _ in 0..5 {
        assert_problem(
            user.regenerate_backup_codes(&wrong).await,
            401,
            "invalid-credentials",
        )
        .await;
    }
    let r = user.regenerate_backup_codes(&wrong).await;
    assert!(r.headers().get("retry-after").is_some());
    assert_problem(r, 429, "too-many-attempts").await;
}
