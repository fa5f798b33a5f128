//! Membership and invitation rules, callable from handlers, the CLI and jobs: who may
//! change or remove whom, inviting (throttled, one pending invitation per address) and
//! accepting. Privileged functions take `&OrgAdmin`; leaving takes the member.
use super::{INVITATION_TTL_DAYS, status};
use crate::{
    accounts,
    audit::{self, Context, Event},
    auth::{CurrentUser, OrgAdmin, OrgMember},
    crypto::{self, TokenKind},
    entity::{invitation, membership, organization, user},
    http::{ApiError, ApiResult, ClientMeta, ErrorKind, problem::Validation},
    jobs,
    mail::Email,
    orgs::set_role,
    sessions,
    state::AppState,
    throttle,
    unit_of_work::UnitOfWork,
};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::events::Change;
use gatehouse_types::{
    AcceptInvitationRequest, CreateInvitationRequest, InvitationStatus, Role,
    validation::password_problem,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use uuid::Uuid;

/// The admin's org's members with their users, oldest first.
pub async fn list(
    st: &AppState,
    admin: &OrgAdmin,
) -> ApiResult<Vec<(membership::Model, user::Model)>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::OrgId.eq(admin.org().id))
        .find_also_related(user::Entity)
        .order_by_asc(membership::Column::CreatedAt)
        .all(&st.db)
        .await?
        .into_iter()
        .filter_map(|(m, u)| Some((m, u?)))
        .collect())
}

async fn find_member<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    user_id: Uuid,
) -> ApiResult<membership::Model> {
    membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}

/// Sets another member's role to `admin` or `member`: never `owner` (that is a
/// transfer), never the caller's own, never the owner's. Returns the membership and its
/// user.
pub async fn change_role(
    st: &AppState,
    admin: &OrgAdmin,
    user_id: Uuid,
    role: Role,
) -> ApiResult<(membership::Model, user::Model)> {
    let m = admin.member();
    if role == Role::Owner {
        return Err(ApiError::field(
            "role",
            "use transfer-ownership to make someone the owner",
        ));
    }
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let target = find_member(&txn, m.org.id, user_id).await?;
    if Some(user_id) == m.user_id() {
        return Err(ApiError::conflict(
            "you cannot change your own role; ask another admin or the owner",
        ));
    }
    if target.role == Role::Owner.as_str() {
        return Err(ApiError::conflict(
            "the owner's role changes only by transferring ownership",
        ));
    }
    let u = user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    let updated = if target.role != role.as_str() {
        let updated = set_role(&txn, &target, role, now).await?;
        audit::record(
            &txn,
            &Context::from(m),
            now,
            Event::MemberRoleChanged {
                user_id,
                email: u.email.clone(),
                role: Change {
                    from: Role::parse(&target.role).unwrap_or(Role::Member),
                    to: role,
                },
            },
        )
        .await?;
        updated
    } else {
        target
    };
    txn.commit().await?;
    Ok((updated, u))
}

/// The caller leaves the org (the owner cannot: ownership must move first).
pub async fn leave(st: &AppState, m: &OrgMember) -> ApiResult<()> {
    // Only a signed-in user is a member; a key has no membership to leave.
    let user_id = m.user_id().ok_or_else(|| ApiError::not_found("member"))?;
    delete_member(st, m, user_id).await
}

/// Removes a member (not the owner); their access and OAuth grants here end at once.
pub async fn remove(st: &AppState, admin: &OrgAdmin, user_id: Uuid) -> ApiResult<()> {
    delete_member(st, admin.member(), user_id).await
}

