//! MCP connectors (health, add, edit, delete) and the MCP endpoint's usage.
use crate::api::{
    self,
    api_keys::{get_usage, list_keys},
    connectors::{create_connector, delete_connector, list_connectors, update_connector},
};
use crate::components::{
    ErrorBox, action_error, input_value, is_admin, loaded, loading, reactive, use_role, use_slug,
    when,
};
use gatehouse_types::{
    ApiKey, CALL_TIMEOUT_MAX_SECS, Connector, CreateConnectorRequest, DEFAULT_CALL_TIMEOUT_SECS,
    DEFAULT_CREDENTIAL_HEADER, DEFAULT_IDLE_TIMEOUT_SECS, HealthStatus, IDLE_TIMEOUT_MAX_SECS,
    ToolIssueKind, UpdateConnectorRequest, UsageRow, default_tool_prefix,
};
use leptos::prelude::*;
use std::collections::{BTreeMap, HashMap};
use wasm_bindgen::JsCast;

/// The organization's MCP endpoint, as clients reach it.
fn mcp_endpoint(slug: &str) -> String {
    let origin = window().location().origin().unwrap_or_default();
    format!("{origin}/mcp/{slug}")
}

/// `None` for an empty (or blank) field.
fn non_empty(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

/// A timeout field: empty is the server's default (`None`). Anything that is not a
/// whole number is sent as 0, which the server refuses naming the field, rather than
/// quietly meaning the default.
fn secs(s: String) -> Option<i64> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.parse().unwrap_or(0))
}

