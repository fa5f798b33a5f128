//! Organizations: the list, "create organization", and the General settings page.
use crate::api;
use crate::components::{action_error, input_value, loaded, reactive, use_session, use_slug};
use gatehouse_types::{CreateOrgRequest, Organization, UpdateOrgRequest};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

fn org_row(o: Organization) -> impl IntoView {
    let href = format!("/orgs/{}/settings/general", o.slug);
    view! {
        <tr>
            <td><a href=href>{o.name}</a></td>
            <td><code>{o.slug}</code></td>
            <td>{o.membership.role.as_str()}</td>
        </tr>
    }
}

#[component]
pub fn OrgsPage() -> impl IntoView {
    let orgs = api::resource(api::orgs::list_orgs);
    let name = RwSignal::new(String::new());
    let slug = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let create = api::action(|req: &CreateOrgRequest| api::orgs::create_org(req.clone()));
    let navigate = use_navigate();
    let session = use_session();
    Effect::new(move |_| {
        if let Some(Ok(org)) = create.value().get() {
            session.orgs_version.update(|n| *n += 1);
            navigate(
                &format!("/orgs/{}/settings/general", org.slug),
                Default::default(),
            );
        }
    });
    view! {
        <h1>"Organizations"</h1>
        <section class="card">
            <h2>"Your organizations"</h2>
            {loaded(orgs, move |list| {
                if list.is_empty() {
                    return view! {
                        <p class="muted">"You do not belong to any organization yet. Create one below."</p>
                    }.into_any();
                }
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Slug"</th><th>"Your role"</th></tr></thead>
                        <tbody>{list.into_iter().map(org_row).collect_view()}</tbody>
                    </table>
                }.into_any()
            })}
        </section>
        <section class="card">
            <h2>"Create an organization"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let s = slug.get_untracked();
                let d = description.get_untracked();
                create.dispatch(CreateOrgRequest {
                    name: name.get_untracked(),
                    slug: (!s.trim().is_empty()).then_some(s),
                    description: (!d.trim().is_empty()).then_some(d),
                });
            }>
                <label for="org-name">"Name"</label>
                <input id="org-name" name="name" type="text" required
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <label for="org-slug">"Slug " <span class="muted">"(optional; derived from the name, cannot be changed later)"</span></label>
                <input id="org-slug" name="slug" type="text"
                    prop:value=move || slug.get() on:input=move |ev| slug.set(input_value(&ev))/>
                <label for="org-description">"Description " <span class="muted">"(optional)"</span></label>
                <textarea id="org-description" name="description" rows="2"
                    prop:value=move || description.get() on:input=move |ev| description.set(input_value(&ev))></textarea>
                {action_error(create.value())}
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create organization"</button>
            </form>
        </section>
    }
}

#[component]
pub fn GeneralSettings() -> impl IntoView {
    let slug = use_slug();
    view! {
        <h1>"General"</h1>
        // A new resource per org, so switching orgs shows "Loading…" rather than the
        // last org's form (whose Save would then go to the new org).
        {reactive(move || {
            let slug = slug.get();
            let org = api::resource(move || api::orgs::get_org(slug.clone()));
            loaded(org, |o| view! { <GeneralForm org=o/> }.into_any()).into_any()
        })}
    }
}

#[component]
fn GeneralForm(org: Organization) -> impl IntoView {
    let slug = org.slug.clone();
    let name = RwSignal::new(org.name.clone());
    let description = RwSignal::new(
        org.details
            .as_ref()
            .map(|d| d.description.clone())
            .unwrap_or_default(),
    );
    let save = api::action(|(slug, req): &(String, UpdateOrgRequest)| {
        api::orgs::update_org(slug.clone(), req.clone())
    });
    let slug_for_submit = slug.clone();
    let session = use_session();
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            session.orgs_version.update(|n| *n += 1);
        }
    });
    let admin = org.membership.role.can_manage();
    let mcp_url = format!(
        "{}/mcp/{}",
        window().location().origin().unwrap_or_default(),
        slug
    );
    let members_href = format!("/orgs/{slug}/settings/members");
    view! {
        {(!admin).then(|| view! {
            <p class="muted">"Only owners and admins can change these settings. "
                <a href=members_href.clone()>"Leave this organization"</a></p>
        })}
        <section class="card">
            <form on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch((slug_for_submit.clone(), UpdateOrgRequest {
                    name: Some(name.get_untracked()),
                    description: Some(description.get_untracked()),
                    slug: None,
                }));
            }>
                <label for="org-name">"Name"</label>
                <input id="org-name" name="name" type="text" required readonly=!admin
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <label for="org-slug">"Slug"</label>
                <input id="org-slug" name="slug" type="text" readonly=true value=slug aria-describedby="slug-help"/>
                <p id="slug-help" class="muted help">"The slug is part of your MCP and API addresses. To change it, contact support."</p>
                <label for="org-mcp">"MCP endpoint"</label>
                <input id="org-mcp" type="text" readonly=true value=mcp_url/>
                <label for="org-description">"Description"</label>
                <textarea id="org-description" name="description" rows="3" readonly=!admin
                    prop:value=move || description.get() on:input=move |ev| description.set(input_value(&ev))></textarea>
                {action_error(save.value())}
                {move || matches!(save.value().get(), Some(Ok(_))).then(|| view! { <p class="success" role="status">"Saved."</p> })}
                {admin.then(|| view! {
                    <button type="submit" class="primary" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                })}
            </form>
        </section>
    }
}
