//! Serves the dashboard's built files, with `index.html` for client-side routes.
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, http::Method, web};

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Gatehouse</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2933}
code{background:#eef2f6;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Gatehouse</h1>
<p>The server is running. The dashboard has not been built into <code>frontend/dist</code> yet.</p>
<p>The REST API lives under <code>/api/v1</code>; its description is at <a href="/openapi.yaml">/openapi.yaml</a>.</p>
</body></html>"#;

/// Paths that belong to the API or operations never fall back to the dashboard.
fn is_backend_path(path: &str) -> bool {
    ["/api/", "/mcp/", "/.well-known/"]
        .iter()
        .any(|p| path.starts_with(p))
}

pub async fn serve(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let path = req.path();
    // A route's path asked with a method it does not serve is no dashboard page either.
    if is_backend_path(path)
        || !(req.method() == Method::GET || req.method() == Method::HEAD)
        || crate::http::methods::allowed(path).is_some()
    {
        return crate::http::methods::not_routed(&req);
    }
    // /_admin/_settings[/_section] is the address older documentation uses.
    if let Some(rest) = path.strip_prefix("/_admin/_settings") {
        let section = rest.trim_start_matches('/').trim_start_matches('_');
        let section = if section.is_empty() {
            "integrations"
        } else {
            section
        };
        let target = format!("/settings/{section}");
        return HttpResponse::Found()
            .insert_header(("Location", target))
            .finish();
    }
    let dir = &st.config.dashboard_dir;
    let rel = path.trim_start_matches('/');
    if !rel.is_empty()
        && !rel
            .split('/')
            .any(|seg| seg == ".." || seg.starts_with('.'))
    {
        let file = dir.join(rel);
        if file.is_file()
            && let Ok(f) = actix_files::NamedFile::open(file)
        {
            return f.into_response(&req);
        }
    }
    match actix_files::NamedFile::open(dir.join("index.html")) {
        Ok(f) => f.into_response(&req),
        Err(_) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(PLACEHOLDER),
    }
}
