//! Webhooks over HTTP, delivered to a real receiver on 127.0.0.1 that checks every
//! delivery with the Standard Webhooks reference library from PyPI
//! (`scripts/webhook-receiver.py`), not with our own signing code.
use crate::support::*;
use gatehouse_types::{
    CreateApiKeyRequest, CreateWebhookRequest, DeliveryStatus, ReplayResult, Webhook,
    WebhookDelivery, WebhookEvent, WebhookWithSecrets,
};
use serde_json::{Value, json};
use std::time::Duration;

/// The receiver, killed when dropped.
struct Receiver {
    _child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

impl Receiver {
    async fn start() -> Self {
        let python = std::env::var("GATEHOUSE_TEST_WEBHOOK_PYTHON").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cache/gatehouse/standardwebhooks-1.3.0/bin/python")
        });
        assert!(
            std::path::Path::new(&python).exists(),
            "{python} missing: run scripts/test.sh (it installs standardwebhooks) or set GATEHOUSE_TEST_WEBHOOK_PYTHON"
        );
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/webhook-receiver.py"
        );
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python");
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the receiver's port");
        let port = line.strip_prefix("port ").unwrap().to_string();
        Self {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, name: &str) -> String {
        format!("{}/hook/{name}", self.base)
    }

    async fn config(&self, name: &str, secrets: &[&str], statuses: &[u16]) {
        self.config_with(name, json!({"secrets": secrets, "statuses": statuses}))
            .await
    }

    async fn config_with(&self, name: &str, cfg: Value) {
        let r = self
            .http
            .post(format!("{}/_config/{name}", self.base))
            .json(&cfg)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn received(&self, name: &str) -> Vec<Value> {
        self.http
            .get(format!("{}/_received/{name}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `name` has received `n` deliveries, and returns them.
    async fn wait_for(&self, name: &str, n: usize) -> Vec<Value> {
        for _ in 0..600 {
            let got = self.received(name).await;
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{name} never received {n} deliveries: {:?}",
            self.received(name).await
        );
    }
}

async fn webhook_app() -> TestApp {
    spawn_app_with(|c| {
        // The receiver listens on 127.0.0.1 (http, loopback: allowed for development).
        c.outbound.allow_loopback = true;
        c.jobs.poll_ms = 50;
    })
    .await
}

fn hook_req(url: &str, events: &[WebhookEvent]) -> CreateWebhookRequest {
    CreateWebhookRequest {
        url: url.into(),
        events: events.to_vec(),
        ..Default::default()
    }
}

async fn create(owner: &Session, slug: &str, req: &CreateWebhookRequest) -> WebhookWithSecrets {
    let r = owner.post(&format!("/orgs/{slug}/webhooks"), req).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    r.json().await.unwrap()
}

async fn deliveries(owner: &Session, slug: &str, id: uuid::Uuid) -> Vec<WebhookDelivery> {
    json(
        owner
            .get(&format!("/orgs/{slug}/webhooks/{id}/deliveries"))
            .await,
    )
    .await
}

/// Waits until the newest message of the log satisfies `ok` (attempts are recorded a
/// moment after the receiver answers), and returns the log.
async fn log_until(
    owner: &Session,
    slug: &str,
    id: uuid::Uuid,
    ok: impl Fn(&WebhookDelivery) -> bool,
) -> Vec<WebhookDelivery> {
    for _ in 0..400 {
        let log = deliveries(owner, slug, id).await;
        if log.first().is_some_and(&ok) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{:?}", deliveries(owner, slug, id).await);
}

fn key_req(name: &str) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        name: name.into(),
        scopes: Some(vec![ApiKeyScope::Mcp]),
        expires_at: None,
    }
}

fn body(delivery: &Value) -> Value {
    serde_json::from_str(delivery["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn an_endpoint_receives_the_events_it_chose_signed_and_verified_by_the_reference_library() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    let created = create(
        &f.owner,
        slug,
        &hook_req(
            &rx.url("keys"),
            &[WebhookEvent::ApiKeyCreated, WebhookEvent::ApiKeyRevoked],
        ),
    )
    .await;
    let w = &created.webhook;
    assert!(created.signing_secret.starts_with("whsec_"));
    assert_eq!(w.secret_header, "Gatehouse-Secret");
    assert!(w.enabled);
    rx.config("keys", &[&created.signing_secret], &[200]).await;

    // Shown once: afterwards only hints, in every read.
    let listed: Vec<Webhook> = json(f.owner.get(&format!("/orgs/{slug}/webhooks")).await).await;
    assert_eq!(listed, vec![w.clone()]);
    let raw = f
        .owner
        .get(&format!("/orgs/{slug}/webhooks/{}", w.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!raw.contains(&created.signing_secret) && !raw.contains(&created.shared_secret));
    let tail = &created.signing_secret[created.signing_secret.len() - 4..];
    assert_eq!(w.signing_secret_hint, format!("whsec_…{tail}"));

    let key = f
        .owner
        .create_api_key(slug, &key_req("deploy"))
        .await
        .expect(201)
        .await;
    // Not subscribed: a connector change sends nothing here.
    f.owner
        .delete_connector(slug, f.connector.id)
        .await
        .no_content()
        .await;
    f.owner
        .revoke_api_key(slug, key.api_key.id)
        .await
        .no_content()
        .await;
    let got = rx.wait_for("keys", 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = if got.len() == 2 {
        rx.received("keys").await
    } else {
        got
    };
    assert_eq!(got.len(), 2, "{got:?}");
    let mut events: Vec<Value> = got.iter().map(body).collect();
    events.sort_by_key(|e| e["event"].as_str().unwrap().to_string());
    for d in &got {
        // The reference library's full check (signature, id, timestamp tolerance).
        assert_eq!(d["verified"], true, "{d}");
        assert!(
            d["headers"]["webhook-id"]
                .as_str()
                .unwrap()
                .starts_with("msg_")
        );
        assert_eq!(d["headers"]["gatehouse-secret"], created.shared_secret);
        assert_eq!(d["headers"]["content-type"], "application/json");
        // Never the key itself.
        assert!(!d["body"].as_str().unwrap().contains(&key.secret));
    }
    assert_ne!(
        got[0]["headers"]["webhook-id"], got[1]["headers"]["webhook-id"],
        "each message has its own id"
    );
    assert_eq!(
        events[0],
        json!({
            "event": "api_key.created",
            "timestamp": events[0]["timestamp"],
            "organization_id": f.org.id,
            "data": {
                "api_key_id": key.api_key.id,
                "name": "deploy",
                "scopes": ["mcp"],
                "expires_at": null,
            },
        })
    );
    assert_eq!(
        events[1]["data"],
        json!({"api_key_id": key.api_key.id, "name": "deploy"})
    );
    assert_eq!(events[1]["event"], "api_key.revoked");

    // The delivery log has both, delivered, with the endpoint's answer.
    for _ in 0..400 {
        let log = deliveries(&f.owner, slug, w.id).await;
        if log.iter().all(|d| d.status == DeliveryStatus::Delivered) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = deliveries(&f.owner, slug, w.id).await;
    assert_eq!(log.len(), 2);
    for d in &log {
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(d.attempts.len(), 1);
        assert_eq!(d.attempts[0].status_code, Some(200));
        assert_eq!(
            d.attempts[0].response_head.as_deref(),
            Some(r#"{"ok": true}"#)
        );
    }
    // Creating it was audited, without a secret.
    let audit = f
        .owner
        .audit_log(slug, "action=webhook.*")
        .await
        .text()
        .await;
    assert!(audit.contains("webhook.created"));
    assert!(!audit.contains(&created.signing_secret) && !audit.contains(&created.shared_secret));
}

#[tokio::test]
async fn failed_deliveries_are_retried_every_ten_minutes_up_to_five_times() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    let created = create(
        &f.owner,
        slug,
        &hook_req(&rx.url("flaky"), &[WebhookEvent::All]),
    )
    .await;
    let id = created.webhook.id;
    rx.config("flaky", &[&created.signing_secret], &[500, 503, 200])
        .await;
    f.owner
        .create_api_key(slug, &key_req("one"))
        .await
        .expect(201)
        .await;
    rx.wait_for("flaky", 1).await;
    let log = log_until(&f.owner, slug, id, |d| d.attempts.len() == 1).await;
    assert_eq!(log[0].status, DeliveryStatus::Pending);
    assert_eq!(log[0].attempts.len(), 1);
    assert_eq!(log[0].attempts[0].status_code, Some(500));
    let first = log[0].attempts[0].attempted_at;
    assert_eq!(
        log[0].next_attempt_at,
        Some(first + chrono::Duration::minutes(10))
    );
    // Nothing before its time …
    app.advance(Duration::from_secs(9 * 60));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received("flaky").await.len(), 1);
    // … then the second try, and ten minutes later the third, which succeeds.
    app.advance(Duration::from_secs(61));
    rx.wait_for("flaky", 2).await;
    app.advance(Duration::from_secs(601));
    let got = rx.wait_for("flaky", 3).await;
    // The same message every time: id and body; signed afresh at each try's time.
    assert!(got.windows(2).all(
        |w| w[0]["headers"]["webhook-id"] == w[1]["headers"]["webhook-id"]
            && w[0]["body"] == w[1]["body"]
    ));
    assert!(got.iter().all(|d| d["signature_ok"] == true), "{got:?}");
    let log = log_until(&f.owner, slug, id, |d| {
        d.status == DeliveryStatus::Delivered
    })
    .await;
    let codes: Vec<_> = log[0].attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(200), Some(503), Some(500)], "newest first");
    assert_eq!(log[0].next_attempt_at, None);
    assert!(
        json::<Webhook>(f.owner.get(&format!("/orgs/{slug}/webhooks/{id}")).await)
            .await
            .failing_since
            .is_none()
    );

    // A message that never gets through: one try and five retries, then it is failed.
    rx.config("flaky", &[&created.signing_secret], &[500]).await;
    f.owner
        .create_api_key(slug, &key_req("two"))
        .await
        .expect(201)
        .await;
    rx.wait_for("flaky", 4).await;
    for n in 5..=9 {
        app.advance(Duration::from_secs(601));
        rx.wait_for("flaky", n).await;
    }
    let log = log_until(&f.owner, slug, id, |d| d.status == DeliveryStatus::Failed).await;
    app.advance(Duration::from_secs(601));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.received("flaky").await.len(), 9, "six tries in all");
    assert_eq!(log[0].attempts.len(), 6);
    let w: Webhook = json(f.owner.get(&format!("/orgs/{slug}/webhooks/{id}")).await).await;
    assert!(w.failing_since.is_some() && w.enabled);

    // Replay: the failed message goes again, with a fresh set of retries.
    rx.config("flaky", &[&created.signing_secret], &[200]).await;
    let r: ReplayResult = json(
        f.owner
            .post(
                &format!(
                    "/orgs/{slug}/webhooks/{id}/deliveries/{}/replay",
                    log[0].message_id
                ),
                json!({}),
            )
            .await,
    )
    .await;
    assert_eq!(r.replayed, 1);
    rx.wait_for("flaky", 10).await;
    let got = rx.received("flaky").await;
    assert_eq!(got[9]["headers"]["webhook-id"], log[0].message_id.as_str());
    let audit = f
        .owner
        .audit_log(slug, "action=webhook.replayed")
        .await
        .text()
        .await;
    assert!(audit.contains("webhook.replayed"));
}

#[tokio::test]
async fn a_410_switches_the_endpoint_off_until_an_admin_switches_it_on() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    let created = create(
        &f.owner,
        slug,
        &hook_req(&rx.url("gone"), &[WebhookEvent::All]),
    )
    .await;
    let id = created.webhook.id;
    rx.config("gone", &[&created.signing_secret], &[410, 200])
        .await;
    f.owner
        .create_api_key(slug, &key_req("one"))
        .await
        .expect(201)
        .await;
    rx.wait_for("gone", 1).await;
    let mut w: Webhook = json(f.owner.get(&format!("/orgs/{slug}/webhooks/{id}")).await).await;
    for _ in 0..400 {
        if !w.enabled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        w = json(f.owner.get(&format!("/orgs/{slug}/webhooks/{id}")).await).await;
    }
    assert!(!w.enabled);
    assert_eq!(w.disabled_reason.as_deref(), Some("gone"));
    let log = deliveries(&f.owner, slug, id).await;
    assert_eq!(log[0].status, DeliveryStatus::Failed, "not retried");
    // Switched off: new events are not sent.
    f.owner
        .create_api_key(slug, &key_req("two"))
        .await
        .expect(201)
        .await;
    let audit = f
        .owner
        .audit_log(slug, "action=webhook.disabled")
        .await
        .text()
        .await;
    assert!(audit.contains("\"reason\":\"gone\""), "{audit}");
    // One click brings it back, afresh.
    let w: Webhook = json(
        f.owner
            .patch(
                &format!("/orgs/{slug}/webhooks/{id}"),
                json!({"enabled": true}),
            )
            .await,
    )
    .await;
    assert!(w.enabled && w.disabled_reason.is_none() && w.failing_since.is_none());
    f.owner
        .create_api_key(slug, &key_req("three"))
        .await
        .expect(201)
        .await;
    let got = rx.wait_for("gone", 2).await;
    assert_eq!(got.len(), 2, "the event during the switch-off was not sent");
    assert_eq!(body(&got[1])["data"]["name"], "three");
}

#[tokio::test]
async fn send_test_delivers_at_once_and_answers_with_the_result() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    let mut req = hook_req(&rx.url("test"), &[WebhookEvent::McpCreated]);
    req.enabled = Some(false);
    req.secret_header = Some("X-Hook-Token".into());
    let created = create(&f.owner, slug, &req).await;
    let id = created.webhook.id;
    rx.config("test", &[&created.signing_secret], &[200]).await;
    // Enabled or not, a test goes out now, and its result is the answer.
    let d: WebhookDelivery = json(
        f.owner
            .post(&format!("/orgs/{slug}/webhooks/{id}/test"), json!({}))
            .await,
    )
    .await;
    assert_eq!(d.event, "test");
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].status_code, Some(200));
    let got = rx.received("test").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["verified"], true);
    assert_eq!(got[0]["headers"]["x-hook-token"], created.shared_secret);
    assert_eq!(got[0]["headers"]["webhook-id"], d.message_id.as_str());
    let b = body(&got[0]);
    assert_eq!(b["event"], "test");
    assert_eq!(b["organization_id"], json!(f.org.id));

    // An endpoint that cannot be reached: the answer says why; nothing is retried.
    let dead = create(
        &f.owner,
        slug,
        &hook_req("http://127.0.0.1:9/nothing-here", &[WebhookEvent::All]),
    )
    .await;
    let d: WebhookDelivery = json(
        f.owner
            .post(
                &format!("/orgs/{slug}/webhooks/{}/test", dead.webhook.id),
                json!({}),
            )
            .await,
    )
    .await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.attempts[0].status_code, None);
    assert!(d.attempts[0].error.is_some());
    assert_eq!(deliveries(&f.owner, slug, dead.webhook.id).await, vec![d]);

    // The log keeps 30 days.
    let now = chrono::Utc::now();
    assert_eq!(
        gatehouse::webhooks::sweep(&app.db, now, 30).await.unwrap(),
        0
    );
    let later = now + chrono::Duration::days(31);
    assert_eq!(
        gatehouse::webhooks::sweep(&app.db, later, 30)
            .await
            .unwrap(),
        2
    );
    assert!(deliveries(&f.owner, slug, dead.webhook.id).await.is_empty());
    assert_eq!(app.count("webhook_attempts").await, 0);
}

