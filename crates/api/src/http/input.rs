//! One check of every text a request carries, before any handler sees it: the path, the
//! query string, and every string (keys and values) of a JSON or form body. Control
//! characters are refused everywhere (NUL first: PostgreSQL cannot store it, and a NUL
//! in a look-up failed as a 500), line breaks and tabs only outside multi-line fields,
//! and names other people read must not hide or reorder text. The rules are by field
//! name, so a new handler is covered without doing anything; the character sets are in
//! `gatehouse_types::validation`.
//!
//! MCP bodies (`/mcp/…`) are not checked: they are forwarded to upstream servers, and
//! tool arguments may hold anything JSON can. What the gateway stores of them is bounded
//! by its own checks (`mcp`).
use super::{ApiError, ErrorKind, problem::Validation};
use actix_web::{
    Error, HttpMessage, HttpResponse, ResponseError,
    dev::{Payload, ServiceRequest},
    http::header,
    web::{Bytes, BytesMut},
};
use futures_util::StreamExt;
use gatehouse_types::validation::text_problem;
use serde_json::Value;
use std::borrow::Cow;

/// Larger than every body limit outside the MCP endpoint (JSON 64 KiB, forms 16 KiB,
/// `web::Bytes` 256 KiB), so no request the extractors would take is refused here.
const BODY_LIMIT: usize = 256 * 1024;
/// Enough to fix a form; an attacker's thousand bad fields need no thousand answers.
const MAX_ERRORS: usize = 20;

/// Free text that may span lines.
const MULTI_LINE: &[&str] = &["description"];
/// Names shown to other people (and emails shown to other members).
const DISPLAYED: &[&str] = &["name", "display_name", "client_name", "label", "email"];

fn problem_of(field: &str, s: &str) -> Option<&'static str> {
    text_problem(s, MULTI_LINE.contains(&field), DISPLAYED.contains(&field))
}

/// A field name fit to echo back: control characters escaped.
fn printable(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        Cow::Owned(s.escape_debug().to_string())
    } else {
        Cow::Borrowed(s)
    }
}

#[derive(Default)]
struct Findings(Vec<(String, &'static str)>);

impl Findings {
    fn check(&mut self, field: impl FnOnce() -> String, rule: &str, s: &str) {
        if self.0.len() < MAX_ERRORS
            && let Some(p) = problem_of(rule, s)
        {
            self.0.push((field(), p));
        }
    }

    /// Every key and string in `v`, named as the area modules name fields
    /// (`ip_allowlist[0].label`). A string takes the rule of the nearest key above it.
    fn walk(&mut self, v: &Value, path: &str, rule: &str) {
        match v {
            Value::String(s) => self.check(|| path.to_string(), rule, s),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, &format!("{path}[{i}]"), rule);
                }
            }
            Value::Object(map) => {
                for (k, child) in map {
                    let here = if path.is_empty() {
                        printable(k).into_owned()
                    } else {
                        format!("{path}.{}", printable(k))
                    };
                    // Keys are never free text.
                    self.check(|| here.clone(), "", k);
                    self.walk(child, &here, k);
                }
            }
            _ => {}
        }
    }

    fn pairs(&mut self, encoded: &[u8]) {
        for (k, v) in url::form_urlencoded::parse(encoded) {
            self.check(|| printable(&k).into_owned(), "", &k);
            self.check(|| printable(&k).into_owned(), &k, &v);
        }
    }
}

/// OAuth endpoints answer as RFC 6749 says (clients parse that shape), the rest with a
/// validation problem.
fn refusal(path: &str, findings: Findings) -> HttpResponse {
    let oauth_code = match path {
        "/token" | "/revoke" => Some("invalid_request"),
        "/register" => Some("invalid_client_metadata"),
        _ => None,
    };
    if let Some(code) = oauth_code {
        let description = findings
            .0
            .iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        // RFC 6749 §5.2's shape, as `oauth::OAuthError` answers (`http` imports no area).
        return HttpResponse::BadRequest()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({"error": code, "error_description": description}));
    }
    let mut v = Validation::default();
    for (f, m) in &findings.0 {
        v.push(f, *m);
    }
    v.into_error().error_response()
}

