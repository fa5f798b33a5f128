//! `/authorize`: validates the request, sends a signed-out user to log in, shows the
//! consent page (client, redirect host, organization, scopes), and on approval issues a
//! single-use code bound to client, redirect URI, PKCE challenge and resource.
use super::{SCOPE_MCP, clients, mcp_url, slug_of_resource};
use crate::{
    audit::{self, Event},
    auth::{
        CurrentUser, MaybeUser,
        org_ref::{self, OrgRef},
        policy::{self, Access, OrgSnapshot},
    },
    crypto::{self, TokenKind},
    entity::{membership, oauth_client, oauth_code, organization},
    http::ClientMeta,
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use chrono::Duration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Deserialize;

pub const CODE_SECS: i64 = 60;

#[derive(Debug, Deserialize, Clone, Default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

/// The consent form: the request again, the user's choice, and the CSRF token.
#[derive(Debug, Deserialize)]
pub struct Decision {
    #[serde(flatten)]
    params: AuthorizeParams,
    org: Option<String>,
    csrf: String,
    decision: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f5f6f8;color:#1b1f24;margin:0}\
main{max-width:28rem;margin:4rem auto;background:#fff;border:1px solid #d9dde3;border-radius:12px;padding:2rem}\
h1{font-size:1.3rem;margin:0 0 1rem}dl{margin:1rem 0}dt{color:#5b6470;font-size:.85rem}dd{margin:0 0 .6rem}\
.actions{display:flex;gap:.75rem;margin-top:1.5rem}button{font:inherit;padding:.55rem 1.1rem;border-radius:8px;border:1px solid #b8c0cc;background:#fff;cursor:pointer}\
button.primary{background:#1f5eff;border-color:#1f5eff;color:#fff}button:focus-visible,select:focus-visible{outline:3px solid #99b5ff;outline-offset:2px}\
select{font:inherit;padding:.4rem;width:100%}.error{color:#a4000f}";

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    page_to(status, title, body, None)
}

/// A page whose form may end in a redirect to a native app's private-use scheme:
/// browsers apply `form-action` to the redirect after the POST too, so that scheme
/// (already checked to be plain RFC 3986 scheme characters) is allowed there.
fn page_to(status: StatusCode, title: &str, body: &str, scheme: Option<&str>) -> HttpResponse {
    let extra = scheme.map(|s| format!(" {s}:")).unwrap_or_default();
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        // Consent must not be framed (clickjacking).
        .insert_header(("Content-Security-Policy", format!("default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:{extra}; frame-ancestors 'none'")))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
            t = esc(title)
        ))
}

/// An error we cannot send back to the client (no trusted redirect URI yet).
fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    page(
        status,
        "Cannot connect",
        &format!(
            "<h1>This connection cannot continue</h1><p class=\"error\">{}</p>",
            esc(message)
        ),
    )
}

/// Sends the browser back to the client's redirect URI with `params`, `state` and `iss`
/// (RFC 9207).
fn back_to_client(
    st: &AppState,
    redirect: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(redirect) else {
        return error_page(StatusCode::BAD_REQUEST, "invalid redirect_uri");
    };
    {
        let mut q = url.query_pairs_mut();
        q.extend_pairs(params);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &st.public_url);
    }
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// An error the client hears about at its redirect URI (RFC 6749 §4.1.2.1).
fn redirect_error(
    st: &AppState,
    redirect: &str,
    code: &str,
    description: &str,
    state: Option<&str>,
) -> HttpResponse {
    back_to_client(
        st,
        redirect,
        &[("error", code), ("error_description", description)],
        state,
    )
}

/// What a valid request resolves to.
struct Checked {
    client: oauth_client::Model,
    redirect: String,
    challenge: String,
    resource_slug: Option<String>,
}

/// Validates a request; `Err` is the response to give.
async fn check(st: &AppState, p: &AuthorizeParams) -> Result<Checked, HttpResponse> {
    let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "The request names no client_id.",
        ));
    };
    let client = clients::resolve(st, client_id).await.map_err(|e| {
        error_page(
            StatusCode::BAD_REQUEST,
            &format!("Unknown or invalid client: {e}."),
        )
    })?;
    let registered = clients::redirect_uris(&client);
    let redirect = match p.redirect_uri.as_deref() {
        Some(r) if registered.iter().any(|g| clients::redirect_matches(g, r)) => r.to_string(),
        Some(_) => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "The redirect_uri is not one this client registered.",
            ));
        }
        None if registered.len() == 1 => registered[0].clone(),
        None => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "The request names no redirect_uri.",
            ));
        }
    };
    let state = p.state.as_deref();
    if p.response_type.as_deref() != Some("code") {
        return Err(redirect_error(
            st,
            &redirect,
            "unsupported_response_type",
            "response_type must be code",
            state,
        ));
    }
    let challenge = match (
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => c.to_string(),
        _ => {
            return Err(redirect_error(
                st,
                &redirect,
                "invalid_request",
                "PKCE with code_challenge_method S256 is required",
                state,
            ));
        }
    };
    let resource_slug = match p.resource.as_deref() {
        None | Some("") => None,
        Some(r) => match slug_of_resource(st, r) {
            Some(s) => Some(s),
            None => {
                return Err(redirect_error(
                    st,
                    &redirect,
                    "invalid_target",
                    "resource is not an MCP endpoint of this server",
                    state,
                ));
            }
        },
    };
    Ok(Checked {
        client,
        redirect,
        challenge,
        resource_slug,
    })
}

