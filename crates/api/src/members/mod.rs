//! Members of an organization and invitations to join it.
pub mod service;

use crate::{
    auth::{MaybeUser, OrgAdmin, OrgMember},
    entity::invitation,
    http::{ApiResult, ClientMeta},
    sessions,
    state::AppState,
};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use gatehouse_types::{
    AcceptInvitationRequest, CreateInvitationRequest, Invitation, InvitationPreview,
    InvitationStatus, Member, Organization, Role, TokenRequest, UpdateMemberRequest,
};
use uuid::Uuid;

pub const INVITATION_TTL_DAYS: i64 = 7;

/// Members with their users, oldest first.
#[utoipa::path(operation_id = "listMembers", security(("session" = []), ("apiKey" = [])),
    tag = "members", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<Member>), (status = 403, body = gatehouse_types::Problem), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}/members")]
pub async fn list(admin: OrgAdmin, st: web::Data<AppState>) -> ApiResult<web::Json<Vec<Member>>> {
    let rows = service::list(&st, &admin).await?;
    Ok(web::Json(
        rows.into_iter()
            .filter_map(|(m, u)| {
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
    let user_id = path.into_inner().1;
    let (updated, u) = service::change_role(&st, &admin, user_id, body.role).await?;
    let role = body.role;
    Ok(web::Json(Member {
        user_id,
        email: u.email,
        display_name: u.display_name,
        role,
        joined_at: updated.created_at,
    }))
}

/// Remove a member; their access ends with their next request. Any member may remove
/// themselves (leave); the owner cannot be removed. Removing someone else while the
/// org has PIN protection on needs an open PIN step-up window (`pin-required`
/// otherwise), or for an API key the `sensitive` scope.
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
    if Some(user_id) == m.user_id() {
        service::leave(&st, &m).await?;
    } else {
        let admin = crate::auth::step_up::guard(&st, m.into_admin()?).await?;
        service::remove(&st, &admin, user_id).await?;
    }
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
    let rows = service::list_invitations(&st, &admin).await?;
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
    let inv = service::invite(&st, &admin, body.into_inner()).await?;
    // As of its creation, as before: a new invitation is pending.
    let now = inv.created_at;
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
    service::revoke_invitation(&st, &admin, path.into_inner().1).await?;
    Ok(HttpResponse::NoContent().finish())
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
    let (inv, org, account_exists) = service::lookup(&st, body.token.trim()).await?;
    Ok(web::Json(InvitationPreview {
        org_name: org.name,
        org_slug: org.slug,
        email: inv.email,
        role: Role::parse(&inv.role).unwrap_or(Role::Member),
        expires_at: inv.expires_at,
        account_exists,
        mfa_required: org.require_mfa,
    }))
}

/// Accept an invitation. Signed in: as the current user, whose email must be the
/// invited one. Not signed in: with the password of the invited address's account, or
/// with a new password that creates that account. Either way a session is started when
/// there was none.
#[utoipa::path(operation_id = "acceptInvitation", security((), ("session" = [])),
    tag = "members", request_body = AcceptInvitationRequest,
    responses((status = 200, body = Organization), (status = 401, body = gatehouse_types::Problem), (status = 403, body = gatehouse_types::Problem),
        (status = 404, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 410, body = gatehouse_types::Problem),
        (status = 429, body = gatehouse_types::Problem)))]
#[post("/invitations/accept")]
pub async fn accept(
    req: actix_web::HttpRequest,
    caller: MaybeUser,
    meta: ClientMeta,
    body: web::Json<AcceptInvitationRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    crate::auth::extract::check_origin(&req, &st.public_origin, false)?;
    let (org, mem, token) = service::accept(&st, caller.0, meta, body.into_inner()).await?;
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