/// The one removal, by `m` itself (leaving) or by an admin (`remove`).
async fn delete_member(st: &AppState, m: &OrgMember, user_id: Uuid) -> ApiResult<()> {
    let leaving = Some(user_id) == m.user_id();
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(st).await?;
    let target = find_member(uow.txn(), m.org.id, user_id).await?;
    if target.role == Role::Owner.as_str() {
        return Err(ApiError::conflict(if leaving {
            "the owner cannot leave; transfer ownership first"
        } else {
            "the owner cannot be removed"
        }));
    }
    let u = user::Entity::find_by_id(user_id).one(uow.txn()).await?;
    membership::Entity::delete_by_id(target.id)
        .exec(uow.txn())
        .await?;
    let ctx = Context::from(m);
    audit::record_public(
        st,
        uow.txn(),
        &ctx,
        now,
        Event::MemberRemoved {
            user_id,
            email: u.map(|u| u.email),
            role: Role::parse(&target.role).unwrap_or(Role::Member),
            left: leaving,
        },
    )
    .await?;
    // Their OAuth grants here end with the membership.
    let grants =
        crate::oauth::admin::revoke_member_grants(uow.txn(), m.org.id, user_id, now, &ctx).await?;
    uow.after_commit(move |st| crate::oauth::tokens::mark_revoked(st, grants));
    uow.commit().await?;
    Ok(())
}

/// The admin's org's invitations, newest first.
pub async fn list_invitations(
    st: &AppState,
    admin: &OrgAdmin,
) -> ApiResult<Vec<invitation::Model>> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::OrgId.eq(admin.org().id))
        .order_by_desc(invitation::Column::Id)
        .all(&st.db)
        .await?)
}

/// Invites an address with a role (not `owner`): replaces a pending invitation for it,
/// records both, and enqueues the email in the same transaction. Emails to one address
/// are limited per hour; a refused or failed invitation gives its reservation back.
pub async fn invite(
    st: &AppState,
    admin: &OrgAdmin,
    body: CreateInvitationRequest,
) -> ApiResult<invitation::Model> {
    let m = admin.member();
    let mut v = Validation::default();
    let email = accounts::normalize_email(&body.email);
    if email.is_none() {
        v.push("email", "not a valid email address");
    }
    if body.role == Role::Owner {
        v.push(
            "role",
            "invite as admin or member; ownership moves by transfer",
        );
    }
    v.finish()?;
    let email = email.unwrap_or_default();
    let now = st.clock.now();
    // Counted before the write, given back when nothing is sent: re-sending an
    // invitation must not become a way to flood an address.
    if let throttle::Reservation::Refused { retry_after } =
        throttle::reserve_mail(&st.db, &st.config.mail_limit, &email, None, now).await?
    {
        return Err(ApiError::too_many(
            &format!("emails to {email}"),
            retry_after,
        ));
    }
    let created: ApiResult<invitation::Model> = async {
        let txn = crate::db::begin(&st.db).await?;
        if let Some(existing) = accounts::find_by_email(&txn, &email).await? {
            let member = membership::Entity::find()
                .filter(membership::Column::OrgId.eq(m.org.id))
                .filter(membership::Column::UserId.eq(existing.id))
                .one(&txn)
                .await?;
            if member.is_some() {
                return Err(ApiError::with_detail(
                    ErrorKind::AlreadyMember,
                    format!("{email} is already a member"),
                ));
            }
        }
        let replaced = invitation::Entity::find()
            .filter(invitation::Column::OrgId.eq(m.org.id))
            .filter(invitation::Column::Email.eq(email.as_str()))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .all(&txn)
            .await?;
        for old in &replaced {
            invitation::Entity::update_many()
                .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
                .filter(invitation::Column::Id.eq(old.id))
                .exec(&txn)
                .await?;
            audit::record(
                &txn,
                &Context::from(m),
                now,
                Event::InvitationRevoked {
                    invitation_id: old.id,
                    email: old.email.clone(),
                    replaced: true,
                },
            )
            .await?;
        }
        let token = crypto::generate_token(TokenKind::Invitation);
        let inv = invitation::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(m.org.id),
            email: Set(email.clone()),
            role: Set(body.role.as_str().into()),
            token_hash: Set(crypto::hash_token(&token)),
            invited_by: Set(m.user_id()),
            created_at: Set(now),
            expires_at: Set(now + Duration::days(INVITATION_TTL_DAYS)),
            accepted_at: Set(None),
            accepted_by: Set(None),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            &Context::from(m),
            now,
            Event::InvitationCreated {
                invitation_id: inv.id,
                email: email.clone(),
                role: body.role,
            },
        )
        .await?;
        let inviter = m.label();
        let mfa_note = if m.org.require_mfa {
            "\n\nThis organization requires two-factor authentication: after joining, set up an authenticator app or a passkey under Account → Security before you can use it."
        } else {
            ""
        };
        let invite = Email {
            to: email.clone(),
            subject: format!("You are invited to join {} on Gatehouse", m.org.name),
            body: format!(
                "{inviter} invited you to join the organization \"{}\" on Gatehouse as {}.{mfa_note}\n\nAccept the invitation here:\n\n{}/invitations/accept?token={token}\n\nThe link works once and expires in {INVITATION_TTL_DAYS} days.\n",
                m.org.name,
                body.role.as_str(),
                st.public_url
            ),
        };
        jobs::mail::send(st, &txn, invite).await?;
        txn.commit().await?;
        Ok(inv)
    }
    .await;
    let inv = match created {
        Ok(v) => v,
        Err(e) => {
            throttle::release(&st.db, &throttle::mail_to_key(&email)).await?;
            return Err(e);
        }
    };
    Ok(inv)
}

