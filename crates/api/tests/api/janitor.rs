use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn the_janitor_removes_only_rows_whose_time_has_passed() {
    let app = spawn_app().await;
    let me = app.signup("jan@example.com").await;
    let _other = app.login_session("jan@example.com").await;
    app.session()
        .post(
            "/auth/password-reset/request",
            json!({"email": "jan@example.com"}),
        )
        .await;
    app.wait_for_mail("jan@example.com", "reset-password").await;
    // One session ended long ago; the verification token expired two days ago.
    let sessions: Vec<gatehouse_types::SessionInfo> = json(me.get("/me/sessions").await).await;
    let old = sessions.iter().find(|s| !s.current).unwrap().id;
    let old_lit = if app.backend == "postgres" {
        format!("'{old}'")
    } else {
        format!("X'{}'", old.simple())
    };
    app.sql(&format!(
        "UPDATE sessions SET expires_at = {} WHERE id = {old_lit}",
        app.minutes_ago(1)
    ))
    .await;
    app.sql(&format!(
        "UPDATE user_tokens SET expires_at = {} WHERE purpose = 'verify_email'",
        app.minutes_ago(2 * 24 * 60)
    ))
    .await;

    // Two registered OAuth clients: one idle for two days, one new.
    for (name, age) in [("old", 2 * 24 * 60), ("new", 0)] {
        let r = reqwest::Client::new()
            .post(app.url("/register"))
            .json(&json!({"client_name": name, "redirect_uris": ["https://x.example.com/cb"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        app.sql(&format!(
            "UPDATE oauth_clients SET created_at = {} WHERE name = '{name}'",
            app.minutes_ago(age)
        ))
        .await;
    }

    let swept = gatehouse::janitor::sweep(&app.db, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (swept.sessions, swept.tokens, swept.oauth_clients),
        (1, 1, 1)
    );
    // The live session and the live reset token are untouched.
    assert_eq!(me.get("/me").await.status(), 200);
    let again = gatehouse::janitor::sweep(&app.db, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(again, gatehouse::janitor::Swept::default());
}

#[tokio::test]
async fn expired_step_ups_go_and_live_ones_stay() {
    let app = spawn_app().await;
    let me = app.signup("jo@example.com").await;
    let org = app.create_org(&me, "Jo").await;
    me.set_pin(&new_pin("482913")).await.no_content().await;
    me.verify_pin(&org.slug, &pin_req("482913"))
        .await
        .ok()
        .await;
    let other = app.login_session("jo@example.com").await;
    other
        .verify_pin(&org.slug, &pin_req("482913"))
        .await
        .ok()
        .await;
    assert_eq!(app.count("pin_step_ups").await, 2);
    // One of the two windows closed a minute ago.
    app.sql(&format!(
        "UPDATE pin_step_ups SET expires_at = {} WHERE session_id IN (SELECT session_id FROM pin_step_ups LIMIT 1)",
        app.minutes_ago(1)
    ))
    .await;
    let swept = gatehouse::janitor::sweep(&app.db, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(swept.ceremonies, 1);
    assert_eq!(app.count("pin_step_ups").await, 1);
}
