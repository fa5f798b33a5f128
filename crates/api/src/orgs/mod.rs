//! Organizations: create, read, update, security settings and ownership transfer. The
//! slug is immutable through the API; support renames it with `gatehouse admin
//! rename-slug`.
pub mod service;

use crate::{
    audit::{self, Context, Event},
    auth::{CurrentUser, OrgAdmin, OrgMember, OrgOwner},
    entity::{membership, organization},
    http::{ApiError, ApiResult, ErrorKind, problem::Validation},
    state::AppState,
};
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use gatehouse_types::{
    CreateOrgRequest, MyMembership, OrgDetails, Organization, Role, TransferOwnershipRequest,
    UpdateOrgRequest,
    validation::{
        ORG_DESCRIPTION_MAX_CHARS, ORG_NAME_MAX_CHARS, SESSION_TIMEOUT_DEFAULT_MINUTES,
        slug_from_name, slug_is_reserved, slug_is_well_formed,
    },
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

pub fn to_api(org: &organization::Model, m: &membership::Model) -> Organization {
    let role = Role::parse(&m.role).unwrap_or(Role::Member);
    Organization {
        id: org.id,
        slug: org.slug.clone(),
        name: org.name.clone(),
        membership: MyMembership {
            role,
            joined_at: m.created_at,
        },
        details: role.can_manage().then(|| OrgDetails {
            description: org.description.clone(),
            plan: org.plan.clone(),
            created_at: org.created_at,
            updated_at: org.updated_at,
        }),
    }
}

fn check_name(v: &mut Validation, name: &str) -> String {
    v.name("name", name, ORG_NAME_MAX_CHARS)
}

fn check_description(v: &mut Validation, raw: &str) -> String {
    let d = raw.trim().to_string();
    if raw.chars().count() > ORG_DESCRIPTION_MAX_CHARS {
        v.push(
            "description",
            format!("at most {ORG_DESCRIPTION_MAX_CHARS} characters"),
        );
    }
    d
}

/// Why a requested slug cannot be used, if it cannot.
pub fn slug_problem(slug: &str) -> Option<&'static str> {
    if !slug_is_well_formed(slug) {
        Some("lowercase letters, digits and inner hyphens, 1 to 48 characters")
    } else if slug_is_reserved(slug) {
        Some("this slug is reserved")
    } else {
        None
    }
}

async fn slug_exists<C: ConnectionTrait>(db: &C, slug: &str) -> Result<bool, sea_orm::DbErr> {
    // Soft-deleted organizations keep their slug until purged.
    Ok(organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug))
        .one(db)
        .await?
        .is_some())
}

fn slug_taken(e: sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::new(ErrorKind::SlugTaken),
        _ => e.into(),
    }
}

/// Create an organization; the caller becomes its owner.
#[utoipa::path(operation_id = "createOrg", security(("session" = [])),
    tag = "orgs", request_body = CreateOrgRequest,
    responses((status = 201, body = Organization), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs")]
pub async fn create(
    me: CurrentUser,
    body: web::Json<CreateOrgRequest>,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut v = Validation::default();
    let name = check_name(&mut v, &body.name);
    let description = check_description(&mut v, body.description.as_deref().unwrap_or_default());
    let given = body
        .slug
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if let Some(p) = given.as_deref().and_then(slug_problem) {
        v.push("slug", p);
    }
    v.finish()?;
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let slug = match given {
        Some(s) => {
            if slug_exists(&txn, &s).await? {
                return Err(ApiError::with_detail(
                    ErrorKind::SlugTaken,
                    format!("`{s}` is already in use"),
                ));
            }
            s
        }
        None => derive_free_slug(&txn, &name).await?,
    };
    let org = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug),
        name: Set(name),
        description: Set(description),
        session_timeout_minutes: Set(SESSION_TIMEOUT_DEFAULT_MINUTES),
        plan: Set("free".into()),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ip_allowlist: Set("[]".into()),
        refresh_token_lifetime: Set("default".into()),
        require_mfa: Set(false),
    }
    .insert(&txn)
    .await
    .map_err(slug_taken)?;
    let m = membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org.id),
        user_id: Set(me.user.id),
        role: Set(Role::Owner.as_str().into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let ctx = Context::from(&me).in_org(org.id);
    audit::record(
        &txn,
        &ctx,
        now,
        Event::OrgCreated {
            org_id: org.id,
            slug: org.slug.clone(),
            name: org.name.clone(),
        },
    )
    .await?;
    audit::record_public(
        &st,
        &txn,
        &ctx,
        now,
        Event::MemberAdded {
            user_id: me.user.id,
            email: me.user.email.clone(),
            role: Role::Owner,
            invitation: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(to_api(&org, &m)))
}

/// `acme`, then `acme-2`, `acme-3`, … until one is free.
async fn derive_free_slug<C: ConnectionTrait>(db: &C, name: &str) -> ApiResult<String> {
    // A reserved base still gets numbered (`admin-2`); only a name with no usable
    // characters falls back to `org`.
    let base = slug_from_name(name).unwrap_or_else(|| "org".to_string());
    for n in 1..1000 {
        let candidate = if n == 1 {
            base.clone()
        } else {
            let suffix = format!("-{n}");
            let keep = base.len().min(48 - suffix.len());
            format!("{}{suffix}", base[..keep].trim_end_matches('-'))
        };
        if !slug_is_reserved(&candidate) && !slug_exists(db, &candidate).await? {
            return Ok(candidate);
        }
    }
    Err(ApiError::with_detail(
        ErrorKind::SlugTaken,
        "choose a slug explicitly",
    ))
}

/// The organizations the caller belongs to.
#[utoipa::path(operation_id = "listOrgs", security(("session" = [])),
    tag = "orgs", responses((status = 200, body = Vec<Organization>)))]