/// The orgs the user may grant access to (where they are a member), by slug.
async fn member_orgs(
    st: &AppState,
    user: uuid::Uuid,
) -> Result<Vec<organization::Model>, sea_orm::DbErr> {
    let ids: Vec<uuid::Uuid> = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|m| m.org_id)
        .collect();
    let mut orgs = organization::Entity::find()
        .filter(organization::Column::Id.is_in(ids))
        .filter(org_ref::live())
        .all(&st.db)
        .await?;
    orgs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(orgs)
}

/// Binds the consent form to the session and to the request it shows (the org is the
/// user's choice on the form, checked against their memberships on submit).
fn csrf(st: &AppState, session_id: uuid::Uuid, c: &Checked, p: &AuthorizeParams) -> String {
    let msg = format!(
        "{session_id}\n{}\n{}\n{}\n{}\n{}",
        c.client.client_id,
        c.redirect,
        c.challenge,
        p.resource.as_deref().unwrap_or(""),
        p.state.as_deref().unwrap_or("")
    );
    st.cipher.mac("oauth-consent", msg.as_bytes())
}

fn hidden(name: &str, value: Option<&str>) -> String {
    value.map_or(String::new(), |v| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            esc(v)
        )
    })
}

#[get("/authorize")]
pub async fn authorize_page(
    req: HttpRequest,
    query: web::Query<AuthorizeParams>,
    st: web::Data<AppState>,
) -> HttpResponse {
    let p = query.into_inner();
    let c = match check(&st, &p).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    // A signed-out user logs in first and comes back here.
    let user = match <MaybeUser as actix_web::FromRequest>::extract(&req).await {
        Ok(MaybeUser(Some(u))) => u,
        _ => {
            let next = format!("{}?{}", req.path(), req.query_string());
            let login = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return HttpResponse::Found()
                .insert_header(("Location", login))
                .insert_header(("Cache-Control", "no-store"))
                .finish();
        }
    };
    let orgs = match member_orgs(&st, user.user.id).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "listing orgs failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable; try again.",
            );
        }
    };
    let choices: Vec<&organization::Model> = match &c.resource_slug {
        Some(slug) => orgs
            .iter()
            .filter(|o| OrgRef::Slug(slug).names(o))
            .collect(),
        None => orgs.iter().collect(),
    };
    if choices.is_empty() {
        return error_page(
            StatusCode::FORBIDDEN,
            "You are not a member of an organization this client asks for. Ask an admin to invite you, or sign in with another account.",
        );
    }
    let meta = ClientMeta::from_request(&req);
    if c.resource_slug.is_some() {
        let caller = match user.caller_in(&st.db, choices[0]).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "looking up a second factor failed");
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable; try again.",
                );
            }
        };
        if let Err(e) = policy::check(&Access {
            caller,
            org: OrgSnapshot::row(choices[0]),
            client: &meta,
        }) {
            return error_page(StatusCode::FORBIDDEN, &e.to_string());
        }
    }
    let parsed_redirect = url::Url::parse(&c.redirect).ok();
    // A private-use scheme names an app, not a web site: show the whole URI (its
    // serialization is ASCII, non-ASCII percent-encoded, so nothing looks like something
    // else), scheme first and in words, so a user sees which app gets the code.
    let private_scheme = parsed_redirect
        .as_ref()
        .filter(|_| clients::is_private_use(&c.redirect))
        .map(|u| u.scheme().to_string());
    let return_to = match (&private_scheme, &parsed_redirect) {
        (Some(scheme), Some(u)) => format!(
            "You will be sent back to the app at <code>{}</code> (an application on your device that opens <code>{}:</code> links)",
            esc(u.as_str()),
            esc(scheme)
        ),
        _ => esc(&parsed_redirect
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default()),
    };
    let org_field = if choices.len() == 1 {
        format!(
            "<dd>{}</dd><input type=\"hidden\" name=\"org\" value=\"{}\">",
            esc(&choices[0].name),
            esc(&choices[0].slug)
        )
    } else {
        let options: String = choices
            .iter()
            .map(|o| {
                format!(
                    "<option value=\"{}\">{}</option>",
                    esc(&o.slug),
                    esc(&o.name)
                )
            })
            .collect();
        format!(
            "<dd><label for=\"org\">Choose the organization</label><select id=\"org\" name=\"org\">{options}</select></dd>"
        )
    };
    let token = csrf(&st, user.session_id, &c, &p);
    let body = format!(
        "<h1>Connect {client} to Gatehouse?</h1>\
         <p>{client} asks to use the MCP tools of your organization, as you ({email}).</p>\
         <form method=\"post\" action=\"/authorize\"><dl>\
         <dt>Application</dt><dd>{client}{kind}</dd>\
         <dt>Will return you to</dt><dd>{return_to}</dd>\
         <dt>Organization</dt>{org_field}\
         <dt>Access</dt><dd>Use the tools, prompts and resources of the organization's MCP servers (scope <code>{SCOPE_MCP}</code>)</dd>\
         </dl>{hidden}<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <div class=\"actions\"><button class=\"primary\" type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div></form>",
        client = esc(&c.client.name),
        kind = if c.client.kind == "cimd" {
            format!(" <small>({})</small>", esc(&c.client.client_id))
        } else {
            String::new()
        },
        email = esc(&user.user.email),
        hidden = [
            hidden("response_type", p.response_type.as_deref()),
            hidden("client_id", Some(&c.client.client_id)),
            hidden("redirect_uri", Some(&c.redirect)),
            hidden("code_challenge", p.code_challenge.as_deref()),
            hidden("code_challenge_method", p.code_challenge_method.as_deref()),
            hidden("state", p.state.as_deref()),
            hidden("scope", p.scope.as_deref()),
            hidden("resource", p.resource.as_deref()),
        ]
        .concat(),
    );
    page_to(
        StatusCode::OK,
        "Connect to Gatehouse",
        &body,
        private_scheme.as_deref(),
    )
}

