//! The `gatehouse` binary itself: zero-config start, migrations, support commands.
use crate::support::*;
use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

fn gatehouse(app: &TestApp, dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATABASE_URL", &app.db_url)
        .env("GATEHOUSE_DATA_DIR", dir)
        // The server's key: a command with another is refused (`instance::master_key`).
        .env(
            "GATEHOUSE_MASTER_KEY_FILE",
            app.data_dir().join("master.key"),
        )
        .current_dir(dir);
    c
}

#[tokio::test]
async fn admin_create_user_makes_an_account_that_can_log_in() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = gatehouse(&app, dir.path())
        .args([
            "admin",
            "create-user",
            "--email",
            "Support@Example.com",
            "--verified",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user support@example.com"));
    let u: gatehouse_types::User = json(app.login("support@example.com", PASSWORD).await).await;
    assert!(u.email_verified);

    // A weak password is refused with a message, not a panic.
    let out = gatehouse(&app, dir.path())
        .args(["admin", "create-user", "--email", "x@example.com"])
        .env("GATEHOUSE_NEW_USER_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));
}

#[tokio::test]
async fn support_can_rename_a_slug_that_users_cannot() {
    let app = spawn_app().await;
    let owner = app.signup("yan@example.com").await;
    let org = app.create_org(&owner, "Old Name").await;
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(&app, dir.path())
        .args(["admin", "rename-slug", &org.slug, "new-name"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_problem(
        owner.get(&format!("/orgs/{}", org.slug)).await,
        404,
        "not-found",
    )
    .await;
    let p: gatehouse_types::AuditPage = json(
        owner
            .get("/orgs/new-name/audit-logs?action=org.slug_changed")
            .await,
    )
    .await;
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].actor.type_, "system");
    assert_eq!(p.items[0].metadata["from"], org.slug);
    // Reserved and malformed slugs are refused by the tool too.
    let out = gatehouse(&app, dir.path())
        .args(["admin", "rename-slug", "new-name", "admin"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn migrate_is_idempotent_and_the_schema_goes_down_and_up_again() {
    use migration::MigratorTrait;
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = gatehouse(&app, dir.path()).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    migration::Migrator::down(&app.db, None).await.unwrap();
    assert!(
        migration::Migrator::get_applied_migrations(&app.db)
            .await
            .unwrap()
            .is_empty()
    );
    migration::Migrator::up(&app.db, None).await.unwrap();
    app.signup("zed@example.com").await;
}

#[tokio::test]
async fn serve_runs_with_no_configuration_and_writes_mail_to_the_outbox() {
    let db = FreshDatabase::new().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path());
    cmd.env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"));
    if db.backend == "postgres" {
        cmd.env("GATEHOUSE_DATABASE_URL", &db.url);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = client
        .post(format!("{base}/api/v1/auth/signup"))
        .header("origin", &base)
        .json(&signup_req("outbox@example.com", PASSWORD))
        .send()
        .await;
    let mut eml = None;
    for _ in 0..100 {
        let found = std::fs::read_dir(dir.path().join("data/outbox"))
            .ok()
            .and_then(|mut d| {
                d.find_map(|e| {
                    e.ok()
                        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                })
            });
        if let Some(e) = found {
            eml = std::fs::read_to_string(e.path()).ok();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().ok();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(ready, "server did not become ready: {log}");
    assert_eq!(r.unwrap().status(), 201);
    assert!(dir.path().join("data/master.key").exists());
    assert!(
        log.contains("generated a new master encryption key"),
        "{log}"
    );
    if db.backend == "sqlite" {
        assert!(dir.path().join("data/gatehouse.db").exists());
    }
    // Quoted-printable, as lettre encodes long lines.
    let eml = eml
        .expect("an .eml file in data/outbox")
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    assert!(eml.contains("outbox@example.com") && eml.contains("verify-email?token=ghv_"));
    assert!(!log.contains("ghv_"), "secrets must not reach the log");
}
