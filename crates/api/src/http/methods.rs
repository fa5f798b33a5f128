//! 405 with `Allow` for a known path asked with a method it does not serve. actix falls
//! through to the default service (a 404) when no route's method guard matches, so the
//! fallbacks ask this table. The API's routes come from the OpenAPI document, which is
//! built from the handlers themselves; the few routes outside it are listed here.
use super::{ApiError, ErrorKind};
use actix_web::{HttpRequest, HttpResponse, ResponseError, dev::ResourceDef, http::header};
use std::sync::LazyLock;

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

static ROUTES: LazyLock<Vec<(ResourceDef, Vec<String>)>> = LazyLock::new(|| {
    use utoipa::OpenApi;
    let doc = crate::openapi::ApiDoc::openapi();
    let mut routes: Vec<(ResourceDef, Vec<String>)> = doc
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(m, _)| m.to_string())
            .collect();
            (ResourceDef::new(format!("/api/v1{path}")), methods)
        })
        .collect();
    routes.extend(OTHER_ROUTES.iter().map(|(path, methods)| {
        (
            ResourceDef::new(*path),
            methods.iter().map(|m| m.to_string()).collect(),
        )
    }));
    routes
});

/// The methods a known path serves, or `None` for an unknown path.
/// A path without parameters wins over a template that also matches it, as in OpenAPI
/// (`/me/sessions/revoke-others` is not `/me/sessions/{id}`).
pub fn allowed(path: &str) -> Option<Vec<String>> {
    let matching: Vec<_> = ROUTES
        .iter()
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

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn known_paths_list_their_methods() {
        let v = |m: &[&str]| Some(m.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(allowed("/api/v1/orgs/acme/api-keys"), v(&["GET", "POST"]));
        assert_eq!(
            allowed("/api/v1/orgs/acme/connectors/0190a2b4-0000-7000-8000-000000000000"),
            v(&["DELETE", "GET", "PATCH"])
        );
        assert_eq!(allowed("/api/v1/me"), v(&["GET", "PATCH"]));
        assert_eq!(allowed("/authorize"), v(&["GET", "POST"]));
        assert_eq!(allowed("/api/v1/me/sessions/revoke-others"), v(&["POST"]));
        assert_eq!(allowed("/api/v1/me/sessions/abc"), v(&["DELETE"]));
        assert_eq!(allowed("/api/v1/nothing"), None);
        assert_eq!(allowed("/api/v1/orgs/acme/api-keys/x/y"), None);
    }
}
