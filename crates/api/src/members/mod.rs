//! Members of an organization and invitations to join it.
use crate::{
    accounts,
    audit::{self, Context, Event},
    auth::{MaybeUser, OrgAdmin, OrgMember},
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
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Duration, Utc};
use gatehouse_types::events::Change;
use gatehouse_types::{
    AcceptInvitationRequest, CreateInvitationRequest, Invitation, InvitationPreview,
    InvitationStatus, Member, Organization, Role, TokenRequest, UpdateMemberRequest,
    validation::password_problem,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use uuid::Uuid;

pub const INVITATION_TTL_DAYS: i64 = 7;

/// Members with their users, oldest first.
#[utoipa::path(operation_id = "listMembers", security(("session" = []), ("apiKey" = [])),
    tag = "members", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<Member>), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/members")]
pub async fn list(admin: OrgAdmin, st: web::Data<AppState>) -> ApiResult<web::Json<Vec<Member>>> {
    let rows = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(admin.0.org.id))
        .find_also_related(user::Entity)
        .order_by_asc(membership::Column::CreatedAt)
        .all(&st.db)
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .filter_map(|(m, u)| {
                let u = u?;
                Some(Member {
                    user_id: u.id,
                    email: u.email,
                    display_name: u.display_name,
                    role: Role::parse(&m.role)?,
                    joined_at: m.created_at,
                })
            })
            .collect(),
    ))
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

/// Change a member's role to `admin` or `member`. The owner's role changes only by
/// transferring ownership, and nobody changes their own role.
#[utoipa::path(operation_id = "updateMember", security(("session" = []), ("apiKey" = [])),
    tag = "members", params(("slug" = String, Path), ("user_id" = Uuid, Path)), request_body = UpdateMemberRequest,
    responses((status = 200, body = Member), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}/members/{user_id}")]
pub async fn update(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid)>,
    body: web::Json<UpdateMemberRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Member>> {
    let m = admin.0;
    let user_id = path.into_inner().1;
    let role = body.role;
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
            &Context::from(&m),
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
    Ok(web::Json(Member {
        user_id,
        email: u.email,
        display_name: u.display_name,
        role,
        joined_at: updated.created_at,
    }))
}

/// Remove a member; their access ends with their next request. Any member may remove
/// themselves (leave); the owner cannot be removed.
#[utoipa::path(operation_id = "removeMember", security(("session" = []), ("apiKey" = [])),
    tag = "members", params(("slug" = String, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem)))]
#[delete("/orgs/{slug}/members/{user_id}")]
pub async fn remove(
    m: OrgMember,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let user_id = path.into_inner().1;
    let leaving = Some(user_id) == m.user_id();
    if !leaving && !m.role.can_manage() {
        return Err(ApiError::with_detail(
            ErrorKind::InsufficientRole,
            "owner or admin role required",
        ));
    }
    let now = st.clock.now();
    let mut uow = UnitOfWork::begin(&st).await?;
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
    let ctx = Context::from(&m);
    audit::record(
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
    Ok(HttpResponse::NoContent().finish())
}

fn status(i: &invitation::Model, now: DateTime<Utc>) -> InvitationStatus {
    if i.accepted_at.is_some() {
        InvitationStatus::Accepted
    } else if i.revoked_at.is_some() {
        InvitationStatus::Revoked
    } else if i.expires_at <= now {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    }
}

fn invitation_to_api(i: &invitation::Model, now: DateTime<Utc>) -> Invitation {
    Invitation {
        id: i.id,
        email: i.email.clone(),
        role: Role::parse(&i.role).unwrap_or(Role::Member),
        status: status(i, now),
        invited_by: i.invited_by,
        created_at: i.created_at,
        expires_at: i.expires_at,
    }
}

/// Invitations of the organization, newest first.
#[utoipa::path(operation_id = "listInvitations", security(("session" = []), ("apiKey" = [])),
    tag = "members", params(("slug" = String, Path)), responses((status = 200, body = Vec<Invitation>)))]
