//! Extractors for the authenticated principal and for the organization named in the
//! path with the caller's role in it. Tenancy is decided here and only here: the org is
//! read once from the `{slug}` path segment, and a caller who is not a member gets 404,
//! as if the org did not exist.
use super::{
    api_key::{self, KeyPrincipal},
    org_ref::OrgRef,
    policy::{self, Access, Caller, OrgSnapshot},
    session::{self, is_unsafe},
};
use crate::http::{ApiError, ClientMeta, ErrorKind};
use crate::{
    entity::{membership, organization, user},
    state::AppState,
};
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use futures_util::future::LocalBoxFuture;
use gatehouse_types::{ApiKeyScope, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

// Where other modules have always found them.
pub(crate) use super::session::{SESSION_COOKIE, check_origin};

/// A signed-in user, from the session cookie.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: user::Model,
    pub session_id: Uuid,
    pub meta: ClientMeta,
}

impl CurrentUser {
    /// This user as the access policy sees them in `org` (their second factor is
    /// looked up when the org requires one).
    pub async fn caller_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        org: &organization::Model,
    ) -> Result<Caller<'_>, ApiError> {
        Ok(Caller::Session {
            user: &self.user,
            session_id: self.session_id,
            second_factor: policy::second_factor(db, org, self.user.id).await?,
        })
    }
    pub fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor::User {
            id: self.user.id,
            email: self.user.email.clone(),
        }
    }
}

pub(crate) fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))
}

async fn authenticate(req: HttpRequest) -> Result<Option<CurrentUser>, ApiError> {
    let st = state(&req)?;
    let Some(token) = session::session_token(&req) else {
        return Ok(None);
    };
    check_origin(&req, &st.public_origin, true)?;
    let meta = ClientMeta::from_request(&req);
    let (user, session_id) = session::authenticate(&st, &token).await?;
    Ok(Some(CurrentUser {
        user,
        session_id,
        meta,
    }))
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            authenticate(req)
                .await?
                .ok_or_else(|| ApiError::new(ErrorKind::AuthenticationRequired))
        })
    }
}

/// The signed-in user if there is one (an expired session still answers 401, so that
/// the client learns why it was signed out).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybeUser(authenticate(req).await?)) })
    }
}

/// Who is acting on an org route: a signed-in user, or an API key of that org.
#[derive(Debug, Clone)]
pub enum Principal {
    User(CurrentUser),
    ApiKey { key: KeyPrincipal, meta: ClientMeta },
}

/// A member of the org named by `{slug}` (or one of its API keys), with the role in
/// force. An API key acts with admin rights, limited by its scopes: `read` for reads,
/// `write` for changes. Made only here, after the access policy allowed the request.
#[derive(Debug, Clone)]
pub struct OrgMember {
    pub principal: Principal,
    pub org: organization::Model,
    /// For an API key: a stand-in with the key's id and effective role.
    pub membership: membership::Model,
    pub role: Role,
    _checked: Checked,
}

/// Held by the values only this module makes (`OrgMember`, `OrgAdmin`, `OrgOwner`), so
/// that code elsewhere cannot make one without the checks: a privileged service that
/// takes `&OrgAdmin` can only be reached through the admin check.
#[derive(Debug, Clone, Copy)]
struct Checked;

impl OrgMember {
    pub fn user(&self) -> Option<&user::Model> {
        match &self.principal {
            Principal::User(c) => Some(&c.user),
            Principal::ApiKey { .. } => None,
        }
    }
    pub fn user_id(&self) -> Option<Uuid> {
        self.user().map(|u| u.id)
    }
    pub fn meta(&self) -> &ClientMeta {
        match &self.principal {
            Principal::User(c) => &c.meta,
            Principal::ApiKey { meta, .. } => meta,
        }
    }
    pub fn actor(&self) -> crate::audit::Actor {
        match &self.principal {
            Principal::User(c) => c.actor(),
            Principal::ApiKey { key, .. } => crate::audit::Actor::ApiKey {
                id: key.id,
                name: key.name.clone(),
            },
        }
    }
    /// A name for people: the user's display name or email, or the key's name.
    pub fn label(&self) -> String {
        match &self.principal {
            Principal::User(c) if !c.user.display_name.is_empty() => c.user.display_name.clone(),
            Principal::User(c) => c.user.email.clone(),
            Principal::ApiKey { key, .. } => format!("API key {}", key.name),
        }
    }
}