#[tokio::test]
async fn regenerating_ends_the_old_secret_at_once_or_signs_with_both_for_a_while() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    let created = create(
        &f.owner,
        slug,
        &hook_req(&rx.url("roll"), &[WebhookEvent::All]),
    )
    .await;
    let id = created.webhook.id;
    let old = created.signing_secret.clone();
    let rotate = |hours: u32| {
        let owner = &f.owner;
        async move {
            let r = owner
                .post(
                    &format!("/orgs/{slug}/webhooks/{id}/rotate-secret"),
                    json!({"keep_previous_hours": hours}),
                )
                .await;
            assert_eq!(r.status(), 200);
            r.json::<WebhookWithSecrets>().await.unwrap()
        }
    };
    // Kept for a day: a delivery carries two signatures, one for each secret.
    let mid = rotate(24).await;
    assert_ne!(mid.signing_secret, old);
    assert_ne!(mid.shared_secret, created.shared_secret);
    assert!(mid.webhook.previous_secret_valid_until.is_some());
    let test = |name: &'static str| {
        let owner = &f.owner;
        let rx = &rx;
        async move {
            let _ = name;
            owner
                .post(&format!("/orgs/{slug}/webhooks/{id}/test"), json!({}))
                .await;
            let got = rx.received("roll").await;
            got.last().unwrap().clone()
        }
    };
    rx.config("roll", &[&old], &[200]).await;
    let d = test("old").await;
    assert_eq!(d["verified"], true, "the old secret still verifies");
    assert_eq!(
        d["headers"]["webhook-signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    rx.config("roll", &[&mid.signing_secret], &[200]).await;
    assert_eq!(test("new").await["verified"], true);
    // Invalidated at once: the old secrets verify nothing.
    let last = rotate(0).await;
    assert!(last.webhook.previous_secret_valid_until.is_none());
    rx.config("roll", &[&old, &mid.signing_secret], &[200])
        .await;
    let d = test("stale").await;
    assert_eq!(d["verified"], false);
    assert_eq!(d["signature_ok"], false);
    assert_eq!(d["headers"]["gatehouse-secret"], last.shared_secret);
    rx.config("roll", &[&last.signing_secret], &[200]).await;
    assert_eq!(test("newest").await["verified"], true);
    // At most a day.
    let r = f
        .owner
        .post(
            &format!("/orgs/{slug}/webhooks/{id}/rotate-secret"),
            json!({"keep_previous_hours": 25}),
        )
        .await;
    assert_problem(r, 422, "validation").await;
    // JSON does not tell 4 from 4.0 (schemathesis sends both).
    let r = f
        .owner
        .post(
            &format!("/orgs/{slug}/webhooks/{id}/rotate-secret"),
            json!({"keep_previous_hours": 4.0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let audit = f
        .owner
        .audit_log(slug, "action=webhook.secret_rotated")
        .await
        .text()
        .await;
    assert!(audit.contains("webhook.secret_rotated"));
    for s in [&old, &mid.signing_secret, &last.signing_secret] {
        assert!(!audit.contains(s.as_str()));
    }
}

#[tokio::test]
async fn bad_endpoints_are_refused_with_the_field_and_nothing_is_saved() {
    let app = spawn_app().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    for (url, why) in [
        ("http://hooks.example.com/x", "https"),
        ("https://10.0.0.8/hook", "internal"),
        ("https://127.0.0.1/hook", "loopback is not allowed here"),
        ("ftp://hooks.example.com/", "scheme"),
        ("https://user:pw@hooks.example.com/", "user info"),
        ("not a url", "garbage"),
    ] {
        let r = f
            .owner
            .post(
                &format!("/orgs/{slug}/webhooks"),
                hook_req(url, &[WebhookEvent::All]),
            )
            .await;
        let p = assert_problem(r, 422, "validation").await;
        assert_eq!(fields(&p), ["url"], "{url}: {why}");
    }
    let r = f
        .owner
        .post(
            &format!("/orgs/{slug}/webhooks"),
            hook_req("https://hooks.example.com/x", &[]),
        )
        .await;
    assert_eq!(
        fields(&assert_problem(r, 422, "validation").await),
        ["events"]
    );
    let r = f
        .owner
        .post(
            &format!("/orgs/{slug}/webhooks"),
            json!({"url": "https://hooks.example.com/x", "events": ["mcp.exploded"]}),
        )
        .await;
    assert_problem(r, 422, "validation").await;
    for header in ["Webhook-Signature", "bad header", ""] {
        let mut req = hook_req("https://hooks.example.com/x", &[WebhookEvent::All]);
        req.secret_header = Some(header.into());
        let r = f.owner.post(&format!("/orgs/{slug}/webhooks"), req).await;
        assert_eq!(
            fields(&assert_problem(r, 422, "validation").await),
            ["secret_header"],
            "{header:?}"
        );
    }
    let listed: Vec<Webhook> = json(f.owner.get(&format!("/orgs/{slug}/webhooks")).await).await;
    assert!(listed.is_empty());
    // Members are not admins.
    let r = f.member.get(&format!("/orgs/{slug}/webhooks")).await;
    assert_problem(r, 403, "insufficient-role").await;
    // An unknown endpoint, or another org's, is 404.
    let r = f
        .owner
        .get(&format!("/orgs/{slug}/webhooks/{}", uuid::Uuid::now_v7()))
        .await;
    assert_problem(r, 404, "not-found").await;
}

#[tokio::test]
async fn every_event_arrives_end_to_end_with_its_documented_data() {
    use crate::support::fake_mcp::{connector, start_upstream, wait_health};
    let app = spawn_app_with(|c| {
        c.outbound.allow_loopback = true;
        c.jobs.poll_ms = 50;
        c.mcp.health_interval_secs = 1;
        c.mcp.health_poll_ms = 200;
    })
    .await;
    let rx = Receiver::start().await;
    let owner = app.signup("nia@example.com").await;
    let org = app.create_org(&owner, "Nia").await;
    let slug = org.slug.as_str();
    let created = create(
        &owner,
        slug,
        &hook_req(&rx.url("all"), &[WebhookEvent::All]),
    )
    .await;
    rx.config("all", &[&created.signing_secret], &[200]).await;

    let up = start_upstream(vec!["echo"], None, false).await;
    let c = connector(&owner, slug, json!({"name": "Weather", "url": up.url})).await;
    let mcp_id = c["id"].as_str().unwrap().to_string();
    wait_health(&owner, slug, &mcp_id, "healthy").await;
    owner
        .patch(
            &format!("/orgs/{slug}/connectors/{mcp_id}"),
            json!({"name": "Weather API"}),
        )
        .await;
    let key = owner
        .create_api_key(slug, &key_req("ci"))
        .await
        .expect(201)
        .await;
    owner
        .revoke_api_key(slug, key.api_key.id)
        .await
        .no_content()
        .await;
    let bob = app
        .add_member(&owner, slug, "bob@example.com", Role::Member)
        .await;
    owner
        .remove_member(slug, bob.user.id)
        .await
        .no_content()
        .await;
    owner
        .delete(&format!("/orgs/{slug}/connectors/{mcp_id}"))
        .await;

    let mut by_event = std::collections::BTreeMap::new();
    for _ in 0..200 {
        by_event.clear();
        for d in rx.received("all").await {
            assert_eq!(d["verified"], true, "{d}");
            let b = body(&d);
            assert_eq!(b["organization_id"], json!(org.id));
            by_event.insert(b["event"].as_str().unwrap().to_string(), b["data"].clone());
        }
        if by_event.len() >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let names: Vec<&str> = by_event.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "api_key.created",
            "api_key.revoked",
            "mcp.created",
            "mcp.deleted",
            "mcp.health_changed",
            "mcp.updated",
            "team.member_added",
            "team.member_removed",
        ]
    );
    let id = json!(mcp_id);
    assert_eq!(
        by_event["mcp.created"],
        json!({"mcp_id": id, "name": "Weather", "url": up.url, "tool_prefix": "weather__", "enabled": true})
    );
    assert_eq!(
        by_event["mcp.updated"],
        json!({"mcp_id": id, "name": "Weather API", "changed": ["name"]})
    );
    assert_eq!(
        by_event["mcp.deleted"],
        json!({"mcp_id": id, "name": "Weather API"})
    );
    assert_eq!(by_event["mcp.health_changed"]["mcp_id"], id);
    assert_eq!(by_event["mcp.health_changed"]["status"]["to"], "healthy");
    assert_eq!(
        by_event["team.member_added"],
        json!({"user_id": bob.user.id, "email": "bob@example.com", "role": "member"})
    );
    assert_eq!(
        by_event["team.member_removed"],
        json!({"user_id": bob.user.id, "email": "bob@example.com", "role": "member", "left": false})
    );
    assert_eq!(by_event["api_key.revoked"]["name"], "ci");
}

#[tokio::test]
async fn a_receiver_that_never_answers_or_redirects_elsewhere_is_a_failed_attempt() {
    let app = spawn_app_with(|c| {
        c.outbound.allow_loopback = true;
        c.jobs.poll_ms = 50;
        c.webhooks.timeout_secs = 1;
    })
    .await;
    let rx = Receiver::start().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    let slow = create(
        &f.owner,
        slug,
        &hook_req(&rx.url("slow"), &[WebhookEvent::All]),
    )
    .await;
    rx.config_with(
        "slow",
        json!({"secrets": [slow.signing_secret], "delay_ms": 3000}),
    )
    .await;
    let started = std::time::Instant::now();
    let d: WebhookDelivery = json(
        f.owner
            .post(
                &format!("/orgs/{slug}/webhooks/{}/test", slow.webhook.id),
                json!({}),
            )
            .await,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "cut at the timeout"
    );
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.attempts[0].status_code, None);
    let err = d.attempts[0].error.clone().unwrap();
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "{err}"
    );

    // A redirect to another host is not followed (it could lead anywhere).
    let away = create(
        &f.owner,
        slug,
        &hook_req(&rx.url("away"), &[WebhookEvent::All]),
    )
    .await;
    let port = rx.base.rsplit(':').next().unwrap().to_string();
    rx.config_with(
        "away",
        json!({"secrets": [away.signing_secret], "redirect": format!("http://localhost:{port}/hook/landed")}),
    )
    .await;
    let d: WebhookDelivery = json(
        f.owner
            .post(
                &format!("/orgs/{slug}/webhooks/{}/test", away.webhook.id),
                json!({}),
            )
            .await,
    )
    .await;
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert!(rx.received("landed").await.is_empty());
}

#[tokio::test]
async fn an_endpoint_failing_for_days_is_switched_off_with_emails_on_the_way() {
    let app = spawn_app_with(|c| {
        c.outbound.allow_loopback = true;
        c.jobs.poll_ms = 50;
        c.webhooks.disable_after_failing_hours = 48;
        c.webhooks.warn_before_disable_hours = 24;
    })
    .await;
    let rx = Receiver::start().await;
    let f = OrgFixture::new(&app).await;
    let slug = f.slug();
    let created = create(
        &f.owner,
        slug,
        &hook_req(&rx.url("down"), &[WebhookEvent::All]),
    )
    .await;
    let id = created.webhook.id;
    rx.config("down", &[&created.signing_secret], &[500]).await;
    let admin = "fixture-admin@example.com";
    // Days pass: sessions expire, so the org is driven with an API key.
    let secret = f
        .owner
        .create_api_key(
            slug,
            &CreateApiKeyRequest {
                name: "ops".into(),
                scopes: Some(vec![ApiKeyScope::Read, ApiKeyScope::Write]),
                expires_at: None,
            },
        )
        .await
        .expect(201)
        .await
        .secret;
    let ops = app.key_client(&secret);
    let get = || {
        let ops = &ops;
        async move { json::<Webhook>(ops.get(&format!("/orgs/{slug}/webhooks/{id}")).await).await }
    };
    let connector = f.connector.id;
    let event = |n: u32| {
        let ops = &ops;
        async move {
            let r = ops
                .patch(
                    &format!("/orgs/{slug}/connectors/{connector}"),
                    json!({"name": format!("Renamed {n}")}),
                )
                .await;
            assert_eq!(r.status(), 200);
        }
    };
    event(1).await;
    rx.wait_for("down", 1).await;
    // A streak starts: the owners and admins hear of it, once.
    app.wait_for_mail(admin, "a webhook is failing").await;
    assert!(get().await.failing_since.is_some());
    // A day and more later, still failing: a warning a day ahead.
    app.advance(Duration::from_secs(25 * 3600));
    event(2).await;
    app.wait_for_mail(admin, "a webhook will be switched off")
        .await;
    assert!(get().await.enabled);
    // Two days of failures: switched off, audited, emailed.
    app.advance(Duration::from_secs(24 * 3600));
    event(3).await;
    app.wait_for_mail(admin, "a webhook was switched off").await;
    let w = get().await;
    assert!(!w.enabled);
    assert_eq!(w.disabled_reason.as_deref(), Some("failing"));
    let audit = ops
        .get(&format!("/orgs/{slug}/audit-logs?action=webhook.disabled"))
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains("\"reason\":\"failing\""), "{audit}");
    for subject in [
        "a webhook is failing",
        "a webhook will be switched off",
        "a webhook was switched off",
    ] {
        let n = app
            .mails_to(admin)
            .iter()
            .filter(|m| m.data.contains(subject))
            .count();
        assert_eq!(n, 1, "{subject}");
    }
    // A plain member is not told.
    assert!(
        app.mails_to("fixture-member@example.com")
            .iter()
            .all(|m| !m.data.contains("a webhook"))
    );
}

