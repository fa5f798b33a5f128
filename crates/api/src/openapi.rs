//! The OpenAPI 3.1 document, derived from the handlers and types. `openapi.yaml` at the
//! repository root is this output checked in; a test fails when they differ.
use utoipa::{
    Modify, OpenApi,
    openapi::{
        Content, HttpMethod, Ref, RefOr, Response,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", description = "Organization settings of the Gatehouse MCP gateway. Errors are RFC 9457 problem documents (`application/problem+json`)."),
    servers((url = "/api/v1")),
    modifiers(&Truthful),
    paths(
        crate::accounts::signup, crate::accounts::verify_email, crate::accounts::resend_verification,
        crate::accounts::login, crate::accounts::logout, crate::accounts::password_reset_request,
        crate::accounts::password_reset_confirm, crate::accounts::get_me, crate::accounts::update_me,
        crate::accounts::change_password,
        crate::accounts::two_factor::verify, crate::accounts::two_factor::start_enrolment,
        crate::accounts::two_factor::confirm_enrolment, crate::accounts::two_factor::disable,
        crate::accounts::two_factor::regenerate_backup_codes, crate::accounts::two_factor::security,
        crate::accounts::passkeys::registration_options, crate::accounts::passkeys::create,
        crate::accounts::passkeys::list, crate::accounts::passkeys::rename, crate::accounts::passkeys::remove,
        crate::accounts::passkeys::login_options, crate::accounts::passkeys::login_verify,
        crate::accounts::passkeys::sign_in_options, crate::accounts::passkeys::sign_in,
        crate::sessions::list, crate::sessions::revoke, crate::sessions::revoke_others,
        crate::orgs::create, crate::orgs::list, crate::orgs::get_one, crate::orgs::update,
        crate::orgs::transfer_ownership,
        crate::members::list, crate::members::update, crate::members::remove,
        crate::members::list_invitations, crate::members::create_invitation, crate::members::revoke_invitation,
        crate::members::lookup, crate::members::accept,
        crate::audit::list, crate::audit::export,
        crate::api_keys::list, crate::api_keys::create, crate::api_keys::revoke,
        crate::security::get_security, crate::security::update_security, crate::security::my_ip, crate::security::presets,
        crate::security::mfa_preview,
        crate::connectors::list, crate::connectors::create, crate::connectors::get_one, crate::connectors::update,
        crate::connectors::remove,
        crate::mcp::usage::get_usage,
        crate::oauth::admin::list_clients, crate::oauth::admin::create_client, crate::oauth::admin::delete_client,
        crate::oauth::admin::get_settings, crate::oauth::admin::update_settings,
        crate::pin::get_pin, crate::pin::set_pin, crate::pin::request_reset, crate::pin::confirm_reset,
        crate::pin::verify,
        crate::webhooks::list, crate::webhooks::create, crate::webhooks::get_one, crate::webhooks::update,
        crate::webhooks::remove, crate::webhooks::rotate_secret, crate::webhooks::test,
        crate::webhooks::list_deliveries, crate::webhooks::replay_one, crate::webhooks::replay_failed,
        crate::mcp::thresholds::get_thresholds, crate::mcp::thresholds::set_thresholds,
    ),
    tags(
        (name = "accounts", description = "Sign-up, login, profile, passwords"),
        (name = "sessions", description = "The caller's browser sessions"),
        (name = "two-factor", description = "The caller's second factors: authenticator app (TOTP) and backup codes"),
        (name = "passkeys", description = "The caller's passkeys (WebAuthn), and a passkey as the second step of a login"),
        (name = "orgs", description = "Organizations and their settings"),
        (name = "members", description = "Members and invitations"),
        (name = "audit", description = "The audit log"),
        (name = "api-keys", description = "API keys of an organization"),
        (name = "security", description = "Session timeout, IP allowlist, PIN protection and MFA enforcement"),
        (name = "connectors", description = "The organization's upstream MCP servers"),
        (name = "mcp", description = "Usage of the organization's MCP endpoint"),
        (name = "oauth", description = "OAuth clients connected to the organization, and its refresh-token lifetime"),
        (name = "webhooks", description = "Webhook endpoints of the organization: signed event delivery with retries, test send, delivery log, replay"),
        (name = "pin", description = "Personal PINs and the step-up window that PIN protection of sensitive actions asks for"),
    )
)]
pub struct ApiDoc;

