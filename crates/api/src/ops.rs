//! Operational endpoints: liveness, readiness, Prometheus metrics (the OpenAPI document
//! is served by `openapi::serve_yaml`).
use crate::{http::metrics::Metrics, state::AppState};
use actix_web::{HttpResponse, get, web};

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[get("/readyz")]
async fn readyz(st: web::Data<AppState>) -> HttpResponse {
    if crate::db::ping(&st.db).await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "database unreachable"}))
    }
}

#[get("/metrics")]
async fn metrics(m: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

impl From<crate::http::ApiError> for HttpResponse {
    fn from(e: crate::http::ApiError) -> Self {
        actix_web::ResponseError::error_response(&e)
    }
}
