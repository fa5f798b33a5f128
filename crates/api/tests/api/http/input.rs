//! Text input hygiene: control characters (NUL first: PostgreSQL cannot store it and
//! answered 500) are refused in every body, query and path with a 4xx naming the field;
//! invisible and direction-changing characters are refused in names other people see.
use crate::support::*;
use reqwest::Response;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::layer::SubscriberExt;

/// Warnings and errors the in-process servers log (a refusal must log neither an ERROR
/// nor a failed database call).
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<(tracing::Level, String)>>>);

struct Text(String);
impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logged {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *e.metadata().level() <= tracing::Level::WARN {
            let mut t = Text(String::new());
            e.record(&mut t);
            self.0.lock().unwrap().push((*e.metadata().level(), t.0));
        }
    }
}

fn logged() -> Logged {
    static LOGGED: OnceLock<Logged> = OnceLock::new();
    LOGGED
        .get_or_init(|| {
            let l = Logged::default();
            let _ = tracing::subscriber::set_global_default(
                tracing_subscriber::registry().with(l.clone()),
            );
            l
        })
        .clone()
}

impl Logged {
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
    /// nextest runs each test in a process of its own; under `cargo test` other tests'
    /// servers share the subscriber, so nothing is asserted there.
    fn assert_none(&self, level: tracing::Level, what: &str) {
        if std::env::var_os("NEXTEST").is_none() {
            return;
        }
        let seen = self.0.lock().unwrap();
        let hits: Vec<_> = seen.iter().filter(|(l, _)| *l <= level).collect();
        assert!(hits.is_empty(), "{what}: {hits:?}");
    }
}

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
    let logs = logged();
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
    logs.assert_none(tracing::Level::ERROR, "an ERROR was logged");
}

#[tokio::test]
async fn nul_in_org_connector_key_and_member_inputs_is_refused_naming_the_field() {
    let logs = logged();
    let app = spawn_app().await;
    let owner = app.signup("olga@example.com").await;
    let org = app.create_org(&owner, "Olga").await;
    let slug = &org.slug;
    let url = "https://mcp.example.com/mcp";
    let cases = [
        (
            "POST",
            "/orgs".to_string(),
            json!({"name": "Acme\u{0}"}),
            "name",
        ),
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
    logs.assert_none(tracing::Level::ERROR, "an ERROR was logged");
}

#[tokio::test]
async fn nul_in_oauth_parameters_is_refused_as_oauth_errors() {
    let logs = logged();
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
    logs.assert_none(tracing::Level::ERROR, "an ERROR was logged");
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
        (
            "POST",
            "/orgs".to_string(),
            json!({"name": "Acme\u{202E}gnp.exe"}),
            "name",
        ),
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
        .post(
            "/orgs",
            json!({"name": "שלום עולם", "description": "نص عربي\u{200F}"}),
        )
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

#[tokio::test]
async fn an_api_body_that_is_not_an_object_of_known_members_is_refused_and_changes_nothing() {
    // serde fills a struct from an array: `[null, null]` was a PATCH that answered 200.
    let app = spawn_app().await;
    let owner = app.signup("arvo@example.com").await;
    let org: Value = json(owner.post("/orgs", json!({"name": "Arvo"})).await).await;
    let slug = org["slug"].as_str().unwrap();
    for body in [
        json!([null, null]),
        json!(["Renamed"]),
        json!("Renamed"),
        json!(7),
    ] {
        let r = owner.patch(&format!("/orgs/{slug}"), body.clone()).await;
        assert_problem(r, 422, "validation").await;
    }
    // A misspelt member is refused too, not ignored with a 200 that changed nothing.
    let r = owner
        .patch(&format!("/orgs/{slug}"), json!({"nmae": "Renamed"}))
        .await;
    assert_problem(r, 422, "validation").await;
    let got: Value = json(owner.get(&format!("/orgs/{slug}")).await).await;
    assert_eq!(got["name"], "Arvo", "{got}");
}

#[tokio::test]
async fn a_nul_in_an_mcp_answer_id_reaches_no_database_query() {
    let logs = logged();
    let app = spawn_app().await;
    let owner = app.signup("mona@example.com").await;
    let org = app.create_org(&owner, "Mona").await;
    let key = mcp_key(&owner, &org.slug).await;
    logs.clear(); // the start-up's warning about a generated master key
    // An answer to a relayed request that never was: acknowledged and dropped. Its id
    // is the caller's free text and used to be looked up (a database error on
    // PostgreSQL, logged as a failed relay).
    for id in ["gh-\u{0}", "gh-0123456789abcdef0123456789abcdef"] {
        let r = plain()
            .post(app.url(&format!("/mcp/{}", org.slug)))
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }
    // Tool arguments are the upstream's business: the gateway forwards them, line
    // breaks included, and a NUL does not fail the request.
    let r = plain()
        .post(app.url(&format!("/mcp/{}", org.slug)))
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x\u{0}", "arguments": {"text": "a\nb\u{0}"}}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
    logs.assert_none(tracing::Level::WARN, "a warning was logged");
}

#[tokio::test]
async fn a_metadata_documents_client_name_reaches_the_consent_page_without_hidden_characters() {
    let app = spawn_app_with(|c| c.outbound.allow_loopback = true).await;
    let owner = app.signup("cleo@example.com").await;
    let org = app.create_org(&owner, "Cleo").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let doc_url = format!(
        "http://127.0.0.1:{}/client.json",
        listener.local_addr().unwrap().port()
    );
    let doc = json!({
        "client_id": doc_url,
        "client_name": "Docs\u{202E}txt.exe\u{200B}\u{0}",
        "redirect_uris": ["http://localhost/callback"],
        "token_endpoint_auth_method": "none",
    });
    let server = actix_web::HttpServer::new(move || {
        let d = doc.clone();
        actix_web::App::new().route(
            "/client.json",
            actix_web::web::get().to(move || {
                let d = d.clone();
                async move { actix_web::HttpResponse::Ok().json(d) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &doc_url)
        .append_pair("redirect_uri", "http://localhost/callback")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGEzTWRwXg",
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &app.url(&format!("/mcp/{}", org.slug)));
    let r = owner.http.get(url.as_str()).send().await.unwrap();
    let status = r.status();
    let html = r.text().await.unwrap();
    handle.stop(false).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Docstxt.exe"), "{html}");
    assert!(
        !html.contains(['\u{202E}', '\u{200B}', '\u{0}']),
        "hidden characters on the consent page"
    );
}
