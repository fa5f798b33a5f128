//! Members and invitations: list, roles, invite, revoke, remove, transfer ownership; accepting an invitation.
use crate::api::{
    self, ApiError,
    members::{
        accept_invitation, create_invitation, list_invitations, list_members, lookup_invitation,
        remove_member, revoke_invitation, transfer_ownership, update_role,
    },
};
use crate::components::{
    ErrorBox, action_error, input_value, is_admin, loaded, reactive, use_role, use_session,
    use_slug, when,
};
use crate::pages::auth::AuthCard;
use gatehouse_types::{
    AcceptInvitationRequest, CreateInvitationRequest, Invitation, InvitationPreview,
    InvitationStatus, Member, Organization, Role, TransferOwnershipRequest, User,
    validation::PASSWORD_MIN_CHARS,
};
use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

// ---- Small helpers ------------------------------------------------------------------

/// The name to show for a member: their display name, else their email.
fn member_label(m: &Member) -> String {
    if m.display_name.trim().is_empty() {
        m.email.clone()
    } else {
        m.display_name.clone()
    }
}

fn status_word(s: InvitationStatus) -> &'static str {
    match s {
        InvitationStatus::Pending => "pending",
        InvitationStatus::Accepted => "accepted",
        InvitationStatus::Revoked => "revoked",
        InvitationStatus::Expired => "expired",
    }
}

/// Moves keyboard focus to a button when it appears (the "Cancel" of an inline
/// confirmation, which replaces the button that was just pressed).
fn focus_on_show(r: NodeRef<html::Button>) {
    Effect::new(move |_| {
        if let Some(el) = r.get() {
            let _ = el.focus();
        }
    });
}

/// A role picker with the two roles that can be given directly.
fn role_options(selected: Role) -> impl IntoView {
    view! {
        <option value="member" selected=selected == Role::Member>"Member"</option>
        <option value="admin" selected=selected == Role::Admin>"Admin"</option>
    }
}

fn parse_role(ev: &leptos::ev::Event) -> Role {
    match Role::parse(&input_value(ev)) {
        Some(Role::Admin) => Role::Admin,
        _ => Role::Member,
    }
}

// ---- Members page -------------------------------------------------------------------

#[component]
pub fn MembersPage() -> impl IntoView {
    let session = use_session();
    let slug = use_slug();
    let role_now = use_role();
    // Keep the last known role of this org while the org list reloads (after a
    // transfer), so the page is not torn down and rebuilt in between.
    let known = Memo::new(move |prev: Option<&(String, Option<Role>)>| {
        let s = slug.get();
        match (role_now.get(), prev) {
            (None, Some((ps, pr))) if *ps == s => (s, *pr),
            (r, _) => (s, r),
        }
    });
    let role = Signal::derive(move || known.get().1);
    let admin = Memo::new(move |_| role.get().map(|r| is_admin(Some(r))));
    let notice: RwSignal<Option<String>> = RwSignal::new(None);
    // A message about another org must not linger after switching.
    Effect::new(move |_| {
        slug.track();
        notice.set(None);
    });
    view! {
        <h1>"Members"</h1>
        <div role="status" aria-live="polite">
            {move || notice.get().map(|n| view! {
                <p class="success notice">
                    {n}
                    <button type="button" class="link" on:click=move |_| notice.set(None)>"Dismiss"</button>
                </p>
            })}
        </div>
        {move || match admin.get() {
            Some(true) => view! { <ManageMembers role=role notice=notice/> }.into_any(),
            Some(false) => view! {
                <p class="muted">
                    "Only owners and admins can see the member list, change roles and invite people. "
                    "Ask an admin of this organization if you need someone added."
                </p>
                <LeaveSection role=role/>
            }.into_any(),
            None => match session.orgs.get() {
                Some(Err(e)) => view! { <ErrorBox err=e/> }.into_any(),
                Some(Ok(_)) => view! {
                    <p class="error" role="alert">
                        "You are not a member of this organization, or it does not exist. "
                        <a href="/orgs">"Go to your organizations"</a>
                    </p>
                }.into_any(),
                None => view! { <p class="loading">"Loading…"</p> }.into_any(),
            },
        }}
    }
}

