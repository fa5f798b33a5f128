//! The OAuth server as a real client sees it: discovery from the MCP endpoint's 401,
//! registration, authorization with PKCE and consent, code exchange, MCP calls with the
//! access token, refresh-token rotation and reuse detection, revocation, and metadata
//! documents served by a local server.
use crate::support::*;
use gatehouse_types::{
    CreateOAuthClientRequest, IpRange, OAuthClientKind, OAuthSettings, RefreshTokenLifetime,
    UpdateOAuthSettings, UpdateSecuritySettings,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
    basic::BasicClient,
};
use serde_json::{Value, json};
use std::time::Duration;

const GRACE_SECS: i64 = 2;

async fn oauth_app() -> TestApp {
    spawn_app_with(|c| {
        c.oauth.refresh_grace_secs = GRACE_SECS;
        c.outbound.allow_loopback = true;
    })
    .await
}

pub(crate) fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The consent form's fields, as a browser would submit them.
pub(crate) fn form_fields(html: &str) -> Vec<(String, String)> {
    let re =
        regex::Regex::new(r#"<input type="hidden" name="([a-z_]+)" value="([^"]*)">"#).unwrap();
    re.captures_iter(html)
        .map(|c| (c[1].to_string(), unescape(&c[2])))
        .collect()
}

/// Submits the consent form in `html` with "allow", as `user`'s browser: the redirect
/// back to the client, with its query parameters.
pub(crate) async fn allow(
    app: &TestApp,
    user: &Session,
    html: &str,
) -> (url::Url, std::collections::HashMap<String, String>) {
    let mut fields = form_fields(html);
    fields.push(("decision".into(), "allow".into()));
    let r = user
        .http
        .post(app.url("/authorize"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap_or_default());
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let query = location.query_pairs().into_owned().collect();
    (location, query)
}

async fn mcp_call(
    app: &TestApp,
    slug: &str,
    token: &str,
    body: Value,
    session: Option<&str>,
) -> reqwest::Response {
    let mut rb = plain()
        .post(app.url(&format!("/mcp/{slug}")))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(s) = session {
        rb = rb.header("mcp-session-id", s);
    }
    rb.send().await.unwrap()
}

async fn initialize(app: &TestApp, slug: &str, token: &str) -> reqwest::Response {
    mcp_call(app, slug, token, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}), None).await
}