/// Completes every operation with what the shared machinery (authentication, the org
/// guard, the JSON/query/path extractors) can answer, so handlers declare only their own
/// outcomes and the document cannot forget a status the server really sends:
/// - security schemes; an operation's `security(...)` decides 401 (and 403 for a
///   cookie-authenticated write: the Origin check);
/// - `/orgs/{slug}/…`: 403 (role, API-key scope, IP allowlist, MFA required) and 404
///   (not a member);
/// - a path `{id}`: 404 (a malformed id names nothing); a JSON body: 400 (unreadable,
///   wrong Content-Type), 413 and 422; query parameters: 422;
/// - 503 (`Retry-After`) on operations that read the database (SQLite busy);
/// - every 4xx/5xx is `application/problem+json` with the `Problem` schema.
struct Truthful;

const PROBLEM_JSON: &str = "application/problem+json";

impl Modify for Truthful {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::extract::SESSION_COOKIE,
                "The browser session from `POST /auth/login`. Writes (POST, PATCH, DELETE) \
                 with the cookie must carry an `Origin` (or `Referer`) equal to the server's \
                 public URL, or get 403 `csrf-rejected`. In an org that requires MFA, a \
                 user without TOTP or a passkey gets 403 `mfa-required` on the org's routes \
                 (`/me` and the 2FA set-up stay open).",
            ))),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("gk_…")
                    .description(Some(
                        "An API key of the organization in the path, as `Authorization: \
                         Bearer <key>` (or `ApiKey <key>`). It acts as an admin limited by its \
                         scopes: `read` for GET, `write` for changes; while the org has PIN \
                         protection on, deleting a connector or removing a member also needs \
                         `sensitive`. A key is an org \
                         credential, not a person: the org's MFA requirement does not apply \
                         to it.",
                    ))
                    .build(),
            ),
        );
        let bodies = request_schemas(&api.paths);
        let components = api.components.get_or_insert_with(Default::default);
        let missed = constrain(components);
        plain_text(components, &bodies);
        if !missed.is_empty() {
            tracing::error!(?missed, "openapi: field rules without a field");
        }
        for (path, item) in api.paths.paths.iter_mut() {
            let ops = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, op) in ops {
                if let Some(op) = op.as_mut() {
                    complete(path, &method, op);
                }
            }
        }
    }
}

/// A name other people see: no control characters (what `char::is_control` refuses) and
/// none of the characters that hide or reorder text (`validation::is_hidden_or_bidi`;
/// the tag block lies outside the Basic Multilingual Plane, which a pattern portable
/// between ECMA-262 and Python cannot name, so it stays prose).
macro_rules! name_chars {
    () => {
        "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u206f\\ufeff"
    };
}
const TEXT: &str = concat!("^[^", name_chars!(), "]*$");
/// The same with at least one character that is not white space (the server trims).
const NON_BLANK: &str = concat!(
    "^[^",
    name_chars!(),
    "]*[^\\s",
    name_chars!(),
    "][^",
    name_chars!(),
    "]*$"
);
/// A slug, or empty (like absent: derived from the name).
const SLUG_OR_EMPTY: &str = "^([a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?)?$";