/// Everything owners and admins see.
#[component]
fn ManageMembers(role: Signal<Option<Role>>, notice: RwSignal<Option<String>>) -> impl IntoView {
    let slug = use_slug();
    let session = use_session();
    let reload = RwSignal::new(0u32);
    let reload_invites = RwSignal::new(0u32);
    let members = api::resource(move || {
        reload.track();
        list_members(slug.get())
    });
    let is_owner = Memo::new(move |_| role.get() == Some(Role::Owner));
    view! {
        <section class="card">
            <h2>"People in this organization"</h2>
            {loaded(members, move |list| {
                if list.is_empty() {
                    return view! {
                        <p class="muted">"No members yet. Invite someone below."</p>
                    }.into_any();
                }
                let me = session.user.get_untracked().id;
                let s = slug.get_untracked();
                view! {
                    <table>
                        <thead><tr>
                            <th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Joined"</th>
                            <th><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|m| {
                                let is_me = m.user_id == me;
                                view! { <MemberRow member=m slug=s.clone() is_me=is_me reload=reload notice=notice/> }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </section>
        <InviteForm reload_invites=reload_invites/>
        <InvitationList reload=reload_invites notice=notice/>
        {move || is_owner.get().then(|| view! {
            <TransferOwnership members=members reload=reload notice=notice/>
        })}
        <LeaveSection role=role/>
    }
}

#[component]
fn MemberRow(
    member: Member,
    slug: String,
    is_me: bool,
    reload: RwSignal<u32>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let label = member_label(&member);
    let id = member.user_id.to_string();
    let current = member.role;
    let email = member.email.clone();

    // Role change: pick, then "Save role".
    let chosen = RwSignal::new(current);
    let save = api::action(|(slug, id, role): &(String, String, Role)| {
        update_role(slug.clone(), id.clone(), *role)
    });
    {
        let label = label.clone();
        Effect::new(move |_| {
            if let Some(Ok(m)) = save.value().get() {
                notice.set(Some(format!("{label} is now {}.", m.role.as_str())));
                reload.update(|n| *n += 1);
            }
        });
    }

    // Removal, confirmed inline.
    let confirming = RwSignal::new(false);
    let cancel_ref = NodeRef::<html::Button>::new();
    focus_on_show(cancel_ref);
    let remove =
        api::action(|(slug, id): &(String, String)| remove_member(slug.clone(), id.clone()));
    {
        let label = label.clone();
        Effect::new(move |_| {
            if let Some(Ok(())) = remove.value().get() {
                notice.set(Some(format!("{label} was removed from the organization.")));
                reload.update(|n| *n += 1);
            }
        });
    }

    let name_cell = if member.display_name.trim().is_empty() {
        view! { <span class="muted">"No name"</span> }.into_any()
    } else {
        view! { <span>{member.display_name.clone()}</span> }.into_any()
    };
    let select_id = format!("role-{id}");
    let role_cell = if current == Role::Owner {
        view! { <span class="badge">"owner"</span> }.into_any()
    } else if is_me {
        view! {
            <span title="You cannot change your own role">{current.as_str()}</span>
        }
        .into_any()
    } else {
        let (slug, id, email) = (slug.clone(), id.clone(), email.clone());
        view! {
            <div class="role-cell">
                <label class="sr-only" for=select_id.clone()>"Role for "{email.clone()}</label>
                <select id=select_id on:change=move |ev| chosen.set(parse_role(&ev))
                    disabled=move || save.pending().get()>
                    {role_options(current)}
                </select>
                {move || (chosen.get() != current).then(|| {
                    let (slug, id) = (slug.clone(), id.clone());
                    view! {
                        <button type="button" aria-label=format!("Save role for {email}")
                            disabled=move || save.pending().get()
                            on:click=move |_| { save.dispatch((slug.clone(), id.clone(), chosen.get_untracked())); }>
                            {move || if save.pending().get() { "Saving…" } else { "Save role" }}
                        </button>
                    }
                })}
            </div>
        }
        .into_any()
    };
    let actions = (current != Role::Owner && !is_me).then(|| {
        let label = label.clone();
        let (slug, id) = (slug.clone(), id.clone());
        view! {
            <Show when=move || confirming.get() fallback={
                let label = label.clone();
                move || view! {
                    <button type="button" class="danger" aria-label=format!("Remove {label}")
                        on:click=move |_| confirming.set(true)>"Remove"</button>
                }
            }>
                <span class="confirm" role="group" aria-label="Confirm removal">
                    "Remove "{label.clone()}"? They lose access at once. "<br/>
                    <button type="button" class="danger" disabled=move || remove.pending().get()
                        on:click={
                            let (slug, id) = (slug.clone(), id.clone());
                            move |_| { remove.dispatch((slug.clone(), id.clone())); }
                        }>
                        {move || if remove.pending().get() { "Removing…" } else { "Yes, remove" }}
                    </button>
                    <button type="button" node_ref=cancel_ref on:click=move |_| confirming.set(false)>"Cancel"</button>
                </span>
            </Show>
        }
    });
    view! {
        <tr>
            <td>
                {name_cell}
                {is_me.then(|| view! { " " <span class="badge active">"you"</span> })}
            </td>
            <td>{member.email.clone()}</td>
            <td>
                {role_cell}
                {action_error(save.value())}
            </td>
            <td>{when(&member.joined_at)}</td>
            <td class="actions">
                {actions}
                {action_error(remove.value())}
            </td>
        </tr>
    }
}

#[component]
fn InviteForm(reload_invites: RwSignal<u32>) -> impl IntoView {
    let slug = use_slug();
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Member);
    let invite = api::action(|(slug, req): &(String, CreateInvitationRequest)| {
        create_invitation(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = invite.value().get() {
            email.set(String::new());
            role.set(Role::Member);
            reload_invites.update(|n| *n += 1);
        }
    });
    view! {
        <section class="card">
            <h2>"Invite someone"</h2>
            <form class="inline" on:submit=move |ev| {
                ev.prevent_default();
                invite.dispatch((slug.get_untracked(), CreateInvitationRequest {
                    email: email.get_untracked().trim().to_string(),
                    role: role.get_untracked(),
                }));
            }>
                <div class="field">
                    <label for="invite-email">"Email"</label>
                    <input id="invite-email" name="email" type="email" required autocomplete="off"
                        placeholder="name@example.com"
                        prop:value=move || email.get() on:input=move |ev| email.set(input_value(&ev))/>
                </div>
                <div class="field field-narrow">
                    <label for="invite-role">"Role"</label>
                    <select id="invite-role" name="role" on:change=move |ev| role.set(parse_role(&ev))
                        prop:value=move || role.get().as_str()>
                        {role_options(Role::Member)}
                    </select>
                </div>
                <button type="submit" class="primary" disabled=move || invite.pending().get()>
                    {move || if invite.pending().get() { "Sending…" } else { "Invite member" }}
                </button>
            </form>
            <p class="muted help">
                "They get an email with a link that works once and expires in 7 days. "
                "Admins can manage members and settings; members can only use the organization. "
                "Inviting the same address again replaces the earlier link."
            </p>
            <div role="status" aria-live="polite">
                {move || match invite.value().get() {
                    Some(Ok(inv)) => Some(view! {
                        <p class="success">"Invitation sent to "{inv.email}"."</p>
                    }),
                    _ => None,
                }}
            </div>
            {action_error(invite.value())}
        </section>
    }
}

#[component]
fn InvitationList(reload: RwSignal<u32>, notice: RwSignal<Option<String>>) -> impl IntoView {
    let slug = use_slug();
    let invitations = api::resource(move || {
        reload.track();
        list_invitations(slug.get())
    });
    view! {
        <section class="card">
            <h2>"Invitations"</h2>
            {loaded(invitations, move |list| {
                if list.is_empty() {
                    return view! {
                        <p class="muted">
                            "No invitations yet. Invite someone with the form above; the invitation shows here until it is accepted, revoked or expires."
                        </p>
                    }.into_any();
                }
                let s = slug.get_untracked();
                view! {
                    <table>
                        <thead><tr>
                            <th>"Email"</th><th>"Role"</th><th>"Status"</th><th>"Sent"</th><th>"Expires"</th>
                            <th><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|i| view! {
                                <InvitationRow invitation=i slug=s.clone() reload=reload notice=notice/>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </section>
    }
}

#[component]
fn InvitationRow(
    invitation: Invitation,
    slug: String,
    reload: RwSignal<u32>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let cancel_ref = NodeRef::<html::Button>::new();
    focus_on_show(cancel_ref);
    let id = invitation.id.to_string();
    let email = invitation.email.clone();
    let revoke =
        api::action(|(slug, id): &(String, String)| revoke_invitation(slug.clone(), id.clone()));
    {
        let email = email.clone();
        Effect::new(move |_| {
            if let Some(Ok(())) = revoke.value().get() {
                notice.set(Some(format!("The invitation for {email} was revoked.")));
                reload.update(|n| *n += 1);
            }
        });
    }
    let status = status_word(invitation.status);
    let pending = invitation.status == InvitationStatus::Pending;
    view! {
        <tr>
            <td>{invitation.email.clone()}</td>
            <td>{invitation.role.as_str()}</td>
            <td><span class=format!("badge {status}")>{status}</span></td>
            <td>{when(&invitation.created_at)}</td>
            <td>{when(&invitation.expires_at)}</td>
            <td class="actions">
                {pending.then(move || view! {
                    <Show when=move || confirming.get() fallback={
                        let email = email.clone();
                        move || view! {
                            <button type="button" class="danger" aria-label=format!("Revoke invitation for {email}")
                                on:click=move |_| confirming.set(true)>"Revoke"</button>
                        }
                    }>
                        <span class="confirm" role="group" aria-label="Confirm revoking">
                            "Revoke the invitation for "{email.clone()}"? Its link stops working at once. "<br/>
                            <button type="button" class="danger" disabled=move || revoke.pending().get()
                                on:click={
                                    let (slug, id) = (slug.clone(), id.clone());
                                    move |_| { revoke.dispatch((slug.clone(), id.clone())); }
                                }>
                                {move || if revoke.pending().get() { "Revoking…" } else { "Yes, revoke invitation" }}
                            </button>
                            <button type="button" node_ref=cancel_ref on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </span>
                    </Show>
                })}
                {action_error(revoke.value())}
            </td>
        </tr>
    }
}

/// Owner only: hand the organization to an admin.
#[component]
fn TransferOwnership(
    members: api::Resource<Vec<Member>>,
    reload: RwSignal<u32>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let session = use_session();
    let slug = use_slug();
    let admins = Memo::new(move |_| {
        members
            .get()
            .and_then(|r| r.ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.role == Role::Admin)
            .collect::<Vec<_>>()
    });
    let loaded = move || matches!(members.get(), Some(Ok(_)));
    let target = RwSignal::new(String::new());
    let target_member = move || {
        let t = target.get();
        admins
            .get()
            .into_iter()
            .find(|m| m.user_id.to_string() == t)
    };
    let confirming = RwSignal::new(false);
    let cancel_ref = NodeRef::<html::Button>::new();
    focus_on_show(cancel_ref);
    let to_label = RwSignal::new(String::new());
    let transfer = api::action(|(slug, req): &(String, TransferOwnershipRequest)| {
        transfer_ownership(slug.clone(), req.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = transfer.value().get() {
            notice.set(Some(format!(
                "{} now owns this organization. You are now an admin.",
                to_label.get_untracked()
            )));
            confirming.set(false);
            reload.update(|n| *n += 1);
            session.orgs_version.update(|n| *n += 1);
        }
    });
    // Forget a choice that is no longer an admin.
    Effect::new(move |_| {
        if target_member().is_none() && !target.get_untracked().is_empty() {
            target.set(String::new());
            confirming.set(false);
        }
    });
    view! {
        <section class="card">
            <h2>"Transfer ownership"</h2>
            <p class="muted">
                "Make an admin the owner of this organization. You become an admin; only the new owner can transfer ownership again."
            </p>
            {move || {
                if !loaded() {
                    return None;
                }
                let list = admins.get();
                if list.is_empty() {
                    return Some(view! {
                        <p class="muted">
                            "There are no admins to transfer ownership to. Make a member an admin in the list above first."
                        </p>
                    }.into_any());
                }
                Some(view! {
                    <label for="transfer-to">"New owner"</label>
                    <select id="transfer-to" name="new_owner" class="transfer-pick"
                        on:change=move |ev| { target.set(input_value(&ev)); confirming.set(false); }>
                        <option value="" selected=move || target.get().is_empty()>"Choose an admin…"</option>
                        {list.into_iter().map(|m| {
                            let v = m.user_id.to_string();
                            let text = if m.display_name.trim().is_empty() {
                                m.email.clone()
                            } else {
                                format!("{} ({})", m.display_name, m.email)
                            };
                            let sel = v.clone();
                            view! { <option value=v selected=move || target.get() == sel>{text}</option> }
                        }).collect_view()}
                    </select>
                }.into_any())
            }}
            <Show when=move || confirming.get() fallback=move || (!admins.get().is_empty()).then(|| view! {
                <button type="button" class="danger spaced"
                    disabled=move || target_member().is_none()
                    on:click=move |_| confirming.set(true)>"Transfer ownership"</button>
            })>
                <div class="confirm-block" role="group" aria-label="Confirm ownership transfer">
                    <p><strong>
                        "Make "{move || target_member().map(|m| member_label(&m)).unwrap_or_default()}
                        " the owner of this organization? You become an admin, and only the new owner can transfer ownership after this."
                    </strong></p>
                    <button type="button" class="danger" disabled=move || transfer.pending().get()
                        on:click=move |_| {
                            if let Some(m) = target_member() {
                                to_label.set(member_label(&m));
                                transfer.dispatch((slug.get_untracked(), TransferOwnershipRequest { user_id: m.user_id }));
                            }
                        }>
                        {move || if transfer.pending().get() { "Transferring…" } else { "Yes, transfer ownership" }}
                    </button>
                    <button type="button" node_ref=cancel_ref on:click=move |_| confirming.set(false)>"Cancel"</button>
                </div>
            </Show>
            {action_error(transfer.value())}
        </section>
    }
}

/// Leaving the organization (everyone but the owner).
#[component]
fn LeaveSection(role: Signal<Option<Role>>) -> impl IntoView {
    let session = use_session();
    let slug = use_slug();
    let org_name = move || {
        let s = slug.get();
        session
            .orgs
            .get()
            .and_then(|r| r.ok())
            .and_then(|l| l.into_iter().find(|o| o.slug == s))
            .map(|o| o.name)
            .unwrap_or(s)
    };
    let confirming = RwSignal::new(false);
    let cancel_ref = NodeRef::<html::Button>::new();
    focus_on_show(cancel_ref);
    let leave =
        api::action(|(slug, id): &(String, String)| remove_member(slug.clone(), id.clone()));
    Effect::new(move |_| {
        if let Some(Ok(())) = leave.value().get() {
            // A full page load: every cached view of this org goes away.
            let _ = window().location().set_href("/orgs");
        }
    });
    let is_owner = Memo::new(move |_| role.get() == Some(Role::Owner));
    view! {
        <section class="card">
            <h2>"Leave organization"</h2>
            <Show when=move || !is_owner.get() fallback=|| view! {
                <p class="muted">
                    "You own this organization, so you cannot leave it. Transfer ownership to an admin first; then you can leave."
                </p>
            }>
                <p class="muted">
                    "You lose access to "{org_name}" at once. To come back, an admin has to invite you again."
                </p>
                <Show when=move || confirming.get() fallback=move || view! {
                    <button type="button" class="danger" on:click=move |_| confirming.set(true)>"Leave organization"</button>
                }>
                    <div class="confirm-block" role="group" aria-label="Confirm leaving">
                        <p><strong>"Leave "{org_name}"? You lose access at once."</strong></p>
                        <button type="button" class="danger" disabled=move || leave.pending().get()
                            on:click=move |_| {
                                let me = session.user.get_untracked().id.to_string();
                                leave.dispatch((slug.get_untracked(), me));
                            }>
                            {move || if leave.pending().get() { "Leaving…" } else { "Yes, leave" }}
                        </button>
                        <button type="button" node_ref=cancel_ref on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </div>
                </Show>
                {action_error(leave.value())}
            </Show>
        </section>
    }
}

// ---- Accepting an invitation (signed-out page) --------------------------------------

#[component]
pub fn AcceptInvitation() -> impl IntoView {
    let query = use_query_map();
    let token = query
        .read_untracked()
        .get("token")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    view! {
        <AuthCard title="Join an organization">
            {match token {
                None => view! {
                    <div class="error" role="alert">
                        <strong>"This link has no invitation token."</strong>
                        <p>
                            "Open the link from your invitation email again (copy all of it), "
                            "or ask an admin of the organization to invite you again."
                        </p>
                    </div>
                    <p class="muted"><a href="/orgs">"Go to your organizations"</a></p>
                }.into_any(),
                Some(t) => view! { <InvitationDetails token=t/> }.into_any(),
            }}
        </AuthCard>
    }
}

#[component]
fn InvitationDetails(token: String) -> impl IntoView {
    let preview = {
        let token = token.clone();
        api::resource(move || lookup_invitation(token.clone()))
    };
    let me = api::resource(api::accounts::me);
    reactive(move || {
        let (Some(preview), Some(me)) = (preview.get(), me.get()) else {
            return view! { <p class="loading">"Loading the invitation…"</p> }.into_any();
        };
        let token = token.clone();
        match preview {
            Err(e) => view! {
                <ErrorBox err=e/>
                <p class="muted">
                    "Invitation links work once and expire after 7 days. "
                    "Ask an admin of the organization to send you a new invitation."
                </p>
            }
            .into_any(),
            Ok(p) => {
                let summary = view! {
                    <p>
                        <strong>{p.org_name.clone()}</strong>" invited "<strong>{p.email.clone()}</strong>
                        " to join as "<strong>{p.role.as_str()}</strong>"."
                    </p>
                    <p class="muted">"This invitation expires "{when(&p.expires_at)}"."</p>
                };
                let next = match me {
                    Ok(user) => {
                        view! { <AcceptSignedIn preview=p user=user token=token/> }.into_any()
                    }
                    Err(e) if e.is_unauthorized() => {
                        if p.account_exists {
                            view! { <AcceptWithPassword preview=p token=token/> }.into_any()
                        } else {
                            view! { <AcceptNewAccount preview=p token=token/> }.into_any()
                        }
                    }
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                };
                view! { {summary} {next} }.into_any()
            }
        }
    })
}

/// Sends the browser to the organization after a successful accept (a full page load,
/// so the signed-in shell starts with the new session and org list).
fn go_to_org_on_success(accept: Action<AcceptInvitationRequest, Result<Organization, ApiError>>) {
    Effect::new(move |_| {
        if let Some(Ok(org)) = accept.value().get() {
            let _ = window()
                .location()
                .set_href(&format!("/orgs/{}/settings/general", org.slug));
        }
    });
}

fn new_accept_action() -> Action<AcceptInvitationRequest, Result<Organization, ApiError>> {
    let accept = api::action(|req: &AcceptInvitationRequest| accept_invitation(req.clone()));
    go_to_org_on_success(accept);
    accept
}

fn joined_notice(
    accept: Action<AcceptInvitationRequest, Result<Organization, ApiError>>,
) -> impl IntoView {
    move || {
        matches!(accept.value().get(), Some(Ok(_))).then(|| {
            view! { <p class="success" role="status">"You joined. Opening the organization…"</p> }
        })
    }
}

#[component]
fn AcceptSignedIn(preview: InvitationPreview, user: User, token: String) -> impl IntoView {
    let accept = new_accept_action();
    let mismatch = user.email.to_lowercase() != preview.email.to_lowercase();
    let logout = api::action(|_: &()| api::accounts::logout());
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            // Show this page again, signed out.
            let _ = window().location().reload();
        }
    });
    let busy = move || accept.pending().get() || matches!(accept.value().get(), Some(Ok(_)));
    view! {
        <p class="muted">"You are signed in as "<strong>{user.email.clone()}</strong>"."</p>
        {mismatch.then(|| view! {
            <div class="error" role="alert">
                <strong>"This invitation is for another address."</strong>
                <p>
                    "It was sent to "{preview.email.clone()}", but you are signed in as "{user.email.clone()}
                    ". Sign out, then sign in as "{preview.email.clone()}" (or accept with its password) to join."
                </p>
                <button type="button" disabled=move || logout.pending().get()
                    on:click=move |_| { logout.dispatch(()); }>"Sign out to switch accounts"</button>
                {action_error(logout.value())}
            </div>
        })}
        <button type="button" class="primary" disabled=busy
            on:click=move |_| {
                accept.dispatch(AcceptInvitationRequest { token: token.clone(), password: None, display_name: None });
            }>
            {move || if accept.pending().get() { "Accepting…" } else { "Accept invitation" }}
        </button>
        {action_error(accept.value())}
        {joined_notice(accept)}
    }
}

#[component]
fn AcceptWithPassword(preview: InvitationPreview, token: String) -> impl IntoView {
    let accept = new_accept_action();
    let password = RwSignal::new(String::new());
    let here = format!(
        "/invitations/accept?token={}",
        String::from(js_sys::encode_uri_component(&token))
    );
    let login_href = format!(
        "/login?next={}",
        String::from(js_sys::encode_uri_component(&here))
    );
    let busy = move || accept.pending().get() || matches!(accept.value().get(), Some(Ok(_)));
    let email = preview.email.clone();
    view! {
        <p class="muted">"An account for this address exists. Enter its password to sign in and join."</p>
        <form on:submit=move |ev| {
            ev.prevent_default();
            accept.dispatch(AcceptInvitationRequest {
                token: token.clone(),
                password: Some(password.get_untracked()),
                display_name: None,
            });
        }>
            <label for="accept-email">"Email"</label>
            <input id="accept-email" name="email" type="email" autocomplete="username" readonly=true value=email.clone()/>
            <label for="accept-password">"Password for "{email.clone()}</label>
            <input id="accept-password" name="password" type="password" autocomplete="current-password" required
                prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
            {action_error(accept.value())}
            {joined_notice(accept)}
            <button type="submit" class="primary" disabled=busy>
                {move || if accept.pending().get() { "Signing in…" } else { "Sign in and accept" }}
            </button>
        </form>
        <p class="muted">
            "Prefer the usual sign-in page? "
            <a href=login_href>"Sign in first"</a>", then you come back here to accept."
        </p>
        <p class="muted">"Forgot the password? "<a href="/forgot-password">"Reset it"</a>", then open this link again."</p>
    }
}

#[component]
fn AcceptNewAccount(preview: InvitationPreview, token: String) -> impl IntoView {
    let accept = new_accept_action();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let busy = move || accept.pending().get() || matches!(accept.value().get(), Some(Ok(_)));
    let email = preview.email.clone();
    view! {
        <p class="muted">"There is no account for this address yet. Choose a password to create it and join."</p>
        <form on:submit=move |ev| {
            ev.prevent_default();
            let n = name.get_untracked();
            accept.dispatch(AcceptInvitationRequest {
                token: token.clone(),
                password: Some(password.get_untracked()),
                display_name: (!n.trim().is_empty()).then_some(n),
            });
        }>
            <label for="accept-email">"Email"</label>
            <input id="accept-email" name="email" type="email" autocomplete="username" readonly=true value=email/>
            <label for="accept-name">"Your name " <span class="muted">"(optional)"</span></label>
            <input id="accept-name" name="display_name" type="text" autocomplete="name"
                prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
            <label for="accept-password">"Choose a password"</label>
            <input id="accept-password" name="password" type="password" autocomplete="new-password" required
                aria-describedby="accept-password-help"
                prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
            <p id="accept-password-help" class="muted help">{format!("At least {PASSWORD_MIN_CHARS} characters.")}</p>
            {action_error(accept.value())}
            {joined_notice(accept)}
            <button type="submit" class="primary" disabled=busy>
                {move || if accept.pending().get() { "Creating your account…" } else { "Create account and accept" }}
            </button>
        </form>
    }
}