/// Marks an `/api/v1` request whose JSON body is not an object.
#[derive(Clone, Copy)]
pub struct NotAnObject;

impl NotAnObject {
    pub fn refusal() -> ApiError {
        ApiError::with_detail(
            ErrorKind::Validation,
            "the request body must be a JSON object",
        )
    }
}

fn is_mcp(path: &str) -> bool {
    path == "/mcp" || path.starts_with("/mcp/")
}

async fn read_body(payload: &mut Payload, known: Option<usize>) -> Result<Option<Bytes>, Error> {
    if known.is_some_and(|n| n > BODY_LIMIT) {
        return Ok(None);
    }
    let mut buf = BytesMut::with_capacity(known.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > BODY_LIMIT {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

/// Screens a request's path, query and (outside `/mcp`) body before any handler runs:
/// `Some(answer)` refuses it. Called by `limits::slow_clients` (one middleware layer
/// fewer on every request), after the body is under its deadline; a body that fails to
/// arrive is answered here, and turned into 408 there when it was late.
pub async fn screen(req: &mut ServiceRequest) -> Option<HttpResponse> {
    let mut findings = Findings::default();
    // The raw path holds no control bytes (the HTTP parser refuses them); escapes may.
    if req.path().contains('%') {
        let decoded = percent_encoding::percent_decode_str(req.path()).decode_utf8_lossy();
        // A path with a control character names nothing that exists: 404, as for any
        // other unknown path (not a field error the document would have to list).
        if decoded.chars().any(char::is_control) {
            return Some(ApiError::not_found("resource").error_response());
        }
    }
    if !req.query_string().is_empty() {
        findings.pairs(req.query_string().as_bytes());
    }
    let known = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let has_body = known.map_or(req.headers().contains_key(header::TRANSFER_ENCODING), |n| {
        n > 0
    });
    if findings.0.is_empty() && has_body && !is_mcp(req.path()) {
        let mut payload = req.take_payload();
        let body = match read_body(&mut payload, known).await {
            Ok(b) => b,
            Err(e) => return Some(e.error_response()),
        };
        let Some(body) = body else {
            return Some(ApiError::new(ErrorKind::PayloadTooLarge).error_response());
        };
        let form = req.content_type() == "application/x-www-form-urlencoded";
        if form {
            findings.pairs(&body);
        } else if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            // Every API body is an object; serde would fill a struct from an array
            // (`[null, null]` read as a PATCH with every member absent).
            // Refused by `auth::org_guard`, once the org is found: an outsider gets 404
            // whatever the body.
            if !v.is_object() && req.path().starts_with("/api/v1/") {
                req.extensions_mut().insert(NotAnObject);
            }
            // Whatever the declared type: `/register` reads JSON from any body. What is
            // not JSON is left to the extractor to refuse.
            findings.walk(&v, "", "");
        }
        req.set_payload(Payload::from(body));
    }
    if findings.0.is_empty() {
        return None;
    }
    Some(refusal(req.path(), findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Vec<String> {
        let mut f = Findings::default();
        f.walk(&v, "", "");
        let mut named: Vec<_> = f.0.into_iter().map(|(f, _)| f).collect();
        named.sort();
        named
    }

    #[test]
    fn fields_are_named_by_their_path_and_keys_are_checked_too() {
        let v = serde_json::json!({
            "name": "ok",
            "description": "two\nlines",
            "ip_allowlist": [{"cidr": "10.0.0.0/8", "label": "a\u{0}"}],
            "redirect_uris": ["https://x.example/\u{1}"],
            "bad\u{0}key": 1,
            "display_name": "Eve\u{202E}",
            "nested": {"description": "fine\ttab", "note": "no\nbreaks"},
        });
        assert_eq!(
            fields(v),
            [
                "bad\\0key",
                "display_name",
                "ip_allowlist[0].label",
                "nested.note",
                "redirect_uris[0]"
            ]
        );
    }

    #[test]
    fn form_and_query_pairs_are_decoded_before_the_check() {
        let mut f = Findings::default();
        f.pairs(b"grant_type=refresh_token&refresh_token=ghr_%00&client_name=A%E2%80%AEB&x=a+b");
        let named: Vec<_> = f.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(named, ["refresh_token", "client_name"]);
    }
}