/// The server's field rules that JSON Schema can state: (schema, property, minLength,
/// maxLength, pattern, minItems, maxItems). Rules it cannot state (an address that must
/// be deliverable, a URL on a public address, a token that must exist) stay prose.
type Rule = (
    &'static str,
    &'static str,
    Option<usize>,
    Option<usize>,
    Option<&'static str>,
    Option<usize>,
    Option<usize>,
);
fn rules() -> Vec<Rule> {
    use gatehouse_types::validation::*;
    let pw = (Some(PASSWORD_MIN_CHARS), Some(PASSWORD_MAX_CHARS));
    vec![
        ("SignupRequest", "password", pw.0, pw.1, None, None, None),
        (
            "SignupRequest",
            "email",
            Some(1),
            Some(320),
            None,
            None,
            None,
        ),
        (
            "SignupRequest",
            "display_name",
            None,
            None,
            Some(TEXT),
            None,
            None,
        ),
        (
            "PasswordResetConfirm",
            "new_password",
            pw.0,
            pw.1,
            None,
            None,
            None,
        ),
        (
            "ChangePasswordRequest",
            "new_password",
            pw.0,
            pw.1,
            None,
            None,
            None,
        ),
        (
            "UpdateMeRequest",
            "display_name",
            None,
            None,
            Some(TEXT),
            None,
            None,
        ),
        (
            "AcceptInvitationRequest",
            "password",
            pw.0,
            pw.1,
            None,
            None,
            None,
        ),
        (
            "AcceptInvitationRequest",
            "display_name",
            None,
            None,
            Some(TEXT),
            None,
            None,
        ),
        (
            "CreateOrgRequest",
            "name",
            Some(1),
            Some(ORG_NAME_MAX_CHARS),
            Some(NON_BLANK),
            None,
            None,
        ),
        (
            "CreateOrgRequest",
            "slug",
            None,
            Some(SLUG_MAX_LEN),
            Some(SLUG_OR_EMPTY),
            None,
            None,
        ),
        (
            "UpdateOrgRequest",
            "name",
            Some(1),
            Some(ORG_NAME_MAX_CHARS),
            Some(NON_BLANK),
            None,
            None,
        ),
        (
            "CreateApiKeyRequest",
            "name",
            Some(1),
            Some(crate::api_keys::NAME_MAX_CHARS),
            Some(NON_BLANK),
            None,
            None,
        ),
        (
            "CreateApiKeyRequest",
            "scopes",
            None,
            None,
            None,
            Some(1),
            None,
        ),
        (
            "CreateOAuthClientRequest",
            "name",
            Some(1),
            Some(100),
            Some(NON_BLANK),
            None,
            None,
        ),
        (
            "CreateWebhookRequest",
            "events",
            None,
            None,
            None,
            Some(1),
            None,
        ),
        (
            "UpdateWebhookRequest",
            "events",
            None,
            None,
            None,
            Some(1),
            None,
        ),
        (
            "CreateOAuthClientRequest",
            "redirect_uris",
            None,
            None,
            None,
            Some(1),
            Some(10),
        ),
        (
            "CreateConnectorRequest",
            "name",
            Some(1),
            Some(64),
            Some(TEXT),
            None,
            None,
        ),
        (
            "CreateConnectorRequest",
            "tool_prefix",
            None,
            Some(32),
            Some("^[a-z0-9_]{0,32}$"),
            None,
            None,
        ),
        (
            "UpdateConnectorRequest",
            "name",
            Some(1),
            Some(64),
            Some(TEXT),
            None,
            None,
        ),
        (
            "UpdateConnectorRequest",
            "tool_prefix",
            None,
            Some(32),
            Some("^[a-z0-9_]{0,32}$"),
            None,
            None,
        ),
        (
            "UpdateSecuritySettings",
            "ip_allowlist",
            None,
            None,
            None,
            None,
            Some(crate::security::MAX_RANGES),
        ),
        ("IpRange", "label", None, Some(100), Some(TEXT), None, None),
        ("SetPinRequest", "pin", None, None, Some(PIN), None, None),
        (
            "SetPinRequest",
            "confirm",
            None,
            None,
            Some(PIN),
            None,
            None,
        ),
        ("VerifyPinRequest", "pin", None, None, Some(PIN), None, None),
        ("PinResetConfirm", "pin", None, None, Some(PIN), None, None),
        (
            "PinResetConfirm",
            "confirm",
            None,
            None,
            Some(PIN),
            None,
            None,
        ),
    ]
}

/// A PIN: six ASCII digits.
const PIN: &str = "^[0-9]{6}$";

/// Returns the rules that found no schema or property to apply to (a renamed field);
/// the unit test below keeps that list empty.
fn constrain(components: &mut utoipa::openapi::Components) -> Vec<String> {
    use utoipa::openapi::schema::Schema;
    let mut missed = Vec::new();
    for (schema, prop, min_len, max_len, pattern, min_items, max_items) in rules() {
        let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(schema) else {
            missed.push(schema.to_string());
            continue;
        };
        match obj.properties.get_mut(prop) {
            Some(RefOr::T(Schema::Object(p))) => {
                p.min_length = min_len.or(p.min_length);
                p.max_length = max_len.or(p.max_length);
                p.pattern = pattern.map(str::to_string).or(p.pattern.take());
            }
            Some(RefOr::T(Schema::Array(a))) => {
                a.min_items = min_items.or(a.min_items);
                a.max_items = max_items.or(a.max_items);
            }
            _ => missed.push(format!("{schema}.{prop}")),
        }
    }
    // Ownership moves only by transfer: these take `admin` or `member`, not `owner`.
    for schema in ["UpdateMemberRequest", "CreateInvitationRequest"] {
        let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(schema) else {
            missed.push(schema.to_string());
            continue;
        };
        obj.properties.insert(
            "role".into(),
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .enum_values(Some(["admin", "member"]))
                .into(),
        );
    }
    missed
}