#[post("/authorize")]
pub async fn decide(
    req: HttpRequest,
    form: web::Form<Decision>,
    st: web::Data<AppState>,
) -> HttpResponse {
    let d = form.into_inner();
    // The session cookie, with the Origin check every cookie-authenticated write gets.
    let user = match <CurrentUser as actix_web::FromRequest>::extract(&req).await {
        Ok(u) => u,
        Err(_) => {
            return error_page(
                StatusCode::FORBIDDEN,
                "Your session ended or this form did not come from Gatehouse; start again from the application.",
            );
        }
    };
    let c = match check(&st, &d.params).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let expected = csrf(&st, user.session_id, &c, &d.params);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        d.csrf.as_bytes(),
    )) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This consent form is not valid for your session; start again from the application.",
        );
    }
    let state = d.params.state.as_deref();
    if d.decision != "allow" {
        return redirect_error(
            &st,
            &c.redirect,
            "access_denied",
            "the user denied access",
            state,
        );
    }
    let slug = match (&c.resource_slug, &d.org) {
        (Some(s), _) => s.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => return error_page(StatusCode::BAD_REQUEST, "No organization was chosen."),
    };
    let orgs = match member_orgs(&st, user.user.id).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "listing orgs failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable; try again.",
            );
        }
    };
    let Some(org) = orgs.into_iter().find(|o| OrgRef::Slug(&slug).names(o)) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Only members of the organization can connect it.",
        );
    };
    let caller = match user.caller_in(&st.db, &org).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "looking up a second factor failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable; try again.",
            );
        }
    };
    if let Err(e) = policy::check(&Access {
        caller,
        org: OrgSnapshot::row(&org),
        client: &user.meta,
    }) {
        return error_page(StatusCode::FORBIDDEN, &e.to_string());
    }
    let now = st.clock.now();
    let code = crypto::generate_token(TokenKind::OAuthCode);
    let resource = mcp_url(&st, &org.slug);
    let saved = async {
        let txn = crate::db::begin(&st.db).await?;
        oauth_code::Entity::insert(oauth_code::ActiveModel {
            code_hash: Set(crypto::hash_token(&code)),
            client_id: Set(c.client.id),
            user_id: Set(user.user.id),
            org_id: Set(org.id),
            redirect_uri: Set(c.redirect.clone()),
            code_challenge: Set(c.challenge.clone()),
            resource: Set(resource.clone()),
            scope: Set(SCOPE_MCP.into()),
            expires_at: Set(now + Duration::seconds(CODE_SECS)),
            used_at: Set(None),
            grant_id: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        let ctx = audit::Context::from(&user).in_org(org.id);
        let event = Event::OAuthConsentGranted {
            client: c.client.id,
            client_id: c.client.client_id.clone(),
            client_name: c.client.name.clone(),
            redirect_uri: c.redirect.clone(),
            scope: SCOPE_MCP.into(),
        };
        audit::record(&txn, &ctx, now, event).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = saved {
        tracing::error!(error = %e, "saving an authorization code failed");
        return redirect_error(
            &st,
            &c.redirect,
            "server_error",
            "temporarily unavailable",
            state,
        );
    }
    back_to_client(&st, &c.redirect, &[("code", &code)], state)
}
