//! The route table: every area's routes, and only here. Areas export `routes()`; they
//! never import this module, the server or the OpenAPI assembly.
use crate::http;
use actix_web::{middleware, web};

/// Every route of the server, below the edge middleware that `server` adds.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::ops::routes)
        .service(crate::openapi::serve_yaml)
        .configure(crate::mcp::routes)
        .configure(crate::oauth::routes)
        .service(
            web::scope("/api/v1")
                .wrap(middleware::from_fn(crate::auth::org_guard))
                .configure(api_routes)
                .default_service(web::to(api_not_found)),
        )
        .default_service(web::to(crate::dashboard::serve));
}

/// Every route under `/api/v1`.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    crate::accounts::routes(cfg);
    crate::sessions::routes(cfg);
    crate::orgs::routes(cfg);
    crate::members::routes(cfg);
    crate::audit::routes(cfg);
    crate::api_keys::routes(cfg);
    crate::security::routes(cfg);
    crate::pin::routes(cfg);
    crate::connectors::routes(cfg);
    crate::webhooks::routes(cfg);
    crate::oauth::admin::routes(cfg);
    cfg.service(crate::mcp::usage::get_usage)
        .service(crate::mcp::thresholds::get_thresholds)
        .service(crate::mcp::thresholds::set_thresholds);
}

async fn api_not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    http::methods::not_routed(&req)
}
