//! The signed-in hint (`gatehouse_signed_in`): a readable, non-secret cookie set and
//! cleared together with the HttpOnly session cookie, so the dashboard can tell a
//! signed-out visitor without a failing `/me` call.
use crate::support::*;
use gatehouse_types::SessionInfo;
use serde_json::json;

const HINT: &str = "gatehouse_signed_in";

/// Each `Set-Cookie` of the answer.
fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The `Set-Cookie` for cookie `name`, its attributes split at `; `.
fn cookie(r: &reqwest::Response, name: &str) -> Vec<String> {
    let all = set_cookies(r);
    let c = all
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {all:?}"));
    c.split("; ").map(str::to_string).collect()
}

fn attr<'a>(c: &'a [String], name: &str) -> Option<&'a str> {
    c.iter()
        .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
}

/// The hint carries no secret, is readable by scripts, and lives exactly as long as the
/// session cookie (same lifetime, path and SameSite).
fn assert_hint_set(r: &reqwest::Response) {
    let session = cookie(r, "gatehouse_session");
    let hint = cookie(r, HINT);
    assert_eq!(hint[0], format!("{HINT}=1"), "{hint:?}");
    assert!(session.iter().any(|a| a == "HttpOnly"), "{session:?}");
    assert!(!hint.iter().any(|a| a == "HttpOnly"), "{hint:?}");
    for a in ["Max-Age", "Path", "SameSite"] {
        assert_eq!(
            attr(&hint, a),
            attr(&session, a),
            "{a}: {hint:?} vs {session:?}"
        );
    }
    assert_eq!(attr(&hint, "Max-Age"), Some("2592000"));
    // The session cookie stays the first one, for clients that read a single header.
    assert!(set_cookies(r)[0].starts_with("gatehouse_session="));
}

fn assert_both_cleared(r: &reqwest::Response) {
    for name in ["gatehouse_session", HINT] {
        let c = cookie(r, name);
        assert_eq!(attr(&c, "Max-Age"), Some("0"), "{c:?}");
    }
}

#[tokio::test]
async fn the_signed_in_hint_is_set_and_cleared_with_the_session_cookie() {
    let app = spawn_app().await;
    let s = app.session();
    let r = s
        .post(
            "/auth/signup",
            json!({"email": "hint@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_hint_set(&r);

    let r = s.post("/auth/logout", json!({})).await;
    assert_eq!(r.status(), 204);
    assert_both_cleared(&r);

    let r = s
        .post(
            "/auth/login",
            json!({"email": "hint@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_hint_set(&r);

    // Revoking the current session from the session list signs this browser out too.
    let list: Vec<SessionInfo> = json(s.get("/me/sessions").await).await;
    let current = list.iter().find(|x| x.current).unwrap();
    let r = s.delete(&format!("/me/sessions/{}", current.id)).await;
    assert_eq!(r.status(), 204);
    assert_both_cleared(&r);
}

#[tokio::test]
async fn accepting_an_invitation_as_a_new_user_sets_the_signed_in_hint() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let org = app.create_org(&owner, "Hinted").await;
    let r = owner
        .post(
            &format!("/orgs/{}/invitations", org.slug),
            json!({"email": "newbie@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let token = app
        .wait_for_mail("newbie@example.com", "/invitations/accept")
        .await
        .token("/invitations/accept");
    let r = app
        .session()
        .post(
            "/invitations/accept",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_hint_set(&r);
}