/// The schemas of JSON request bodies and the schemas their properties refer to.
fn request_schemas(paths: &utoipa::openapi::Paths) -> Vec<String> {
    let mut names = Vec::new();
    for item in paths.paths.values() {
        let ops = [&item.post, &item.put, &item.patch, &item.delete, &item.get];
        for op in ops.into_iter().flatten() {
            let Some(body) = &op.request_body else {
                continue;
            };
            for content in body.content.values() {
                if let Some(RefOr::Ref(r)) = &content.schema {
                    names.push(ref_name(r));
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

fn ref_name(r: &Ref) -> String {
    r.ref_location
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Text without control characters, as `http::input` refuses them in every body; line
/// breaks and tabs are allowed in descriptions.
const NO_CONTROLS: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
const NO_CONTROLS_BUT_LINES: &str =
    "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";

/// Every free-text property of a request body (no pattern, format or enum of its own)
/// states the control characters the server refuses.
fn plain_text(components: &mut utoipa::openapi::Components, bodies: &[String]) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    let mut todo: Vec<String> = bodies.to_vec();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(&name) else {
            continue;
        };
        for (prop, schema) in obj.properties.iter_mut() {
            match schema {
                RefOr::T(Schema::Object(p)) => {
                    let text = match &p.schema_type {
                        SchemaType::Type(t) => *t == Type::String,
                        SchemaType::Array(ts) => ts.contains(&Type::String),
                        SchemaType::AnyValue => false,
                    };
                    if text && p.pattern.is_none() && p.format.is_none() && p.enum_values.is_none()
                    {
                        let pattern = if prop == "description" {
                            NO_CONTROLS_BUT_LINES
                        } else {
                            NO_CONTROLS
                        };
                        p.pattern = Some(pattern.to_string());
                    }
                }
                RefOr::T(Schema::Array(a)) => {
                    if let utoipa::openapi::schema::ArrayItems::RefOrSchema(item) = &a.items
                        && let RefOr::Ref(r) = item.as_ref()
                    {
                        todo.push(ref_name(r));
                    }
                }
                RefOr::Ref(r) => todo.push(ref_name(r)),
                _ => {}
            }
        }
    }
}

fn complete(path: &str, method: &HttpMethod, op: &mut utoipa::openapi::path::Operation) {
    let schemes: Vec<String> = op
        .security
        .iter()
        .flatten()
        .filter_map(|r| serde_json::to_value(r).ok())
        .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect();
    let write = !matches!(method, HttpMethod::Get);
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query));
    let mut add = |status: u16| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| Response::new("").into());
    };
    if !schemes.is_empty() {
        // A missing, unknown or expired credential; an optional session still answers
        // 401 when the cookie it carries has expired.
        add(401);
        if write && schemes.iter().any(|s| s == "session") {
            add(403);
        }
        add(503);
    }
    if path.starts_with("/orgs/{slug}") {
        add(403);
        add(404);
    }
    if path.contains("{id}") || path.contains("{user_id}") {
        add(404);
    }
    if op.request_body.is_some() {
        add(400);
        add(413);
        add(422);
        add(503);
    }
    if has_query {
        add(422);
    }
    for (status, resp) in op.responses.responses.iter_mut() {
        let (RefOr::T(resp), Ok(code)) = (resp, status.parse::<u16>()) else {
            continue;
        };
        if resp.description.is_empty() {
            resp.description = actix_web::http::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default()
                .to_string();
        }
        if code < 400 {
            continue;
        }
        resp.content.clear();
        resp.content.insert(
            PROBLEM_JSON.to_string(),
            Content::new(Some(Ref::from_schema_name("Problem"))),
        );
        let string = || {
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .build()
        };
        let integer = || {
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .minimum(Some(0))
                .build()
        };
        match code {
            401 => {
                resp.headers.insert(
                    "WWW-Authenticate".into(),
                    utoipa::openapi::header::HeaderBuilder::new()
                        .schema(string())
                        .description(Some("`Session` when a credential is missing or expired"))
                        .build(),
                );
            }
            429 | 503 => {
                resp.headers.insert(
                    "Retry-After".into(),
                    utoipa::openapi::header::HeaderBuilder::new()
                        .schema(integer())
                        .description(Some("Seconds to wait before retrying"))
                        .build(),
                );
            }
            _ => {}
        }
    }
}

pub fn yaml() -> anyhow::Result<String> {
    Ok(ApiDoc::openapi().to_yaml()?)
}

/// Each API path (below `/api/v1`) with the methods it serves, for the 405 answers of
/// `http::methods`.
pub fn route_methods() -> Vec<(String, Vec<String>)> {
    ApiDoc::openapi()
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
            (path.clone(), methods)
        })
        .collect()
}

/// `GET /openapi.yaml`: this document, as the checked-in `openapi.yaml` has it.
#[actix_web::get("/openapi.yaml")]
pub async fn serve_yaml() -> actix_web::HttpResponse {
    match yaml() {
        Ok(y) => actix_web::HttpResponse::Ok()
            .content_type("application/yaml")
            .body(y),
        Err(e) => actix_web::ResponseError::error_response(&crate::http::ApiError::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_field_rule_finds_its_field() {
        use utoipa::OpenApi;
        let mut doc = super::ApiDoc::openapi();
        let missed = super::constrain(doc.components.get_or_insert_with(Default::default));
        assert!(missed.is_empty(), "{missed:?}");
    }

    #[test]
    fn known_paths_list_their_methods() {
        use crate::http::methods::{allowed, install_api_routes};
        install_api_routes(super::route_methods);
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