/// Resolves the org and the caller's membership before the handler's other extractors
/// (such as the JSON body) run, so a non-member gets 404 whatever the body holds, and
/// the result is kept for the handler's `OrgMember`/`OrgAdmin`/`OrgOwner`.
pub async fn org_guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::HttpMessage;
    let path = req.path().to_string();
    if let Some(org) = OrgRef::of_api_path(&path) {
        match load_org_member_for(req.request().clone(), org).await {
            Ok(m) => {
                req.extensions_mut().insert(m);
            }
            Err(e) => {
                let resp = actix_web::ResponseError::error_response(&e);
                return Ok(req.into_response(resp).map_into_right_body());
            }
        }
    }
    if req
        .extensions()
        .contains::<crate::http::input::NotAnObject>()
    {
        let resp =
            actix_web::ResponseError::error_response(&crate::http::input::NotAnObject::refusal());
        return Ok(req.into_response(resp).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

async fn load_org_member(req: HttpRequest) -> Result<OrgMember, ApiError> {
    use actix_web::HttpMessage;
    if let Some(m) = req.extensions().get::<OrgMember>().cloned() {
        return Ok(m);
    }
    let path = req.path().to_string();
    let org = OrgRef::of_api_path(&path).ok_or_else(|| ApiError::not_found("organization"))?;
    load_org_member_for(req, org).await
}

async fn load_org_member_for(req: HttpRequest, org_ref: OrgRef<'_>) -> Result<OrgMember, ApiError> {
    let st = state(&req)?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let member = if let Some(auth) = authorization {
        let raw = api_key::key_from_header(auth).ok_or_else(|| {
            ApiError::with_detail(
                ErrorKind::AuthenticationRequired,
                "unsupported Authorization header; use `ApiKey <key>`",
            )
        })?;
        // The key's org comes with the key (one query); another org's key learns
        // nothing about this one.
        let entry = api_key::authenticate(&st, raw).await?;
        let org = entry
            .org
            .as_ref()
            .filter(|o| org_ref.names(o))
            .ok_or_else(|| ApiError::not_found("organization"))?;
        let key = entry.key.clone();
        let needed = if is_unsafe(req.method()) {
            ApiKeyScope::Write
        } else {
            ApiKeyScope::Read
        };
        if !(key.has(needed) || (needed == ApiKeyScope::Read && key.has(ApiKeyScope::Write))) {
            return Err(ApiError::with_detail(
                ErrorKind::InsufficientScope,
                format!(
                    "this request needs an API key with the `{}` scope",
                    needed.as_str()
                ),
            ));
        }
        let membership = membership::Model {
            id: key.id,
            org_id: org.id,
            user_id: Uuid::nil(),
            role: Role::Admin.as_str().into(),
            created_at: org.created_at,
            updated_at: org.created_at,
        };
        let meta = ClientMeta::from_request(&req);
        // Checked for members only, so outsiders do not learn that an allowlist exists.
        policy::check(&Access {
            caller: Caller::ApiKey(&key),
            org: OrgSnapshot::cached(org, &entry.allowlist),
            client: &meta,
        })?;
        OrgMember {
            principal: Principal::ApiKey { key, meta },
            org: org.clone(),
            membership,
            role: Role::Admin,
            _checked: Checked,
        }
    } else {
        let caller = authenticate(req.clone())
            .await?
            .ok_or_else(|| ApiError::new(ErrorKind::AuthenticationRequired))?;
        let org = org_ref
            .find(&st.db)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?;
        let membership = membership::Entity::find()
            .filter(membership::Column::OrgId.eq(org.id))
            .filter(membership::Column::UserId.eq(caller.user.id))
            .one(&st.db)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?;
        let role = Role::parse(&membership.role).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("unknown role {}", membership.role))
        })?;
        policy::check(&Access {
            caller: caller.caller_in(&st.db, &org).await?,
            org: OrgSnapshot::row(&org),
            client: &caller.meta,
        })?;
        OrgMember {
            principal: Principal::User(caller),
            org,
            membership,
            role,
            _checked: Checked,
        }
    };
    Ok(member)
}

impl FromRequest for OrgMember {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(load_org_member(req.clone()))
    }
}

impl OrgMember {
    /// This member as an owner or admin, or `insufficient-role`: for a handler that
    /// allows a member some things (leaving) and admins more (removing others).
    pub fn into_admin(self) -> Result<OrgAdmin, ApiError> {
        if self.role.can_manage() {
            Ok(OrgAdmin(self, Checked))
        } else {
            Err(ApiError::with_detail(
                ErrorKind::InsufficientRole,
                "owner or admin role required",
            ))
        }
    }
}

/// An owner or admin of the org named by `{slug}`: only this value opens settings, and
/// only `auth` makes one (the second field is private). Privileged services take
/// `&OrgAdmin`, never a bare org id.
#[derive(Debug, Clone)]
pub struct OrgAdmin(pub OrgMember, Checked);

impl OrgAdmin {
    pub fn member(&self) -> &OrgMember {
        &self.0
    }
    pub fn org(&self) -> &organization::Model {
        &self.0.org
    }
}

impl FromRequest for OrgAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load_org_member(req).await?.into_admin() })
    }
}

/// The owner of the org named by `{slug}` (a signed-in user, never a key); only `auth`
/// makes one.
#[derive(Debug, Clone)]
pub struct OrgOwner(pub OrgMember, Checked);

impl OrgOwner {
    pub fn member(&self) -> &OrgMember {
        &self.0
    }
    pub fn org(&self) -> &organization::Model {
        &self.0.org
    }
}

impl FromRequest for OrgOwner {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let m = load_org_member(req).await?;
            if m.role == Role::Owner && m.user().is_some() {
                Ok(OrgOwner(m, Checked))
            } else {
                Err(ApiError::with_detail(
                    ErrorKind::InsufficientRole,
                    "owner role required",
                ))
            }
        })
    }
}