fn secs_text(v: Option<u32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The server's default timeouts (idle, overall): what an empty field means.
type Defaults = Signal<(u64, u64)>;

/// Members see a note instead of pages only admins can use.
fn admins_only(what: &'static str) -> impl IntoView {
    let role = use_role();
    move || {
        role.get().filter(|r| !is_admin(Some(*r))).map(|_| {
            view! { <p class="muted" role="note">"Only owners and admins can "{what}"."</p> }
        })
    }
}

/// The URL of the MCP endpoint with a copy button.
#[component]
fn EndpointUrl(slug: Memo<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy_failed = RwSignal::new(false);
    let copy = move |_| {
        let p = window()
            .navigator()
            .clipboard()
            .write_text(&mcp_endpoint(&slug.get_untracked()));
        wasm_bindgen_futures::spawn_local(async move {
            let ok = wasm_bindgen_futures::JsFuture::from(p).await.is_ok();
            copied.set(ok);
            copy_failed.set(!ok);
        });
    };
    view! {
        <div class="secret">
            <code id="mcp-endpoint">{move || mcp_endpoint(&slug.get())}</code>
            <button type="button" on:click=copy>
                {move || if copied.get() { "Copied" } else { "Copy endpoint URL" }}
            </button>
        </div>
        {move || copy_failed.get().then(|| view! {
            <p class="error" role="alert">"The browser did not allow copying. Select the address and copy it by hand."</p>
        })}
    }
}

/// The fields the add and edit forms share.
#[derive(Clone, Copy)]
struct Fields {
    name: RwSignal<String>,
    url: RwSignal<String>,
    description: RwSignal<String>,
    tool_prefix: RwSignal<String>,
    credential_header: RwSignal<String>,
    credential: RwSignal<String>,
    remove_credential: RwSignal<bool>,
    enabled: RwSignal<bool>,
    idle_timeout: RwSignal<String>,
    call_timeout: RwSignal<String>,
}

impl Fields {
    fn new() -> Self {
        Self {
            name: RwSignal::new(String::new()),
            url: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            tool_prefix: RwSignal::new(String::new()),
            credential_header: RwSignal::new(String::new()),
            credential: RwSignal::new(String::new()),
            remove_credential: RwSignal::new(false),
            enabled: RwSignal::new(true),
            idle_timeout: RwSignal::new(String::new()),
            call_timeout: RwSignal::new(String::new()),
        }
    }

    fn from_connector(c: &Connector) -> Self {
        let f = Self::new();
        f.name.set(c.name.clone());
        f.url.set(c.url.clone());
        f.description.set(c.description.clone());
        f.tool_prefix.set(c.tool_prefix.clone());
        f.credential_header
            .set(c.credential_header.clone().unwrap_or_default());
        f.enabled.set(c.enabled);
        f.idle_timeout.set(secs_text(c.idle_timeout_secs));
        f.call_timeout.set(secs_text(c.call_timeout_secs));
        f
    }

    fn clear(&self) {
        self.name.set(String::new());
        self.url.set(String::new());
        self.description.set(String::new());
        self.tool_prefix.set(String::new());
        self.credential_header.set(String::new());
        self.credential.set(String::new());
        self.remove_credential.set(false);
        self.enabled.set(true);
        self.idle_timeout.set(String::new());
        self.call_timeout.set(String::new());
    }

    fn create_request(&self) -> CreateConnectorRequest {
        CreateConnectorRequest {
            name: self.name.get_untracked(),
            url: self.url.get_untracked().trim().to_string(),
            description: non_empty(self.description.get_untracked()),
            tool_prefix: non_empty(self.tool_prefix.get_untracked()).map(|p| p.trim().to_string()),
            credential_header: non_empty(self.credential_header.get_untracked())
                .map(|h| h.trim().to_string()),
            credential: non_empty(self.credential.get_untracked()),
            enabled: Some(self.enabled.get_untracked()),
            idle_timeout_secs: secs(self.idle_timeout.get_untracked()),
            call_timeout_secs: secs(self.call_timeout.get_untracked()),
        }
    }

    /// Only what changed, so an unchanged URL is not checked again and an empty
    /// credential keeps the stored one.
    fn update_request(&self, c: &Connector) -> UpdateConnectorRequest {
        let name = self.name.get_untracked();
        let url = self.url.get_untracked().trim().to_string();
        let description = self.description.get_untracked();
        let prefix = self.tool_prefix.get_untracked().trim().to_string();
        let header = self.credential_header.get_untracked().trim().to_string();
        let credential = self.credential.get_untracked();
        let enabled = self.enabled.get_untracked();
        // An emptied field is sent as null: back to the server's default.
        let idle = secs(self.idle_timeout.get_untracked());
        let call = secs(self.call_timeout.get_untracked());
        UpdateConnectorRequest {
            name: (name.trim() != c.name).then_some(name),
            url: (url != c.url).then_some(url),
            description: (description.trim() != c.description).then_some(description),
            tool_prefix: (prefix != c.tool_prefix).then_some(prefix),
            credential_header: (!header.is_empty()
                && Some(header.as_str()) != c.credential_header.as_deref())
            .then_some(header),
            credential: if self.remove_credential.get_untracked() {
                Some(String::new())
            } else {
                non_empty(credential)
            },
            enabled: (enabled != c.enabled).then_some(enabled),
            idle_timeout_secs: (idle != c.idle_timeout_secs.map(i64::from)).then_some(idle),
            call_timeout_secs: (call != c.call_timeout_secs.map(i64::from)).then_some(call),
        }
    }
}

/// The form fields; `p` keeps the ids of the add and edit forms apart. `editing` is
/// `Some(has_credential)` when a connector is being edited.
fn fields_view(
    f: Fields,
    p: &'static str,
    editing: Option<bool>,
    defaults: Defaults,
) -> impl IntoView {
    let id = move |s: &str| format!("{p}-{s}");
    let has_credential = editing.unwrap_or(false);
    let prefix_help = match editing {
        None => view! {
            <p id=id("prefix-help") class="muted help">
                {move || {
                    let d = default_tool_prefix(&f.name.get());
                    if d.is_empty() {
                        view! { "Leave empty to use a prefix made from the name (this name has no letters or digits, so one like "<code>"mcp_1a2b3c4d__"</code>" is made from the connector's id). " }.into_any()
                    } else {
                        view! { "Leave empty to use "<code>{d}</code>", made from the name. " }.into_any()
                    }
                }}
                "Put in front of this connector's tool names on the MCP endpoint, so tools of different servers do not clash. Lowercase letters, digits and _, at most 32."
            </p>
        }
        .into_any(),
        Some(_) => view! {
            <p id=id("prefix-help") class="muted help">
                "Put in front of this connector's tool names on the MCP endpoint. Empty means the upstream names are used as they are. Changing it renames the tools clients see. Lowercase letters, digits and _, at most 32."
            </p>
        }
        .into_any(),
    };
    let credential_help = match editing {
        None => {
            "Optional, e.g. Bearer ghp_…, sent to the upstream server. Stored encrypted; never shown again."
        }
        Some(_) if has_credential => {
            "A credential is stored: leave empty to keep the current one, or type a new value to replace it. Stored encrypted; never shown again."
        }
        Some(_) => {
            "No credential is stored: leave empty to keep it that way. Stored encrypted; never shown again."
        }
    };
    view! {
        <label for=id("name")>"Name"</label>
        <input id=id("name") name="name" type="text" required maxlength="64" autocomplete="off"
            placeholder="e.g. GitHub"
            prop:value=move || f.name.get() on:input=move |ev| f.name.set(input_value(&ev))/>

        <label for=id("url")>"Upstream URL"</label>
        <input id=id("url") name="url" type="url" required maxlength="2048" autocomplete="off"
            placeholder="https://mcp.example.com/mcp" aria-describedby=id("url-help")
            prop:value=move || f.url.get() on:input=move |ev| f.url.set(input_value(&ev))/>
        <p id=id("url-help") class="muted help">
            "The upstream MCP server's Streamable HTTP endpoint, on a public address (http:// or https://)."
            {editing.is_some().then_some(" Changing it resets the health to unknown until the next check.")}
        </p>

        <label for=id("description")>"Description "<span class="muted">"(optional)"</span></label>
        <textarea id=id("description") name="description" rows="2" maxlength="1000"
            prop:value=move || f.description.get()
            on:input=move |ev| f.description.set(input_value(&ev))></textarea>

        <label for=id("prefix")>"Tool prefix "<span class="muted">"(optional)"</span></label>
        <input id=id("prefix") name="tool_prefix" type="text" maxlength="32" autocomplete="off"
            pattern="[a-z0-9_]*" aria-describedby=id("prefix-help")
            prop:value=move || f.tool_prefix.get()
            on:input=move |ev| f.tool_prefix.set(input_value(&ev))/>
        {prefix_help}

        <label for=id("credential")>"Upstream credential (header value) "<span class="muted">"(optional)"</span></label>
        <input id=id("credential") name="credential" type="password" autocomplete="new-password"
            spellcheck="false" aria-describedby=id("credential-help")
            placeholder=if has_credential { "•••••••• (stored)" } else { "" }
            disabled=move || f.remove_credential.get()
            prop:value=move || f.credential.get()
            on:input=move |ev| f.credential.set(input_value(&ev))/>
        <p id=id("credential-help") class="muted help">{credential_help}</p>
        {has_credential.then(|| view! {
            <div class="checkbox">
                <input id=id("remove-credential") type="checkbox"
                    prop:checked=move || f.remove_credential.get()
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        f.remove_credential.set(on);
                        if on {
                            f.credential.set(String::new());
                        }
                    }/>
                <label for=id("remove-credential")>"Remove the stored credential"</label>
            </div>
        })}

        <label for=id("header")>"Credential header "<span class="muted">"(optional)"</span></label>
        <input id=id("header") name="credential_header" type="text" maxlength="128" autocomplete="off"
            spellcheck="false" placeholder=DEFAULT_CREDENTIAL_HEADER aria-describedby=id("header-help")
            prop:value=move || f.credential_header.get()
            on:input=move |ev| f.credential_header.set(input_value(&ev))/>
        <p id=id("header-help") class="muted help">
            "The HTTP header the credential is sent in. Leave empty for "<code>{DEFAULT_CREDENTIAL_HEADER}</code>
            {if editing.is_some() { " (or to keep the current one)." } else { "." }}
            " Used only when a credential is stored."
        </p>

        <div class="checkbox">
            <input id=id("enabled") type="checkbox" aria-describedby=id("enabled-help")
                prop:checked=move || f.enabled.get()
                on:change=move |ev| f.enabled.set(event_target_checked(&ev))/>
            <label for=id("enabled")>"Enabled"</label>
        </div>
        <p id=id("enabled-help") class="muted help">
            "A disabled connector keeps its settings, but its tools are not offered on the MCP endpoint."
        </p>

        <label for=id("idle-timeout")>"Idle timeout, seconds "<span class="muted">"(optional)"</span></label>
        <input id=id("idle-timeout") name="idle_timeout_secs" type="number" min="1"
            max=IDLE_TIMEOUT_MAX_SECS step="1" inputmode="numeric" aria-describedby=id("timeout-help")
            placeholder=move || defaults.get().0.to_string()
            prop:value=move || f.idle_timeout.get()
            on:input=move |ev| f.idle_timeout.set(input_value(&ev))/>

        <label for=id("call-timeout")>"Overall timeout, seconds "<span class="muted">"(optional)"</span></label>
        <input id=id("call-timeout") name="call_timeout_secs" type="number" min="1"
            max=CALL_TIMEOUT_MAX_SECS step="1" inputmode="numeric" aria-describedby=id("timeout-help")
            placeholder=move || defaults.get().1.to_string()
            prop:value=move || f.call_timeout.get()
            on:input=move |ev| f.call_timeout.set(input_value(&ev))/>
        <p id=id("timeout-help") class="muted help">
            "A tool call fails after the idle timeout without any data from the upstream server (progress notifications count), or after the overall timeout in all. "
            "Leave empty for the server's defaults, shown greyed. Idle: 1 to 3600, at most the overall timeout; overall: 1 to 86400."
        </p>
    }
}