/// Registers like Claude does.
/// Whether the MCP endpoint refuses `token` (401) within 6 seconds: revocation reaches
/// every replica's cache within seconds, not at once.
async fn refused_soon(app: &TestApp, slug: &str, token: &str) -> bool {
    for _ in 0..60 {
        if initialize(app, slug, token).await.status() == 401 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub(crate) async fn register(app: &TestApp, redirect: &str) -> Value {
    let r = plain()
        .post(app.url("/register"))
        .json(&json!({
            "client_name": "Claude",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

type Client = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

pub(crate) fn client(app: &TestApp, id: &str, secret: Option<&str>, redirect: &str) -> Client {
    let mut c = BasicClient::new(ClientId::new(id.into()))
        .set_auth_uri(AuthUrl::new(app.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
        .set_auth_type(AuthType::RequestBody);
    if let Some(s) = secret {
        c = c.set_client_secret(ClientSecret::new(s.into()));
    }
    c
}

/// Runs /authorize as `user` (consent allowed) and returns the code and PKCE verifier.
pub(crate) async fn authorize(
    app: &TestApp,
    user: &Session,
    c: &Client,
    resource: &str,
) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = c
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("mcp".into()))
        .add_extra_param("resource", resource)
        .set_pkce_challenge(challenge)
        .url();
    let page = user.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200, "consent page");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Connect "), "{html}");
    let (_, q) = allow(app, user, &html).await;
    assert_eq!(q.get("state"), Some(state.secret()));
    assert_eq!(q.get("iss"), Some(&app.base));
    (q["code"].clone(), verifier)
}

/// Authorizes as `user` and exchanges the code: a fresh grant's tokens.
async fn granted(
    app: &TestApp,
    user: &Session,
    c: &Client,
    resource: &str,
) -> oauth2::basic::BasicTokenResponse {
    let (code, verifier) = authorize(app, user, c, resource).await;
    c.exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&plain())
        .await
        .expect("code exchange")
}

#[tokio::test]
async fn a_client_discovers_registers_authorizes_calls_refreshes_and_is_revoked() {
    let app = oauth_app().await;
    let owner = app.signup("olga@example.com").await;
    let org = app.create_org(&owner, "Olga").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));

    // Discovery, starting from the endpoint's 401.
    let r = initialize(&app, &org.slug, "nothing").await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let prm_url = regex::Regex::new(r#"resource_metadata="([^"]+)""#)
        .unwrap()
        .captures(&challenge)
        .unwrap()[1]
        .to_string();
    let prm: Value = plain()
        .get(&prm_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], mcp);
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let issuer = prm["authorization_servers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let meta: Value = plain()
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], app.base);
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["client_id_metadata_document_supported"], json!(true));
    assert_eq!(
        meta["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    for m in ["none", "client_secret_post", "client_secret_basic"] {
        assert!(
            meta["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(m))
        );
    }
    let jwks: Value = plain()
        .get(meta["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");

    // Registration, as Claude sends it; a loopback redirect on any port.
    let reg = register(&app, "http://127.0.0.1/callback").await;
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_post");
    let c = client(
        &app,
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str(),
        "http://127.0.0.1:53682/callback",
    );

    let (code, verifier) = authorize(&app, &owner, &c, &mcp).await;
    let http = plain();
    let tokens = c
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", &mcp)
        .request_async(&http)
        .await
        .expect("code exchange");
    let access = tokens.access_token().secret().clone();
    let refresh = tokens
        .refresh_token()
        .expect("a refresh token without offline_access")
        .secret()
        .clone();
    assert!(tokens.expires_in().unwrap() <= Duration::from_secs(3600));

    // The code works once; its second use revokes what the first issued.
    let again = c
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(again.is_err());

    // A second, independent authorization for the MCP calls.
    let tokens = granted(&app, &owner, &c, &mcp).await;
    let access2 = tokens.access_token().secret().clone();
    let refresh2 = tokens.refresh_token().unwrap().secret().clone();
    let r = initialize(&app, &org.slug, &access2).await;
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let r = mcp_call(
        &app,
        &org.slug,
        &access2,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        Some(&session),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["result"]["tools"].is_array(), "{body}");

    // The replayed first code killed its grant within seconds.
    assert!(
        refused_soon(&app, &org.slug, &access).await,
        "a reused code's grant still works"
    );
    assert!(
        c.exchange_refresh_token(&RefreshToken::new(refresh))
            .request_async(&http)
            .await
            .is_err()
    );

    // Two parallel refreshes of one token both succeed (grace window) …
    let rt = RefreshToken::new(refresh2.clone());
    let (a, b) = tokio::join!(
        c.exchange_refresh_token(&rt).request_async(&http),
        c.exchange_refresh_token(&rt).request_async(&http)
    );
    let (a, b) = (
        a.expect("first parallel refresh"),
        b.expect("second parallel refresh"),
    );
    assert_ne!(a.refresh_token().unwrap().secret(), &refresh2);
    assert_eq!(
        initialize(&app, &org.slug, a.access_token().secret())
            .await
            .status(),
        200
    );
    let newest = a.refresh_token().unwrap().secret().clone();
    // … one more rotation from the newest works …
    let c2 = c
        .exchange_refresh_token(&RefreshToken::new(newest))
        .request_async(&http)
        .await
        .unwrap();
    // … and reusing the old one after the window revokes the whole family.
    tokio::time::sleep(Duration::from_secs(GRACE_SECS as u64 + 1)).await;
    assert!(
        c.exchange_refresh_token(&rt)
            .request_async(&http)
            .await
            .is_err()
    );
    assert!(
        c.exchange_refresh_token(c2.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err()
    );
    assert!(
        c.exchange_refresh_token(b.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err()
    );
    assert!(
        refused_soon(&app, &org.slug, c2.access_token().secret()).await,
        "the revoked family's access token still works"
    );

    // RFC 7009 revocation ends a grant too.
    let t = granted(&app, &owner, &c, &mcp).await;
    let r = http
        .post(app.url("/revoke"))
        .form(&[
            ("token", t.refresh_token().unwrap().secret().as_str()),
            ("client_id", reg["client_id"].as_str().unwrap()),
            ("client_secret", reg["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        c.exchange_refresh_token(t.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err()
    );

    // The audit log has the grants and the revocations.
    let log = owner.audit_log(&org.slug, "limit=100").await.ok().await;
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "oauth.consent_granted",
        "oauth.grant_created",
        "oauth.grant_revoked",
    ] {
        assert!(actions.contains(&a), "{a} missing in {actions:?}");
    }
}

#[tokio::test]
async fn wrong_verifier_redirect_audience_member_secret_and_expiry_are_refused() {
    let app = oauth_app().await;
    let owner = app.signup("pat@example.com").await;
    let org = app.create_org(&owner, "Pat").await;
    let other = app.signup("quinn@example.com").await;
    let other_org = app.create_org(&other, "Quinn").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let reg = register(&app, "https://app.example.com/cb").await;
    let id = reg["client_id"].as_str().unwrap();
    let secret = reg["client_secret"].as_str();
    let c = client(&app, id, secret, "https://app.example.com/cb");
    let http = plain();

    // Wrong PKCE verifier.
    let (code, _) = authorize(&app, &owner, &c, &mcp).await;
    let err = c
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("a".repeat(50)))
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");

    // Wrong client secret: 401 invalid_client (clients re-register on it).
    let r = http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", id),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");

    // A redirect URI the client did not register: an error page, no redirect.
    let bad = client(&app, id, secret, "https://evil.example.com/cb");
    let (url, _) = bad
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let r = owner.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    // No PKCE: the error goes back to the client.
    let (url, _) = c.authorize_url(CsrfToken::new_random).url();
    let r = owner.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_request")
    );

    // A user who is not a member of the org named by `resource` cannot grant it.
    let (url, _) = c
        .authorize_url(CsrfToken::new_random)
        .add_extra_param("resource", &mcp)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let r = other.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // A forged consent (wrong CSRF token) is refused.
    let (url, _) = c
        .authorize_url(CsrfToken::new_random)
        .add_extra_param("resource", &mcp)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let html = owner
        .http
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut fields: Vec<(String, String)> = form_fields(&html)
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    fields.push(("csrf".into(), "forged".into()));
    fields.push(("decision".into(), "allow".into()));
    let r = owner
        .http
        .post(app.url("/authorize"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A token for one org's endpoint is refused by another's (audience), and a token
    // that is not ours at all.
    let t = granted(&app, &owner, &c, &mcp).await;
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        200
    );
    assert_eq!(
        initialize(&app, &other_org.slug, t.access_token().secret())
            .await
            .status(),
        401
    );
    let mut forged = t.access_token().secret().clone();
    forged.push('A');
    assert_eq!(initialize(&app, &org.slug, &forged).await.status(), 401);

    // Removing the member revokes their grants in the org at once.
    let member = app
        .add_member(&owner, &org.slug, "rae@example.com", Role::Member)
        .await;
    let t = granted(&app, &member, &c, &mcp).await;
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        200
    );
    assert_eq!(
        owner
            .remove_member(&org.slug, member.user.id)
            .await
            .status(),
        204
    );
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        401
    );
    assert!(
        c.exchange_refresh_token(t.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err()
    );

    // An access token dies with its hour, although its signature was checked (and
    // remembered) while it was valid.
    let t = granted(&app, &owner, &c, &mcp).await;
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        200
    );
    app.advance(Duration::from_secs(3601));
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_metadata_document_client_is_fetched_and_bound_to_its_redirect_uris() {
    let app = oauth_app().await;
    let owner = app.signup("sam@example.com").await;
    let org = app.create_org(&owner, "Sam").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    // The client's metadata document, served by a local server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let doc_url = format!("http://127.0.0.1:{port}/client.json");
    let doc = json!({
        "client_id": doc_url,
        "client_name": "Metadata Client",
        "redirect_uris": ["http://localhost/callback"],
        "token_endpoint_auth_method": "none",
    });
    let served = doc.clone();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let server = actix_web::HttpServer::new(move || {
        let (d, hits) = (served.clone(), counted.clone());
        actix_web::App::new().route(
            "/client.json",
            actix_web::web::get().to(move || {
                let d = d.clone();
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    actix_web::HttpResponse::Ok()
                        .insert_header(("Cache-Control", "max-age=600"))
                        .json(d)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let doc_server = server.handle();
    tokio::spawn(server);

    let c = client(&app, &doc_url, None, "http://localhost:41234/callback");
    let (code, verifier) = authorize(&app, &owner, &c, &mcp).await;
    let http = plain();
    let t = c
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("a public metadata-document client exchanges without a secret");
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        200
    );
    let fetched = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!(fetched >= 1);

    // Within its max-age the document is not fetched again; after it, a failed refetch
    // (the server is gone) falls back to the stored copy.
    authorize(&app, &owner, &c, &mcp).await;
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        fetched,
        "cached"
    );
    doc_server.stop(true).await;
    app.advance(Duration::from_secs(700));
    let (code, verifier) = authorize(&app, &owner, &c, &mcp).await;
    c.exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the stale copy still serves");

    // A redirect URI outside the document is refused.
    let bad = client(&app, &doc_url, None, "https://elsewhere.example.com/cb");
    let (url, _) = bad
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    assert_eq!(
        owner.http.get(url.as_str()).send().await.unwrap().status(),
        400
    );

    // The org sees the client, and deleting it revokes its grants and the org's
    // refresh tokens.
    let clients = owner.oauth_clients(&org.slug).await.ok().await;
    let listed = clients
        .iter()
        .find(|c| c.client_id == doc_url)
        .expect("listed");
    assert_eq!(listed.kind, OAuthClientKind::MetadataDocument);
    assert_eq!(
        listed.active_grants, 2,
        "the first grant and the one made on the stale copy"
    );
    assert_eq!(listed.redirect_hosts, ["localhost"]);
    let r = owner.delete_oauth_client(&org.slug, listed.id).await;
    assert_eq!(r.status(), 204);
    assert!(
        c.exchange_refresh_token(t.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err()
    );
    // Disconnected, it is no longer listed for the org.
    let clients = owner.oauth_clients(&org.slug).await.ok().await;
    assert!(
        !clients.iter().any(|c| c.client_id == doc_url),
        "{clients:?}"
    );
}

#[tokio::test]
async fn admin_clients_revoke_the_orgs_refresh_tokens_and_settings_apply_to_new_tokens() {
    let app = oauth_app().await;
    let owner = app.signup("tia@example.com").await;
    let org = app.create_org(&owner, "Tia").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let s = owner.oauth_settings(&org.slug).await.ok().await;
    assert_eq!(
        s,
        OAuthSettings {
            refresh_token_lifetime: RefreshTokenLifetime::Default,
            refresh_token_days: 30
        }
    );
    let reg = register(&app, "https://app.example.com/cb").await;
    let c = client(
        &app,
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str(),
        "https://app.example.com/cb",
    );
    let http = plain();
    let t = granted(&app, &owner, &c, &mcp).await;

    let r = owner
        .update_oauth_settings(
            &org.slug,
            &UpdateOAuthSettings {
                refresh_token_lifetime: RefreshTokenLifetime::Short,
            },
        )
        .await;
    assert_eq!(r.status(), 200);
    // DCR registrations do not log the org out; an admin-created client does.
    register(&app, "https://other.example.com/cb").await;
    let t = c
        .exchange_refresh_token(t.refresh_token().unwrap())
        .request_async(&http)
        .await
        .expect("still valid after a registration");
    let r = owner
        .create_oauth_client(
            &org.slug,
            &CreateOAuthClientRequest {
                name: "CI tool".into(),
                redirect_uris: vec!["https://ci.example.com/cb".into()],
            },
        )
        .await;
    assert_eq!(r.status(), 201);
    let created = r.ok().await;
    assert!(created.client_secret.starts_with("ghcs_"));
    assert!(created.refresh_tokens_revoked >= 1);
    assert!(
        c.exchange_refresh_token(t.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err()
    );
    // Access tokens already issued keep working until they expire.
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        200
    );

    // The new lifetime applies to new grants: one day.
    let (code, verifier) = authorize(&app, &owner, &c, &mcp).await;
    c.exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let log = owner.events(&org.slug, "oauth.grant_created").await;
    assert_eq!(log.items[0].metadata["refresh_token_days"], 1);

    // The org's IP allowlist guards the consent step and the MCP endpoint (bearer
    // tokens too), but not the token endpoint, which is not org-scoped.
    let (code, verifier) = authorize(&app, &owner, &c, &mcp).await;
    let r = owner
        .update_security_settings(
            &org.slug,
            &UpdateSecuritySettings {
                ip_allowlist: Some(vec![IpRange {
                    cidr: "203.0.113.0/24".into(),
                    label: "office".into(),
                }]),
                confirm_lockout: true,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(r.status(), 200);
    let t = c
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the token endpoint is not org-scoped");
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        403
    );
    let (url, _) = c
        .authorize_url(CsrfToken::new_random)
        .add_extra_param("resource", &mcp)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let page = owner.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("allowlist"));
}

/// The key id in a JWT's header.
fn kid_of(token: &str) -> String {
    use base64::Engine;
    let head = token.split('.').next().unwrap();
    let head: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(head)
            .unwrap(),
    )
    .unwrap();
    head["kid"].as_str().unwrap().to_string()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = plain()
        .get(app.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_signing_key_rotation_keeps_issued_tokens_valid_and_retires_the_old_key_later() {
    let app = oauth_app().await;
    let owner = app.signup("kim@example.com").await;
    let org = app.create_org(&owner, "Kim").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let reg = register(&app, "https://app.example.com/cb").await;
    let c = client(
        &app,
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str(),
        "https://app.example.com/cb",
    );
    let before = granted(&app, &owner, &c, &mcp).await;
    let old_kid = kid_of(before.access_token().secret());
    assert_eq!(published_kids(&app).await, vec![old_kid.clone()]);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATABASE_URL", &app.db_url)
        .env("GATEHOUSE_DATA_DIR", app.data_dir())
        .current_dir(app.data_dir())
        .args(["admin", "rotate-signing-key"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Within seconds the server signs with the new key and publishes both.
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    let after = loop {
        let t = granted(&app, &owner, &c, &mcp).await;
        if kid_of(t.access_token().secret()) != old_kid {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still signing with the old key"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let new_kid = kid_of(after.access_token().secret());
    let mut kids = published_kids(&app).await;
    kids.sort();
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(kids, both);
    for t in [&before, &after] {
        assert_eq!(
            initialize(&app, &org.slug, t.access_token().secret())
                .await
                .status(),
            200
        );
    }
    use gatehouse::entity::audit_event;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("oauth.signing_key_rotated"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 1, "the rotation is audited");

    // Once the old key's last tokens have expired, the janitor retires it.
    let now = chrono::Utc::now();
    let early = gatehouse::janitor::sweep(&app.db, now).await.unwrap();
    assert_eq!(early.signing_keys, 0, "not while its tokens may live");
    let later = gatehouse::janitor::sweep(&app.db, now + chrono::Duration::minutes(66))
        .await
        .unwrap();
    assert_eq!(later.signing_keys, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while published_kids(&app).await != vec![new_kid.clone()] {
        assert!(
            std::time::Instant::now() < deadline,
            "the old key is still published"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_revoked_grant_is_refused_by_every_replica_within_five_seconds() {
    let app = oauth_app().await;
    let replica = app.replica_same_origin().await;
    let owner = app.signup("lee@example.com").await;
    let org = app.create_org(&owner, "Lee").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let reg = register(&app, "https://app.example.com/cb").await;
    let id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().map(str::to_string);
    let c = client(&app, &id, secret.as_deref(), "https://app.example.com/cb");
    let t = granted(&app, &owner, &c, &mcp).await;
    let access = t.access_token().secret();
    // The replica has seen (and remembered) the token before the revocation.
    assert_eq!(initialize(&replica, &org.slug, access).await.status(), 200);

    let mut form = vec![
        ("token", t.refresh_token().unwrap().secret().as_str()),
        ("client_id", id.as_str()),
    ];
    if let Some(s) = secret.as_deref() {
        form.push(("client_secret", s));
    }
    let r = plain()
        .post(app.url("/revoke"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked_at = std::time::Instant::now();
    assert_eq!(
        initialize(&app, &org.slug, access).await.status(),
        401,
        "at once where it was revoked"
    );
    loop {
        let status = initialize(&replica, &org.slug, access).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "the other replica still accepts the token after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn dynamic_registration_is_rate_limited_per_address_with_a_burst() {
    let app = spawn_app_with(|c| c.oauth.registrations_per_ip_per_second = 1).await;
    let mut statuses = Vec::new();
    let mut refused = None;
    for i in 0..14 {
        let r = plain()
            .post(app.url("/register"))
            .json(
                &json!({"client_name": format!("c{i}"), "redirect_uris": ["http://127.0.0.1/cb"]}),
            )
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 && refused.is_none() {
            let retry = r.headers().get("retry-after").cloned();
            refused = Some((retry, r.json::<Value>().await.unwrap()));
        }
    }
    // A burst of ten times the rate passes (many users behind one egress address), then
    // the address must slow down.
    assert!(statuses[..10].iter().all(|s| *s == 201), "{statuses:?}");
    assert!(statuses[10..].contains(&429), "{statuses:?}");
    let (retry, body) = refused.unwrap();
    assert!(retry.is_some(), "429 carries Retry-After");
    assert_eq!(body["error"], "slow_down");
}

/// Exchanges that arrive together share one write (group commit); a code sent twice at
/// once still yields one grant, which the second use then revokes.
#[tokio::test]
async fn a_code_exchanged_twice_at_once_issues_one_grant_and_then_revokes_it() {
    let app = oauth_app().await;
    let owner = app.signup("pia@example.com").await;
    let org = app.create_org(&owner, "Pia").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let redirect = "http://127.0.0.1:9/callback";
    let reg = register(&app, redirect).await;
    let c = client(
        &app,
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str(),
        redirect,
    );
    // Other exchanges in flight at the same time must not be disturbed.
    let (mut codes, mut verifiers) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let (code, verifier) = authorize(&app, &owner, &c, &mcp).await;
        codes.push(code);
        verifiers.push(verifier.secret().clone());
    }
    let http = plain();
    let exchange = |code: String, verifier: String| {
        c.exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&http)
    };
    let (a, b, x, y, z) = tokio::join!(
        exchange(codes[0].clone(), verifiers[0].clone()),
        exchange(codes[0].clone(), verifiers[0].clone()),
        exchange(codes[1].clone(), verifiers[1].clone()),
        exchange(codes[2].clone(), verifiers[2].clone()),
        exchange(codes[3].clone(), "w".repeat(43)),
    );
    assert!(x.is_ok() && y.is_ok(), "the other exchanges succeed");
    assert!(z.is_err(), "a wrong verifier is refused");
    let won = match (a, b) {
        (Ok(t), Err(_)) | (Err(_), Ok(t)) => t,
        (a, b) => panic!("exactly one exchange must win: {a:?} {b:?}"),
    };
    // What the winner got is revoked: its refresh token no longer works …
    assert!(
        c.exchange_refresh_token(won.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err(),
        "the replayed code's refresh token still works"
    );
    // … and its access token dies within seconds, while the others' live on.
    assert!(
        refused_soon(&app, &org.slug, won.access_token().secret()).await,
        "the replayed code's access token still works"
    );
    assert_eq!(
        initialize(&app, &org.slug, x.unwrap().access_token().secret())
            .await
            .status(),
        200
    );
    // The refused exchange left its code unused: with the right verifier it works.
    assert!(
        exchange(codes[3].clone(), verifiers[3].clone())
            .await
            .is_ok()
    );
    // Every grant is audited, the revoked one too.
    let events: Value = owner
        .http
        .get(app.url(&format!(
            "/api/v1/orgs/{}/audit-logs?action=oauth.",
            org.slug
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "oauth.grant_created")
            .count(),
        4,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "oauth.grant_revoked")
            .count(),
        1,
        "{actions:?}"
    );
}

/// A fresh grant of `user` for `slug`'s MCP endpoint, through a client registered for
/// it: the grant's access token.
pub(crate) async fn mcp_access_token(app: &TestApp, user: &Session, slug: &str) -> String {
    let reg = register(app, "http://127.0.0.1/callback").await;
    let c = client(
        app,
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str(),
        "http://127.0.0.1:53682/callback",
    );
    let mcp = app.url(&format!("/mcp/{slug}"));
    granted(app, user, &c, &mcp)
        .await
        .access_token()
        .secret()
        .clone()
}

/// Cursor's registration, as it sends it: a private-use `cursor://` redirect (RFC 8252
/// §7.1) among https and loopback ones.
fn cursor_registration() -> Value {
    json!({
        "client_name": "Cursor",
        "redirect_uris": [
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "https://www.cursor.com/agents/mcp/oauth/callback",
            "http://localhost:8787/callback",
        ],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

#[tokio::test]
async fn cursor_registers_with_a_private_use_scheme_and_is_sent_back_to_its_app() {
    let app = oauth_app().await;
    let owner = app.signup("cora@example.com").await;
    let org = app.create_org(&owner, "Cora").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let http = plain();
    let cursor = "cursor://anysphere.cursor-mcp/oauth/callback";

    let r = http
        .post(app.url("/register"))
        .json(&cursor_registration())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    assert_eq!(reg["redirect_uris"], cursor_registration()["redirect_uris"]);
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    let id = reg["client_id"].as_str().unwrap();

    // A native app says so (RFC 7591 / OIDC registration); the answer echoes it.
    let mut native = cursor_registration();
    native["application_type"] = json!("native");
    let r = http
        .post(app.url("/register"))
        .json(&native)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["application_type"],
        "native"
    );
    native["application_type"] = json!("browser");
    let r = http
        .post(app.url("/register"))
        .json(&native)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Dangerous or meaningless schemes, fragments and plain http elsewhere stay refused.
    for bad in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "vbscript:msgbox",
        "about:blank",
        "blob:https://evil.example/1",
        "cursor://anysphere.cursor-mcp/oauth/callback#x",
        "http://evil.example.com/cb",
        "https-evil://claude.ai/cb",
        "9cursor://cb",
    ] {
        let r = http
            .post(app.url("/register"))
            .json(&json!({"redirect_uris": [cursor, bad], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_redirect_uri",
            "{bad}"
        );
    }

    // The consent page names the app's scheme plainly, its CSP lets the form end there,
    // and the code comes back to exactly that URI.
    let c = client(&app, id, None, cursor);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = c
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("mcp".into()))
        .add_extra_param("resource", &mcp)
        .set_pkce_challenge(challenge)
        .url();
    let page = owner.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("form-action 'self' http: https: cursor:;"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(
            "You will be sent back to the app at <code>cursor://anysphere.cursor-mcp/oauth/callback</code>"
        ),
        "{html}"
    );
    let (location, q) = allow(&app, &owner, &html).await;
    assert_eq!(location.scheme(), "cursor");
    assert!(
        location.as_str().starts_with(&format!("{cursor}?")),
        "{location}"
    );
    let t = c
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("Cursor exchanges its code");
    assert_eq!(
        initialize(&app, &org.slug, t.access_token().secret())
            .await
            .status(),
        200
    );

    // The org's list of connected clients names the app's scheme, not a web host.
    let listed = owner.oauth_clients(&org.slug).await.ok().await;
    let cursor_client = listed.iter().find(|c| c.client_id == id).expect("listed");
    assert_eq!(
        cursor_client.redirect_hosts,
        [
            "cursor://anysphere.cursor-mcp",
            "localhost",
            "www.cursor.com"
        ]
    );

    // Exact match: another path under the same scheme is not Cursor's redirect.
    for other in [
        "cursor://anysphere.cursor-mcp/oauth/callback/x",
        "cursor://evil/oauth/callback",
    ] {
        let (url, _) = client(&app, id, None, other)
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
            .url();
        let r = owner.http.get(url.as_str()).send().await.unwrap();
        assert_eq!(r.status(), 400, "{other}");
    }
}

#[tokio::test]
async fn resources_agree_between_discovery_authorize_and_token_after_normalisation() {
    let app = oauth_app().await;
    let owner = app.signup("rhea@example.com").await;
    let org = app.create_org(&owner, "Rhea").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let http = plain();

    // No root document naming a resource /authorize would refuse; the path-inserted
    // one names the MCP URL, which /authorize accepts.
    let r = http
        .get(app.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let prm: Value = http
        .get(app.url(&format!(
            "/.well-known/oauth-protected-resource/mcp/{}",
            org.slug
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], mcp);

    // Scheme and host compare case-insensitively (RFC 3986 §6.2.2.1), here the scheme.
    let reg = register(&app, "https://app.example.com/cb").await;
    let id = reg["client_id"].as_str().unwrap();
    let secret = reg["client_secret"].as_str().unwrap();
    let c = client(&app, id, Some(secret), "https://app.example.com/cb");
    let shouted = mcp.replacen("http://", "HTTP://", 1);
    let (code, verifier) = authorize(&app, &owner, &c, &shouted).await;
    let r = http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.secret().as_str()),
            ("redirect_uri", "https://app.example.com/cb"),
            ("client_id", id),
            ("client_secret", secret),
            ("resource", &format!("{shouted}/")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let t: Value = r.json().await.unwrap();
    assert_eq!(
        initialize(&app, &org.slug, t["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // The path keeps its case: /MCP/{slug} is not our MCP endpoint.
    let (url, _) = c
        .authorize_url(CsrfToken::new_random)
        .add_extra_param("resource", mcp.replace("/mcp/", "/MCP/"))
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let r = owner.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=invalid_target"), "{location}");
}

#[tokio::test]
async fn openid_discovery_is_not_served_as_no_id_tokens_are_issued() {
    let app = oauth_app().await;
    // An RFC 8414 document dressed as OpenID discovery failed OIDC metadata parsers;
    // we are no OpenID Provider, so there is none.
    let r = plain()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not-found").await;
    let meta: Value = plain()
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], app.base);
    assert!(meta.get("id_token_signing_alg_values_supported").is_none());
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A client's signing key: the private half for its assertions, the public half as a JWK.
struct ClientKey {
    alg: jsonwebtoken::Algorithm,
    kid: &'static str,
    key: jsonwebtoken::EncodingKey,
    jwk: Value,
}

fn ec_key(kid: &'static str) -> ClientKey {
    use p256::{elliptic_curve::sec1::ToEncodedPoint, pkcs8::EncodePrivateKey};
    let secret = p256::SecretKey::random(&mut rand::thread_rng());
    let der = secret.to_pkcs8_der().unwrap();
    let point = secret.public_key().to_encoded_point(false);
    ClientKey {
        alg: jsonwebtoken::Algorithm::ES256,
        kid,
        key: jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
            "x": b64url(point.x().unwrap()), "y": b64url(point.y().unwrap())}),
    }
}

fn rsa_key(kid: &'static str) -> ClientKey {
    use rsa::{pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let der = private.to_pkcs1_der().unwrap();
    ClientKey {
        alg: jsonwebtoken::Algorithm::RS256,
        kid,
        key: jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64url(&private.n().to_bytes_be()), "e": b64url(&private.e().to_bytes_be())}),
    }
}

/// An RFC 7523 client assertion; `claims` overrides the defaults.
fn assertion(k: &ClientKey, client_id: &str, aud: &str, claims: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60,
        "iat": now, "jti": uuid::Uuid::now_v7().to_string()});
    for (name, v) in claims.as_object().unwrap() {
        c[name] = v.clone();
    }
    let mut header = jsonwebtoken::Header::new(k.alg);
    header.kid = Some(k.kid.into());
    jsonwebtoken::encode(&header, &c, &k.key).unwrap()
}

#[tokio::test]
async fn a_metadata_document_client_authenticates_with_private_key_jwt() {
    let app = oauth_app().await;
    let owner = app.signup("kim@example.com").await;
    let org = app.create_org(&owner, "Kim").await;
    let mcp = app.url(&format!("/mcp/{}", org.slug));
    let (ec, rsa) = (ec_key("ec-1"), rsa_key("rsa-1"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let doc_url = format!("http://127.0.0.1:{port}/client.json");
    let doc = json!({
        "client_id": doc_url,
        "client_name": "Keyed Client",
        "redirect_uris": ["http://localhost/callback"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": format!("http://127.0.0.1:{port}/jwks.json"),
    });
    let jwks = json!({"keys": [ec.jwk, rsa.jwk]});
    let server = actix_web::HttpServer::new(move || {
        let (d, k) = (doc.clone(), jwks.clone());
        actix_web::App::new()
            .route(
                "/client.json",
                actix_web::web::get().to(move || {
                    let d = d.clone();
                    async move { actix_web::HttpResponse::Ok().json(d) }
                }),
            )
            .route(
                "/jwks.json",
                actix_web::web::get().to(move || {
                    let k = k.clone();
                    async move { actix_web::HttpResponse::Ok().json(k) }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);

    let meta: Value = plain()
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );

    let token_url = app.url("/token");
    let http = plain();
    let c = client(&app, &doc_url, None, "http://localhost:41234/callback");
    let (code, verifier) = authorize(&app, &owner, &c, &mcp).await;
    let exchange = |extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("code_verifier", verifier.secret().clone()),
            (
                "redirect_uri",
                "http://localhost:41234/callback".to_string(),
            ),
            ("client_id", doc_url.clone()),
        ];
        form.extend(extra);
        http.post(&token_url).form(&form).send()
    };
    let with = |a: String| {
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", a),
        ]
    };
    async fn refused(r: reqwest::Response, why: &str) {
        assert_eq!(r.status(), 401, "{why}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_client",
            "{why}"
        );
    }

    // Without an assertion, or with one that fails a check, the client is refused.
    refused(exchange(vec![]).await.unwrap(), "no assertion").await;
    let stranger = ec_key("ec-1");
    for (why, a) in [
        (
            "signed by a key the client does not publish",
            assertion(&stranger, &doc_url, &token_url, json!({})),
        ),
        (
            "another audience",
            assertion(&ec, &doc_url, "https://elsewhere.example/token", json!({})),
        ),
        (
            "expired",
            assertion(
                &ec,
                &doc_url,
                &token_url,
                json!({"exp": chrono::Utc::now().timestamp() - 120}),
            ),
        ),
        (
            "iss is not the client",
            assertion(
                &ec,
                &doc_url,
                &token_url,
                json!({"iss": "https://other.example/c.json"}),
            ),
        ),
    ] {
        refused(exchange(with(a)).await.unwrap(), why).await;
    }
    let r = exchange(vec![
        ("client_assertion_type", "urn:example:other".to_string()),
        (
            "client_assertion",
            assertion(&ec, &doc_url, &token_url, json!({})),
        ),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 400);

    // ES256, audience the token endpoint: the code is exchanged.
    let es = assertion(&ec, &doc_url, &token_url, json!({}));
    let r = exchange(with(es.clone())).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let t: Value = r.json().await.unwrap();
    assert_eq!(
        initialize(&app, &org.slug, t["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // The same assertion again is a replay, even for another request.
    let refresh = |a: String| {
        http.post(&token_url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", a.as_str()),
            ])
            .send()
    };
    refused(refresh(es).await.unwrap(), "replayed jti").await;

    // RS256, audience the issuer, client id taken from the assertion.
    let rs = assertion(&rsa, &doc_url, &app.base, json!({}));
    let r = refresh(rs).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
