//! 405 with `Allow` for a known path asked with a method it does not serve. actix falls
//! through to the default service (a 404) when no route's method guard matches, so the
//! fallbacks ask this table. The API's routes come from the OpenAPI document, which is
//! built from the handlers themselves (the server installs them, see
//! `install_api_routes`); the few routes outside it are listed here.
use super::{ApiError, ErrorKind};
use actix_web::{HttpRequest, HttpResponse, ResponseError, dev::ResourceDef, http::header};
use std::sync::{LazyLock, OnceLock};

/// Routes outside `/api/v1` (see `ops::routes` and `oauth::routes`; `/mcp` answers its
/// own 405s).
const OTHER_ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
    ("/metrics", &["GET"]),
    ("/openapi.yaml", &["GET"]),
    ("/jwks.json", &["GET"]),
    ("/.well-known/oauth-authorization-server", &["GET"]),
    ("/.well-known/oauth-protected-resource/mcp/{slug}", &["GET"]),
    ("/register", &["POST"]),
    ("/authorize", &["GET", "POST"]),
    ("/token", &["POST"]),
    ("/revoke", &["POST"]),
];

/// The API's routes (`/api/v1` paths, with their methods), installed by the server from
/// the OpenAPI document: `http` does not import the areas that document is built from.
static API_ROUTES: OnceLock<Vec<(ResourceDef, Vec<String>)>> = OnceLock::new();

static OTHER: LazyLock<Vec<(ResourceDef, Vec<String>)>> = LazyLock::new(|| {
    OTHER_ROUTES
        .iter()
        .map(|(path, methods)| {
            (
                ResourceDef::new(*path),
                methods.iter().map(|m| m.to_string()).collect(),
            )
        })
        .collect()
});

/// Installs the API's routes (once per process; later calls keep the first table):
/// `(path below /api/v1, methods)`.
pub fn install_api_routes(routes: impl FnOnce() -> Vec<(String, Vec<String>)>) {
    API_ROUTES.get_or_init(|| {
        routes()
            .into_iter()
            .map(|(path, methods)| (ResourceDef::new(format!("/api/v1{path}")), methods))
            .collect()
    });
}

/// The methods a known path serves, or `None` for an unknown path.
/// A path without parameters wins over a template that also matches it, as in OpenAPI
/// (`/me/sessions/revoke-others` is not `/me/sessions/{id}`).
pub fn allowed(path: &str) -> Option<Vec<String>> {
    let matching: Vec<_> = API_ROUTES
        .get()
        .into_iter()
        .flatten()
        .chain(OTHER.iter())
        .filter(|(def, _)| def.is_match(path))
        .collect();
    let exact = matching
        .iter()
        .any(|(def, _)| !def.is_prefix() && def.pattern() == Some(path));
    let mut methods: Vec<String> = matching
        .iter()
        .filter(|(def, _)| !exact || def.pattern() == Some(path))
        .flat_map(|(_, m)| m.iter().cloned())
        .collect();
    methods.sort();
    methods.dedup();
    (!methods.is_empty()).then_some(methods)
}

/// The answer for a request no route took: 405 with `Allow` when the path is known,
/// otherwise 404.
pub fn not_routed(req: &HttpRequest) -> HttpResponse {
    match allowed(req.path()) {
        Some(methods) => {
            let allow = methods.join(", ");
            let mut resp = ApiError::with_detail(
                ErrorKind::MethodNotAllowed,
                format!("{} is not served here; allowed: {allow}", req.method()),
            )
            .error_response();
            if let Ok(v) = header::HeaderValue::from_str(&allow) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
            resp
        }
        None => ApiError::not_found("route").error_response(),
    }
}