#[tokio::test]
async fn usage_thresholds_fire_once_per_period_from_the_usage_counters() {
    use crate::support::fake_mcp::{connector, mcp_key, start_upstream, wait_health};
    let app = spawn_app_with(|c| {
        c.outbound.allow_loopback = true;
        c.jobs.poll_ms = 50;
        c.mcp.health_interval_secs = 1;
        c.mcp.health_poll_ms = 200;
        c.mcp.usage_flush_ms = 100;
    })
    .await;
    let rx = Receiver::start().await;
    let owner = app.signup("uma@example.com").await;
    let org = app.create_org(&owner, "Uma").await;
    let slug = org.slug.as_str();
    let created = create(
        &owner,
        slug,
        &hook_req(&rx.url("usage"), &[WebhookEvent::UsageThreshold]),
    )
    .await;
    rx.config("usage", &[&created.signing_secret], &[200]).await;
    // Bad thresholds are refused whole.
    let r = owner
        .call(
            "PUT",
            &format!("/orgs/{slug}/usage/thresholds"),
            Some(json!({"daily": [0], "monthly": []})),
        )
        .await;
    assert_problem(r, 422, "validation").await;
    let set: Value = json(
        owner
            .call(
                "PUT",
                &format!("/orgs/{slug}/usage/thresholds"),
                Some(json!({"daily": [3, 2, 3], "monthly": [4]})),
            )
            .await,
    )
    .await;
    assert_eq!(
        set,
        json!({"daily": [2, 3], "monthly": [4]}),
        "sorted, once each"
    );

    let up = start_upstream(vec!["echo"], None, false).await;
    let c = connector(&owner, slug, json!({"name": "Echo", "url": up.url})).await;
    wait_health(&owner, slug, c["id"].as_str().unwrap(), "healthy").await;
    let key = mcp_key(&owner, slug).await;
    let http = reqwest::Client::new();
    let mcp = app.url(&format!("/mcp/{slug}"));
    let call = |n: u32| {
        let (http, mcp, key) = (&http, &mcp, &key);
        async move {
            let r = http
                .post(mcp)
                .header("authorization", format!("Bearer {key}"))
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .json(&json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                    "params": {"name": "echo__echo", "arguments": {"text": "hi"}}}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    for n in 0..3 {
        call(n).await;
    }
    // 3 calls: the daily 2 and 3 fire.
    let got = rx.wait_for("usage", 2).await;
    let mut fired: Vec<(String, u64)> = got
        .iter()
        .map(|d| {
            let b = body(d);
            assert_eq!(b["event"], "usage.threshold");
            (
                b["data"]["period"].as_str().unwrap().to_string(),
                b["data"]["threshold"].as_u64().unwrap(),
            )
        })
        .collect();
    fired.sort();
    assert_eq!(fired, [("day".to_string(), 2), ("day".to_string(), 3)]);
    let b = body(&got[0]);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(b["data"]["period_start"], today);
    assert!(b["data"]["calls"].as_u64().unwrap() >= 2);
    // More calls: the month's 4 fires; the daily ones do not fire again.
    for n in 3..6 {
        call(n).await;
    }
    let got = rx.wait_for("usage", 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if got.len() == 3 {
        rx.received("usage").await
    } else {
        got
    };
    assert_eq!(got.len(), 3, "{got:?}");
    let b = body(&got[2]);
    assert_eq!(b["data"]["period"], "month");
    assert_eq!(b["data"]["threshold"], 4);
    assert_eq!(b["data"]["period_start"], format!("{}-01", &today[..7]));
    let audit = owner
        .audit_log(slug, "action=usage.threshold")
        .await
        .text()
        .await;
    assert_eq!(audit.matches("\"usage.threshold\"").count(), 3, "{audit}");
}

#[tokio::test]
async fn two_replicas_on_one_database_deliver_each_message_once() {
    let app = webhook_app().await;
    let _replica = app.replica().await;
    let rx = Receiver::start().await;
    let owner = app.signup("rey@example.com").await;
    let org = app.create_org(&owner, "Rey").await;
    let slug = org.slug.as_str();
    let created = create(
        &owner,
        slug,
        &hook_req(&rx.url("pair"), &[WebhookEvent::All]),
    )
    .await;
    rx.config("pair", &[&created.signing_secret], &[200]).await;
    let n = 20;
    for i in 0..n {
        owner
            .create_api_key(slug, &key_req(&format!("k{i}")))
            .await
            .expect(201)
            .await;
    }
    rx.wait_for("pair", n).await;
    // Both runners poll every 50 ms: time enough for a duplicate to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = rx.received("pair").await;
    let ids: std::collections::BTreeSet<_> = got
        .iter()
        .map(|d| d["headers"]["webhook-id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!((got.len(), ids.len()), (n, n), "each message once");
    for _ in 0..400 {
        let log = deliveries(&owner, slug, created.webhook.id).await;
        if log.iter().all(|d| d.status == DeliveryStatus::Delivered) {
            assert!(log.iter().all(|d| d.attempts.len() == 1));
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not every message was logged as delivered");
}

/// `gatehouse serve` as its own process on the test's database, delivering webhooks.
fn serve(app: &TestApp, dir: &std::path::Path, port: u16) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_DATA_DIR", dir)
        .env("GATEHOUSE_DATABASE_URL", &app.db_url)
        .env(
            "GATEHOUSE_MASTER_KEY_FILE",
            app.data_dir().join("master.key"),
        )
        .env("GATEHOUSE_OUTBOUND__ALLOW_LOOPBACK", "true")
        .env("GATEHOUSE_JOBS__POLL_MS", "50")
        // A try cut off by the kill is claimed again this soon.
        .env("GATEHOUSE_JOBS__LEASE_SECS", "2")
        .env("GATEHOUSE_LOG_LEVEL", "warn")
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn ready(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gatehouse serve did not become ready");
}

/// SIGKILL in the middle of a burst of events, then a restart: every event whose change
/// committed is delivered (at least once; duplicates are counted and reported).
#[tokio::test]
async fn a_server_killed_mid_burst_loses_no_event() {
    // This process only sets up; the server processes deliver.
    let app = spawn_app_with(|c| {
        c.outbound.allow_loopback = true;
        c.jobs.run = false;
    })
    .await;
    let rx = Receiver::start().await;
    // No fixture: it waits for invitation emails, and nothing here runs the queue.
    let owner = app.signup("cy@example.com").await;
    let org = app.create_org(&owner, "Crash").await;
    let slug = org.slug.clone();
    let connector = owner
        .create_connector(
            &slug,
            &connector_req("Docs", "https://docs.example.com/mcp"),
        )
        .await
        .expect(201)
        .await;
    let created = create(
        &owner,
        &slug,
        &hook_req(&rx.url("crash"), &[WebhookEvent::McpUpdated]),
    )
    .await;
    rx.config("crash", &[&created.signing_secret], &[200]).await;
    let secret = owner
        .create_api_key(
            &slug,
            &CreateApiKeyRequest {
                name: "burst".into(),
                scopes: Some(vec![ApiKeyScope::Read, ApiKeyScope::Write]),
                expires_at: None,
            },
        )
        .await
        .expect(201)
        .await
        .secret;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = serve(&app, dir.path(), port);
    ready(&base).await;

    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/orgs/{slug}/connectors/{}", connector.id);
    let burst = (0..60).map(|i| {
        let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 10)).await;
            let r = http
                .patch(&url)
                .header("authorization", format!("Bearer {secret}"))
                .json(&json!({"name": format!("burst {i}")}))
                .send()
                .await;
            matches!(r, Ok(r) if r.status() == 200).then(|| format!("burst {i}"))
        })
    });
    let burst: Vec<_> = burst.collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let mut answered = Vec::new();
    for h in burst {
        if let Some(name) = h.await.unwrap() {
            answered.push(name);
        }
    }
    assert!(!answered.is_empty(), "the kill came before any change");
    let mut second = serve(&app, dir.path(), port);
    ready(&base).await;

    // Every committed change is in the audit log; each must arrive.
    let committed: Vec<Value> = {
        let page: Value = json(
            owner
                .get(&format!(
                    "/orgs/{slug}/audit-logs?action=mcp.updated&limit=200"
                ))
                .await,
        )
        .await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("burst"))
            })
            .cloned()
            .collect()
    };
    let mut got = Vec::new();
    for _ in 0..400 {
        got = rx.received("crash").await;
        let ids: std::collections::BTreeSet<_> = got
            .iter()
            .map(|d| d["headers"]["webhook-id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() >= committed.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    let names: std::collections::BTreeSet<String> = got
        .iter()
        .map(|d| body(d)["data"]["name"].as_str().unwrap().to_string())
        .collect();
    let ids: std::collections::BTreeSet<_> = got
        .iter()
        .map(|d| d["headers"]["webhook-id"].as_str().unwrap().to_string())
        .collect();
    for name in &answered {
        assert!(
            names.contains(name),
            "{name} was answered 200 but never delivered"
        );
    }
    assert_eq!(
        ids.len(),
        committed.len(),
        "one message per committed change"
    );
    eprintln!(
        "crash test: {} changes answered, {} committed, {} deliveries, {} duplicates",
        answered.len(),
        committed.len(),
        got.len(),
        got.len() - ids.len()
    );
}
