//! An organization's settings sections. This one table drives the sidebar, the page
//! shown at `/orgs/{slug}/settings/{section}`, and where older addresses land: the server
//! sends `/_admin/_settings[/_{name}]` to `/settings/{name}`, which [`SettingsRedirect`]
//! resolves here. A new section is one entry below (and its page module).
use crate::components::{reactive, use_session};
use crate::pages::*;
use leptos::lazy;
use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_params_map},
};

pub struct Section {
    /// The last segment of `/orgs/{slug}/settings/{path}`.
    pub path: &'static str,
    /// The sidebar's label.
    pub label: &'static str,
    /// Listed in the sidebar for owners and admins only (the API enforces the rule).
    pub admin_only: bool,
    /// The page. A plain `fn`, so every section shares one route and one render path.
    pub view: fn() -> AnyView,
    /// Other names older addresses use for this section (`/_admin/_settings/_{alias}`).
    pub aliases: &'static [&'static str],
}

/// In sidebar order.
pub const SECTIONS: &[Section] = &[
    Section {
        path: "general",
        label: "General",
        admin_only: false,
        view: || view! { <GeneralSettings/> }.into_any(),
        aliases: &[],
    },
    Section {
        path: "members",
        label: "Members",
        admin_only: true,
        view: || lazy_view(members_view),
        aliases: &[],
    },
    Section {
        path: "api-keys",
        label: "API keys",
        admin_only: true,
        view: || lazy_view(api_keys_view),
        aliases: &[],
    },
    Section {
        path: "connectors",
        label: "Connectors",
        admin_only: true,
        view: || lazy_view(connectors_view),
        aliases: &["mcp", "mcps"],
    },
    Section {
        path: "usage",
        label: "Usage",
        admin_only: true,
        view: || lazy_view(usage_view),
        aliases: &[],
    },
    Section {
        path: "oauth",
        label: "OAuth",
        admin_only: true,
        view: || lazy_view(oauth_view),
        aliases: &[],
    },
    Section {
        path: "security",
        label: "Security",
        admin_only: true,
        view: || lazy_view(security_view),
        aliases: &[],
    },
    Section {
        path: "webhooks",
        label: "Webhooks",
        admin_only: true,
        view: || lazy_view(webhooks_view),
        aliases: &[],
    },
    Section {
        path: "audit-log",
        label: "Audit log",
        admin_only: true,
        view: || lazy_view(audit_log_view),
        aliases: &["audit", "audit-logs"],
    },
];

// Admin-only sections are split out of the first load: each `#[lazy]` function below
// (and what only it uses) goes to its own wasm chunk, fetched when the section is
// first shown (scripts/dashboard.sh does the split).
fn lazy_view<F>(load: fn() -> F) -> AnyView
where
    F: Future<Output = AnyView> + Send + Sync + 'static,
{
    view! { <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>{Suspend::new(load())}</Suspense> }
        .into_any()
}

#[lazy]
fn members_view() -> AnyView {
    view! { <MembersPage/> }.into_any()
}

#[lazy]
fn api_keys_view() -> AnyView {
    view! { <ApiKeysPage/> }.into_any()
}

#[lazy]
fn connectors_view() -> AnyView {
    view! { <ConnectorsPage/> }.into_any()
}

#[lazy]
fn usage_view() -> AnyView {
    view! { <UsagePage/> }.into_any()
}

#[lazy]
fn oauth_view() -> AnyView {
    view! { <OAuthPage/> }.into_any()
}

#[lazy]
fn security_view() -> AnyView {
    view! { <SecurityPage/> }.into_any()
}

#[lazy]
fn webhooks_view() -> AnyView {
    view! { <WebhooksPage/> }.into_any()
}

#[lazy]
fn audit_log_view() -> AnyView {
    view! { <AuditLogPage/> }.into_any()
}

/// Sections older addresses name that have no page yet: they land on General.
const NOT_YET: &[&str] = &["integrations", "billing", "domains"];

pub fn find(path: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.path == path)
}

/// The section path an older address's name lands on. A name nobody knows stays as it
/// is, so it ends on "Page not found" rather than silently somewhere else.
pub fn resolve_legacy(name: Option<&str>) -> &str {
    match name {
        None | Some("") => "general",
        Some(n) if NOT_YET.contains(&n) => "general",
        Some(n) => SECTIONS
            .iter()
            .find(|s| s.path == n || s.aliases.contains(&n))
            .map_or(n, |s| s.path),
    }
}

/// `/orgs/{slug}/settings/{section}`: the section's page, or "Page not found".
#[component]
pub fn SettingsSection() -> impl IntoView {
    let params = use_params_map();
    // Only a change of section renders another page; a change of org keeps it mounted
    // (pages follow the slug themselves).
    let name = Memo::new(move |_| params.read().get("section").unwrap_or_default());
    reactive(move || match find(&name.get()) {
        Some(s) => (s.view)(),
        None => view! { <NotFound/> }.into_any(),
    })
}

const LAST_ORG: &str = "gatehouse.last_org";

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// Remembers the org in use, for `/settings/…` links.
pub fn remember_org(slug: &str) {
    if let Some(st) = storage() {
        let _ = st.set_item(LAST_ORG, slug);
    }
}

/// `/settings[/{section}]` (where `/_admin/_settings/_{section}` lands): the same page of
/// the org used last, or of the first org.
#[component]
pub fn SettingsRedirect() -> impl IntoView {
    let params = use_params_map();
    let s = use_session();
    let navigate = use_navigate();
    Effect::new(move |_| {
        let Some(Ok(orgs)) = s.orgs.get() else { return };
        let name = params.read().get("section");
        let section = resolve_legacy(name.as_deref());
        let last = storage().and_then(|st| st.get_item(LAST_ORG).ok().flatten());
        let to = match last
            .filter(|l| orgs.iter().any(|o| &o.slug == l))
            .or_else(|| orgs.first().map(|o| o.slug.clone()))
        {
            Some(slug) => format!("/orgs/{slug}/settings/{section}"),
            None => "/orgs".into(),
        };
        navigate(
            &to,
            NavigateOptions {
                replace: true,
                ..Default::default()
            },
        );
    });
    view! { <p class="loading">"Loading…"</p> }
}
