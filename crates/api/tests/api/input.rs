//! Text input hygiene: control characters (NUL first: PostgreSQL cannot store it and
//! answered 500) are refused in every body, query and path with a 4xx naming the field;
//! invisible and direction-changing characters are refused in names other people see.
use crate::helpers::*;
use reqwest::Response;
use serde_json::{Value, json};

/// A 422 problem whose errors name `field`.
async fn refused(what: &str, r: Response, field: &str) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 422, "{what}: {text}");
    let p: gatehouse_types::Problem =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
    assert_eq!(p.code, "validation", "{what}: {text}");
    assert!(
        p.errors.iter().any(|e| e.field == field),
        "{what}: expected the field {field} to be named: {text}"
    );
}

/// An RFC 6749 error answer (what OAuth clients parse) naming `field`.
async fn oauth_refused(what: &str, r: Response, error: &str, field: &str) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 400, "{what}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
    assert_eq!(v["error"], error, "{what}: {text}");
    assert!(
        v["error_description"]
            .as_str()
            .is_some_and(|d| d.contains(field)),
        "{what}: expected {field} in {text}"
    );
}

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn nul_in_unauthenticated_bodies_is_refused_naming_the_field() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let s = app.session();
    let cases = [
        (
            "/auth/login",
            json!({"email": "ada\u{0}@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            "/auth/login",
            json!({"email": "ada@example.com", "password": "correct\u{0}horse"}),
            "password",
        ),
        (
            "/auth/signup",
            json!({"email": "bob\u{0}@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            "/auth/signup",
            json!({"email": "bob@example.com", "password": PASSWORD, "display_name": "Bob\u{0}"}),
            "display_name",
        ),
        (
            "/auth/password-reset/request",
            json!({"email": "ada@example.com\u{0}"}),
            "email",
        ),
        ("/auth/verify-email", json!({"token": "ghv_\u{0}"}), "token"),
        (
            "/invitations/accept",
            json!({"token": "ghi_\u{0}", "password": PASSWORD}),
            "token",
        ),
        // Other C0 controls, DEL and C1 controls too.
        (
            "/auth/login",
            json!({"email": "ada\u{1b}[2J@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            "/auth/login",
            json!({"email": "ada\u{7f}@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            "/auth/login",
            json!({"email": "ada\u{85}@example.com", "password": PASSWORD}),
            "email",
        ),
    ];
    for (path, body, field) in cases {
        refused(path, s.post(path, body).await, field).await;
    }
    // Nothing was written: the account was not created.
    let r = s
        .post(
            "/auth/signup",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn nul_in_org_connector_key_and_member_inputs_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let owner = app.signup("olga@example.com").await;
    let org = app.create_org(&owner, "Olga").await;
    let slug = &org.slug;
    let url = "https://mcp.example.com/mcp";
    let cases = [
        ("POST", "/orgs".to_string(), json!({"name": "Acme\u{0}"}), "name"),
        (
            "POST",
            "/orgs".to_string(),
            json!({"name": "Acme", "description": "a\u{0}b"}),
            "description",
        ),
        (
            "PATCH",
            format!("/orgs/{slug}"),
            json!({"description": "x\u{0}"}),
            "description",
        ),
        (
            "PATCH",
            format!("/orgs/{slug}"),
            json!({"name": "O\u{0}lga"}),
            "name",
        ),
        (
            "POST",
            format!("/orgs/{slug}/connectors"),
            json!({"name": "Git\u{0}Hub", "url": url}),
            "name",
        ),
        (
            "POST",
            format!("/orgs/{slug}/connectors"),
            json!({"name": "GitHub", "url": "https://mcp.example.com/\u{0}"}),
            "url",
        ),
        (
            "POST",
            format!("/orgs/{slug}/connectors"),
            json!({"name": "GitHub", "url": url, "description": "tools\u{0}"}),
            "description",
        ),
        (
            "POST",
            format!("/orgs/{slug}/connectors"),
            json!({"name": "GitHub", "url": url, "credential": "Bearer a\u{0}b"}),
            "credential",
        ),
        (
            "POST",
            format!("/orgs/{slug}/api-keys"),
            json!({"name": "ci\u{0}"}),
            "name",
        ),
        (
            "POST",
            format!("/orgs/{slug}/invitations"),
            json!({"email": "ivy\u{0}@example.com", "role": "member"}),
            "email",
        ),
        (
            "PATCH",
            format!("/orgs/{slug}/settings/security"),
            json!({"ip_allowlist": [{"cidr": "127.0.0.1", "label": "me\u{0}"}]}),
            "ip_allowlist[0].label",
        ),
        (
            "PATCH",
            "/me".to_string(),
            json!({"display_name": "Olga\u{0}"}),
            "display_name",
        ),
        (
            "POST",
            "/me/password".to_string(),
            json!({"current_password": PASSWORD, "new_password": "a new password\u{0}!"}),
            "new_password",
        ),
    ];
    for (method, path, body, field) in cases {
        let what = format!("{method} {path} {body}");
        refused(&what, owner.call(method, &path, Some(body)).await, field).await;
    }
    // Queries and path segments too.
    refused(
        "query",
        owner
            .get(&format!("/orgs/{slug}/audit-logs?action=org.%00"))
            .await,
        "action",
    )
    .await;
    let r = owner.get("/orgs/ol%00ga").await;
    assert!(r.status().is_client_error(), "path: {}", r.status());
    let r = plain()
        .post(app.url("/mcp/ol%00ga"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "MCP path: {}", r.status());
    // Nothing was written.
    let orgs: Vec<Value> = json(owner.get("/orgs").await).await;
    assert_eq!(orgs.len(), 1);
    let connectors: Vec<Value> = json(owner.get(&format!("/orgs/{slug}/connectors")).await).await;
    assert!(connectors.is_empty());
}

#[tokio::test]
async fn nul_in_oauth_parameters_is_refused_as_oauth_errors() {
    let app = spawn_app().await;
    let http = plain();
    let r = http
        .post(app.url("/register"))
        .json(&json!({"client_name": "Claude\u{0}", "redirect_uris": ["https://claude.ai/cb"]}))
        .send()
        .await
        .unwrap();
    oauth_refused("register", r, "invalid_client_metadata", "client_name").await;
    let r = http
        .post(app.url("/register"))
        .json(&json!({"client_name": "Claude", "redirect_uris": ["https://claude.ai/cb\u{0}"]}))
        .send()
        .await
        .unwrap();
    oauth_refused("register", r, "invalid_client_metadata", "redirect_uris[0]").await;

    let r = http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "ghac_x"),
            ("client_id", "ghc_\u{0}"),
            ("code_verifier", "v"),
            ("redirect_uri", "https://claude.ai/cb"),
        ])
        .send()
        .await
        .unwrap();
    oauth_refused("token", r, "invalid_request", "client_id").await;
    let r = http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "ghr_\u{0}"),
            ("client_id", "ghc_x"),
        ])
        .send()
        .await
        .unwrap();
    oauth_refused("token", r, "invalid_request", "refresh_token").await;
    let r = http
        .post(app.url("/revoke"))
        .form(&[("token", "ghr_\u{0}"), ("client_id", "ghc_\u{0}")])
        .send()
        .await
        .unwrap();
    oauth_refused("revoke", r, "invalid_request", "token").await;

    let r = http
        .get(app.url(
            "/authorize?response_type=code&client_id=ghc_%00&redirect_uri=https%3A%2F%2Fclaude.ai%2Fcb&code_challenge=x&code_challenge_method=S256",
        ))
        .send()
        .await
        .unwrap();
    refused("authorize", r, "client_id").await;
    let r = http
        .post(app.url("/authorize"))
        .form(&[
            ("client_id", "ghc_\u{0}"),
            ("csrf", "x"),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    refused("consent", r, "client_id").await;
}

#[tokio::test]
async fn names_shown_to_others_refuse_invisible_and_direction_changing_characters() {
    let app = spawn_app().await;
    let owner = app.signup("nina@example.com").await;
    let org = app.create_org(&owner, "Nina").await;
    let slug = &org.slug;
    let url = "https://mcp.example.com/mcp";
    // Right-to-left override, zero-width space, tag letter, isolate, BOM, RTL mark.
    let cases = [
        ("POST", "/orgs".to_string(), json!({"name": "Acme\u{202E}gnp.exe"}), "name"),
        (
            "PATCH",
            format!("/orgs/{slug}"),
            json!({"name": "Ni\u{200B}na"}),
            "name",
        ),
        (
            "PATCH",
            "/me".to_string(),
            json!({"display_name": "Nina\u{E0041}"}),
            "display_name",
        ),
        (
            "POST",
            format!("/orgs/{slug}/connectors"),
            json!({"name": "Git\u{2066}Hub", "url": url}),
            "name",
        ),
        (
            "POST",
            format!("/orgs/{slug}/api-keys"),
            json!({"name": "deploy\u{FEFF}"}),
            "name",
        ),
        (
            "POST",
            format!("/orgs/{slug}/oauth/clients"),
            json!({"name": "CI\u{200F} tool", "redirect_uris": ["https://ci.example.com/cb"]}),
            "name",
        ),
        (
            "POST",
            format!("/orgs/{slug}/invitations"),
            json!({"email": "ivy\u{200D}@example.com", "role": "member"}),
            "email",
        ),
    ];
    for (method, path, body, field) in cases {
        let what = format!("{method} {path} {body}");
        refused(&what, owner.call(method, &path, Some(body)).await, field).await;
    }
    let r = app
        .session()
        .post(
            "/auth/signup",
            json!({"email": "eve@example.com", "password": PASSWORD, "display_name": "Eve\u{2069}"}),
        )
        .await;
    refused("signup", r, "display_name").await;
    let r = plain()
        .post(app.url("/register"))
        .json(&json!({"client_name": "Claude\u{202E}", "redirect_uris": ["https://claude.ai/cb"]}))
        .send()
        .await
        .unwrap();
    oauth_refused("register", r, "invalid_client_metadata", "client_name").await;

    // Right-to-left text is welcome: only the invisible controls are refused.
    let r = owner
        .post("/orgs", json!({"name": "שלום עולם", "description": "نص عربي\u{200F}"}))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn descriptions_may_span_lines_but_names_may_not() {
    let app = spawn_app().await;
    let owner = app.signup("lina@example.com").await;
    let text = "First line\nSecond line\r\n\tindented";
    let r = owner
        .post("/orgs", json!({"name": "Lina", "description": text}))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let org: Value = r.json().await.unwrap();
    let slug = org["slug"].as_str().unwrap();
    let got: Value = json(owner.get(&format!("/orgs/{slug}")).await).await;
    assert_eq!(got["details"]["description"], text);
    let r = owner
        .post(
            &format!("/orgs/{slug}/connectors"),
            json!({"name": "Docs", "url": "https://mcp.example.com/mcp", "description": text}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["description"], text);

    for name in ["Two\nlines", "Tab\there"] {
        refused(
            name,
            owner.post("/orgs", json!({"name": name})).await,
            "name",
        )
        .await;
    }
}
