//! The HTTP server: the edge middleware stack around the route table, and the
//! background work each replica runs.
use crate::{http, http::metrics::Metrics, jobs, state::AppState};
use actix_web::{App, HttpServer, dev::Server, middleware, web};
use std::{net::TcpListener, time::Duration};

/// Builds the HTTP server on an already bound listener (port 0 in tests).
pub fn server(state: AppState, listener: TcpListener) -> anyhow::Result<Server> {
    server_with(web::Data::new(state), listener)
}

/// `server`, for a caller that keeps the state to flush after the server has stopped.
pub fn server_with(state: web::Data<AppState>, listener: TcpListener) -> anyhow::Result<Server> {
    http::methods::install_api_routes(crate::openapi::route_methods);
    crate::jobs::periodic::spawn(state.clone(), periodic(&state));
    crate::jobs::queue::spawn(state.clone(), job_kinds());
    // Not jobs: the key cache's LISTEN connection and the token endpoint's group commit.
    crate::auth::key_cache::spawn_listener(state.keys.clone(), &state.db);
    crate::oauth::batch::spawn(state.clone());
    let workers = state.config.workers;
    let limits = state.config.server.clone();
    let conns = http::limits::ConnLimiter::new(
        limits.max_connections_per_ip,
        state.trusted_proxies.clone(),
    );
    let edge = web::Data::new(http::Edge {
        trusted_proxies: state.trusted_proxies.clone(),
        mcp_hosts: state.mcp_hosts.clone(),
        body_timeout: Duration::from_millis(limits.body_timeout_ms),
    });
    let metrics = web::Data::new(Metrics::new()?);
    metrics.register(Box::new(state.keys.lookups.clone()))?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(edge.clone())
            .app_data(metrics.clone())
            .app_data(http::problem::json_config())
            .app_data(http::problem::query_config())
            .app_data(http::problem::path_config())
            .wrap(middleware::from_fn(http::middleware::edge))
            .configure(crate::routes::configure)
    })
    .client_request_timeout(Duration::from_millis(limits.header_timeout_ms))
    .keep_alive(Duration::from_secs(limits.keep_alive_secs))
    .on_connect(move |io, ext| conns.on_connect(io, ext))
    .listen(listener)?
    .shutdown_timeout(10);
    // 0 keeps actix's default, one worker per CPU.
    let server = if workers > 0 {
        server.workers(workers)
    } else {
        server
    };
    Ok(server.run())
}

/// The kinds of queued jobs a replica runs.
pub fn job_kinds() -> Vec<jobs::Kind> {
    vec![jobs::mail::KIND, crate::webhooks::deliver::KIND]
}

/// Every area's periodic work, run on each replica (see `jobs::periodic`).
fn periodic(st: &AppState) -> Vec<jobs::Periodic> {
    let mut tasks = vec![
        crate::janitor::periodic(),
        crate::oauth::tokens::periodic(),
        jobs::queue::periodic(),
        crate::webhooks::periodic(),
    ];
    tasks.extend(crate::mcp::health::periodic(&st.config));
    if st.db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        tasks.push(jobs::Periodic {
            name: "db.checkpoint",
            every: Duration::from_millis(500),
            run: |st| Box::pin(async move { Ok(crate::db::checkpoint(&st.db).await?) }),
        });
    }
    tasks
}