#[component]
pub fn ConnectorsPage() -> impl IntoView {
    let slug = use_slug();
    let role = use_role();
    let reload = RwSignal::new(0u32);
    let connectors = api::resource(move || {
        reload.track();
        list_connectors(slug.get())
    });
    let editing: RwSignal<Option<Connector>> = RwSignal::new(None);
    // The add form shows the server's defaults; every connector carries them, and the
    // built-in ones stand in until there is one.
    let defaults = Memo::new(move |_| {
        connectors
            .get()
            .and_then(Result::ok)
            .and_then(|l| l.first().map(|c| c.timeouts))
            .map_or(
                (DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_CALL_TIMEOUT_SECS),
                |t| (t.idle.default_secs, t.overall.default_secs),
            )
    });
    // The last change, announced above the list.
    let notice: RwSignal<Option<String>> = RwSignal::new(None);
    // Owned by the page, so what was typed survives editing another connector meanwhile.
    let add_fields = Fields::new();
    let hidden = move || role.get().is_some_and(|r| !is_admin(Some(r)));
    view! {
        <h1>"Connectors"</h1>
        <p class="muted">
            "Connectors are the upstream MCP servers whose tools this organization offers on its MCP endpoint. "
            "MCP clients connect to this address with an API key or through OAuth:"
        </p>
        <EndpointUrl slug=slug/>
        {admins_only("manage connectors")}
        <Show when=move || !hidden()>
            {move || notice.get().map(|n| view! {
                <p class="success" role="status">{n}</p>
            })}
            {move || editing.get().map(|c| view! {
                <EditConnector connector=c slug=slug editing=editing reload=reload notice=notice/>
            })}
            <section class="card">
                <div class="card-head">
                    <h2>"Configured connectors"</h2>
                    <button type="button" on:click=move |_| reload.update(|n| *n += 1)
                        disabled=move || connectors.get().is_none()>"Refresh health"</button>
                </div>
                <p class="muted help">"Health is checked in the background about once a minute. Only enabled, healthy connectors offer their tools on the MCP endpoint."</p>
                {loaded(connectors, move |list| {
                    if list.is_empty() {
                        return view! {
                            <p class="muted">
                                "No connectors yet. Add the URL of an MCP server (Streamable HTTP) below; its tools then appear on this organization's MCP endpoint."
                            </p>
                        }.into_any();
                    }
                    view! {
                        <div class="table-scroll">
                            <table>
                                <thead><tr>
                                    <th>"Name"</th><th>"URL"</th><th>"Tool prefix"</th><th>"Enabled"</th>
                                    <th>"Health"</th><th>"Tools"</th><th>"Last checked"</th>
                                    <th><span class="sr-only">"Actions"</span></th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|c| view! {
                                        <ConnectorRow connector=c slug=slug editing=editing reload=reload notice=notice/>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                })}
            </section>
            <Show when=move || editing.with(Option::is_none)>
                <AddConnector slug=slug fields=add_fields reload=reload notice=notice defaults=defaults.into()/>
            </Show>
        </Show>
    }
}

#[component]
fn AddConnector(
    slug: Memo<String>,
    fields: Fields,
    reload: RwSignal<u32>,
    notice: RwSignal<Option<String>>,
    defaults: Defaults,
) -> impl IntoView {
    let f = fields;
    let create = api::action(|(slug, req): &(String, CreateConnectorRequest)| {
        create_connector(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(c)) = create.value().get() {
            f.clear();
            notice.set(Some(format!(
                "Connector “{}” added. Its tools appear on the MCP endpoint after the first successful health check, within about a minute.",
                c.name
            )));
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <section class="card">
            <h2>"Add a connector"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                notice.set(None);
                create.dispatch((slug.get_untracked(), f.create_request()));
            }>
                {fields_view(f, "connector", None, defaults)}
                {action_error(create.value())}
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Adding…" } else { "Add connector" }}
                </button>
            </form>
        </section>
    }
}

#[component]
fn EditConnector(
    connector: Connector,
    slug: Memo<String>,
    editing: RwSignal<Option<Connector>>,
    reload: RwSignal<u32>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let f = Fields::from_connector(&connector);
    let save = api::action(
        |(slug, id, req): &(String, String, UpdateConnectorRequest)| {
            update_connector(slug.clone(), id.clone(), req.clone())
        },
    );
    Effect::new(move |_| {
        if let Some(Ok(c)) = save.value().get() {
            notice.set(Some(format!("Connector “{}” saved.", c.name)));
            reload.update(|n| *n += 1);
            f.credential.set(String::new());
            // Last: this closes (and disposes) the form.
            editing.set(None);
        }
    });
    let title = connector.name.clone();
    let t = connector.timeouts;
    let fields = fields_view(
        f,
        "edit-connector",
        Some(connector.has_credential),
        Signal::stored((t.idle.default_secs, t.overall.default_secs)),
    );
    // Bring the form into view and put the cursor in it, for keyboard users too.
    Effect::new(move |_| {
        if let Some(el) = document().get_element_by_id("edit-connector-name") {
            el.scroll_into_view();
            if let Ok(input) = el.dyn_into::<web_sys::HtmlElement>() {
                let _ = input.focus();
            }
        }
    });
    let id = connector.id.to_string();
    view! {
        <section class="card" aria-labelledby="edit-connector-title">
            <h2 id="edit-connector-title">"Edit connector “"{title}"”"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                notice.set(None);
                save.dispatch((slug.get_untracked(), id.clone(), f.update_request(&connector)));
            }>
                {fields}
                {action_error(save.value())}
                <div class="form-buttons">
                    <button type="submit" class="primary" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save connector" }}
                    </button>
                    <button type="button" on:click=move |_| editing.set(None)>"Cancel editing"</button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn ConnectorRow(
    connector: Connector,
    slug: Memo<String>,
    editing: RwSignal<Option<Connector>>,
    reload: RwSignal<u32>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let remove =
        api::action(|(slug, id): &(String, String)| delete_connector(slug.clone(), id.clone()));
    let id = connector.id.to_string();
    let name = connector.name.clone();
    {
        let (id, name) = (id.clone(), name.clone());
        Effect::new(move |_| {
            if let Some(Ok(())) = remove.value().get() {
                if editing.with_untracked(|e| e.as_ref().is_some_and(|c| c.id.to_string() == id)) {
                    editing.set(None);
                }
                notice.set(Some(format!("Connector “{name}” deleted.")));
                reload.update(|n| *n += 1);
            }
        });
    }
    let status = connector.health.status;
    let health_error = connector
        .health
        .error
        .clone()
        .filter(|_| status == HealthStatus::Unhealthy);
    let error_id = format!("health-error-{}", connector.id);
    let c_edit = connector.clone();
    let description = non_empty(connector.description.clone());
    view! {
        <tr>
            <td>
                <strong>{connector.name.clone()}</strong>
                {description.map(|d| view! { <br/><span class="muted help">{d}</span> })}
            </td>
            <td class="wrap"><code>{connector.url.clone()}</code></td>
            <td>{if connector.tool_prefix.is_empty() {
                view! { <span class="muted">"none"</span> }.into_any()
            } else {
                view! { <code>{connector.tool_prefix.clone()}</code> }.into_any()
            }}</td>
            <td>{if connector.enabled { "Yes" } else { "No" }}</td>
            <td class="wrap">
                <span class=format!("badge {}", status.as_str())
                    title=health_error.clone()
                    aria-describedby=health_error.as_ref().map(|_| error_id.clone())>
                    {status.as_str()}
                </span>
                {health_error.map(|e| view! {
                    <div class="health-error" id=error_id.clone()>"Last error: "{e}</div>
                })}
            </td>
            <td class="wrap">
                {connector.tool_count}
                {tool_issues(&connector)}
            </td>
            <td>{connector.health.checked_at.as_ref().map(when).unwrap_or_else(|| "not yet".into())}</td>
            <td class="actions">
                <Show when=move || confirming.get() fallback=move || {
                    let c = c_edit.clone();
                    let name = c.name.clone();
                    view! {
                        <button type="button" on:click=move |_| {
                            notice.set(None);
                            editing.set(Some(c.clone()));
                        }>"Edit"<span class="sr-only">" "{name.clone()}</span></button>
                        <button type="button" class="danger" on:click=move |_| confirming.set(true)>
                            "Delete"<span class="sr-only">" "{name.clone()}</span>
                        </button>
                    }
                }>
                    <span class="confirm" role="group" aria-label="Confirm deletion">
                        "Delete "{name.clone()}"? Its tools disappear from the MCP endpoint at once. "<br/>
                        <button type="button" class="danger" disabled=move || remove.pending().get() on:click={
                            let id = id.clone();
                            move |_| { remove.dispatch((slug.get_untracked(), id.clone())); }
                        }>{move || if remove.pending().get() { "Deleting…" } else { "Yes, delete" }}</button>
                        <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </span>
                </Show>
                {action_error(remove.value())}
            </td>
        </tr>
    }
}

/// The connector's tools that clients do not see under their own name: renamed to a
/// name MCP clients accept, or left out (name taken, or none).
fn tool_issues(c: &Connector) -> Option<AnyView> {
    if c.tool_issues.is_empty() {
        return None;
    }
    let left_out = c
        .tool_issues
        .iter()
        .filter(|i| i.kind == ToolIssueKind::LeftOut)
        .count();
    let renamed = c.tool_issues.len() - left_out;
    let summary = match (renamed, left_out) {
        (r, 0) => format!("{r} renamed"),
        (0, l) => format!("{l} left out"),
        (r, l) => format!("{r} renamed, {l} left out"),
    };
    let items = c
        .tool_issues
        .iter()
        .map(|i| i.message.clone())
        .collect::<Vec<_>>();
    Some(
        view! {
            <details class="tool-issues">
                <summary>{summary}</summary>
                <ul>{items.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
            </details>
        }
        .into_any(),
    )
}

/// One row of the usage table with names instead of ids.
struct UsageLine {
    day: String,
    key: String,
    connector: String,
    calls: i64,
    errors: i64,
}

#[component]
pub fn UsagePage() -> impl IntoView {
    let slug = use_slug();
    let role = use_role();
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let applied = RwSignal::new((String::new(), String::new()));
    let reload = RwSignal::new(0u32);
    let usage = api::resource(move || {
        reload.track();
        let (f, t) = applied.get();
        get_usage(slug.get(), f, t)
    });
    let keys = api::resource(move || list_keys(slug.get()));
    let connectors = api::resource(move || list_connectors(slug.get()));
    let hidden = move || role.get().is_some_and(|r| !is_admin(Some(r)));
    let period = move || {
        let (f, t) = applied.get();
        match (f.is_empty(), t.is_empty()) {
            (true, true) => "the last 30 days".to_string(),
            (false, true) => format!("{f} to today"),
            (true, false) => format!("the 30 days up to {t}"),
            (false, false) => format!("{f} to {t}"),
        }
    };
    view! {
        <h1>"Usage"</h1>
        <p class="muted">
            "Calls to this organization's MCP endpoint per day (UTC), API key and connector. New calls appear within a few seconds."
        </p>
        {admins_only("see usage")}
        <Show when=move || !hidden()>
            <section class="card">
                <h2>"Period"</h2>
                <form class="inline filters" on:submit=move |ev| {
                    ev.prevent_default();
                    applied.set((from.get_untracked(), to.get_untracked()));
                    reload.update(|n| *n += 1);
                }>
                    <div class="field">
                        <label for="usage-from">"From"</label>
                        <input id="usage-from" name="from" type="date" aria-describedby="usage-dates-help"
                            prop:value=move || from.get() on:input=move |ev| from.set(input_value(&ev))/>
                    </div>
                    <div class="field">
                        <label for="usage-to">"To"</label>
                        <input id="usage-to" name="to" type="date" aria-describedby="usage-dates-help"
                            prop:value=move || to.get() on:input=move |ev| to.set(input_value(&ev))/>
                    </div>
                    <button type="submit" class="primary" disabled=move || usage.get().is_none()>"Apply filters"</button>
                    <button type="button" on:click=move |_| {
                        from.set(String::new());
                        to.set(String::new());
                        applied.set((String::new(), String::new()));
                    }>"Clear"</button>
                </form>
                <p id="usage-dates-help" class="muted help">
                    "Both days are included (UTC). Leave From empty for 30 days before To; leave To empty for today."
                </p>
            </section>
            <section class="card">
                <h2>"Calls in "{period}</h2>
                {reactive(move || {
                    // The names come with the rows: wait for all three lists.
                    let (Some(rows), Some(keys), Some(connectors)) = (usage.get(), keys.get(), connectors.get()) else {
                        return loading();
                    };
                    let rows = match rows {
                        Ok(r) => r,
                        Err(e) => return view! { <ErrorBox err=e/> }.into_any(),
                    };
                    if rows.is_empty() {
                        return view! {
                            <p class="muted">
                                "No MCP calls in this period. Usage appears here once clients call this organization's MCP endpoint "
                                <code>{mcp_endpoint(&slug.get_untracked())}</code>
                                " with an API key or an OAuth token. Add connectors on the Connectors page and keys on the API keys page."
                            </p>
                        }.into_any();
                    }
                    let name_errors = [keys.as_ref().err(), connectors.as_ref().err()]
                        .into_iter()
                        .flatten()
                        .cloned()
                        .map(|e| view! { <ErrorBox err=e/> })
                        .collect_view();
                    usage_table(rows, keys.unwrap_or_default(), connectors.unwrap_or_default(), name_errors).into_any()
                })}
            </section>
        </Show>
    }
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

fn usage_table(
    rows: Vec<UsageRow>,
    keys: Vec<ApiKey>,
    connectors: Vec<Connector>,
    name_errors: impl IntoView,
) -> impl IntoView {
    let keys: HashMap<String, String> = keys
        .into_iter()
        .map(|k| (k.id.to_string(), k.name))
        .collect();
    let connectors: HashMap<String, String> = connectors
        .into_iter()
        .map(|c| (c.id.to_string(), c.name))
        .collect();
    let mut lines: Vec<UsageLine> =
        rows.into_iter()
            .map(|r| {
                let kid = r.api_key_id.to_string();
                let cid = r.connector_id.to_string();
                UsageLine {
                    day: r.day,
                    key: keys.get(&kid).cloned().unwrap_or_else(|| {
                        format!("OAuth grant or removed key {}", short_id(&kid))
                    }),
                    connector: connectors
                        .get(&cid)
                        .cloned()
                        .unwrap_or_else(|| format!("Deleted connector {}", short_id(&cid))),
                    calls: r.calls,
                    errors: r.errors,
                }
            })
            .collect();
    // Newest day first; within a day, busiest first.
    lines.sort_by(|a, b| b.day.cmp(&a.day).then(b.calls.cmp(&a.calls)));
    let total_calls: i64 = lines.iter().map(|l| l.calls).sum();
    let total_errors: i64 = lines.iter().map(|l| l.errors).sum();
    let days = lines
        .iter()
        .map(|l| l.day.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut by_connector: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for l in &lines {
        let e = by_connector.entry(l.connector.clone()).or_default();
        e.0 += l.calls;
        e.1 += l.errors;
    }
    let summary = format!(
        "{total_calls} call{} ({total_errors} failed upstream) on {days} day{}.",
        if total_calls == 1 { "" } else { "s" },
        if days == 1 { "" } else { "s" },
    );
    view! {
        {name_errors}
        <p>{summary}</p>
        <h3>"By connector"</h3>
        <table>
            <thead><tr><th>"Connector"</th><th class="num">"Calls"</th><th class="num">"Failed"</th></tr></thead>
            <tbody>
                {by_connector.into_iter().map(|(name, (calls, errors))| view! {
                    <tr><td>{name}</td><td class="num">{calls}</td><td class="num">{errors}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
        <h3>"Per day"</h3>
        <div class="table-scroll">
            <table>
                <thead><tr>
                    <th>"Day (UTC)"</th><th>"API key"</th><th>"Connector"</th>
                    <th class="num">"Calls"</th><th class="num">"Failed"</th>
                </tr></thead>
                <tbody>
                    {lines.into_iter().map(|l| view! {
                        <tr>
                            <td>{l.day}</td><td>{l.key}</td><td>{l.connector}</td>
                            <td class="num">{l.calls}</td><td class="num">{l.errors}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
                <tfoot><tr>
                    <th scope="row" colspan="3">"Total"</th>
                    <td class="num"><strong>{total_calls}</strong></td>
                    <td class="num"><strong>{total_errors}</strong></td>
                </tr></tfoot>
            </table>
        </div>
    }
}