#[get("/orgs")]
pub async fn list(
    me: CurrentUser,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<Organization>>> {
    let rows = membership::Entity::find()
        .filter(membership::Column::UserId.eq(me.user.id))
        .find_also_related(organization::Entity)
        .filter(crate::auth::org_ref::live())
        .order_by_asc(organization::Column::Name)
        .all(&st.db)
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .filter_map(|(m, o)| o.map(|o| to_api(&o, &m)))
            .collect(),
    ))
}

/// One organization. Members see its name and their membership; owners and admins
/// also its details.
#[utoipa::path(operation_id = "getOrg", security(("session" = []), ("apiKey" = [])),
    tag = "orgs", params(("slug" = String, Path)),
    responses((status = 200, body = Organization), (status = 404, body = gatehouse_types::Problem)))]
#[get("/orgs/{slug}")]
pub async fn get_one(m: OrgMember) -> web::Json<Organization> {
    web::Json(to_api(&m.org, &m.membership))
}

/// Update name and description. The slug cannot be changed (`slug-immutable`).
#[utoipa::path(operation_id = "updateOrg", security(("session" = []), ("apiKey" = [])),
    tag = "orgs", params(("slug" = String, Path)), request_body = UpdateOrgRequest,
    responses((status = 200, body = Organization), (status = 403, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[patch("/orgs/{slug}")]
pub async fn update(
    admin: OrgAdmin,
    body: web::Json<UpdateOrgRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Organization>> {
    let m = &admin.0;
    let body = body.into_inner();
    if body.slug.as_deref().is_some_and(|s| s != m.org.slug) {
        return Err(ApiError {
            fields: vec![gatehouse_types::FieldError {
                field: "slug".into(),
                message: "cannot be changed; contact support".into(),
            }],
            ..ApiError::with_detail(
                ErrorKind::SlugImmutable,
                "the slug is part of every URL and API path of the organization; contact support to change it",
            )
        });
    }
    let mut v = Validation::default();
    let name = body.name.as_deref().map(|n| check_name(&mut v, n));
    let description = body
        .description
        .as_deref()
        .map(|d| check_description(&mut v, d));
    v.finish()?;
    let org = service::update(&st, &admin, name, description).await?;
    Ok(web::Json(to_api(&org, &m.membership)))
}

/// Hand ownership to an admin; the previous owner becomes an admin.
#[utoipa::path(operation_id = "transferOwnership", security(("session" = []), ("apiKey" = [])),
    tag = "orgs", params(("slug" = String, Path)), request_body = TransferOwnershipRequest,
    responses((status = 200, body = Organization), (status = 403, body = gatehouse_types::Problem), (status = 409, body = gatehouse_types::Problem), (status = 422, body = gatehouse_types::Problem)))]
#[post("/orgs/{slug}/transfer-ownership")]
pub async fn transfer_ownership(
    owner: OrgOwner,
    body: web::Json<TransferOwnershipRequest>,
    st: web::Data<AppState>,
) -> ApiResult<web::Json<Organization>> {
    let m = owner.0;
    if body.user_id == m.user_id().unwrap_or_default() {
        return Err(ApiError::conflict("you already own this organization"));
    }
    let now = st.clock.now();
    let txn = crate::db::begin(&st.db).await?;
    let target = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(m.org.id))
        .filter(membership::Column::UserId.eq(body.user_id))
        .one(&txn)
        .await?
        .ok_or_else(|| {
            // The org in the path exists; what is wrong is a field of the body.
            let mut v = crate::http::problem::Validation::default();
            v.push(
                "user_id",
                "must be an admin of this organization; this user is not a member",
            );
            v.into_error()
        })?;
    if target.role != Role::Admin.as_str() {
        return Err(ApiError::conflict(
            "ownership can only be transferred to an admin; promote the member first",
        ));
    }
    set_role(&txn, &target, Role::Owner, now).await?;
    let me = set_role(&txn, &m.membership, Role::Admin, now).await?;
    audit::record(
        &txn,
        &Context::from(&m),
        now,
        Event::OrgOwnershipTransferred {
            from_user_id: m.user_id().unwrap_or_default(),
            to_user_id: body.user_id,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(to_api(&m.org, &me)))
}

pub async fn set_role<C: ConnectionTrait>(
    db: &C,
    m: &membership::Model,
    role: Role,
    now: DateTime<Utc>,
) -> Result<membership::Model, sea_orm::DbErr> {
    let mut am = m.clone().into_active_model();
    am.role = Set(role.as_str().into());
    am.updated_at = Set(now);
    am.update(db).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(update)
        .service(transfer_ownership);
}