#[get("/orgs/{slug}/invitations")]
pub async fn list_invitations(
    admin: OrgAdmin,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<Invitation>>> {
    let now = st.clock.now();
    let rows = invitation::Entity::find()
        .filter(invitation::Column::OrgId.eq(admin.0.org.id))
        .order_by_desc(invitation::Column::Id)
        .all(&st.db)
        .await?;
    Ok(web::Json(
        rows.iter().map(|i| invitation_to_api(i, now)).collect(),
    ))
}

/// Invite an email address with a role. A pending invitation for the same address is
/// replaced (its link stops working) and a new email is sent; emails to one address are
/// limited per hour (429 with `Retry-After`).
#[utoipa::path(operation_id = "createInvitation", security(("session" = []), ("apiKey" = [])),
    tag = "members", params(("slug" = String, Path)), request_body = CreateInvitationRequest,
    responses((status = 201, body = Invitation), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem), (status = 429, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/invitations")]
pub async fn create_invitation(
    admin: OrgAdmin,
    body: web::Json<CreateInvitationRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let m = admin.0;
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
        return Err(ApiError {
            retry_after: Some(retry_after),
            detail: Some(format!(
                "too many emails to {email}; try again in {retry_after} seconds"
            )),
            ..ApiError::new(ErrorKind::TooManyAttempts)
        });
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
                &Context::from(&m),
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
            &Context::from(&m),
            now,
            Event::InvitationCreated {
                invitation_id: inv.id,
                email: email.clone(),
                role: body.role,
            },
        )
        .await?;
        let inviter = m.label();
        let invite = Email {
            to: email.clone(),
            subject: format!("You are invited to join {} on Gatehouse", m.org.name),
            body: format!(
                "{inviter} invited you to join the organization \"{}\" on Gatehouse as {}.\n\nAccept the invitation here:\n\n{}/invitations/accept?token={token}\n\nThe link works once and expires in {INVITATION_TTL_DAYS} days.\n",
                m.org.name,
                body.role.as_str(),
                st.public_url
            ),
        };
        jobs::mail::send(&st, &txn, invite).await?;
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
    Ok(HttpResponse::Created().json(invitation_to_api(&inv, now)))
}

/// Revoke a pending invitation; its link stops working.
#[utoipa::path(operation_id = "revokeInvitation", security(("session" = []), ("apiKey" = [])),
    tag = "members", params(("slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem)))]
#[delete("/orgs/{slug}/invitations/{id}")]
pub async fn revoke_invitation(
    admin: OrgAdmin,
    path: web::Path<(String, Uuid)>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let m = admin.0;
    let id = path.into_inner().1;
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
            &Context::from(&m),
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
    Ok(HttpResponse::NoContent().finish())
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

/// What an invitation link is for, before accepting it.
#[utoipa::path(operation_id = "lookupInvitation",
    tag = "members", request_body = TokenRequest,
    responses((status = 200, body = InvitationPreview), (status = 404, body = gatehouse_types::Problem), (status = 410, body = gatehouse_types::Problem)))]
#[post("/invitations/lookup")]
pub async fn lookup(
    body: web::Json<TokenRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<InvitationPreview>> {
    let (inv, org) = usable_invitation(&st.db, body.token.trim(), st.clock.now()).await?;
    let account_exists = accounts::find_by_email(&st.db, &inv.email).await?.is_some();
    Ok(web::Json(InvitationPreview {
        org_name: org.name,
        org_slug: org.slug,
        email: inv.email,
        role: Role::parse(&inv.role).unwrap_or(Role::Member),
        expires_at: inv.expires_at,
        account_exists,
    }))
}

/// Accept an invitation. Signed in: as the current user, whose email must be the
/// invited one. Not signed in: with the password of the invited address's account, or
/// with a new password that creates that account. Either way a session is started when
/// there was none.
#[utoipa::path(operation_id = "acceptInvitation", security((), ("session" = [])),
    tag = "members", request_body = AcceptInvitationRequest,
    responses((status = 200, body = Organization), (status = 401, body = gatehouse_types::Problem), (status = 403, body = gatehouse_types::Problem),
        (status = 404, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 410, body = gatehouse_types::Problem)))]
#[post("/invitations/accept")]
pub async fn accept(
    req: actix_web::HttpRequest,
    caller: MaybeUser,
    meta: ClientMeta,
    body: web::Json<AcceptInvitationRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let body = body.into_inner();
    let now = st.clock.now();
    let (inv, org) = usable_invitation(&st.db, body.token.trim(), now).await?;
    let existing = accounts::find_by_email(&st.db, &inv.email).await?;
    // Decide who accepts before opening the transaction: password hashing is slow.
    enum Who {
        Signed(user::Model),
        Existing(user::Model),
        New(String),
    }
    let who = match (caller.0, existing) {
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
            if !crypto::verify_password_blocking(pw, u.password_hash.clone()).await {
                return Err(ApiError::new(ErrorKind::InvalidCredentials));
            }
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
    audit::record(
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
    let body: Organization = crate::orgs::to_api(&org, &mem);
    let mut resp = HttpResponse::Ok();
    if let Some(t) = token {
        sessions::set_cookies(&mut resp, &st, &t);
    }
    Ok(resp.json(body))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(update)
        .service(remove)
        .service(list_invitations)
        .service(create_invitation)
        .service(revoke_invitation)
        .service(lookup)
        .service(accept);
}
