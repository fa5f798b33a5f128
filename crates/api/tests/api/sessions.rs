use crate::support::*;
use gatehouse_types::{RevokedCount, SessionInfo, UpdateSecuritySettings};

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_marked_and_can_be_revoked() {
    let app = spawn_app().await;
    let me = app.signup("kim@example.com").await;
    let phone = {
        let s = app.session_with_agent("Phone/1.0");
        assert_eq!(
            s.login(&login_req("kim@example.com", PASSWORD))
                .await
                .status(),
            200
        );
        s
    };
    let list: Vec<SessionInfo> = json(me.get("/me/sessions").await).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s.current).count(), 1);
    let other = list.iter().find(|s| !s.current).unwrap();
    assert_eq!(other.user_agent.as_deref(), Some("Phone/1.0"));
    assert_eq!(other.ip.as_deref(), Some("127.0.0.1"));
    assert!(other.expires_at > other.created_at + chrono::Duration::days(29));

    assert_eq!(
        me.delete(&format!("/me/sessions/{}", other.id))
            .await
            .status(),
        204
    );
    assert_problem(phone.get("/me").await, 401, "authentication-required").await;
    assert_problem(
        me.delete(&format!("/me/sessions/{}", other.id)).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(me.delete("/me/sessions/not-a-uuid").await, 404, "not-found").await;
}

#[tokio::test]
async fn nobody_can_revoke_or_see_another_users_sessions() {
    let app = spawn_app().await;
    let a = app.signup("lee@example.com").await;
    let b = app.signup("max@example.com").await;
    let theirs: Vec<SessionInfo> = json(b.get("/me/sessions").await).await;
    assert_problem(
        a.delete(&format!("/me/sessions/{}", theirs[0].id)).await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(b.get("/me").await.status(), 200);
    let mine: Vec<SessionInfo> = json(a.get("/me/sessions").await).await;
    assert!(mine.iter().all(|s| s.id != theirs[0].id));
}

#[tokio::test]
async fn revoking_all_others_keeps_only_the_current_session() {
    let app = spawn_app().await;
    let me = app.signup("ned@example.com").await;
    let others = [
        app.login_session("ned@example.com").await,
        app.login_session("ned@example.com").await,
    ];
    let r: RevokedCount = json(me.revoke_other_sessions().await).await;
    assert_eq!(r.revoked, 2);
    for o in &others {
        assert_problem(o.get("/me").await, 401, "authentication-required").await;
    }
    let list: Vec<SessionInfo> = json(me.get("/me/sessions").await).await;
    assert_eq!(list.len(), 1);
    assert!(list[0].current);
}

#[tokio::test]
async fn an_idle_session_ends_after_the_strictest_org_timeout() {
    let app = spawn_app().await;
    let me = app.signup("olga@example.com").await;
    let relaxed = app.create_org(&me, "Relaxed").await;
    let strict = app.create_org(&me, "Strict").await;
    let timeout = |minutes| UpdateSecuritySettings {
        session_timeout_minutes: Some(minutes),
        ..Default::default()
    };
    let r = me
        .update_security_settings(&relaxed.slug, &timeout(600))
        .await;
    assert_eq!(r.status(), 200);
    let r = me
        .update_security_settings(&strict.slug, &timeout(30))
        .await;
    assert_eq!(r.status(), 200);

    // 20 idle minutes: still fine (and the request refreshes last-seen).
    app.sql(&format!(
        "UPDATE sessions SET last_seen_at = {}",
        app.minutes_ago(20)
    ))
    .await;
    assert_eq!(me.get("/me").await.status(), 200);
    // 40 idle minutes exceed the strict org's 30.
    app.sql(&format!(
        "UPDATE sessions SET last_seen_at = {}",
        app.minutes_ago(40)
    ))
    .await;
    let p = assert_problem(me.get("/me").await, 401, "session-expired").await;
    assert!(p.detail.unwrap().contains("30 minutes"));
    // The session is gone, not just refused once.
    assert_problem(me.get("/me").await, 401, "authentication-required").await;
}

#[tokio::test]
async fn without_organizations_the_default_idle_timeout_of_eight_hours_applies() {
    let app = spawn_app().await;
    let me = app.signup("pia@example.com").await;
    app.sql(&format!(
        "UPDATE sessions SET last_seen_at = {}",
        app.minutes_ago(470)
    ))
    .await;
    assert_eq!(me.get("/me").await.status(), 200);
    app.sql(&format!(
        "UPDATE sessions SET last_seen_at = {}",
        app.minutes_ago(490)
    ))
    .await;
    assert_problem(me.get("/me").await, 401, "session-expired").await;
}

#[tokio::test]
async fn a_session_ends_thirty_days_after_it_began_however_active() {
    let app = spawn_app().await;
    let me = app.signup("quinn@example.com").await;
    app.sql(&format!(
        "UPDATE sessions SET expires_at = {}",
        app.minutes_ago(1)
    ))
    .await;
    let p = assert_problem(me.get("/me").await, 401, "session-expired").await;
    assert!(p.detail.unwrap().contains("30 days"));
}

#[tokio::test]
async fn a_session_revoked_on_one_replica_is_dead_on_the_other() {
    let app = spawn_app().await;
    let me = app.signup("rae@example.com").await;
    let other = app.replica().await;
    // Cookies ignore ports, so the same jar reaches the replica: a browser behind a
    // load balancer. The session is valid there because it lives in the database.
    let via_other = me.http.get(other.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(via_other.status(), 200);
    let second = app.login_session("rae@example.com").await;
    let list: Vec<SessionInfo> = json(second.get("/me/sessions").await).await;
    let first = list.iter().find(|s| !s.current).unwrap();
    assert_eq!(
        second
            .delete(&format!("/me/sessions/{}", first.id))
            .await
            .status(),
        204
    );
    let via_other = me.http.get(other.url("/api/v1/me")).send().await.unwrap();
    assert_problem(via_other, 401, "authentication-required").await;
}
