//! OAuth token-endpoint benchmark against a separate `gatehouse serve` process:
//! dynamic registrations, authorization-code exchanges and refreshes (each worker
//! following its own rotating chain) at concurrency 1, 8 and 32; prints requests/s and
//! p50/p99. Every token is still persisted as a hash and every grant audited.
//! Run it with `bash scripts/bench-oauth.sh` (or `just bench`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{code, load};

use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};
use tokio::sync::Mutex;

#[tokio::main]
async fn main() {
    let settings = common::settings(3);
    let (secs, label) = (settings.secs, settings.label);
    let gw = common::start(
        &settings,
        &[
            // The registration limit protects production; here it would be the measurement.
            (
                "GATEHOUSE_OAUTH__REGISTRATIONS_PER_IP_PER_SECOND",
                "1000000",
            ),
            ("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "32"),
        ],
    )
    .await;
    let base = gw.base.clone();
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let user = common::browser(&base);
    let email = format!("bench-{}@example.com", uuid::Uuid::now_v7().simple());
    user.post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": email, "password": "benchmark password"}))
        .send()
        .await
        .unwrap();
    let org: Value = user
        .post(format!("{base}/api/v1/orgs"))
        .json(&json!({"name": "OAuth bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slug = org["slug"].as_str().unwrap().to_string();
    let setup = Arc::new(common::oauth_setup(&base, &format!("{base}/mcp/{slug}"), user).await);
    let reg_body = common::registration(&setup.redirect);
    let token_url = format!("{base}/token");
    println!("[{label}] OAuth endpoints, {secs}s per run; tokens stored as hashes, grants audited");
    // For profiling one part: GATEHOUSE_BENCH_ONLY=register|exchange|refresh,
    // GATEHOUSE_BENCH_CONCURRENCY=32.
    let only = std::env::var("GATEHOUSE_BENCH_ONLY").unwrap_or_default();
    let runs = |part: &str| only.is_empty() || only == part;
    let levels: Vec<usize> = std::env::var("GATEHOUSE_BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .map_or(vec![1, 8, 32], |c| vec![c]);
    let skipped = common::Run {
        rps: f64::NAN,
        p50: f64::NAN,
        p99: f64::NAN,
        calls: 0,
    };
    for c in levels {
        // Registrations.
        let (p, b, u) = (plain.clone(), reg_body.clone(), format!("{base}/register"));
        let reg = if !runs("register") {
            skipped.clone()
        } else {
            load(c, Duration::from_secs(secs), move |_| {
                let (p, b, u) = (p.clone(), b.clone(), u.clone());
                async move {
                    let r = p.post(&u).json(&b).send().await.unwrap();
                    assert_eq!(r.status(), 201);
                    let _ = r.bytes().await;
                    true
                }
            })
            .await
        };

        // Code exchanges from a pool of fresh codes (made before the clock starts).
        let want = if runs("exchange") {
            (c * 1500).max(5000)
        } else {
            0
        };
        let pool = Arc::new(Mutex::new(Vec::with_capacity(want)));
        let mut makers = Vec::new();
        for _ in 0..8 {
            let (s, pool) = (setup.clone(), pool.clone());
            makers.push(tokio::spawn(async move {
                for _ in 0..want / 8 {
                    let cv = code(&s).await;
                    pool.lock().await.push(cv);
                }
            }));
        }
        for m in makers {
            m.await.unwrap();
        }
        let (p, s, u) = (plain.clone(), setup.clone(), token_url.clone());
        let pool2 = pool.clone();
        let exchange = if !runs("exchange") {
            skipped.clone()
        } else {
            load(c, Duration::from_secs(secs), move |_| {
                let (p, s, u, pool) = (p.clone(), s.clone(), u.clone(), pool2.clone());
                async move {
                    let Some((code, verifier)) = pool.lock().await.pop() else {
                        return false;
                    };
                    let r = p
                        .post(&u)
                        .form(&[
                            ("grant_type", "authorization_code"),
                            ("code", &code),
                            ("code_verifier", &verifier),
                            ("redirect_uri", &s.redirect),
                            ("client_id", &s.client_id),
                            ("client_secret", &s.client_secret),
                        ])
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                    let _ = r.bytes().await;
                    true
                }
            })
            .await
        };
        let exhausted = runs("exchange") && pool.lock().await.is_empty();

        // Refreshes: each worker follows its own chain.
        let mut chains = Vec::new();
        for _ in 0..if runs("refresh") { c } else { 0 } {
            let (code, verifier) = code(&setup).await;
            let t: Value = plain
                .post(&token_url)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code_verifier", &verifier),
                    ("client_id", &setup.client_id),
                    ("client_secret", &setup.client_secret),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            chains.push(Arc::new(Mutex::new(
                t["refresh_token"].as_str().unwrap().to_string(),
            )));
        }
        let chains = Arc::new(chains);
        let (p, s, u) = (plain.clone(), setup.clone(), token_url.clone());
        let refresh = if !runs("refresh") {
            skipped.clone()
        } else {
            load(c, Duration::from_secs(secs), move |w| {
                let (p, s, u, chains) = (p.clone(), s.clone(), u.clone(), chains.clone());
                async move {
                    let mut current = chains[w].lock().await;
                    let t: Value = p
                        .post(&u)
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", current.as_str()),
                            ("client_id", &s.client_id),
                            ("client_secret", &s.client_secret),
                        ])
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    *current = t["refresh_token"].as_str().expect("refreshed").to_string();
                    true
                }
            })
            .await
        };
        println!(
            "[{label}] c={c:<3} register {:>7.0}/s p50 {:>5.2}ms p99 {:>6.2}ms | code exchange {:>6.0}/s p50 {:>5.2}ms p99 {:>6.2}ms{} | refresh {:>6.0}/s p50 {:>5.2}ms p99 {:>6.2}ms",
            reg.rps,
            reg.p50,
            reg.p99,
            exchange.rps,
            exchange.p50,
            exchange.p99,
            if exhausted {
                " (code pool ran out)"
            } else {
                ""
            },
            refresh.rps,
            refresh.p50,
            refresh.p99
        );
    }
    println!("[{label}] targets: register ≥ 9600/s, code exchange ≥ 2900/s, refresh ≥ 5300/s");
}