/// Revokes a pending invitation of the admin's org (idempotent; not an accepted one).
pub async fn revoke_invitation(st: &AppState, admin: &OrgAdmin, id: Uuid) -> ApiResult<()> {
    let m = admin.member();
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let inv = invitation::Entity::find_by_id(id)
        .filter(invitation::Column::OrgId.eq(m.org.id))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    if inv.accepted_at.is_some() {
        return Err(ApiError::new(ErrorKind::InvitationAlreadyAccepted));
    }
    if inv.revoked_at.is_none() {
        invitation::Entity::update_many()
            .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
            .filter(invitation::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            &Context::from(m),
            now,
            Event::InvitationRevoked {
                invitation_id: id,
                email: inv.email.clone(),
                replaced: false,
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Finds a usable invitation by its token, with its organization.
async fn usable_invitation<C: ConnectionTrait>(
    db: &C,
    token: &str,
    now: DateTime<Utc>,
) -> ApiResult<(invitation::Model, organization::Model)> {
    let not_found =
        || ApiError::with_detail(ErrorKind::NotFound, "invitation not found; check the link");
    if !crypto::token_is_well_formed(TokenKind::Invitation, token) {
        return Err(not_found());
    }
    let inv = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(crypto::hash_token(token)))
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    match status(&inv, now) {
        InvitationStatus::Accepted => {
            return Err(ApiError::new(ErrorKind::InvitationAlreadyAccepted));
        }
        InvitationStatus::Revoked => return Err(ApiError::new(ErrorKind::InvitationRevoked)),
        InvitationStatus::Expired => {
            return Err(ApiError::with_detail(
                ErrorKind::TokenExpired,
                "this invitation has expired; ask for a new one",
            ));
        }
        InvitationStatus::Pending => {}
    }
    let org = organization::Entity::find_by_id(inv.org_id)
        .filter(crate::auth::org_ref::live())
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    Ok((inv, org))
}

/// A usable invitation, its org, and whether an account exists for its address.
pub async fn lookup(
    st: &AppState,
    token: &str,
) -> ApiResult<(invitation::Model, organization::Model, bool)> {
    let (inv, org) = usable_invitation(&st.db, token, st.clock.now()).await?;
    let account_exists = accounts::find_by_email(&st.db, &inv.email).await?.is_some();
    Ok((inv, org, account_exists))
}

/// Accepts an invitation as `caller` (whose email must be the invited one), or, signed
/// out, with the password of the address's account or a new password that creates it.
/// Returns the org, the new membership, and a session token when none was in use.
pub async fn accept(
    st: &AppState,
    caller: Option<CurrentUser>,
    meta: ClientMeta,
    body: AcceptInvitationRequest,
) -> ApiResult<(organization::Model, membership::Model, Option<String>)> {
    let now = st.clock.now();
    let (inv, org) = usable_invitation(&st.db, body.token.trim(), now).await?;
    let existing = accounts::find_by_email(&st.db, &inv.email).await?;
    // Decide who accepts before opening the transaction: password hashing is slow.
    enum Who {
        Signed(user::Model),
        Existing(user::Model),
        New(String),
    }
    let who = match (caller, existing) {
        (Some(c), _) => {
            if c.user.email != inv.email {
                return Err(ApiError::with_detail(
                    ErrorKind::InvitationEmailMismatch,
                    format!(
                        "this invitation is for {}; sign in with that account",
                        inv.email
                    ),
                ));
            }
            Who::Signed(c.user)
        }
        (None, Some(u)) => {
            let pw = body.password.clone().ok_or_else(|| {
                ApiError::with_detail(
                    ErrorKind::AuthenticationRequired,
                    "an account exists for this address: sign in first or give its password",
                )
            })?;
            crate::accounts::confirm_password(st, &u, pw, "password").await?;
            Who::Existing(u)
        }
        (None, None) => {
            let pw = body.password.clone().unwrap_or_default();
            if let Some(p) = password_problem(&pw) {
                return Err(ApiError::field("password", p));
            }
            Who::New(
                crypto::hash_password_blocking(pw)
                    .await
                    .map_err(ApiError::internal)?,
            )
        }
    };
    let txn = crate::db::begin(&st.db).await?;
    let (u, new_session) = match who {
        Who::Signed(u) => (u, None),
        Who::Existing(u) => (u, Some(())),
        Who::New(hash) => {
            let name = body
                .display_name
                .as_deref()
                .unwrap_or_default()
                .trim()
                .chars()
                .take(100)
                .collect::<String>();
            // The invitation link reached this address: that verifies it.
            let u = accounts::insert_user(&txn, &inv.email, &name, hash, Some(now), now).await?;
            audit::record(
                &txn,
                &Context::user(&u, meta.clone()),
                now,
                Event::UserSignedUp {
                    user_id: u.id,
                    via_invitation: true,
                },
            )
            .await?;
            (u, Some(()))
        }
    };
    // Single use under concurrency: only one request can flip accepted_at.
    let flipped = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
        .col_expr(invitation::Column::AcceptedBy, Expr::value(Some(u.id)))
        .filter(invitation::Column::Id.eq(inv.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if flipped == 0 {
        return Err(ApiError::new(ErrorKind::InvitationAlreadyAccepted));
    }
    if membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org.id))
        .filter(membership::Column::UserId.eq(u.id))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ApiError::new(ErrorKind::AlreadyMember));
    }
    if u.email_verified_at.is_none() {
        // The emailed link reached this address: that verifies it.
        user::Entity::update_many()
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(Some(now)))
            .filter(user::Column::Id.eq(u.id))
            .exec(&txn)
            .await?;
    }
    let role = Role::parse(&inv.role).unwrap_or(Role::Member);
    let mem = membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org.id),
        user_id: Set(u.id),
        role: Set(role.as_str().into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let ctx = Context::user(&u, meta.clone()).in_org(org.id);
    audit::record(
        &txn,
        &ctx,
        now,
        Event::InvitationAccepted {
            invitation_id: inv.id,
            email: u.email.clone(),
        },
    )
    .await?;
    audit::record_public(
        st,
        &txn,
        &ctx,
        now,
        Event::MemberAdded {
            user_id: u.id,
            email: u.email.clone(),
            role,
            invitation: Some((inv.id, inv.invited_by)),
        },
    )
    .await?;
    let token = match new_session {
        Some(()) => Some(sessions::create(&txn, u.id, &meta, now).await?.0),
        None => None,
    };
    txn.commit().await?;
    Ok((org, mem, token))
}
